// vpmoe-host detokenize --input IN.jsonl --output OUT.jsonl [--lossy]
//   lines {"ids": [...]} -> lines {"text": ...}, in order. Ids that do not decode to valid
//   UTF-8 are an error naming the line, unless --lossy replaces the bad bytes with U+FFFD.
#include <climits>
#include <iostream>

#include "data/atomic_file.h"
#include "data/jsonl.h"
#include "vpmoe/error.h"
#include "vpmoe/log.h"

#include "cli/cli.h"
#include "cli/tokenizer_setup.h"

namespace vpmoe::host::cli {
namespace {

// nlohmann's get<int32_t> would truncate 1.5 and wrap 2^32 + 1 silently; every element is
// checked instead, and a bad one is named by its position.
std::vector<std::int32_t> ids_of(const nlohmann::json& j, const data::JsonlReader& reader) {
  const auto it = j.find("ids");
  if (it == j.end() || !it->is_array())
    reader.fail("expected \"ids\": an array of integer token ids");
  std::vector<std::int32_t> ids;
  ids.reserve(it->size());
  for (std::size_t k = 0; k < it->size(); ++k) {
    const auto& v = (*it)[k];
    const bool fits = v.is_number_unsigned() ? v.get<std::uint64_t>() <= INT32_MAX
                      : v.is_number_integer()
                          ? v.get<std::int64_t>() >= INT32_MIN && v.get<std::int64_t>() <= INT32_MAX
                          : false;
    if (!fits)
      reader.fail("\"ids\"[" + std::to_string(k) + "]: expected an integer token id, found " +
                  v.dump());
    ids.push_back(static_cast<std::int32_t>(v.get<std::int64_t>()));
  }
  return ids;
}

}  // namespace

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
    const std::vector<std::int32_t> ids = ids_of(j, reader);
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
