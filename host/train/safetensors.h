#pragma once
// The safetensors file format (8-byte little-endian header length, a JSON header of
// name -> {dtype, shape, data_offsets} plus string "__metadata__", then the raw bytes), read and
// written for checkpoints. Tensors come back on the CPU; every error names the file (and the
// tensor, where one is at fault).
#include <map>
#include <string>

#include "data/file_hash.h"
#include "vpmoe/tensor.h"

namespace vpmoe::host::train {

// Writes path (created or truncated) and fsyncs it; tensors may live on any device. Returns the
// sha256 and size of the bytes written.
data::FileHash write_safetensors(const std::string& path,
                                 const std::map<std::string, Tensor>& tensors,
                                 const std::map<std::string, std::string>& metadata = {});
// Refuses a header that does not describe the file exactly: its length past the end, JSON that
// is not an object, an unknown dtype, a shape whose bytes differ from its data_offsets, offsets
// outside the data, overlapping, or leaving bytes of the data to no tensor.
std::map<std::string, Tensor> read_safetensors(
    const std::string& path, std::map<std::string, std::string>* metadata = nullptr);

}  // namespace vpmoe::host::train
