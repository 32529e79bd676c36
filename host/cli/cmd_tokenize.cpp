// vpmoe-host tokenize --input IN.jsonl --output OUT.jsonl
//   lines {"text": ..., "mode": "ordinary"|"all"} -> lines {"ids": [...]}, in order
// vpmoe-host tokenize --input FILE.txt --count [--threads N]
//   the ordinary token count of the whole file, on the last line
#include <chrono>
#include <fstream>
#include <iostream>
#include <sstream>

#include "data/atomic_file.h"
#include "data/jsonl.h"
#include "vpmoe/error.h"
#include "vpmoe/log.h"

#include "cli/cli.h"
#include "cli/tokenizer_setup.h"

namespace vpmoe::host::cli {
namespace {

int tokenize_jsonl(const Tokenizer& tok, const std::string& in, const std::string& out_path) {
  data::JsonlReader reader(in);
  data::AtomicFile out(out_path);
  const std::vector<std::string> all{"all"};
  std::string raw;
  std::size_t lines = 0;
  while (reader.next(raw)) {
    const auto j = reader.parse(raw);
    if (!j.contains("text") || !j["text"].is_string()) reader.fail("expected a string \"text\"");
    std::string mode = "ordinary";
    if (j.contains("mode")) {
      if (!j["mode"].is_string()) reader.fail("expected \"mode\" to be \"ordinary\" or \"all\"");
      mode = j["mode"];
    }
    if (mode != "ordinary" && mode != "all")
      reader.fail("expected \"mode\" to be \"ordinary\" or \"all\", found \"" + mode + "\"");
    const auto& text = j["text"].get_ref<const std::string&>();
    std::vector<std::int32_t> ids;
    try {
      ids = mode == "all" ? tok.encode(text, all) : tok.encode_ordinary(text);
    } catch (const Error& e) {
      reader.fail(e.what());
    }
    out.out() << nlohmann::json{{"ids", ids}}.dump() << "\n";
    ++lines;
  }
  out.commit();
  log::info("tokenize: " + std::to_string(lines) + " line(s) -> " + out_path);
  return kExitOk;
}

// Cuts after a '\n' followed by an ASCII letter: no o200k pattern matches across that point,
// so the pieces (and the count) are those of the whole text.
std::vector<std::string_view> split_for_threads(std::string_view text, std::size_t parts) {
  std::vector<std::string_view> out;
  const std::size_t step = text.size() / std::max<std::size_t>(parts, 1) + 1;
  std::size_t begin = 0;
  while (begin < text.size()) {
    std::size_t cut = begin + step;
    while (cut < text.size() &&
           !(text[cut - 1] == '\n' && ((text[cut] | 0x20) >= 'a' && (text[cut] | 0x20) <= 'z')))
      ++cut;
    cut = std::min(cut, text.size());
    out.push_back(text.substr(begin, cut - begin));
    begin = cut;
  }
  return out;
}

int count_tokens(const Tokenizer& tok, const std::string& in, unsigned threads) {
  std::ifstream f(in, std::ios::binary);
  if (!f) throw Error(in + ": cannot open it (expected a text file)");
  std::stringstream buf;
  buf << f.rdbuf();
  const std::string text = buf.str();
  const auto t0 = std::chrono::steady_clock::now();
  const auto chunks = split_for_threads(text, threads <= 1 ? 1 : threads * 8);
  std::size_t count = 0;
  try {
    for (const auto& ids : tok.encode_ordinary_batch(chunks, threads)) count += ids.size();
  } catch (const Error& e) {
    throw Error(in + ": " + e.what());
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  log::info("tokenize: " + std::to_string(text.size()) + " bytes in " + std::to_string(s) +
            " s on " + std::to_string(threads) + " thread(s)");
  std::cout << count << "\n";
  return kExitOk;
}

}  // namespace

int run_tokenize(const std::vector<std::string>& args, Common& common) {
  po::options_description desc("tokenize options");
  std::string input, output;
  unsigned threads = 1;
  desc.add_options()("input,i", po::value(&input)->value_name("FILE"),
                     "IN.jsonl of {\"text\", \"mode\"} lines, or a text file with --count")(
      "output,o", po::value(&output)->value_name("OUT.jsonl"), "one {\"ids\": [...]} per line")(
      "count", "print the ordinary token count of the whole --input text file")(
      "threads", po::value(&threads)->value_name("N"), "threads for --count (default 1)");
  add_common_options(desc, common);
  const auto vm = parse_command_args(args, desc, common);
  if (common.help) {
    std::cout << "Usage: vpmoe-host [--config RUN.toml] tokenize --input IN.jsonl --output "
                 "OUT.jsonl\n       vpmoe-host [--config RUN.toml] tokenize --input FILE.txt "
                 "--count [--threads N]\n\n"
              << desc;
    return kExitOk;
  }
  if (input.empty()) throw UsageError("tokenize: --input is required");
  const bool count = vm.count("count") > 0;
  if (!count && output.empty()) throw UsageError("tokenize: --output (or --count) is required");
  if (threads == 0) throw UsageError("tokenize: --threads must be >= 1");
  auto t = open_tokenizer(common);
  return count ? count_tokens(*t.tokenizer, input, threads)
               : tokenize_jsonl(*t.tokenizer, input, output);
}

}  // namespace vpmoe::host::cli
