#include "asset.h"

#include <openssl/evp.h>

#include <charconv>
#include <fstream>
#include <sstream>

#include "vpmoe/error.h"

namespace vpmoe::o200k {
namespace {

std::string decode_base64(std::string_view b64) {
  std::string out((b64.size() / 4) * 3 + 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(b64.data()),
                                static_cast<int>(b64.size()));
  if (n < 0 || b64.size() % 4 != 0) return {};
  // EVP_DecodeBlock counts padding as output bytes.
  std::size_t len = static_cast<std::size_t>(n);
  if (!b64.empty() && b64.back() == '=') --len;
  if (b64.size() > 1 && b64[b64.size() - 2] == '=') --len;
  out.resize(len);
  return out;
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
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw Error("tokenizer asset " + path +
                ": cannot open it (expected o200k_base.tiktoken, sha256 " + expected_sha256 +
                "; scripts/fetch-tokenizer.sh puts it in data/tokenizer/)");
  std::ostringstream buf;
  buf << in.rdbuf();
  Asset a{path, {}, {}};
  const std::string bytes = std::move(buf).str();
  a.sha256 = sha256_hex(bytes);
  if (a.sha256 != expected_sha256)
    throw Error("tokenizer asset " + path + ": sha256 is " + a.sha256 + ", expected " +
                expected_sha256 + " (o200k_base.tiktoken); refusing any other file");

  auto bad = [&](std::size_t line, const std::string& what) {
    return Error("tokenizer asset " + path + ":" + std::to_string(line) + ": " + what);
  };
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
    if (ec != std::errc() || end != l.data() + l.size() || rank != a.tokens.size())
      throw bad(line, "expected rank " + std::to_string(a.tokens.size()) + " after the token");
    std::string tok = decode_base64(l.substr(0, sp));
    if (tok.empty()) throw bad(line, "token is not valid base64");
    a.tokens.push_back(std::move(tok));
  }
  return a;
}

}  // namespace vpmoe::o200k
