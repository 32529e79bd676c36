// The one error format of the config reader: "path:line:column: [section].key: what was
// expected, what was found". Plugins reach it through Config::fail for their own keys.
#include <sstream>

#include "config/config_internal.h"

namespace vpmoe {
namespace config_detail {

std::string where(const toml::source_region& r, std::string_view fallback_path) {
  std::string path = r.path ? *r.path : std::string(fallback_path);
  auto line = r.begin.line ? r.begin.line : 1;
  auto col = r.begin.column ? r.begin.column : 1;
  return path + ":" + std::to_string(line) + ":" + std::to_string(col);
}

std::string key_label(std::string_view key_path) {
  auto dot = key_path.find('.');
  if (dot == std::string_view::npos) return "[" + std::string(key_path) + "]";
  return "[" + std::string(key_path.substr(0, dot)) + "]." + std::string(key_path.substr(dot + 1));
}

void fail_at(const std::string& origin, std::string_view key_path, std::string_view what) {
  throw ConfigError(origin + ": " + key_label(key_path) + ": " + std::string(what));
}

std::string describe(const toml::node& n) {
  std::ostringstream os;
  switch (n.type()) {
    case toml::node_type::integer:
      os << "an integer (" << n.as_integer()->get() << ")";
      break;
    case toml::node_type::floating_point:
      os << "a float (" << n.as_floating_point()->get() << ")";
      break;
    case toml::node_type::boolean:
      os << "a boolean (" << (n.as_boolean()->get() ? "true" : "false") << ")";
      break;
    case toml::node_type::string: {
      std::string s(n.as_string()->get());
      if (s.size() > 40) s = s.substr(0, 37) + "...";
      os << "a string (\"" << s << "\")";
      break;
    }
    case toml::node_type::array:
      os << "an array of " << n.as_array()->size() << " element"
         << (n.as_array()->size() == 1 ? "" : "s");
      break;
    case toml::node_type::table:
      os << "a table";
      break;
    case toml::node_type::date:
      os << "a date";
      break;
    case toml::node_type::time:
      os << "a time";
      break;
    case toml::node_type::date_time:
      os << "a date-time";
      break;
    default:
      os << "nothing";
  }
  return os.str();
}

}  // namespace config_detail

std::string Config::origin(std::string_view key) const {
  if (auto it = origins.find(key); it != origins.end()) return it->second;
  auto dot = key.find('.');
  if (dot != std::string_view::npos) {
    if (auto it = origins.find(key.substr(0, dot)); it != origins.end()) return it->second;
  }
  return path + ":1:1";
}

void Config::fail(std::string_view key, std::string_view what) const {
  config_detail::fail_at(origin(key), key, what);
}

}  // namespace vpmoe
