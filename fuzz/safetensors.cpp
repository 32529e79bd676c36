// libFuzzer target for the safetensors reader (checkpoints). The input is the file. It either
// reads, and then writing the tensors and metadata back and reading that file gives the same
// names, dtypes, shapes, bytes and metadata, or it throws vpmoe::Error naming the file. Any
// other exception, a crash, UB or a leak is a bug.
#include <cstdint>
#include <cstring>
#include <map>
#include <string>

#include "fuzz_common.h"
#include "train/safetensors.h"
#include "vpmoe/error.h"

namespace {

const char* const kTarget = "fuzz_safetensors";
using Tensors = std::map<std::string, vpmoe::Tensor>;
using Metadata = std::map<std::string, std::string>;

void same(const Tensors& a, const Tensors& b) {
  if (a.size() != b.size()) vpmoe::fuzz::bug(kTarget, "a different tensor count read back");
  for (auto ia = a.begin(), ib = b.begin(); ia != a.end(); ++ia, ++ib) {
    const vpmoe::Tensor &x = ia->second, &y = ib->second;
    if (ia->first != ib->first || x.dtype() != y.dtype() || x.shape() != y.shape() ||
        x.nbytes() != y.nbytes() || (x.nbytes() && std::memcmp(x.data(), y.data(), x.nbytes())))
      vpmoe::fuzz::bug(kTarget, "tensor \"" + ia->first + "\" differs when read back");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = vpmoe::fuzz::temp_dir() + "/in.safetensors";
  const std::string again = vpmoe::fuzz::temp_dir() + "/again.safetensors";
  vpmoe::fuzz::write_file(path, {reinterpret_cast<const char*>(data), size});
  Tensors tensors;
  Metadata meta;
  try {
    tensors = vpmoe::host::train::read_safetensors(path, &meta);
  } catch (const vpmoe::Error& e) {
    if (std::string(e.what()).rfind(path + ": ", 0) != 0)
      vpmoe::fuzz::bug(kTarget, std::string("an error that does not name the file: ") + e.what());
    return 0;
  } catch (const std::exception& e) {
    vpmoe::fuzz::bug(kTarget, std::string("an exception other than vpmoe::Error: ") + e.what());
  }
  try {
    vpmoe::host::train::write_safetensors(again, tensors, meta);
    Metadata meta2;
    same(tensors, vpmoe::host::train::read_safetensors(again, &meta2));
    if (meta2 != meta) vpmoe::fuzz::bug(kTarget, "the metadata differs when read back");
  } catch (const std::exception& e) {
    vpmoe::fuzz::bug(kTarget, std::string("a file it read cannot be written back: ") + e.what());
  }
  return 0;
}
