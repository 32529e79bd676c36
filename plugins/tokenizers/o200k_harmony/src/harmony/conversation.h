#pragma once
// A Harmony conversation as openai-harmony's message dicts (what vpMoE's data pipeline
// stores), parsed and checked. Errors name the message index.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace vpmoe::o200k::harmony {

// Key order matters (tool parameters render in the order given), so objects keep it.
using Json = nlohmann::ordered_json;

enum class Role { system, developer, user, assistant, tool };

struct Part {
  enum class Kind { text, system_content, developer_content } kind = Kind::text;
  std::string text;  // Kind::text
  Json object;       // the content object otherwise
};

struct Message {
  Role role = Role::user;
  std::optional<std::string> name, recipient, channel, content_type;
  std::vector<Part> parts;
};

const char* role_name(Role r);

// Throws vpmoe::Error "conversation message {index}: {what}", the form of every error here.
[[noreturn]] void fail_at(std::size_t index, const std::string& what);

// Parses {"messages": [...]}; with pipeline_rules, also enforces vpMoE's data rules.
std::vector<Message> parse_conversation(std::string_view json_text, bool pipeline_rules);

}  // namespace vpmoe::o200k::harmony
