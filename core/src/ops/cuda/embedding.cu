// Embedding lookup and its deterministic backward: a stable radix sort of (id, row) pairs
// groups equal ids with rows in increasing order; the first block of each run adds that
// run's rows to the table row in that order (no float atomics).
#include <cub/device/device_radix_sort.cuh>

#include "ops/cuda/common.cuh"
#include "ops/cuda/cuda_ops.h"
#include "vpmoe/device.h"

namespace vpmoe::ops::cuda {
namespace {

template <class TT, class TO>
__global__ void embed_fwd_kernel(std::int64_t C, std::int64_t V, const std::int32_t* ids,
                                 const TT* table, TO* out) {
  std::int64_t n = blockIdx.x;
  std::int32_t id = ids[n];
  TO* o = out + n * C;
  if (id < 0 || id >= V) {  // invalid ids show up as NaN rather than reading out of bounds
    for (std::int64_t c = threadIdx.x; c < C; c += blockDim.x) o[c] = from_f<TO>(NAN);
    return;
  }
  const TT* t = table + std::int64_t(id) * C;
  for (std::int64_t c = threadIdx.x; c < C; c += blockDim.x) o[c] = from_f<TO>(to_f(t[c]));
}

__global__ void iota_kernel(std::int64_t n, std::int32_t* v) {
  std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x;
  if (i < n) v[i] = std::int32_t(i);
}

template <class TD>
__global__ void embed_bwd_kernel(std::int64_t N, std::int64_t C, std::int64_t V,
                                 const std::int32_t* keys, const std::int32_t* rows, const TD* dout,
                                 float* dtable) {
  std::int64_t i = blockIdx.x;
  std::int32_t id = keys[i];
  if ((i > 0 && keys[i - 1] == id) || id < 0 || id >= V) return;  // not the head of a run
  std::int64_t end = i + 1;
  while (end < N && keys[end] == id) ++end;
  float* t = dtable + std::int64_t(id) * C;
  for (std::int64_t c = threadIdx.x; c < C; c += blockDim.x) {
    float acc = t[c];
    for (std::int64_t j = i; j < end; ++j) acc += to_f(dout[std::int64_t(rows[j]) * C + c]);
    t[c] = acc;
  }
}

int threads_for(std::int64_t C) {
  std::int64_t t = (C + 31) / 32 * 32;
  return int(t < 32 ? 32 : (t > 256 ? 256 : t));
}

}  // namespace

void embedding_forward(const Tensor& ids, const Tensor& table, Tensor& out) {
  check_cuda_tensor(table, "embedding_forward");
  check_dtype(ids, DType::i32, "embedding_forward: ids");
  VPMOE_CHECK(table.ndim() == 2, "embedding_forward: table must be [V, C]");
  std::int64_t V = table.size(0), C = table.size(1), N = ids.numel();
  check_shape(out, {N, C}, "embedding_forward: out");
  VPMOE_CHECK(N < (std::int64_t(1) << 31), "embedding_forward: too many ids");
  Launch L(table);
  if (N == 0 || C == 0) return;
  dispatch_float(table.dtype(), "embedding_forward", [&](auto tt) {
    using TT = decltype(tt);
    dispatch_float(out.dtype(), "embedding_forward", [&](auto to) {
      using TO = decltype(to);
      embed_fwd_kernel<<<unsigned(N), threads_for(C), 0, L.stream>>>(
          C, V, ids.data_as<const std::int32_t>(), table.data_as<const TT>(), out.data_as<TO>());
      VPMOE_CUDA_LAUNCH_CHECK();
    });
  });
}

void embedding_backward(const Tensor& ids, const Tensor& dout, Tensor& dtable) {
  check_cuda_tensor(dtable, "embedding_backward");
  check_dtype(ids, DType::i32, "embedding_backward: ids");
  check_dtype(dtable, DType::f32, "embedding_backward: dtable");
  VPMOE_CHECK(dtable.ndim() == 2, "embedding_backward: dtable must be [V, C]");
  std::int64_t V = dtable.size(0), C = dtable.size(1), N = ids.numel();
  check_shape(dout, {N, C}, "embedding_backward: dout");
  VPMOE_CHECK(N < (std::int64_t(1) << 31), "embedding_backward: too many ids");
  Launch L(dtable);
  if (N == 0 || C == 0) return;
  Device dev = dtable.device();
  // All 32 key bits: equal ids (invalid ones too) must end up adjacent, or two blocks
  // could update one table row.
  const int end_bit = 32;
  auto* buf = static_cast<std::int32_t*>(device_alloc(dev, sizeof(std::int32_t) * 3 * N));
  std::int32_t *rows_in = buf, *keys_out = buf + N, *rows_out = buf + 2 * N;
  iota_kernel<<<unsigned((N + 255) / 256), 256, 0, L.stream>>>(N, rows_in);
  VPMOE_CUDA_LAUNCH_CHECK();
  std::size_t temp_bytes = 0;
  VPMOE_CUDA_CHECK(
      cub::DeviceRadixSort::SortPairs(nullptr, temp_bytes, ids.data_as<const std::int32_t>(),
                                      keys_out, rows_in, rows_out, int(N), 0, end_bit, L.stream));
  void* temp = device_alloc(dev, temp_bytes ? temp_bytes : 1);
  VPMOE_CUDA_CHECK(
      cub::DeviceRadixSort::SortPairs(temp, temp_bytes, ids.data_as<const std::int32_t>(), keys_out,
                                      rows_in, rows_out, int(N), 0, end_bit, L.stream));
  dispatch_float(dout.dtype(), "embedding_backward", [&](auto td) {
    using TD = decltype(td);
    embed_bwd_kernel<<<unsigned(N), threads_for(C), 0, L.stream>>>(
        N, C, V, keys_out, rows_out, dout.data_as<const TD>(), dtable.data_as<float>());
    VPMOE_CUDA_LAUNCH_CHECK();
  });
  device_free(dev, temp);
  device_free(dev, buf);
}

}  // namespace vpmoe::ops::cuda
