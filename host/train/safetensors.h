#pragma once
// The safetensors file format (8-byte little-endian header length, a JSON header of
// name -> {dtype, shape, data_offsets} plus string "__metadata__", then the raw bytes), read and
// written for checkpoints. Tensors come back on the CPU; every error names the file.
#include <map>
#include <string>

#include "vpmoe/tensor.h"

namespace vpmoe::host::train {

// Writes path (created or truncated) and fsyncs it; tensors may live on any device.
void write_safetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                       const std::map<std::string, std::string>& metadata = {});
std::map<std::string, Tensor> read_safetensors(
    const std::string& path, std::map<std::string, std::string>* metadata = nullptr);

}  // namespace vpmoe::host::train
