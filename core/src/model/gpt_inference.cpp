// GptModel's inference half: the forward to the final norm without a loss, and the head's
// logits a chunk of rows at a time for log-probabilities and argmax (no [N, V] logits).
#include <algorithm>

#include "device/run_ahead.h"
#include "model/gpt_model.h"
#include "vpmoe/error.h"

namespace vpmoe::model {

Tensor GptModel::forward_hidden(const Context& ctx, const Tensor& ids) {
  if (ctx.training)
    throw Error(
        "gpt model: forward_hidden needs ctx.training = false (a training forward "
        "counts MoE routing for the expert-bias update)");
  ValueResidualState vr;
  RunAhead ahead(o_.device, kLayersAhead);
  return forward_stack(ctx, ids, vr, ahead).h;
}

Tensor GptModel::logits(const Tensor& h, std::int64_t vocab) const {
  if (vocab <= 0 || vocab > o_.vocab)
    throw Error("gpt model: logits over " + std::to_string(vocab) + " ids, the vocabulary has " +
                std::to_string(o_.vocab));
  check_shape(h, {h.size(0), o_.hidden}, "gpt model: logits h");
  Tensor out = Tensor::empty({h.size(0), vocab}, DType::f32, h.device());
  ops::gemm(h, output_.compute.slice(0, vocab), out, false, true);
  return out;
}

GptModel::RowScores GptModel::score_rows(const Tensor& h, const Tensor& targets, std::int64_t vocab,
                                         std::int64_t chunk_rows) const {
  if (vocab <= 0 || vocab > o_.vocab)
    throw Error("gpt model: argmax over " + std::to_string(vocab) + " ids, the vocabulary has " +
                std::to_string(o_.vocab));
  if (chunk_rows <= 0) throw Error("gpt model: chunk_rows must be positive");
  const std::int64_t N = h.ndim() == 2 ? h.size(0) : -1;
  check_shape(h, {N, o_.hidden}, "gpt model: score h");
  check_shape(targets, {N}, "gpt model: score targets");
  RowScores out;
  out.logprob.resize(std::size_t(N));
  out.argmax.resize(std::size_t(N));
  if (N == 0) return out;
  const Device dev = h.device();
  const std::int64_t B = std::min(chunk_rows, N);
  Tensor logits_buf = Tensor::empty({B, o_.vocab}, DType::f32, dev);
  Tensor loss_buf = Tensor::empty({B}, DType::f32, dev),
         lse_buf = Tensor::empty({B}, DType::f32, dev);
  Tensor arg_buf = Tensor::empty({B}, DType::i32, dev);
  for (std::int64_t r0 = 0; r0 < N; r0 += B) {
    const std::int64_t n = std::min(B, N - r0);
    Tensor logits = logits_buf.slice(0, n), loss = loss_buf.slice(0, n), lse = lse_buf.slice(0, n),
           arg = arg_buf.slice(0, n);
    ops::gemm(h.slice(r0, r0 + n), output_.compute, logits, false, true);
    ops::cross_entropy_forward(logits, targets.slice(r0, r0 + n), loss, lse);
    ops::argmax_rows(logits, vocab, arg);
    const std::vector<float> l = loss.to_floats(), a = arg.to_floats();
    for (std::int64_t i = 0; i < n; ++i) {
      out.logprob[std::size_t(r0 + i)] = -l[std::size_t(i)];
      out.argmax[std::size_t(r0 + i)] = std::int32_t(a[std::size_t(i)]);
    }
  }
  return out;
}

}  // namespace vpmoe::model
