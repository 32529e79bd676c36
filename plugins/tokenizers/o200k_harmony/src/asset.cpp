#include "asset.h"

#include <openssl/evp.h>

#include <charconv>
#include <fstream>

#include "vpmoe/error.h"

namespace vpmoe::o200k {
namespace {

// Appends the decoded bytes to out; false if b64 is not base64.
bool append_base64(std::string_view b64, std::string& out) {
  if (b64.empty() || b64.size() % 4 != 0) return false;
  const std::size_t at = out.size();
  out.resize(at + b64.size() / 4 * 3);
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data() + at),
                                reinterpret_cast<const unsigned char*>(b64.data()),
                                static_cast<int>(b64.size()));
  if (n < 0) return false;
  // EVP_DecodeBlock counts padding as output bytes.
  std::size_t len = static_cast<std::size_t>(n);
  if (b64.back() == '=') --len;
  if (b64[b64.size() - 2] == '=') --len;
  out.resize(at + len);
  return true;
}

std::string read_file(const std::string& path, const std::string& expected_sha256) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in)
    throw Error("tokenizer asset " + path +
                ": cannot open it (expected o200k_base.tiktoken, sha256 " + expected_sha256 +
                "; scripts/fetch-tokenizer.sh puts it in data/tokenizer/)");
  std::string bytes(static_cast<std::size_t>(in.tellg()), '\0');
  in.seekg(0);
  if (!in.read(bytes.data(), static_cast<std::streamsize>(bytes.size())))
    throw Error("tokenizer asset " + path + ": read failed");
  return bytes;
}

}  // namespace

std::string sha256_hex(const std::string& bytes) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!EVP_Digest(bytes.data(), bytes.size(), md, &len, EVP_sha256(), nullptr))
    throw Error("sha256: OpenSSL EVP_Digest failed");
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) out += {hex[md[i] >> 4], hex[md[i] & 15]};
  return out;
}

Asset load_asset(const std::string& path, const std::string& expected_sha256) {
  const std::string bytes = read_file(path, expected_sha256);
  Asset a{path, sha256_hex(bytes), {}, {0}};
  if (a.sha256 != expected_sha256)
    throw Error("tokenizer asset " + path + ": sha256 is " + a.sha256 + ", expected " +
                expected_sha256 + " (o200k_base.tiktoken); refusing any other file");

  auto bad = [&](std::size_t line, const std::string& what) {
    return Error("tokenizer asset " + path + ":" + std::to_string(line) + ": " + what);
  };
  a.arena.reserve(bytes.size() / 2);
  a.offsets.reserve(bytes.size() / 16);
  std::size_t pos = 0, line = 0;
  while (pos < bytes.size()) {
    ++line;
    std::size_t eol = bytes.find('\n', pos);
    if (eol == std::string::npos) eol = bytes.size();
    const std::string_view l(bytes.data() + pos, eol - pos);
    pos = eol + 1;
    const std::size_t sp = l.find(' ');
    if (sp == std::string_view::npos) throw bad(line, "expected \"<base64> <rank>\"");
    std::uint32_t rank = 0;
    auto [end, ec] = std::from_chars(l.data() + sp + 1, l.data() + l.size(), rank);
    if (ec != std::errc() || end != l.data() + l.size() || rank != a.size())
      throw bad(line, "expected rank " + std::to_string(a.size()) + " after the token");
    if (!append_base64(l.substr(0, sp), a.arena) || a.arena.size() == a.offsets.back())
      throw bad(line, "token is not valid base64");
    a.offsets.push_back(static_cast<std::uint32_t>(a.arena.size()));
  }
  return a;
}

}  // namespace vpmoe::o200k
