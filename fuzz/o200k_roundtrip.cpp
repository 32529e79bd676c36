// libFuzzer target for tokenizer.o200k_harmony. The first input byte picks a check:
//   even: the rest is text. Valid UTF-8: every piece boundary equals PCRE2 running the o200k
//         pattern, and decode(encode(text)) == text ordinarily and with every special allowed.
//         Invalid UTF-8: encoding throws vpmoe::Error (never crashes).
//   odd:  the rest is token ids (little-endian u32 modulo the vocabulary, some pushed out of
//         it): decoding never crashes and refuses the out-of-range ones.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "o200k_tokenizer.h"
#include "pcre2_reference.h"
#include "pretokenizer.h"
#include "vpmoe/error.h"
#include "vpmoe/utf8.h"

using vpmoe::o200k::O200kHarmony;

namespace {

const O200kHarmony& tok() {
  static const auto t = [] {
    const char* env = std::getenv("VPMOE_TOKENIZER_ASSET");
    return O200kHarmony::load(env ? env : VPMOE_DEFAULT_ASSET);
  }();
  return *t;
}

[[noreturn]] void bug(const char* what) {
  std::fprintf(stderr, "fuzz_o200k_roundtrip: %s\n", what);
  std::abort();
}

bool every_char_agrees(const std::string& s) {  // both Unicode versions know each character
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    const int n = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    char32_t cp = n == 1 ? c : c & (0x7F >> n);
    for (int k = 1; k < n; ++k) cp = cp << 6 | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    if (!vpmoe::o200k::test::Pcre2Reference::agrees(cp)) return false;
    i += static_cast<std::size_t>(n);
  }
  return true;
}

void check_text(const std::string& text) {
  if (vpmoe::utf8_first_invalid(text)) {
    try {
      tok().encode_ordinary(text);
    } catch (const vpmoe::Error&) {
      return;
    }
    bug("invalid UTF-8 was encoded without an error");
  }
  if (every_char_agrees(text)) {
    static const vpmoe::o200k::test::Pcre2Reference re;
    const vpmoe::o200k::PreTokenizer pre(vpmoe::o200k::char_classes(), text);
    for (std::size_t pos = 0; pos < text.size();) {
      const std::size_t end = pre.piece_end(pos);
      if (end != re.match_end(text, pos)) bug("a piece boundary differs from the o200k regex");
      pos = end;
    }
  }
  if (tok().decode_bytes(tok().encode_ordinary(text)) != text) bug("ordinary round trip");
  static const std::vector<std::string> all{"all"};
  std::string want = text;  // 200018 decodes under its Harmony name
  for (std::size_t at; (at = want.find("<|endofprompt|>")) != std::string::npos;)
    want.replace(at, 15, "<|reserved_200018|>");
  if (tok().decode_bytes(tok().encode(text, all)) != want) bug("round trip with specials");
}

void check_ids(const std::uint8_t* data, std::size_t size) {
  std::vector<std::int32_t> ids;
  bool out_of_range = false;
  for (std::size_t i = 0; i + 4 <= size; i += 4) {
    std::uint32_t v;
    std::memcpy(&v, data + i, 4);
    std::int32_t id = static_cast<std::int32_t>(v % 201088u);
    if (v >> 31) id = -1 - id, out_of_range = true;  // some negative ids too
    ids.push_back(id);
  }
  try {
    tok().decode_text(ids, /*lossy=*/true);
    if (out_of_range) bug("an out-of-range id was decoded");
  } catch (const vpmoe::Error&) {
    if (!out_of_range) bug("an in-range id was refused");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  if (data[0] % 2 == 0)
    check_text(std::string(reinterpret_cast<const char*>(data + 1), size - 1));
  else
    check_ids(data + 1, size - 1);
  return 0;
}
