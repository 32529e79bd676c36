#pragma once
// A contiguous n-d array on one device. Copies of a Tensor share the buffer; views (reshape,
// leading-dimension slice) are cheap and share it too.
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "vpmoe/device.h"
#include "vpmoe/dtype.h"

namespace vpmoe {

using Shape = std::vector<std::int64_t>;
std::string shape_str(const Shape& s);
std::int64_t shape_numel(const Shape& s);

class Storage;

class Tensor {
 public:
  Tensor() = default;
  static Tensor empty(Shape shape, DType dtype, Device device = Device::cpu());
  static Tensor zeros(Shape shape, DType dtype, Device device = Device::cpu());
  // Wraps memory the caller owns and keeps alive.
  static Tensor wrap(void* data, Shape shape, DType dtype, Device device = Device::cpu());
  // Host data -> tensor of dtype on device (values converted from float).
  static Tensor from_floats(const std::vector<float>& values, Shape shape, DType dtype,
                            Device device = Device::cpu());

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  int ndim() const { return static_cast<int>(shape_.size()); }
  std::int64_t size(int dim) const;  // negative dims count from the end
  std::int64_t numel() const { return shape_numel(shape_); }
  std::size_t nbytes() const { return static_cast<std::size_t>(numel()) * dtype_size(dtype_); }
  DType dtype() const { return dtype_; }
  Device device() const { return device_; }

  void* data() const { return data_; }
  template <class T>
  T* data_as() const {
    return static_cast<T*>(data_);
  }

  Tensor view(Shape shape) const;                           // same numel; one -1 allowed
  Tensor slice(std::int64_t begin, std::int64_t end) const;  // rows [begin, end) of dim 0
  Tensor select(std::int64_t i) const;                      // row i of dim 0, one dim fewer

  Tensor to(Device device) const;                 // copy to another device (same dtype)
  Tensor clone() const;                           // deep copy on the same device
  void copy_from(const Tensor& src);              // same shape and dtype, any devices
  void zero_();
  std::vector<float> to_floats() const;           // any device, any dtype -> host floats
  float item() const;                             // one-element tensor -> float

  std::string str() const;  // "f32[4, 8] on cuda:0"

 private:
  std::shared_ptr<Storage> storage_;
  void* data_ = nullptr;
  Shape shape_;
  DType dtype_ = DType::f32;
  Device device_;
};

// Throws vpmoe::Error naming `what` unless t has this dtype / device / shape.
void check_dtype(const Tensor& t, DType d, const char* what);
void check_device(const Tensor& t, Device d, const char* what);
void check_shape(const Tensor& t, const Shape& s, const char* what);
void check_same_device(const Tensor& a, const Tensor& b, const char* what);

}  // namespace vpmoe
