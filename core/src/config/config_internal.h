#pragma once
// Shared pieces of the config reader: positions, the error format, the key schema and the
// cross-key validation. Not part of the SDK.
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

#include "vpmoe/config.h"

namespace vpmoe::config_detail {

// "path:line:column" of a node (or a key, or a parse error).
std::string where(const toml::source_region& r, std::string_view fallback_path);

// "[model].num_layers" for "model.num_layers", "[model]" for "model".
std::string key_label(std::string_view key_path);

// The one error format: "origin: [section].key: what".
[[noreturn]] void fail_at(const std::string& origin, std::string_view key_path,
                          std::string_view what);

// "an integer (3)", "a string (\"x\")", ... for "found ..." in messages.
std::string describe(const toml::node& n);

// What a key reader sees: the key's path and where its value is.
struct KeyCtx {
  std::string path;    // "model.num_layers"
  std::string origin;  // "run.toml:12:13"
  [[noreturn]] void fail(std::string_view what) const { fail_at(origin, path, what); }
};

struct Field {
  std::string name;
  std::function<void(Config&, const toml::node&, const KeyCtx&)> read;
};

struct Section {
  std::string name;
  std::vector<Field> fields;
  bool free_form = false;  // [meta]: anything goes
};

// Every section and key the host knows, in documentation order.
const std::vector<Section>& schema();

// Checks that involve more than one key (or a key against another section). Runs on the
// merged configuration; errors point at the key as given (Config::origins).
void validate(const Config& c);

}  // namespace vpmoe::config_detail
