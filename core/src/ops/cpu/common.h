#pragma once
// Argument checks and a tiny row-parallel loop shared by the CPU ops.
#include <algorithm>
#include <cstdint>
#include <exception>
#include <string>
#include <thread>
#include <vector>

#include "vpmoe/error.h"
#include "vpmoe/tensor.h"

namespace vpmoe::ops::cpu::detail {

inline void check_defined(const Tensor& t, const std::string& what) {
  if (!t.defined()) throw Error(what + ": tensor is undefined");
}

// A defined CPU tensor of dtype d.
inline void check_cpu(const Tensor& t, DType d, const std::string& what) {
  check_defined(t, what);
  check_device(t, Device::cpu(), what.c_str());
  check_dtype(t, d, what.c_str());
}
inline void check_f32(const Tensor& t, const std::string& what) {
  check_cpu(t, DType::f32, what);
}

inline void check_numel(const Tensor& t, std::int64_t n, const std::string& what) {
  if (t.numel() != n)
    throw Error(what + ": expected " + std::to_string(n) + " elements, got " + t.str());
}

// An i32 index tensor (any shape) whose entries must lie in [0, V); returns its data.
inline const std::int32_t* check_ids(const Tensor& ids, std::int64_t V, const char* op) {
  check_cpu(ids, DType::i32, std::string(op) + ": ids");
  const std::int32_t* p = ids.data_as<const std::int32_t>();
  for (std::int64_t i = 0, n = ids.numel(); i < n; ++i)
    if (p[i] < 0 || p[i] >= V)
      throw Error(std::string(op) + ": id " + std::to_string(p[i]) + " at " + std::to_string(i) +
                  " is outside [0, " + std::to_string(V) + ")");
  return p;
}

// Last dim (1 for a 0-d tensor) and the product of the others.
inline std::int64_t cols_of(const Tensor& t) {
  return t.ndim() ? t.size(-1) : 1;
}
inline std::int64_t rows_of(const Tensor& t) {
  std::int64_t c = cols_of(t);
  return c ? t.numel() / c : 0;
}

// Runs f(begin, end) over [0, n) on up to hardware_concurrency threads, splitting only when
// there is enough work (work = n * cost_per_item) to pay for starting threads.
template <class F>
void parallel_for(std::int64_t n, std::int64_t cost_per_item, F&& f) {
  constexpr std::int64_t kMinWorkPerThread = 1 << 16;
  std::int64_t hw = std::max(1u, std::thread::hardware_concurrency());
  std::int64_t by_work = n * std::max<std::int64_t>(cost_per_item, 1) / kMinWorkPerThread;
  std::int64_t nt =
      std::clamp<std::int64_t>(std::min(hw, by_work), 1, std::max<std::int64_t>(n, 1));
  if (nt <= 1) {
    if (n > 0) f(std::int64_t(0), n);
    return;
  }
  std::vector<std::thread> threads;
  std::vector<std::exception_ptr> errors(static_cast<std::size_t>(nt));
  std::int64_t step = (n + nt - 1) / nt;
  for (std::int64_t t = 0; t < nt; ++t) {
    std::int64_t b = t * step, e = std::min(n, b + step);
    if (b >= e) break;
    threads.emplace_back([&, t, b, e] {
      try {
        f(b, e);
      } catch (...) {
        errors[static_cast<std::size_t>(t)] = std::current_exception();
      }
    });
  }
  for (auto& th : threads) th.join();
  for (auto& err : errors)
    if (err) std::rethrow_exception(err);
}

}  // namespace vpmoe::ops::cpu::detail
