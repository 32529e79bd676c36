// vpmoe-host preprocess --input data.jsonl --output-prefix PREFIX --format text|harmony
//                       [--workers N] [--allow-specials]
#include <iostream>

#include "data/preprocess.h"
#include "vpmoe/log.h"

#include "cli/cli.h"
#include "cli/tokenizer_setup.h"

namespace vpmoe::host::cli {

int run_preprocess(const std::vector<std::string>& args, Common& common) {
  po::options_description desc("preprocess options");
  data::PreprocessOptions o;
  desc.add_options()("input,i", po::value(&o.input)->value_name("data.jsonl"),
                     "JSON Lines: {\"text\": ...} or {\"messages\": [...]} per line")(
      "output-prefix,o", po::value(&o.output_prefix)->value_name("PREFIX"),
      "writes PREFIX.bin/.idx (text) or PREFIX_{tokens,lossmask,span}.bin/.idx (harmony), "
      "and PREFIX.manifest.json")("format", po::value(&o.format)->value_name("F"),
                                  "text (default) or harmony")(
      "workers", po::value(&o.workers)->value_name("N"),
      "encoding threads (default 1); the output is the same for any N")(
      "allow-specials",
      "text: special token text becomes its id (the default encodes it as plain text)");
  add_common_options(desc, common);
  const auto vm = parse_command_args(args, desc, common);
  if (common.help) {
    std::cout << "Usage: vpmoe-host [--config RUN.toml] preprocess --input data.jsonl "
                 "--output-prefix PREFIX [--format text|harmony] [--workers N] "
                 "[--allow-specials]\n\n"
              << desc;
    return kExitOk;
  }
  if (o.input.empty() || o.output_prefix.empty())
    throw UsageError("preprocess: --input and --output-prefix are required");
  if (o.format != "text" && o.format != "harmony")
    throw UsageError("preprocess: --format: expected text or harmony, found \"" + o.format + "\"");
  if (o.workers == 0) throw UsageError("preprocess: --workers must be >= 1");
  o.allow_specials = vm.count("allow-specials") > 0;
  if (o.allow_specials && o.format == "harmony")
    throw UsageError("preprocess: --allow-specials applies to --format text only");
  o.command_line = "vpmoe-host preprocess";
  for (const auto& a : args) o.command_line += " " + a;
  auto t = open_tokenizer(common);
  const auto sum = data::preprocess(*t.tokenizer, o);
  log::info("preprocess: " + std::to_string(sum.documents) + " document(s), " +
            std::to_string(sum.tokens) + " token(s) -> " + sum.manifest);
  return kExitOk;
}

}  // namespace vpmoe::host::cli
