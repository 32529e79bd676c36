#include "data/arithmetic.h"

#include <nlohmann/json.hpp>

#include "data/atomic_file.h"
#include "data/gpt_dataset.h"
#include "vpmoe/error.h"

namespace vpmoe::host::data {

std::uint64_t write_arithmetic(const ArithmeticOptions& o) {
  if (o.max_operand < 1) throw Error("synth-arithmetic: --max-operand must be >= 1");
  SplitMix64 g(o.seed);
  const auto operand = [&] { return std::int64_t(g.below(std::uint64_t(o.max_operand) + 1)); };
  AtomicFile out(o.output);
  for (std::uint64_t i = 0; i < o.count; ++i) {
    const std::int64_t a = operand(), b = operand();
    const char* ops[] = {"+", "-", "*"};
    const int op = int(g.below(3));
    const std::int64_t r = op == 0 ? a + b : op == 1 ? a - b : a * b;
    const std::string q = std::to_string(a) + " " + ops[op] + " " + std::to_string(b);
    nlohmann::json messages = nlohmann::json::array();
    messages.push_back({{"role", "user"}, {"content", "What is " + q + "?"}});
    if (o.analysis) {
      const char* verbs[] = {"Add", "Subtract", "Multiply"};
      messages.push_back({{"role", "assistant"},
                          {"channel", "analysis"},
                          {"content", std::string(verbs[op]) + " " + std::to_string(a) + " and " +
                                          std::to_string(b) + "."}});
    }
    messages.push_back(
        {{"role", "assistant"}, {"channel", "final"}, {"content", q + " = " + std::to_string(r)}});
    const nlohmann::json line = {{"messages", messages}};
    out.out() << line.dump() << "\n";
  }
  out.commit();
  return o.count;
}

}  // namespace vpmoe::host::data
