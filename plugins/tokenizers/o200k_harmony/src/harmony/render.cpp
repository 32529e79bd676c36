#include "harmony/render.h"

#include "harmony/conversation.h"
#include "harmony/developer_content.h"
#include "harmony/system_content.h"
#include "harmony/tools.h"
#include "o200k_tokenizer.h"
#include "vpmoe/error.h"

namespace vpmoe::o200k {
namespace {

using harmony::Message;
using harmony::Part;
using harmony::Role;

// Appends to the three arrays at once, so they stay aligned.
struct Out {
  RenderedConversation& r;
  std::uint8_t mask = 0, span = 0;
  void token(std::int32_t id) {
    r.tokens.push_back(id);
    r.loss_mask.push_back(mask);
    r.span.push_back(span);
  }
  void text(const Tokenizer& tok, const std::string& t) {  // each piece encoded on its own
    if (!t.empty())
      for (auto id : tok.encode_ordinary(t)) token(id);
  }
};

void render_message(const Tokenizer& tok, const Message& m, std::size_t index, bool function_tools,
                    Out& out) {
  out.mask = m.role == Role::assistant;
  out.span = m.role != Role::assistant ? 0
             : m.channel == "analysis" ? 1
             : m.channel == "final"    ? 2
                                       : 0;
  out.token(kStart);
  if (m.role == Role::tool) {
    out.text(tok, *m.name);
  } else {
    out.text(tok, harmony::role_name(m.role));
    if (m.name) out.text(tok, ":" + *m.name);
  }
  if (m.recipient && *m.recipient != "all") out.text(tok, " to=" + *m.recipient);
  if (m.channel) {
    out.token(kChannel);
    out.text(tok, *m.channel);
  }
  if (m.content_type) {
    static const std::string marker = "<|constrain|>";
    if (m.content_type->rfind(marker, 0) == 0) {
      out.text(tok, " ");
      out.token(kConstrain);
      out.text(tok, m.content_type->substr(marker.size()));
    } else {
      out.text(tok, " " + *m.content_type);
    }
  }
  out.token(kMessage);
  for (const Part& p : m.parts) {
    switch (p.kind) {
      case Part::Kind::text:
        out.text(tok, p.text);
        break;
      case Part::Kind::system_content:
        out.text(tok, harmony::system_content_text(p.object, function_tools, index));
        break;
      case Part::Kind::developer_content:
        out.text(tok, harmony::developer_content_text(p.object, index));
        break;
    }
  }
  out.token(m.role == Role::assistant && m.recipient ? kCall : kEnd);
}

}  // namespace

RenderedConversation render_harmony(const Tokenizer& tok, std::string_view conversation_json,
                                    const RenderOptions& options) {
  const std::vector<Message> msgs =
      harmony::parse_conversation(conversation_json, options.pipeline_rules);

  bool function_tools = false;
  for (const auto& m : msgs)
    for (const auto& p : m.parts)
      function_tools |=
          p.kind == Part::Kind::developer_content && harmony::declares_function_tools(p.object);

  // Harmony's auto_drop_analysis: when the last assistant message is final, analysis before
  // the first final message is dropped. vpMoE keeps it (drop_analysis is off by default).
  std::size_t drop_before = 0;
  if (options.drop_analysis) {
    for (auto it = msgs.rbegin(); it != msgs.rend(); ++it)
      if (it->role == Role::assistant) {
        if (it->channel == "final")
          for (std::size_t i = 0; i < msgs.size(); ++i)
            if (msgs[i].channel == "final") {
              drop_before = i;
              break;
            }
        break;
      }
  }

  RenderedConversation r;
  Out out{r};
  for (std::size_t i = 0; i < msgs.size(); ++i) {
    if (i < drop_before && msgs[i].channel == "analysis") continue;
    try {
      render_message(tok, msgs[i], i, function_tools, out);
    } catch (const Error& e) {  // e.g. invalid UTF-8 from the tokenizer: add the index
      const std::string what = e.what();
      if (what.rfind("conversation message", 0) == 0) throw;
      harmony::fail_at(i, what);
    } catch (const harmony::Json::exception& e) {  // a JSON shape no check above foresaw
      harmony::fail_at(i, e.what());
    }
  }
  const Message& last = msgs.back();
  if (options.training && !options.completion && last.role == Role::assistant &&
      last.channel == "final")
    r.tokens.back() = kReturn;
  out.mask = out.span = 0;
  if (options.completion) {
    out.token(kStart);
    out.text(tok, "assistant");
  }
  if (options.append_eod) out.token(tok.eod_id());
  return r;
}

}  // namespace vpmoe::o200k
