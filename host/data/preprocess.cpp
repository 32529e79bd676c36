#include "data/preprocess.h"

#include <atomic>
#include <cmath>
#include <latch>
#include <memory>
#include <optional>

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <nlohmann/json.hpp>

#include "data/atomic_file.h"
#include "data/file_hash.h"
#include "data/float16.h"
#include "data/jsonl.h"
#include "data/progress.h"
#include "data/tokenizer_json.h"
#include "vpmoe/error.h"
#include "vpmoe/indexed_dataset.h"

namespace vpmoe::host::data {
namespace {

constexpr int kPipelineVersion = 2;  // 2: the tokens format, teacher_logp, the split
constexpr std::size_t kChunkLines = 2048;

struct Line {
  std::size_t number;
  std::string raw;
};

struct Document {
  std::vector<std::int32_t> tokens;
  std::vector<std::uint8_t> loss_mask, span;  // harmony; tokens: when the line has them
  std::vector<std::uint16_t> teacher_logp;    // tokens: float16 bits, when the line has them
  bool has_mask = false, has_span = false, has_logp = false;
  bool valid = false;  // with a split key: this line goes to PREFIX_valid
  std::string error;   // non-empty: this line is bad
};

// Errors are thrown; encode_chunk keeps them per line.
Document encode_text(const Tokenizer& tok, const nlohmann::json& j, bool allow_specials) {
  Document d;
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
  Document d{std::move(r.tokens), std::move(r.loss_mask), std::move(r.span), {}};
  d.has_mask = d.has_span = true;
  return d;
}

// A JSON value as an error message shows it: short, and non-finite numbers by name (nlohmann
// writes them as null).
std::string shown(const nlohmann::json& v) {
  if (v.is_number_float() && !std::isfinite(v.get<double>()))
    return std::isnan(v.get<double>()) ? "nan" : v.get<double>() < 0 ? "-inf" : "inf";
  std::string s = v.dump();
  if (s.size() > 40) s = s.substr(0, 37) + "...";
  return s;
}

// An integer in [lo, hi]; nothing for a float (2.5 and 1.0 alike), a string, a bool, ...
std::optional<std::int64_t> integer_in(const nlohmann::json& v, std::int64_t lo, std::int64_t hi) {
  if (v.is_number_unsigned()) {
    const auto u = v.get<std::uint64_t>();
    if (hi < 0 || u > std::uint64_t(hi) || std::int64_t(u) < lo) return std::nullopt;
    return std::int64_t(u);
  }
  if (v.is_number_integer()) {
    const auto s = v.get<std::int64_t>();
    if (s < lo || s > hi) return std::nullopt;
    return s;
  }
  return std::nullopt;
}

// The array `key` of a tokens line, with one element per id (n; ids itself: any length >= 1);
// null when the line has no such key.
const nlohmann::json* array_field(const nlohmann::json& j, const char* key, std::size_t n) {
  const auto it = j.find(key);
  if (it == j.end()) return nullptr;
  if (!it->is_array())
    throw Error(std::string("\"") + key + "\": expected an array, found " + shown(*it));
  if (n != 0 && it->size() != n)
    throw Error(std::string("\"") + key + "\": " + std::to_string(it->size()) + " values for " +
                std::to_string(n) + " ids (expected one per id)");
  return &*it;
}

std::string at(const char* key, std::size_t k) {
  return std::string("\"") + key + "\"[" + std::to_string(k) + "]: ";
}

// {"ids": [...], "loss_mask"?: [0|1...], "span"?: [0|1|2...], "teacher_logp"?: [x <= 0...]}:
// what an external job (a teacher scoring the tokens) writes; other keys are ignored.
Document parse_tokens(const nlohmann::json& j, std::int64_t vocab) {
  Document d;
  const nlohmann::json* ids = array_field(j, "ids", 0);
  if (!ids) throw Error("expected \"ids\": an array of integer token ids");
  if (ids->empty()) throw Error("\"ids\": expected at least one token id, found []");
  const std::size_t n = ids->size();
  d.tokens.reserve(n);
  for (std::size_t k = 0; k < n; ++k) {
    const auto id = integer_in((*ids)[k], 0, vocab - 1);
    if (!id)
      throw Error(at("ids", k) + "expected an integer token id in [0, " + std::to_string(vocab) +
                  "), found " + shown((*ids)[k]));
    d.tokens.push_back(std::int32_t(*id));
  }
  if (const nlohmann::json* mask = array_field(j, "loss_mask", n)) {
    d.has_mask = true;
    d.loss_mask.reserve(n);
    for (std::size_t k = 0; k < n; ++k) {
      const auto& v = (*mask)[k];
      const auto m =
          v.is_boolean() ? std::optional<std::int64_t>(v.get<bool>()) : integer_in(v, 0, 1);
      if (!m) throw Error(at("loss_mask", k) + "expected 0 or 1, found " + shown(v));
      d.loss_mask.push_back(std::uint8_t(*m));
    }
  }
  if (const nlohmann::json* span = array_field(j, "span", n)) {
    d.has_span = true;
    d.span.reserve(n);
    for (std::size_t k = 0; k < n; ++k) {
      const auto s = integer_in((*span)[k], 0, 2);
      if (!s)
        throw Error(at("span", k) + "expected 0 (prompt), 1 (analysis) or 2 (final), found " +
                    shown((*span)[k]));
      d.span.push_back(std::uint8_t(*s));
    }
  }
  if (const nlohmann::json* logp = array_field(j, "teacher_logp", n)) {
    d.has_logp = true;
    d.teacher_logp.reserve(n);
    for (std::size_t k = 0; k < n; ++k) {
      const auto& v = (*logp)[k];
      if (!v.is_number())
        throw Error(at("teacher_logp", k) + "expected a number (a log-probability), found " +
                    shown(v));
      const double x = v.get<double>();
      if (!std::isfinite(x))
        throw Error(at("teacher_logp", k) + "expected a finite log-probability, found " + shown(v));
      if (x > 0)
        throw Error(at("teacher_logp", k) + "expected a log-probability (<= 0), found " + shown(v));
      if (x <= -kFloat16Overflow)
        throw Error(at("teacher_logp", k) + "expected a value float16 holds (>= -65504), found " +
                    shown(v));
      d.teacher_logp.push_back(float16_bits(x));
    }
  }
  return d;
}

// The line's side of the split (split_point of its key's value against the fraction).
bool in_valid_split(const nlohmann::json& j, const std::string& key, double fraction) {
  const auto it = j.find(key);
  if (it == j.end())
    throw Error("expected a \"" + key +
                "\" field (--split-key: its value chooses the line's side "
                "of the split)");
  return split_point(it->dump()) < fraction;
}

Document encode_line(const Tokenizer& tok, const PreprocessOptions& o, const std::string& raw) {
  const bool split = !o.split_key.empty();
  if (o.format == "harmony") {
    Document d = render_harmony(tok, raw);  // parses the line itself
    if (split) d.valid = in_valid_split(parse_json_object(raw), o.split_key, o.valid_fraction);
    return d;
  }
  const nlohmann::json j = parse_json_object(raw);
  Document d = o.format == "tokens" ? parse_tokens(j, tok.vocab_size())
                                    : encode_text(tok, j, o.allow_specials);
  if (split) d.valid = in_valid_split(j, o.split_key, o.valid_fraction);
  return d;
}

// Encodes lines[i] into docs[i] on the pool; errors are kept per line, not thrown.
void encode_chunk(const Tokenizer& tok, const PreprocessOptions& o, const std::vector<Line>& lines,
                  std::vector<Document>& docs, boost::asio::thread_pool* pool, unsigned workers) {
  docs.assign(lines.size(), Document{});
  std::atomic<std::size_t> next{0};
  auto work = [&] {
    for (std::size_t i; (i = next.fetch_add(1)) < lines.size();) {
      try {
        docs[i] = encode_line(tok, o, lines[i].raw);
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

// Which datasets a prefix gets: the token dataset alone (PREFIX), or PREFIX_tokens with the
// PREFIX_lossmask sidecar (and PREFIX_span); PREFIX_teacher_logp beside either.
struct Layout {
  bool sidecars = false, span = false, logp = false;
};

// The datasets of one output prefix (the whole output, or one side of a split).
struct Output {
  Output(const std::string& p, const Layout& l) : prefix(p) {
    tokens.emplace(l.sidecars ? p + "_tokens" : p, IndexedDType::i32);
    if (l.sidecars) mask.emplace(p + "_lossmask", IndexedDType::u8);
    if (l.span) span.emplace(p + "_span", IndexedDType::u8);
    if (l.logp) logp.emplace(p + "_teacher_logp", IndexedDType::u16);
  }
  void add(const Document& d) {
    tokens->add_document(std::span<const std::int32_t>(d.tokens));
    if (mask) {
      if (d.has_mask) {
        mask->add_document(std::span<const std::uint8_t>(d.loss_mask));
      } else {  // a tokens line with spans and no mask: every label counts
        const std::vector<std::uint8_t> ones(d.tokens.size(), 1);
        mask->add_document(std::span<const std::uint8_t>(ones));
      }
    }
    if (span) span->add_document(std::span<const std::uint8_t>(d.span));
    if (logp) logp->add_document(std::span<const std::uint16_t>(d.teacher_logp));
    ++documents;
    elements += d.tokens.size();
  }
  std::vector<IndexedDatasetWriter*> writers() {
    std::vector<IndexedDatasetWriter*> w{&*tokens};
    for (auto* o : {&mask, &span, &logp})
      if (*o) w.push_back(&**o);
    return w;
  }
  std::string prefix;
  std::optional<IndexedDatasetWriter> tokens, mask, span, logp;
  std::uint64_t documents = 0, elements = 0;
};

const char* shard_dtype(const Output& out, const IndexedDatasetWriter* w) {
  if (w == &*out.tokens) return "int32";
  if (out.logp && w == &*out.logp) return "float16";  // IEEE binary16 bits, uint16 on disk
  return "uint8";
}

// A tokens line carries the same optional fields as the first line (a dataset's sidecars cover
// every document or none).
void check_same_fields(const Document& d, const Document& first, std::size_t first_line) {
  const std::pair<bool, bool> fields[] = {
      {d.has_mask, first.has_mask}, {d.has_span, first.has_span}, {d.has_logp, first.has_logp}};
  const char* names[] = {"loss_mask", "span", "teacher_logp"};
  for (int f = 0; f < 3; ++f)
    if (fields[f].first != fields[f].second)
      throw Error(std::string("\"") + names[f] + "\" " +
                  (fields[f].first
                       ? "is here but line " + std::to_string(first_line) + " has none"
                       : "is missing but line " + std::to_string(first_line) + " has it") +
                  " (every line has it or none)");
}

}  // namespace

double split_point(std::string_view canonical_json) {
  Sha256 h;
  h.update(canonical_json.data(), canonical_json.size());
  const std::string hex = h.finish().sha256;
  const std::uint64_t u = std::stoull(hex.substr(0, 16), nullptr, 16);
  return std::ldexp(double(u >> 11), -53);
}

PreprocessSummary preprocess(const Tokenizer& tok, const PreprocessOptions& o) {
  if (o.format != "text" && o.format != "harmony" && o.format != "tokens")
    throw Error("preprocess: --format must be text, harmony or tokens, found \"" + o.format + "\"");
  const bool split = !o.split_key.empty();
  if (split && !(o.valid_fraction > 0 && o.valid_fraction < 1))
    throw Error("preprocess: --valid-fraction must be in (0, 1), found " +
                shown(nlohmann::json(o.valid_fraction)));
  const FileHash source = hash_file(o.input);
  JsonlReader reader(o.input);

  PreprocessSummary sum;
  // Created at the first document: a tokens file's layout is that of its first line.
  std::unique_ptr<Output> train, valid;
  Document first;  // its optional fields
  std::size_t first_line = 0;
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
      const Document& d = docs[i];
      const std::string where = o.input + ":" + std::to_string(lines[i].number) + ": ";
      if (!d.error.empty()) throw Error(where + d.error);
      if (!train) {
        first.has_mask = d.has_mask, first.has_span = d.has_span, first.has_logp = d.has_logp;
        first_line = lines[i].number;
        const Layout l{d.has_mask || d.has_span, d.has_span, d.has_logp};
        train = std::make_unique<Output>(split ? o.output_prefix + "_train" : o.output_prefix, l);
        if (split) valid = std::make_unique<Output>(o.output_prefix + "_valid", l);
      } else if (o.format == "tokens") {
        try {
          check_same_fields(d, first, first_line);
        } catch (const Error& e) {
          throw Error(where + e.what());
        }
      }
      (d.valid ? *valid : *train).add(d);
      sum.tokens += d.tokens.size();
      ++sum.documents;
    }
    progress.update(sum.documents, sum.tokens, bytes_read);
  }
  if (sum.documents == 0) throw Error(o.input + ": no documents (every line is empty)");
  if (split)
    for (const Output* out : {train.get(), valid.get()})
      if (out->documents == 0)
        throw Error(o.input + ": the split put none of its " + std::to_string(sum.documents) +
                    " line(s) in " + out->prefix + " (--valid-fraction " +
                    shown(nlohmann::json(o.valid_fraction)) +
                    "; the side of a line depends on its \"" + o.split_key + "\" value alone)");
  progress.finish(sum.documents, sum.tokens, source.bytes);

  // Everything is written and fsynced under temporary names before the first rename, so a
  // failure up to here leaves the old outputs as they were.
  std::vector<Output*> outs{train.get()};
  if (valid) outs.push_back(valid.get());
  for (Output* out : outs)
    for (IndexedDatasetWriter* w : out->writers()) w->prepare();

  const TokenizerIdentity id = tok.identity();
  std::vector<std::unique_ptr<AtomicFile>> manifests;
  for (Output* out : outs) {
    nlohmann::json m;
    m["pipeline"] = "vpmoe-host preprocess";
    m["pipeline_version"] = kPipelineVersion;
    m["command_line"] = o.command_line;
    m["format"] = o.format;
    m["allow_specials"] = o.allow_specials;
    m["tokenizer"] = tokenizer_json(id);
    m["sources"] = {{{"path", o.input}, {"sha256", source.sha256}, {"bytes", source.bytes}}};
    if (split)
      m["split"] = {{"key", o.split_key},
                    {"valid_fraction", o.valid_fraction},
                    {"side", out == valid.get() ? "valid" : "train"},
                    {"rule",
                     "sha256(canonical JSON of the key's value)[0:8] big-endian >> 11, "
                     "/ 2^53 < valid_fraction: valid"}};
    m["shards"] = nlohmann::json::array();
    for (const IndexedDatasetWriter* w : out->writers())
      m["shards"].push_back({{"prefix", w->prefix()},
                             {"dtype", shard_dtype(*out, w)},
                             {"documents", w->documents()},
                             {"elements", w->elements()}});
    m["documents"] = out->documents;
    m["tokens"] = out->elements;
    sum.manifests.push_back(out->prefix + ".manifest.json");
    manifests.push_back(std::make_unique<AtomicFile>(sum.manifests.back()));
    manifests.back()->out() << m.dump(2) << "\n";
    manifests.back()->prepare();
  }
  if (valid) sum.valid_documents = valid->documents, sum.valid_tokens = valid->elements;

  for (Output* out : outs)
    for (IndexedDatasetWriter* w : out->writers()) {
      w->commit();
      sum.outputs.push_back(w->prefix());
    }
  for (auto& mf : manifests) mf->commit();  // last: a manifest describes datasets in place
  return sum;
}

}  // namespace vpmoe::host::data
