#include "unicode_classes.h"

#include <unicode/uchar.h>

#include <cstring>
#include <map>
#include <string>

namespace vpmoe::o200k {
namespace {

constexpr std::uint32_t kCodePoints = 0x110000;

std::uint8_t bits_of_category(int cat) {
  switch (cat) {
    case U_UPPERCASE_LETTER:
    case U_TITLECASE_LETTER:
      return kUpperish | kLetter;
    case U_LOWERCASE_LETTER:
      return kLowerish | kLetter;
    case U_MODIFIER_LETTER:
    case U_OTHER_LETTER:
      return kUpperish | kLowerish | kLetter;
    case U_NON_SPACING_MARK:
    case U_ENCLOSING_MARK:
    case U_COMBINING_SPACING_MARK:
      return kUpperish | kLowerish;
    case U_DECIMAL_DIGIT_NUMBER:
    case U_LETTER_NUMBER:
    case U_OTHER_NUMBER:
      return kNumber;
    default:
      return 0;
  }
}

UBool fill_range(const void* ctx, UChar32 start, UChar32 limit, UCharCategory cat) {
  auto* flat = static_cast<std::uint8_t*>(const_cast<void*>(ctx));
  std::memset(flat + start, bits_of_category(cat), static_cast<std::size_t>(limit - start));
  return true;
}

}  // namespace

CharClasses::CharClasses() {
  std::vector<std::uint8_t> flat(kCodePoints, 0);
  u_enumCharTypes(fill_range, flat.data());
  // White_Space lies below U+3001; CR and LF get their own bit for the line-break patterns.
  for (UChar32 c = 0; c <= 0x3000; ++c)
    if (u_hasBinaryProperty(c, UCHAR_WHITE_SPACE)) flat[c] |= kSpace;
  flat['\r'] |= kCrLf;
  flat['\n'] |= kCrLf;

  for (int c = 0; c < 128; ++c) ascii_[c] = flat[c];
  stage1_.resize(kCodePoints >> 8);
  std::map<std::string, std::uint16_t> seen;
  for (std::uint32_t b = 0; b < (kCodePoints >> 8); ++b) {
    std::string key(reinterpret_cast<const char*>(flat.data() + b * 256), 256);
    auto [it, fresh] = seen.emplace(key, static_cast<std::uint16_t>(seen.size()));
    if (fresh) blocks_.insert(blocks_.end(), key.begin(), key.end());
    stage1_[b] = it->second;
  }
}

const CharClasses& char_classes() {
  static const CharClasses table;
  return table;
}

}  // namespace vpmoe::o200k
