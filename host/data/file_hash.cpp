#include "data/file_hash.h"

#include <openssl/evp.h>

#include <fstream>
#include <vector>

#include "vpmoe/error.h"

namespace vpmoe::host::data {

struct Sha256::Ctx {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> md{EVP_MD_CTX_new(), EVP_MD_CTX_free};
};

Sha256::Sha256() : ctx_(std::make_unique<Ctx>()) {
  if (!ctx_->md || EVP_DigestInit_ex(ctx_->md.get(), EVP_sha256(), nullptr) != 1)
    throw Error("sha256: OpenSSL could not start a digest");
}

Sha256::~Sha256() = default;

void Sha256::update(const void* data, std::size_t n) {
  EVP_DigestUpdate(ctx_->md.get(), data, n);
  bytes_ += n;
}

FileHash Sha256::finish() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  EVP_DigestFinal_ex(ctx_->md.get(), md, &len);
  static const char* hex = "0123456789abcdef";
  FileHash h;
  h.bytes = bytes_;
  for (unsigned i = 0; i < len; ++i) h.sha256 += {hex[md[i] >> 4], hex[md[i] & 15]};
  return h;
}

FileHash hash_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open it");
  Sha256 sha;
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    sha.update(buf.data(), static_cast<std::size_t>(in.gcount()));
  }
  if (in.bad()) throw Error(path + ": read failed");
  return sha.finish();
}

}  // namespace vpmoe::host::data
