#pragma once
// Small string helpers shared by the content renderers.
#include <sstream>
#include <string>
#include <vector>

namespace vpmoe::o200k::harmony {

inline std::string join(const std::vector<std::string>& parts, const std::string& sep) {
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) out += (i ? sep : "") + parts[i];
  return out;
}

// Lines as Rust's str::lines gives them (Harmony splits descriptions with it): split at \n,
// a trailing \r dropped, no empty last line after a final \n.
inline std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) {
    if (!l.empty() && l.back() == '\r') l.pop_back();
    out.push_back(l);
  }
  return out;
}

}  // namespace vpmoe::o200k::harmony
