#include "harmony/system_content.h"

#include <algorithm>
#include <optional>

#include "harmony/text.h"
#include "harmony/tools.h"

namespace vpmoe::o200k::harmony {
namespace {

// Field `key`: the default when missing, nothing when null, else a string.
std::optional<std::string> field(const Json& c, const char* key, std::optional<std::string> dflt,
                                 std::size_t i) {
  if (!c.contains(key)) return dflt;
  if (c[key].is_null()) return std::nullopt;
  if (!c[key].is_string()) fail_at(i, std::string("\"") + key + "\" must be a string or null");
  return c[key].get<std::string>();
}

// Harmony's Python enum writes "Low"/"Medium"/"High", its docs write lower case: take both.
std::optional<std::string> effort(const Json& c, std::size_t i) {
  const auto e = field(c, "reasoning_effort", "medium", i);
  if (!e) return std::nullopt;
  std::string v = *e;
  std::transform(v.begin(), v.end(), v.begin(), [](unsigned char ch) { return std::tolower(ch); });
  if (v != "low" && v != "medium" && v != "high")
    fail_at(i, "\"reasoning_effort\" must be low, medium or high, found \"" + *e + "\"");
  return v;
}

// The "# Valid channels" line; nothing when channel_config is null or lists no channels.
std::optional<std::string> channels_header(const Json& c, bool function_tools, std::size_t i) {
  std::vector<std::string> channels = {"analysis", "commentary", "final"};
  bool required = true;
  if (c.contains("channel_config")) {
    const Json& cc = c["channel_config"];
    if (cc.is_null()) return std::nullopt;
    const char* expected =
        "\"channel_config\" must be {\"valid_channels\": [strings], \"channel_required\": bool}";
    if (!cc.is_object() || !cc.contains("valid_channels") || !cc["valid_channels"].is_array() ||
        !cc.contains("channel_required") || !cc["channel_required"].is_boolean())
      fail_at(i, expected);
    channels.clear();
    for (const auto& ch : cc["valid_channels"]) {
      if (!ch.is_string()) fail_at(i, expected);
      channels.push_back(ch.get<std::string>());
    }
    required = cc["channel_required"].get<bool>();
  }
  if (channels.empty()) return std::nullopt;
  std::string header = "# Valid channels: " + join(channels, ", ") + ".";
  if (required) header += " Channel must be included for every message.";
  if (function_tools)
    header += "\nCalls to these tools must go to the commentary channel: 'functions'.";
  return header;
}

}  // namespace

std::string system_content_text(const Json& c, bool function_tools, std::size_t i) {
  std::vector<std::string> sections, top;
  if (auto v = field(c, "model_identity",
                     "You are ChatGPT, a large language model trained by OpenAI.", i))
    top.push_back(*v);
  if (auto v = field(c, "knowledge_cutoff", "2024-06", i)) top.push_back("Knowledge cutoff: " + *v);
  if (auto v = field(c, "conversation_start_date", std::nullopt, i))
    top.push_back("Current date: " + *v);
  if (!top.empty()) sections.push_back(join(top, "\n"));
  if (auto e = effort(c, i)) sections.push_back("Reasoning: " + *e);
  if (auto t = tools_section(c, i)) sections.push_back(*t);
  if (auto h = channels_header(c, function_tools, i)) sections.push_back(*h);
  return join(sections, "\n\n");
}

}  // namespace vpmoe::o200k::harmony
