#include "infer/score.h"

#include <charconv>
#include <chrono>
#include <cmath>

#include "data/atomic_file.h"
#include "data/jsonl.h"
#include "vpmoe/error.h"
#include "vpmoe/ops.h"

namespace vpmoe::host::infer {

std::vector<std::int32_t> token_ids(const data::JsonlReader& r, const nlohmann::json& a,
                                    std::int64_t vocab) {
  if (!a.is_array()) r.fail("expected \"ids\" to be an array of token ids");
  std::vector<std::int32_t> out;
  out.reserve(a.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (!a[i].is_number_integer())
      r.fail("expected \"ids\" to hold integers, found " + a[i].dump() + " at index " +
             std::to_string(i));
    const std::int64_t v = a[i].get<std::int64_t>();
    if (v < 0 || v >= vocab)
      r.fail("token id " + std::to_string(v) + " at index " + std::to_string(i) +
             " is outside the vocabulary [0, " + std::to_string(vocab) + ")");
    out.push_back(std::int32_t(v));
  }
  return out;
}

namespace {

// Rows of h gathered into a new [rows, hidden] tensor on h's device.
Tensor gather(const Tensor& h, std::span<const std::int64_t> rows) {
  std::vector<float> idx(rows.begin(), rows.end());
  const Tensor at = Tensor::from_floats(idx, {std::int64_t(rows.size())}, DType::i32, h.device());
  Tensor out = Tensor::empty({std::int64_t(rows.size()), h.size(1)}, h.dtype(), h.device());
  ops::gather_rows(h, at, Tensor(), out);
  return out;
}

// One input line's tokens, or "IN.jsonl:LINE: ..." naming what was expected.
std::vector<std::int32_t> tokens_of(const data::JsonlReader& r, const nlohmann::json& j,
                                    const LoadedModel& m) {
  const bool ids = j.contains("ids"), text = j.contains("text");
  if (ids == text)
    r.fail(std::string("expected exactly one of \"ids\" (token ids) and \"text\", found ") +
           (ids ? "both" : "neither"));
  std::vector<std::int32_t> out;
  const std::int64_t V = m.token_vocab();
  if (ids) {
    out = token_ids(r, j["ids"], V);
  } else {
    if (!j["text"].is_string()) r.fail("expected \"text\" to be a string");
    static const std::vector<std::string> all{"all"};
    try {
      out = m.tokenizer->encode(j["text"].get_ref<const std::string&>(), all);
    } catch (const Error& e) {
      r.fail(e.what());
    }
  }
  if (out.size() < 2)
    r.fail("expected at least 2 tokens (each log-probability is of a token after another), found " +
           std::to_string(out.size()));
  // n tokens take n - 1 positions: the last one is only a label.
  if (std::int64_t(out.size()) > m.max_sequence_length() + 1)
    r.fail(std::to_string(out.size()) + " tokens: more than the model's " +
           std::to_string(m.max_sequence_length()) +
           " positions ([attention] "
           "max_sequence_length) + 1");
  return out;
}

void append_float(std::string& s, float v) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);  // shortest form that reads back
  s.append(buf, r.ptr);
}

// The input line's fields in their order, then "logprobs" and "argmax".
std::string output_line(const std::string& raw, const SequenceScores& s) {
  nlohmann::ordered_json j = nlohmann::ordered_json::parse(raw);
  j.erase("logprobs");
  j.erase("argmax");
  std::string line = j.dump();
  line.pop_back();  // the closing brace
  line += line.size() > 1 ? ",\"logprobs\":[" : "\"logprobs\":[";
  for (std::size_t i = 0; i < s.logprobs.size(); ++i) {
    if (i) line += ',';
    append_float(line, s.logprobs[i]);
  }
  line += "],\"argmax\":[";
  for (std::size_t i = 0; i < s.argmax.size(); ++i) {
    if (i) line += ',';
    line += std::to_string(s.argmax[i]);
  }
  return line + "]}\n";
}

}  // namespace

std::vector<SequenceScores> score_batch(LoadedModel& m,
                                        const std::vector<std::vector<std::int32_t>>& seqs) {
  // A sequence of n tokens runs n - 1 positions (the last token is only a label), as a
  // training window of seq_len + 1 tokens does.
  const std::int64_t B = std::int64_t(seqs.size()), most = m.max_sequence_length() + 1;
  std::int64_t T = 0;
  for (const auto& s : seqs) {
    if (s.size() < 2 || std::int64_t(s.size()) > most)
      throw Error("score: a sequence of " + std::to_string(s.size()) + " tokens (expected 2 to " +
                  std::to_string(most) + ")");
    T = std::max(T, std::int64_t(s.size()) - 1);
  }
  if (B == 0) return {};
  std::vector<float> ids(std::size_t(B * T), 0.f), targets;
  std::vector<std::int64_t> rows;  // the real labels' rows, sequence by sequence
  for (std::int64_t b = 0; b < B; ++b) {
    const auto& s = seqs[std::size_t(b)];
    for (std::size_t t = 0; t + 1 < s.size(); ++t) {
      ids[std::size_t(b * T) + t] = float(s[t]);
      rows.push_back(b * T + std::int64_t(t));
      targets.push_back(float(s[t + 1]));
    }
  }
  const Tensor h = m.model->forward_hidden(m.context(B, T),
                                           Tensor::from_floats(ids, {B * T}, DType::i32, m.device));
  const Tensor tg =
      Tensor::from_floats(targets, {std::int64_t(targets.size())}, DType::i32, m.device);
  // Only the real rows go through the head (gathered unless there is no padding).
  const bool padded = std::int64_t(rows.size()) != B * T;
  const model::GptModel::RowScores sc =
      m.model->score_rows(padded ? gather(h, rows) : h, tg, m.token_vocab());
  std::vector<SequenceScores> out(seqs.size());
  std::size_t at = 0;
  for (std::size_t b = 0; b < seqs.size(); ++b) {
    const std::size_t n = seqs[b].size() - 1;
    out[b].logprobs.assign(sc.logprob.begin() + at, sc.logprob.begin() + at + n);
    out[b].argmax.assign(sc.argmax.begin() + at, sc.argmax.begin() + at + n);
    at += n;
  }
  return out;
}

std::vector<float> logits_of_rows(LoadedModel& m, const Tensor& h,
                                  std::span<const std::int64_t> rows) {
  if (rows.empty()) return {};
  return m.model->logits(gather(h, rows), m.token_vocab()).to_floats();
}

ScoreStats score_jsonl(LoadedModel& m, const std::string& in, const std::string& out,
                       std::int64_t batch_size) {
  if (batch_size < 1) throw Error("score: the batch size must be at least 1");
  const auto t0 = std::chrono::steady_clock::now();
  data::JsonlReader reader(in);
  data::AtomicFile file(out);
  ScoreStats st;
  std::vector<std::string> raws;
  std::vector<std::size_t> lines;
  std::vector<std::vector<std::int32_t>> seqs;
  auto flush = [&] {
    const std::vector<SequenceScores> s = score_batch(m, seqs);
    for (std::size_t i = 0; i < s.size(); ++i) {
      for (std::size_t t = 0; t < s[i].logprobs.size(); ++t)
        if (!std::isfinite(s[i].logprobs[t]))
          throw Error(in + ":" + std::to_string(lines[i]) +
                      ": the model gives a non-finite log-probability at position " +
                      std::to_string(t + 1) + " (are the checkpoint's weights finite?)");
      file.out() << output_line(raws[i], s[i]);
      st.tokens += std::int64_t(seqs[i].size());
    }
    st.sequences += std::int64_t(s.size());
    raws.clear(), lines.clear(), seqs.clear();
  };
  std::string raw;
  while (reader.next(raw)) {
    const nlohmann::json j = reader.parse(raw);
    seqs.push_back(tokens_of(reader, j, m));
    raws.push_back(raw);
    lines.push_back(reader.line());
    if (std::int64_t(seqs.size()) == batch_size) flush();
  }
  if (!seqs.empty()) flush();
  file.out().flush();
  if (!file.out()) throw Error(out + ": write failed");
  file.commit();
  st.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return st;
}

}  // namespace vpmoe::host::infer
