#pragma once
// Reading JSON Lines input with errors that name FILE:LINE.
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

namespace vpmoe::host::data {

// One JSON Lines line as an object; throws vpmoe::Error saying what was wrong (no position:
// callers add FILE:LINE).
nlohmann::json parse_json_object(const std::string& raw);

class JsonlReader {
 public:
  explicit JsonlReader(std::string path);
  // The next non-empty line (its raw text in `raw`); false at the end.
  bool next(std::string& raw);
  nlohmann::json parse(const std::string& raw) const;     // an object, or an error naming the line
  [[noreturn]] void fail(const std::string& what) const;  // "FILE:LINE: what"
  std::size_t line() const { return line_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::ifstream in_;
  std::size_t line_ = 0;
};

}  // namespace vpmoe::host::data
