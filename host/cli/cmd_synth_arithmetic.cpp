// vpmoe-host synth-arithmetic --output FILE.jsonl [--count N] [--seed S] [--max-operand M]
//                              [--analysis]
#include <iostream>

#include "data/arithmetic.h"
#include "vpmoe/log.h"

#include "cli/cli.h"

namespace vpmoe::host::cli {

int run_synth_arithmetic(const std::vector<std::string>& args, Common& common) {
  po::options_description desc("synth-arithmetic options");
  data::ArithmeticOptions o;
  desc.add_options()("output,o", po::value(&o.output)->value_name("FILE.jsonl"),
                     "where the conversations go (JSON Lines, for preprocess --format harmony)")(
      "count,n", po::value(&o.count)->value_name("N"), "conversations (default 1000)")(
      "seed", po::value(&o.seed)->value_name("S"), "the file is a function of the seed (1234)")(
      "max-operand", po::value(&o.max_operand)->value_name("M"),
      "operands drawn from [0, M] (default 99)")(
      "analysis", po::bool_switch(&o.analysis),
      "an assistant analysis message before each answer (reasoning spans)");
  add_common_options(desc, common);
  parse_command_args(args, desc, common);
  if (common.help) {
    std::cout << "Usage: vpmoe-host synth-arithmetic --output FILE.jsonl [--count N] [--seed S] "
                 "[--max-operand M] [--analysis]\n\n"
              << desc;
    return kExitOk;
  }
  if (o.output.empty()) throw UsageError("synth-arithmetic: --output is required");
  const auto n = data::write_arithmetic(o);
  log::info("synth-arithmetic: " + std::to_string(n) + " conversation(s) -> " + o.output);
  return kExitOk;
}

}  // namespace vpmoe::host::cli
