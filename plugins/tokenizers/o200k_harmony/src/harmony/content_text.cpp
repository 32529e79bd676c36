#include "harmony/content_text.h"

#include <algorithm>
#include <sstream>

#include "harmony/typescript.h"
#include "vpmoe/error.h"

namespace vpmoe::o200k::harmony {
namespace {

[[noreturn]] void fail_at(std::size_t i, const std::string& what) {
  throw Error("conversation message " + std::to_string(i) + ": " + what);
}

std::string join(const std::vector<std::string>& parts, const std::string& sep) {
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) out += (i ? sep : "") + parts[i];
  return out;
}

std::vector<std::string> lines_of(const std::string& text) {  // as Rust's str::lines
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) {
    if (!l.empty() && l.back() == '\r') l.pop_back();
    out.push_back(l);
  }
  return out;
}

// Field `key`: the default when missing, nothing when null, else a string.
std::optional<std::string> field(const Json& c, const char* key, std::optional<std::string> dflt,
                                 std::size_t i) {
  if (!c.contains(key)) return dflt;
  if (c[key].is_null()) return std::nullopt;
  if (!c[key].is_string()) fail_at(i, std::string("\"") + key + "\" must be a string or null");
  return c[key].get<std::string>();
}

// Namespaces in name order (openai-harmony keeps them in a sorted map).
std::string tools_section(const Json& tools, std::size_t i) {
  if (!tools.is_object()) fail_at(i, "\"tools\" must map namespace names to namespaces");
  std::vector<std::string> names;
  for (const auto& [k, v] : tools.items()) names.push_back(k);
  std::sort(names.begin(), names.end());
  std::vector<std::string> sections = {"# Tools"};
  for (const auto& key : names) {
    const Json& ns = tools[key];
    if (!ns.is_object()) fail_at(i, "tool namespace \"" + key + "\" must be an object");
    const std::string name = ns.value("name", key);
    const Json list = ns.contains("tools") && ns["tools"].is_array() ? ns["tools"] : Json::array();
    std::vector<std::string> lines = {"## " + name + "\n"};
    if (ns.contains("description") && ns["description"].is_string())
      for (const auto& l : lines_of(ns["description"]))
        lines.push_back(list.empty() ? l : "// " + l);
    if (!list.empty()) {
      lines.push_back("namespace " + name + " {\n");
      for (const auto& t : list) {
        if (!t.is_object() || !t.contains("name") || !t["name"].is_string())
          fail_at(i, "a tool of namespace \"" + name + "\" needs a string \"name\"");
        if (t.contains("description") && t["description"].is_string())
          for (const auto& l : lines_of(t["description"])) lines.push_back("// " + l);
        const std::string tool = t["name"];
        if (t.contains("parameters") && !t["parameters"].is_null())
          lines.push_back("type " + tool + " = (_: " + schema_to_typescript(t["parameters"], "") +
                          ") => any;\n");
        else
          lines.push_back("type " + tool + " = () => any;\n");
      }
      lines.push_back("} // namespace " + name);
    }
    sections.push_back(join(lines, "\n"));
  }
  return join(sections, "\n\n");
}

bool has_tools(const Json& c) {
  return c.contains("tools") && c["tools"].is_object() && !c["tools"].empty();
}

std::string effort_of(const Json& c, std::size_t i) {
  const auto e = field(c, "reasoning_effort", "medium", i);
  if (!e) return {};
  std::string v = *e;
  std::transform(v.begin(), v.end(), v.begin(), [](unsigned char ch) { return std::tolower(ch); });
  if (v != "low" && v != "medium" && v != "high")
    fail_at(i, "\"reasoning_effort\" must be low, medium or high, found \"" + *e + "\"");
  return v;
}

}  // namespace

bool declares_function_tools(const Json& dev) {
  if (!has_tools(dev) || !dev["tools"].contains("functions")) return false;
  const Json& ns = dev["tools"]["functions"];
  return ns.is_object() && ns.contains("tools") && ns["tools"].is_array() && !ns["tools"].empty();
}

std::string system_content_text(const Json& c, bool function_tools, std::size_t i) {
  std::vector<std::string> sections, top;
  if (auto v = field(c, "model_identity",
                     "You are ChatGPT, a large language model trained by OpenAI.", i))
    top.push_back(*v);
  if (auto v = field(c, "knowledge_cutoff", "2024-06", i)) top.push_back("Knowledge cutoff: " + *v);
  if (auto v = field(c, "conversation_start_date", std::nullopt, i))
    top.push_back("Current date: " + *v);
  if (!top.empty()) sections.push_back(join(top, "\n"));
  if (const std::string e = effort_of(c, i); !e.empty()) sections.push_back("Reasoning: " + e);
  if (has_tools(c)) sections.push_back(tools_section(c["tools"], i));

  std::vector<std::string> channels = {"analysis", "commentary", "final"};
  bool required = true;
  if (c.contains("channel_config")) {
    const Json& cc = c["channel_config"];
    channels.clear();
    if (!cc.is_null()) {
      if (!cc.is_object() || !cc.contains("valid_channels") || !cc["valid_channels"].is_array())
        fail_at(i, "\"channel_config\" needs a \"valid_channels\" list");
      for (const auto& ch : cc["valid_channels"]) channels.push_back(ch.get<std::string>());
      required = cc.value("channel_required", false);
    }
  }
  if (!channels.empty()) {
    std::string header = "# Valid channels: " + join(channels, ", ") + ".";
    if (required) header += " Channel must be included for every message.";
    if (function_tools)
      header += "\nCalls to these tools must go to the commentary channel: 'functions'.";
    sections.push_back(header);
  }
  return join(sections, "\n\n");
}

std::string developer_content_text(const Json& c, std::size_t i) {
  std::vector<std::string> sections;
  if (auto v = field(c, "instructions", std::nullopt, i)) {
    sections.push_back("# Instructions");
    sections.push_back(*v);
  }
  if (has_tools(c)) sections.push_back(tools_section(c["tools"], i));
  return join(sections, "\n\n");
}

}  // namespace vpmoe::o200k::harmony
