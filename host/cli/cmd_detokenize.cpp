// vpmoe-host detokenize --input IN.jsonl --output OUT.jsonl [--lossy]
//   lines {"ids": [...]} -> lines {"text": ...}, in order. Ids that do not decode to valid
//   UTF-8 are an error naming the line, unless --lossy replaces the bad bytes with U+FFFD.
#include <iostream>

#include "data/atomic_file.h"
#include "data/jsonl.h"
#include "vpmoe/error.h"
#include "vpmoe/log.h"

#include "cli/cli.h"
#include "cli/tokenizer_setup.h"

namespace vpmoe::host::cli {

int run_detokenize(const std::vector<std::string>& args, Common& common) {
  po::options_description desc("detokenize options");
  std::string input, output;
  desc.add_options()("input,i", po::value(&input)->value_name("IN.jsonl"),
                     "lines {\"ids\": [...]}")(
      "output,o", po::value(&output)->value_name("OUT.jsonl"), "one {\"text\": ...} per line")(
      "lossy", "replace invalid UTF-8 with U+FFFD instead of failing");
  add_common_options(desc, common);
  const auto vm = parse_command_args(args, desc, common);
  if (common.help) {
    std::cout << "Usage: vpmoe-host [--config RUN.toml] detokenize --input IN.jsonl --output "
                 "OUT.jsonl [--lossy]\n\n"
              << desc;
    return kExitOk;
  }
  if (input.empty() || output.empty())
    throw UsageError("detokenize: --input and --output are required");
  const bool lossy = vm.count("lossy") > 0;
  auto t = open_tokenizer(common);
  data::JsonlReader reader(input);
  data::AtomicFile out(output);
  std::string raw;
  std::size_t lines = 0;
  while (reader.next(raw)) {
    const auto j = reader.parse(raw);
    std::vector<std::int32_t> ids;
    try {
      ids = j.at("ids").get<std::vector<std::int32_t>>();
    } catch (const nlohmann::json::exception&) {
      reader.fail("expected \"ids\": an array of integer token ids");
    }
    std::string text;
    try {
      text = t.tokenizer->decode_text(ids, lossy);
    } catch (const Error& e) {
      reader.fail(e.what());
    }
    out.out() << nlohmann::json{{"text", text}}.dump() << "\n";
    ++lines;
  }
  out.commit();
  log::info("detokenize: " + std::to_string(lines) + " line(s) -> " + output);
  return kExitOk;
}

}  // namespace vpmoe::host::cli
