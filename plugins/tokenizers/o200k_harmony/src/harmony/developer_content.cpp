#include "harmony/developer_content.h"

#include "harmony/text.h"
#include "harmony/tools.h"

namespace vpmoe::o200k::harmony {

std::string developer_content_text(const Json& c, std::size_t i) {
  std::vector<std::string> sections;
  if (c.contains("instructions") && !c["instructions"].is_null()) {
    if (!c["instructions"].is_string()) fail_at(i, "\"instructions\" must be a string or null");
    sections.push_back("# Instructions");
    sections.push_back(c["instructions"].get<std::string>());
  }
  if (auto t = tools_section(c, i)) sections.push_back(*t);
  return join(sections, "\n\n");
}

}  // namespace vpmoe::o200k::harmony
