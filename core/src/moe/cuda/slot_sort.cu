// A stable radix sort of the slot indices keyed by expert id (cub), then the token of each row and
// the inverse permutation. Integer work only: the order is exactly the host sort's.
#include <cub/device/device_radix_sort.cuh>

#include "device/cuda/cuda_util.h"
#include "moe/slot_sort.h"
#include "vpmoe/device.h"

namespace vpmoe::moe {
namespace {

__global__ void iota_kernel(std::int64_t n, std::int32_t* out) {
  const std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x;
  if (i < n) out[i] = std::int32_t(i);
}

__global__ void invert_kernel(std::int64_t n, int k, const std::int32_t* slot_of_row,
                              std::int32_t* token_of_row, std::int32_t* row_of_slot) {
  const std::int64_t row = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x;
  if (row >= n) return;
  const std::int32_t s = slot_of_row[row];
  token_of_row[row] = s / k;
  row_of_slot[s] = std::int32_t(row);
}

int bits_for(int n) {
  int b = 1;
  while ((1 << b) < n) ++b;
  return b;
}

}  // namespace

SlotOrder sort_slots_by_expert(const Tensor& experts, int num_experts) {
  const Device dev = experts.device();
  const std::int64_t N = experts.size(0), k = experts.size(1), M = N * k;
  VPMOE_CHECK(M < (std::int64_t(1) << 31), "moe dispatch: too many routed slots");
  cuda_impl::DeviceGuard g(dev.index);
  cudaStream_t s = cuda_impl::stream(dev.index);
  SlotOrder o{Tensor::empty({M}, DType::i32, dev), Tensor::empty({M}, DType::i32, dev),
              Tensor::empty({M}, DType::i32, dev)};
  if (M == 0) return o;
  Tensor slots = Tensor::empty({M}, DType::i32, dev), keys = Tensor::empty({M}, DType::i32, dev);
  const unsigned blocks = unsigned((M + 255) / 256);
  iota_kernel<<<blocks, 256, 0, s>>>(M, slots.data_as<std::int32_t>());
  VPMOE_CUDA_LAUNCH_CHECK();
  const int end_bit = bits_for(num_experts);
  std::size_t temp_bytes = 0;
  VPMOE_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(
      nullptr, temp_bytes, experts.data_as<const std::int32_t>(), keys.data_as<std::int32_t>(),
      slots.data_as<const std::int32_t>(), o.slot_of_row.data_as<std::int32_t>(), int(M), 0,
      end_bit, s));
  void* temp = device_alloc(dev, temp_bytes ? temp_bytes : 1);
  VPMOE_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(
      temp, temp_bytes, experts.data_as<const std::int32_t>(), keys.data_as<std::int32_t>(),
      slots.data_as<const std::int32_t>(), o.slot_of_row.data_as<std::int32_t>(), int(M), 0,
      end_bit, s));
  device_free(dev, temp);
  invert_kernel<<<blocks, 256, 0, s>>>(M, int(k), o.slot_of_row.data_as<const std::int32_t>(),
                                       o.token_of_row.data_as<std::int32_t>(),
                                       o.row_of_slot.data_as<std::int32_t>());
  VPMOE_CUDA_LAUNCH_CHECK();
  return o;
}

}  // namespace vpmoe::moe
