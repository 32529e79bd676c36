#include "infer/evaluate.h"

#include <cmath>

#include "data/blended_dataset.h"
#include "vpmoe/error.h"

namespace vpmoe::host::infer {
namespace {

// A dataset alone, its windows in the order training's validation blend gives them.
std::shared_ptr<data::BlendedDataset> validation_order(const std::string& prefix, std::int64_t T,
                                                       std::uint64_t seed) {
  // One epoch: the sample count of a single block (it depends on the tokens and T only).
  const std::int64_t epoch = data::GptDataset(prefix, T, 1, seed).samples();
  return std::make_shared<data::BlendedDataset>(std::vector<std::string>{prefix},
                                                std::vector<double>{}, T, epoch, seed);
}

DatasetEval evaluate_one(LoadedModel& m, const std::string& prefix, std::int64_t B,
                         std::int64_t max_batches) {
  const std::int64_t T = m.max_sequence_length();
  const auto blend = validation_order(prefix, T, m.config.run.seed + 1);
  const auto& ds = *blend->datasets().front();
  DatasetEval r;
  r.has_span = ds.has_span();
  std::int64_t samples = blend->samples();
  if (max_batches > 0) samples = std::min(samples, max_batches * B);
  std::vector<std::int32_t> w(std::size_t(T + 1));
  std::vector<std::uint8_t> wm(std::size_t(T + 1)), ws(std::size_t(T + 1));
  for (std::int64_t first = 0; first < samples; first += B) {
    const std::int64_t n = std::min(B, samples - first);
    std::vector<float> ids(std::size_t(n * T)), targets(std::size_t(n * T)),
        mask(std::size_t(n * T));
    std::vector<std::uint8_t> span(std::size_t(n * T));
    ds.check_unchanged();
    for (std::int64_t b = 0; b < n; ++b) {
      blend->window(first + b, w.data(), wm.data(), nullptr, ws.data());
      for (std::int64_t t = 0; t < T; ++t) {
        const std::size_t at = std::size_t(b * T + t);
        ids[at] = float(w[std::size_t(t)]);
        targets[at] = float(w[std::size_t(t + 1)]);
        mask[at] = float(wm[std::size_t(t + 1)]);  // label t is token t + 1
        span[at] = ws[std::size_t(t + 1)];
      }
    }
    ds.check_unchanged();
    std::vector<float> row_loss;
    const Tensor tid = Tensor::from_floats(ids, {n * T}, DType::i32, m.device),
                 ttg = Tensor::from_floats(targets, {n * T}, DType::i32, m.device);
    m.model->run_weighted(m.context(n, T), tid, ttg, mask, 0.f, false, &row_loss);
    for (std::size_t i = 0; i < row_loss.size(); ++i) {
      r.all.add(row_loss[i], mask[i]);
      if (mask[i] > 0 && span[i] == 1) r.reasoning.add(row_loss[i], 1.0);
      if (mask[i] > 0 && span[i] == 2) r.final.add(row_loss[i], 1.0);
    }
    r.sequences += n;
  }
  return r;
}

nlohmann::ordered_json loss_json(const LossSum& s) {
  nlohmann::ordered_json j;
  j["tokens"] = std::int64_t(std::llround(s.tokens));
  if (s.tokens > 0) {
    const double loss = s.loss / s.tokens;
    j["loss"] = loss;
    j["perplexity"] = std::exp(loss);
  } else {
    j["loss"] = nullptr;
    j["perplexity"] = nullptr;
  }
  return j;
}

nlohmann::ordered_json dataset_json(const DatasetEval& d) {
  nlohmann::ordered_json j;
  j["sequences"] = d.sequences;
  const nlohmann::ordered_json all = loss_json(d.all);
  for (const auto& [k, v] : all.items()) j[k] = v;
  if (d.has_span)
    j["spans"] = {{"reasoning", loss_json(d.reasoning)}, {"final", loss_json(d.final)}};
  return j;
}

}  // namespace

EvalResult evaluate(LoadedModel& m, const EvalOptions& o) {
  if (o.data.empty()) throw Error("evaluate: no dataset given");
  const std::int64_t B = o.batch_size > 0 ? o.batch_size : m.config.train.micro_batch_size;
  if (o.max_batches < 0) throw Error("evaluate: max_batches must be >= 0");
  EvalResult r;
  for (const std::string& p : o.data) {
    DatasetEval d = evaluate_one(m, p, B, o.max_batches);
    r.total.sequences += d.sequences;
    r.total.has_span = r.total.has_span || d.has_span;
    r.total.all.add(d.all);
    r.total.reasoning.add(d.reasoning);
    r.total.final.add(d.final);
    r.datasets.emplace_back(p, d);
  }
  return r;
}

nlohmann::ordered_json eval_json(const LoadedModel& m, const EvalResult& r) {
  nlohmann::ordered_json j;
  j["checkpoint"] = m.dir;
  j["step"] = m.step;
  j["seq_length"] = m.max_sequence_length();
  const nlohmann::ordered_json total = dataset_json(r.total);
  for (const auto& [k, v] : total.items()) j[k] = v;
  nlohmann::ordered_json ds = nlohmann::ordered_json::object();
  for (const auto& [p, d] : r.datasets) ds[p] = dataset_json(d);
  j["datasets"] = ds;
  return j;
}

}  // namespace vpmoe::host::infer
