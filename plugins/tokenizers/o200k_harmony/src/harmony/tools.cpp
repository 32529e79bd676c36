#include "harmony/tools.h"

#include <algorithm>

#include "harmony/text.h"
#include "harmony/typescript.h"

namespace vpmoe::o200k::harmony {
namespace {

// An optional string field: absent or null gives "", anything else but a string is an error.
std::string optional_text(const Json& j, const char* key, const std::string& what, std::size_t i) {
  if (!j.contains(key) || j[key].is_null()) return {};
  if (!j[key].is_string()) fail_at(i, what + ": \"" + key + "\" must be a string");
  return j[key].get<std::string>();
}

std::string tool_declaration(const Json& t, const std::string& ns, std::size_t i) {
  if (!t.is_object() || !t.contains("name") || !t["name"].is_string())
    fail_at(i, "a tool of namespace \"" + ns + "\" needs a string \"name\"");
  const std::string name = t["name"];
  std::vector<std::string> lines;
  for (const auto& l : lines_of(optional_text(t, "description", "tool \"" + name + "\"", i)))
    lines.push_back("// " + l);
  if (t.contains("parameters") && !t["parameters"].is_null())
    lines.push_back("type " + name + " = (_: " + schema_to_typescript(t["parameters"], "") +
                    ") => any;\n");
  else
    lines.push_back("type " + name + " = () => any;\n");
  return join(lines, "\n");
}

std::string namespace_section(const Json& ns, const std::string& key, std::size_t i) {
  const std::string where = "tool namespace \"" + key + "\"";
  if (!ns.is_object()) fail_at(i, where + " must be an object");
  if (ns.contains("name") && !ns["name"].is_string())
    fail_at(i, where + ": \"name\" must be a string");
  const std::string name = ns.value("name", key);
  Json list = Json::array();
  if (ns.contains("tools") && !ns["tools"].is_null()) {
    if (!ns["tools"].is_array()) fail_at(i, where + ": \"tools\" must be a list");
    list = ns["tools"];
  }
  std::vector<std::string> lines = {"## " + name + "\n"};
  // A namespace without tools (python) shows its description as prose, else as comments.
  for (const auto& l : lines_of(optional_text(ns, "description", where, i)))
    lines.push_back(list.empty() ? l : "// " + l);
  if (!list.empty()) {
    lines.push_back("namespace " + name + " {\n");
    for (const auto& t : list) lines.push_back(tool_declaration(t, name, i));
    lines.push_back("} // namespace " + name);
  }
  return join(lines, "\n");
}

}  // namespace

std::optional<std::string> tools_section(const Json& content, std::size_t i) {
  if (!content.contains("tools") || content["tools"].is_null()) return std::nullopt;
  const Json& tools = content["tools"];
  if (!tools.is_object()) fail_at(i, "\"tools\" must map namespace names to namespaces");
  if (tools.empty()) return std::nullopt;
  // openai-harmony keeps namespaces in a sorted map, so they render in key order.
  std::vector<std::string> keys;
  for (const auto& [k, v] : tools.items()) keys.push_back(k);
  std::sort(keys.begin(), keys.end());
  std::vector<std::string> sections = {"# Tools"};
  for (const auto& key : keys) sections.push_back(namespace_section(tools[key], key, i));
  return join(sections, "\n\n");
}

bool declares_function_tools(const Json& dev) {
  if (!dev.contains("tools") || !dev["tools"].is_object() || !dev["tools"].contains("functions"))
    return false;
  const Json& ns = dev["tools"]["functions"];
  return ns.is_object() && ns.contains("tools") && ns["tools"].is_array() && !ns["tools"].empty();
}

}  // namespace vpmoe::o200k::harmony
