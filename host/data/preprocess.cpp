#include "data/preprocess.h"

#include <atomic>
#include <latch>
#include <memory>
#include <optional>

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <nlohmann/json.hpp>

#include "data/atomic_file.h"
#include "data/file_hash.h"
#include "data/jsonl.h"
#include "data/progress.h"
#include "data/tokenizer_json.h"
#include "vpmoe/error.h"
#include "vpmoe/indexed_dataset.h"

namespace vpmoe::host::data {
namespace {

constexpr int kPipelineVersion = 1;
constexpr std::size_t kChunkLines = 2048;

struct Line {
  std::size_t number;
  std::string raw;
};

struct Document {
  std::vector<std::int32_t> tokens;
  std::vector<std::uint8_t> loss_mask, span;  // harmony only
  std::string error;                          // non-empty: this line is bad
};

// Errors are thrown; encode_chunk keeps them per line.
Document encode_text(const Tokenizer& tok, const std::string& raw, bool allow_specials) {
  Document d;
  const nlohmann::json j = parse_json_object(raw);
  if (!j.contains("text") || !j["text"].is_string())
    throw Error("expected a JSON object with a string \"text\"");
  static const std::vector<std::string> all{"all"};
  const auto& text = j["text"].get_ref<const std::string&>();
  d.tokens = allow_specials ? tok.encode(text, all) : tok.encode_ordinary(text);
  d.tokens.push_back(tok.eod_id());
  return d;
}

Document render_harmony(const Tokenizer& tok, const std::string& raw) {
  RenderedConversation r = tok.render_conversation(raw, RenderOptions{});
  if (r.loss_mask.size() != r.tokens.size() || r.span.size() != r.tokens.size())
    throw Error("the renderer returned " + std::to_string(r.tokens.size()) + " tokens but " +
                std::to_string(r.loss_mask.size()) + " mask and " + std::to_string(r.span.size()) +
                " span entries");
  return Document{std::move(r.tokens), std::move(r.loss_mask), std::move(r.span), {}};
}

// Encodes lines[i] into docs[i] on the pool; errors are kept per line, not thrown.
void encode_chunk(const Tokenizer& tok, const PreprocessOptions& o, const std::vector<Line>& lines,
                  std::vector<Document>& docs, boost::asio::thread_pool* pool, unsigned workers) {
  docs.assign(lines.size(), Document{});
  std::atomic<std::size_t> next{0};
  auto work = [&] {
    for (std::size_t i; (i = next.fetch_add(1)) < lines.size();) {
      try {
        docs[i] = o.format == "harmony" ? render_harmony(tok, lines[i].raw)
                                        : encode_text(tok, lines[i].raw, o.allow_specials);
      } catch (const std::exception& e) {
        docs[i].error = e.what();
      }
    }
  };
  if (!pool) {
    work();
    return;
  }
  std::latch done(workers);
  for (unsigned w = 0; w < workers; ++w)
    boost::asio::post(*pool, [&] {
      work();
      done.count_down();
    });
  done.wait();
}

}  // namespace

PreprocessSummary preprocess(const Tokenizer& tok, const PreprocessOptions& o) {
  if (o.format != "text" && o.format != "harmony")
    throw Error("preprocess: --format must be text or harmony, found \"" + o.format + "\"");
  const bool harmony = o.format == "harmony";
  const FileHash source = hash_file(o.input);
  JsonlReader reader(o.input);

  PreprocessSummary sum;
  const std::string tokens_prefix = harmony ? o.output_prefix + "_tokens" : o.output_prefix;
  IndexedDatasetWriter tokens(tokens_prefix, IndexedDType::i32);
  std::optional<IndexedDatasetWriter> mask, span;
  if (harmony) {
    mask.emplace(o.output_prefix + "_lossmask", IndexedDType::u8);
    span.emplace(o.output_prefix + "_span", IndexedDType::u8);
  }
  std::unique_ptr<boost::asio::thread_pool> pool;
  if (o.workers > 1) pool = std::make_unique<boost::asio::thread_pool>(o.workers);

  Progress progress("preprocess", source.bytes);
  std::vector<Line> lines;
  std::vector<Document> docs;
  std::uint64_t bytes_read = 0;
  for (bool more = true; more;) {
    lines.clear();
    std::string raw;
    while (lines.size() < kChunkLines && (more = reader.next(raw))) {
      bytes_read += raw.size() + 1;
      lines.push_back({reader.line(), std::move(raw)});
    }
    encode_chunk(tok, o, lines, docs, pool.get(), o.workers);
    for (std::size_t i = 0; i < lines.size(); ++i) {
      if (!docs[i].error.empty())
        throw Error(o.input + ":" + std::to_string(lines[i].number) + ": " + docs[i].error);
      tokens.add_document(std::span<const std::int32_t>(docs[i].tokens));
      if (harmony) {
        mask->add_document(std::span<const std::uint8_t>(docs[i].loss_mask));
        span->add_document(std::span<const std::uint8_t>(docs[i].span));
      }
      sum.tokens += docs[i].tokens.size();
      ++sum.documents;
    }
    progress.update(sum.documents, sum.tokens, bytes_read);
  }
  if (sum.documents == 0) throw Error(o.input + ": no documents (every line is empty)");
  progress.finish(sum.documents, sum.tokens, source.bytes);

  // Everything is written and fsynced under temporary names before the first rename, so a
  // failure up to here leaves the old outputs as they were.
  tokens.prepare();
  if (harmony) mask->prepare(), span->prepare();

  const TokenizerIdentity id = tok.identity();
  nlohmann::json m;
  m["pipeline"] = "vpmoe-host preprocess";
  m["pipeline_version"] = kPipelineVersion;
  m["command_line"] = o.command_line;
  m["format"] = o.format;
  m["allow_specials"] = o.allow_specials;
  m["tokenizer"] = tokenizer_json(id);
  m["sources"] = {{{"path", o.input}, {"sha256", source.sha256}, {"bytes", source.bytes}}};
  m["shards"] = nlohmann::json::array();
  auto shard = [&](const IndexedDatasetWriter& w, const char* dtype) {
    m["shards"].push_back({{"prefix", w.prefix()},
                           {"dtype", dtype},
                           {"documents", w.documents()},
                           {"elements", w.elements()}});
  };
  shard(tokens, "int32");
  if (harmony) shard(*mask, "uint8"), shard(*span, "uint8");
  m["documents"] = sum.documents;
  m["tokens"] = sum.tokens;
  sum.manifest = o.output_prefix + ".manifest.json";
  AtomicFile mf(sum.manifest);
  mf.out() << m.dump(2) << "\n";
  mf.prepare();

  tokens.commit();
  sum.outputs.push_back(tokens_prefix);
  if (harmony) {
    mask->commit();
    span->commit();
    sum.outputs.push_back(mask->prefix());
    sum.outputs.push_back(span->prefix());
  }
  mf.commit();  // last: a manifest describes datasets that are in place
  return sum;
}

}  // namespace vpmoe::host::data
