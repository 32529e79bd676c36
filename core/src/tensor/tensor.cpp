#include "vpmoe/tensor.h"

#include <atomic>
#include <cstring>
#include <sstream>

#include "tensor/storage.h"
#include "vpmoe/error.h"
#include "vpmoe/ops.h"

namespace vpmoe {

namespace {

std::atomic<std::int64_t>* live_counter(Device d) {
  static std::atomic<std::int64_t> live[17];
  if (d.is_cpu()) return &live[0];
  return d.index >= 0 && d.index < 16 ? &live[1 + d.index] : nullptr;
}

void count_live(Device d, std::int64_t bytes) {
  if (auto* c = live_counter(d)) c->fetch_add(bytes, std::memory_order_relaxed);
}

}  // namespace

Storage::Storage(std::size_t bytes, Device d) : bytes_(bytes), dev_(d), owned_(true) {
  p_ = bytes ? device_alloc(d, bytes) : nullptr;
  count_live(dev_, std::int64_t(bytes_));
}
Storage::Storage(void* p, std::size_t bytes, Device d) : p_(p), bytes_(bytes), dev_(d) {}
Storage::~Storage() {
  if (owned_ && p_) device_free(dev_, p_);
  if (owned_) count_live(dev_, -std::int64_t(bytes_));
}

std::int64_t Storage::live_bytes(Device d) {
  const auto* c = live_counter(d);
  return c ? c->load(std::memory_order_relaxed) : 0;
}

std::string shape_str(const Shape& s) {
  std::ostringstream o;
  o << '[';
  for (std::size_t i = 0; i < s.size(); ++i) o << (i ? ", " : "") << s[i];
  o << ']';
  return o.str();
}

std::int64_t shape_numel(const Shape& s) {
  std::int64_t n = 1;
  for (auto d : s) n *= d;
  return n;
}

Tensor Tensor::empty(Shape shape, DType dtype, Device device) {
  for (auto d : shape)
    if (d < 0) throw Error("Tensor::empty: negative dimension in " + shape_str(shape));
  Tensor t;
  t.shape_ = std::move(shape);
  t.dtype_ = dtype;
  t.device_ = device;
  t.storage_ = std::make_shared<Storage>(t.nbytes(), device);
  t.data_ = t.storage_->data();
  return t;
}

Tensor Tensor::zeros(Shape shape, DType dtype, Device device) {
  Tensor t = empty(std::move(shape), dtype, device);
  t.zero_();
  return t;
}

Tensor Tensor::wrap(void* data, Shape shape, DType dtype, Device device) {
  Tensor t;
  t.shape_ = std::move(shape);
  t.dtype_ = dtype;
  t.device_ = device;
  t.storage_ = std::make_shared<Storage>(data, t.nbytes(), device);
  t.data_ = data;
  return t;
}

Tensor Tensor::from_floats(const std::vector<float>& values, Shape shape, DType dtype,
                           Device device) {
  if (static_cast<std::int64_t>(values.size()) != shape_numel(shape))
    throw Error("Tensor::from_floats: " + std::to_string(values.size()) + " values for shape " +
                shape_str(shape));
  Tensor host = empty(shape, dtype);
  std::size_t n = values.size();
  switch (dtype) {
    case DType::f32:  // an empty tensor has no storage, and memcpy takes no null pointer
      if (n) std::memcpy(host.data(), values.data(), n * 4);
      break;
    case DType::bf16:
      for (std::size_t i = 0; i < n; ++i) host.data_as<bf16>()[i] = float_to_bf16(values[i]);
      break;
    case DType::i32:
      for (std::size_t i = 0; i < n; ++i) host.data_as<std::int32_t>()[i] = std::int32_t(values[i]);
      break;
    case DType::i64:
      for (std::size_t i = 0; i < n; ++i) host.data_as<std::int64_t>()[i] = std::int64_t(values[i]);
      break;
    case DType::u8:
      for (std::size_t i = 0; i < n; ++i) host.data_as<std::uint8_t>()[i] = std::uint8_t(values[i]);
      break;
  }
  return device.is_cpu() ? host : host.to(device);
}

std::int64_t Tensor::size(int dim) const {
  int n = ndim();
  if (dim < 0) dim += n;
  if (dim < 0 || dim >= n)
    throw Error("Tensor::size: dim " + std::to_string(dim) + " out of range for " + str());
  return shape_[dim];
}

Tensor Tensor::view(Shape shape) const {
  int infer = -1;
  std::int64_t known = 1;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      if (infer >= 0) throw Error("Tensor::view: more than one -1 in " + shape_str(shape));
      infer = static_cast<int>(i);
    } else {
      known *= shape[i];
    }
  }
  if (infer >= 0) {
    if (known == 0 || numel() % known != 0)
      throw Error("Tensor::view: cannot view " + str() + " as " + shape_str(shape));
    shape[infer] = numel() / known;
  }
  if (shape_numel(shape) != numel())
    throw Error("Tensor::view: cannot view " + str() + " as " + shape_str(shape));
  Tensor t = *this;
  t.shape_ = std::move(shape);
  return t;
}

Tensor Tensor::slice(std::int64_t begin, std::int64_t end) const {
  if (ndim() == 0) throw Error("Tensor::slice: a 0-d tensor has no rows");
  if (begin < 0 || end < begin || end > shape_[0])
    throw Error("Tensor::slice: rows [" + std::to_string(begin) + ", " + std::to_string(end) +
                ") out of range for " + str());
  Tensor t = *this;
  std::int64_t row = numel() / (shape_[0] ? shape_[0] : 1);
  t.shape_[0] = end - begin;
  t.data_ = static_cast<char*>(data_) + begin * row * static_cast<std::int64_t>(dtype_size(dtype_));
  return t;
}

Tensor Tensor::select(std::int64_t i) const {
  Tensor t = slice(i, i + 1);
  t.shape_.erase(t.shape_.begin());
  return t;
}

Tensor Tensor::to(Device device) const {
  Tensor t = empty(shape_, dtype_, device);
  t.copy_from(*this);
  return t;
}

Tensor Tensor::clone() const {
  return to(device_);
}

void Tensor::copy_from(const Tensor& src) {
  if (src.shape_ != shape_ || src.dtype_ != dtype_)
    throw Error("Tensor::copy_from: " + src.str() + " into " + str());
  if (nbytes()) device_copy(data_, device_, src.data_, src.device_, nbytes());
}

void Tensor::zero_() {
  if (nbytes()) device_memset_zero(device_, data_, nbytes());
}

std::vector<float> Tensor::to_floats() const {
  Tensor host = device_.is_cpu() ? *this : to(Device::cpu());
  std::vector<float> out(static_cast<std::size_t>(numel()));
  for (std::size_t i = 0; i < out.size(); ++i) {
    switch (dtype_) {
      case DType::f32:
        out[i] = host.data_as<float>()[i];
        break;
      case DType::bf16:
        out[i] = bf16_to_float(host.data_as<bf16>()[i]);
        break;
      case DType::i32:
        out[i] = float(host.data_as<std::int32_t>()[i]);
        break;
      case DType::i64:
        out[i] = float(host.data_as<std::int64_t>()[i]);
        break;
      case DType::u8:
        out[i] = float(host.data_as<std::uint8_t>()[i]);
        break;
    }
  }
  return out;
}

float Tensor::item() const {
  if (numel() != 1) throw Error("Tensor::item: " + str() + " has not exactly one element");
  return to_floats()[0];
}

std::string Tensor::str() const {
  return std::string(dtype_name(dtype_)) + shape_str(shape_) + " on " + device_.str();
}

void check_dtype(const Tensor& t, DType d, const char* what) {
  if (t.dtype() != d)
    throw Error(std::string(what) + ": expected " + std::string(dtype_name(d)) + ", got " +
                t.str());
}
void check_device(const Tensor& t, Device d, const char* what) {
  if (!(t.device() == d))
    throw Error(std::string(what) + ": expected on " + d.str() + ", got " + t.str());
}
void check_shape(const Tensor& t, const Shape& s, const char* what) {
  if (t.shape() != s)
    throw Error(std::string(what) + ": expected shape " + shape_str(s) + ", got " + t.str());
}
void check_same_device(const Tensor& a, const Tensor& b, const char* what) {
  if (!(a.device() == b.device()))
    throw Error(std::string(what) + ": tensors on different devices: " + a.str() + " and " +
                b.str());
}

}  // namespace vpmoe
