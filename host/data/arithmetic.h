#pragma once
// A synthetic Harmony dataset the project makes itself (the tiny default's data): arithmetic
// questions and their answers as {"messages": [user, (assistant/analysis,) assistant/final]}
// JSON Lines, ready for
// `preprocess --format harmony`. The same seed gives the same file on every machine.
#include <cstdint>
#include <string>

namespace vpmoe::host::data {

struct ArithmeticOptions {
  std::string output;  // JSON Lines path (written atomically)
  std::uint64_t count = 1000;
  std::uint64_t seed = 1234;
  int max_operand = 99;  // operands in [0, max_operand]
  // Each conversation also gets an assistant analysis message before the final answer
  // ("Multiply 7 and 12."), so the data has both span labels (reasoning and final); the same
  // seed draws the same questions either way.
  bool analysis = false;
};

// Returns the number of conversations written.
std::uint64_t write_arithmetic(const ArithmeticOptions& o);

}  // namespace vpmoe::host::data
