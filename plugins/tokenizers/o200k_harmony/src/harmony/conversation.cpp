#include "harmony/conversation.h"

#include "vpmoe/error.h"

namespace vpmoe::o200k::harmony {

void fail_at(std::size_t i, const std::string& what) {
  throw Error("conversation message " + std::to_string(i) + ": " + what);
}

namespace {

std::optional<std::string> optional_string(const Json& m, const char* key, std::size_t i) {
  if (!m.contains(key) || m[key].is_null()) return std::nullopt;
  if (!m[key].is_string()) fail_at(i, std::string("\"") + key + "\" must be a string");
  return m[key].get<std::string>();
}

Role parse_role(const Json& m, std::size_t i) {
  if (!m.contains("role") || !m["role"].is_string()) fail_at(i, "expected a string \"role\"");
  const std::string r = m["role"];
  if (r == "system") return Role::system;
  if (r == "developer") return Role::developer;
  if (r == "user") return Role::user;
  if (r == "assistant") return Role::assistant;
  if (r == "tool") return Role::tool;
  fail_at(i, "role \"" + r + "\" is not one of system, developer, user, assistant, tool");
}

std::vector<Part> parse_content(const Json& m, Role role, std::size_t i) {
  if (!m.contains("content")) fail_at(i, "expected \"content\" (a string or a list of parts)");
  const Json& c = m["content"];
  if (c.is_string()) return {Part{Part::Kind::text, c.get<std::string>(), {}}};
  if (!c.is_array()) fail_at(i, "\"content\" must be a string or a list of parts");
  std::vector<Part> parts;
  for (std::size_t k = 0; k < c.size(); ++k) {
    const Json& p = c[k];
    const std::string where = "content part " + std::to_string(k) + ": ";
    if (!p.is_object() || !p.contains("type") || !p["type"].is_string())
      fail_at(i, where + "expected an object with a string \"type\"");
    const std::string type = p["type"];
    if (type == "text") {
      if (!p.contains("text") || !p["text"].is_string())
        fail_at(i, where + "a text part needs a string \"text\"");
      parts.push_back({Part::Kind::text, p["text"].get<std::string>(), {}});
    } else if (type == "system_content") {
      if (role != Role::system) fail_at(i, where + "system_content belongs in a system message");
      parts.push_back({Part::Kind::system_content, {}, p});
    } else if (type == "developer_content") {
      if (role != Role::developer)
        fail_at(i, where + "developer_content belongs in a developer message");
      parts.push_back({Part::Kind::developer_content, {}, p});
    } else {
      fail_at(
          i, where + "type \"" + type + "\" is not one of text, system_content, developer_content");
    }
  }
  return parts;
}

// vpMoE's data rules (spec/data.md §2).
void check_pipeline_rules(const std::vector<Message>& msgs) {
  bool any_assistant = false;
  for (std::size_t i = 0; i < msgs.size(); ++i) {
    const Message& m = msgs[i];
    if (m.role == Role::tool)
      fail_at(i,
              "role \"tool\" is not allowed in training data (system, developer, user, "
              "assistant)");
    // "all" is Harmony's "no recipient" (it renders nothing); anything else is a tool call.
    if (m.recipient && *m.recipient != "all")
      fail_at(i, "a recipient (tool call) is not allowed in training data: found \"" +
                     *m.recipient + "\", expected none or \"all\"");
    if (m.content_type)
      fail_at(i, "a content type is not allowed in training data (text content only), found \"" +
                     *m.content_type + "\"");
    if (m.role == Role::assistant) {
      any_assistant = true;
      if (!m.channel || (*m.channel != "analysis" && *m.channel != "final"))
        fail_at(i, "an assistant message needs channel \"analysis\" or \"final\", found " +
                       (m.channel ? "\"" + *m.channel + "\"" : std::string("none")));
    }
  }
  if (!any_assistant)
    throw Error("conversation: training data needs at least one assistant message");
}

}  // namespace

const char* role_name(Role r) {
  switch (r) {
    case Role::system:
      return "system";
    case Role::developer:
      return "developer";
    case Role::user:
      return "user";
    case Role::assistant:
      return "assistant";
    case Role::tool:
      return "tool";
  }
  return "?";
}

std::vector<Message> parse_conversation(std::string_view json_text, bool pipeline_rules) {
  Json root;
  try {
    root = Json::parse(json_text);
  } catch (const Json::exception& e) {  // parse_error, or out_of_range for a number past double
    throw Error(std::string("conversation: not valid JSON: ") + e.what());
  }
  if (!root.is_object() || !root.contains("messages") || !root["messages"].is_array())
    throw Error("conversation: expected an object with a \"messages\" list");
  const Json& list = root["messages"];
  if (list.empty()) throw Error("conversation: the message list is empty");
  std::vector<Message> msgs;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const Json& j = list[i];
    if (!j.is_object()) fail_at(i, "expected an object");
    Message m;
    m.role = parse_role(j, i);
    m.name = optional_string(j, "name", i);
    m.recipient = optional_string(j, "recipient", i);
    m.channel = optional_string(j, "channel", i);
    m.content_type = optional_string(j, "content_type", i);
    if (m.channel && m.role != Role::assistant && m.role != Role::tool)
      fail_at(i, std::string("a ") + role_name(m.role) + " message cannot have a channel (\"" +
                     *m.channel + "\"); only assistant and tool messages do");
    if (m.role == Role::tool && !m.name)
      fail_at(i, "a tool message needs the tool's \"name\" (e.g. functions.get_weather)");
    m.parts = parse_content(j, m.role, i);
    msgs.push_back(std::move(m));
  }
  if (pipeline_rules) check_pipeline_rules(msgs);
  return msgs;
}

}  // namespace vpmoe::o200k::harmony
