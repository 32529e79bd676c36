// vpmoe-host preprocess --input data.jsonl --output-prefix PREFIX --format text|harmony|tokens
//                       [--workers N] [--allow-specials] [--split-key FIELD --valid-fraction F]
#include <iostream>
#include <sstream>

#include "data/preprocess.h"
#include "vpmoe/log.h"

#include "cli/cli.h"
#include "cli/tokenizer_setup.h"

namespace vpmoe::host::cli {

int run_preprocess(const std::vector<std::string>& args, Common& common) {
  po::options_description desc("preprocess options");
  data::PreprocessOptions o;
  desc.add_options()("input,i", po::value(&o.input)->value_name("data.jsonl"),
                     "JSON Lines: {\"text\": ...}, {\"messages\": [...]} or {\"ids\": [...], "
                     "...} per line")(
      "output-prefix,o", po::value(&o.output_prefix)->value_name("PREFIX"),
      "writes PREFIX.bin/.idx (text) or PREFIX_{tokens,lossmask,span}.bin/.idx (harmony; "
      "tokens with a mask or spans), PREFIX_teacher_logp.bin/.idx (tokens with teacher "
      "log-probabilities), and PREFIX.manifest.json")(
      "format", po::value(&o.format)->value_name("F"), "text (default), harmony or tokens")(
      "workers", po::value(&o.workers)->value_name("N"),
      "encoding threads (default 1); the output is the same for any N")(
      "allow-specials",
      "text: special token text becomes its id (the default encodes it as plain text)")(
      "split-key", po::value(&o.split_key)->value_name("FIELD"),
      "split into PREFIX_train and PREFIX_valid by a hash of each line's FIELD value")(
      "valid-fraction", po::value(&o.valid_fraction)->value_name("F"),
      "with --split-key: the share of lines (by the hash) that go to PREFIX_valid, in (0, 1)");
  add_common_options(desc, common);
  const auto vm = parse_command_args(args, desc, common);
  if (common.help) {
    std::cout << "Usage: vpmoe-host [--config RUN.toml] preprocess --input data.jsonl "
                 "--output-prefix PREFIX [--format text|harmony|tokens] [--workers N] "
                 "[--allow-specials] [--split-key FIELD --valid-fraction F]\n\n"
              << desc;
    return kExitOk;
  }
  if (o.input.empty() || o.output_prefix.empty())
    throw UsageError("preprocess: --input and --output-prefix are required");
  if (o.format != "text" && o.format != "harmony" && o.format != "tokens")
    throw UsageError("preprocess: --format: expected text, harmony or tokens, found \"" + o.format +
                     "\"");
  if (o.workers == 0) throw UsageError("preprocess: --workers must be >= 1");
  o.allow_specials = vm.count("allow-specials") > 0;
  if (o.allow_specials && o.format != "text")
    throw UsageError("preprocess: --allow-specials applies to --format text only");
  if (vm.count("split-key") != vm.count("valid-fraction"))
    throw UsageError("preprocess: --split-key and --valid-fraction go together");
  if (vm.count("split-key") && o.split_key.empty())
    throw UsageError("preprocess: --split-key: expected a field name, found an empty one");
  if (vm.count("valid-fraction") && !(o.valid_fraction > 0 && o.valid_fraction < 1))
    throw UsageError("preprocess: --valid-fraction: expected a number in (0, 1), found " +
                     (std::ostringstream() << o.valid_fraction).str());
  o.command_line = "vpmoe-host preprocess";
  for (const auto& a : args) o.command_line += " " + a;
  auto t = open_tokenizer(common);
  const auto sum = data::preprocess(*t.tokenizer, o);
  std::string split;
  if (!o.split_key.empty())
    split = " (valid: " + std::to_string(sum.valid_documents) + " document(s), " +
            std::to_string(sum.valid_tokens) + " token(s))";
  std::string to;
  for (const auto& m : sum.manifests) to += (to.empty() ? "" : ", ") + m;
  log::info("preprocess: " + std::to_string(sum.documents) + " document(s), " +
            std::to_string(sum.tokens) + " token(s)" + split + " -> " + to);
  return kExitOk;
}

}  // namespace vpmoe::host::cli
