#pragma once
// A synthetic Harmony dataset the project makes itself (the tiny default's data): arithmetic
// questions and their answers as {"messages": [user, assistant/final]} JSON Lines, ready for
// `preprocess --format harmony`. The same seed gives the same file on every machine.
#include <cstdint>
#include <string>

namespace vpmoe::host::data {

struct ArithmeticOptions {
  std::string output;  // JSON Lines path (written atomically)
  std::uint64_t count = 1000;
  std::uint64_t seed = 1234;
  int max_operand = 99;  // operands in [0, max_operand]
};

// Returns the number of conversations written.
std::uint64_t write_arithmetic(const ArithmeticOptions& o);

}  // namespace vpmoe::host::data
