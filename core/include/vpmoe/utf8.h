#pragma once
// UTF-8 checks shared by tokenizers and the CLI. Valid means RFC 3629: no overlong forms,
// no surrogates, nothing above U+10FFFF.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace vpmoe {

// Byte offset of the first invalid sequence, or nullopt when the text is valid.
std::optional<std::size_t> utf8_first_invalid(std::string_view text);
// Throws vpmoe::Error "<what>: invalid UTF-8 at byte N" when the text is not valid.
void utf8_require(std::string_view text, std::string_view what);
// Each maximal invalid subpart becomes U+FFFD (the Unicode / WHATWG replacement practice).
std::string utf8_lossy(std::string_view text);

}  // namespace vpmoe
