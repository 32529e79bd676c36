// libFuzzer target for the run.toml reader: the input is the TOML text, given to parse_config
// as the file <repo>/configs/fuzz-input.toml, so a relative [run] model_config names one of
// the repository's configs (the two-file merge is fuzzed too). It either parses, or throws
// ConfigError whose message starts "path:line:column: " and then names the key ("[section]"
// or "[section].key") or the TOML syntax error. Any other exception, a crash, UB or a leak is
// a bug. Inputs whose model_config is absolute or climbs out with ".." are skipped: they could
// name any file on the machine (/dev/zero), which is not what is being tested.
#include <algorithm>
#include <cstdint>
#include <regex>
#include <string>

#include <toml++/toml.h>

#include "fuzz_common.h"
#include "vpmoe/config.h"

namespace {

const char* const kTarget = "fuzz_config";
const std::string kSource = VPMOE_SOURCE_ROOT "/configs/fuzz-input.toml";

bool names_a_file_elsewhere(const std::string& text) {
  toml::parse_result r = [&]() -> toml::parse_result {
    try {
      return toml::parse(text, kSource);
    } catch (const toml::parse_error&) {
      return {};
    }
  }();
  const toml::node* mc = r.at_path("run.model_config").node();
  if (!mc || !mc->is_string()) return false;
  const std::string& p = mc->as_string()->get();
  return p.empty() ? false : p[0] == '/' || p.find("..") != std::string::npos;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  if (names_a_file_elsewhere(text)) return 0;
  try {
    const vpmoe::Config c = vpmoe::parse_config(text, kSource);
    if (c.path != kSource) vpmoe::fuzz::bug(kTarget, "Config::path is " + c.path);
    // The derived questions a run asks of every layer.
    for (int l = 1; l <= std::min(c.model.num_layers, 4096); ++l)
      (void)c.layer_is_global(l), c.layer_is_moe(l);
  } catch (const vpmoe::ConfigError& e) {
    // "<file>:<line>:<column>: " then "[section]..." or "TOML syntax error"
    static const std::regex form(R"(^[^\n]+:[0-9]+:[0-9]+: (\[[^\]]*\]|TOML syntax error))");
    const std::string what = e.what();
    if (!std::regex_search(what, form))
      vpmoe::fuzz::bug(kTarget, "a ConfigError without file:line:column and key: " + what);
  } catch (const std::exception& e) {
    vpmoe::fuzz::bug(kTarget, std::string("an exception other than ConfigError: ") + e.what());
  }
  return 0;
}
