#include "data/jsonl.h"

#include "vpmoe/error.h"

namespace vpmoe::host::data {

JsonlReader::JsonlReader(std::string path) : path_(std::move(path)), in_(path_, std::ios::binary) {
  if (!in_) throw Error(path_ + ": cannot open it (expected a JSON Lines file)");
}

bool JsonlReader::next(std::string& raw) {
  while (std::getline(in_, raw)) {
    ++line_;
    if (!raw.empty() && raw.back() == '\r') raw.pop_back();
    if (raw.find_first_not_of(" \t") != std::string::npos) return true;
  }
  return false;
}

nlohmann::json parse_json_object(const std::string& raw) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(raw);
  } catch (const nlohmann::json::exception& e) {  // a syntax error, or a number beyond a double
    // Python's json.dumps writes float("nan") as NaN: name the cause.
    const std::string what = e.what();
    const bool non_finite =
        (what.find("invalid literal") != std::string::npos ||
         what.find("invalid number") != std::string::npos) &&
        (raw.find("NaN") != std::string::npos || raw.find("Infinity") != std::string::npos);
    throw Error("expected one JSON object per line: " + what +
                (non_finite ? " (NaN and Infinity are not JSON numbers)" : ""));
  }
  if (!j.is_object()) throw Error("expected a JSON object, found " + std::string(j.type_name()));
  return j;
}

nlohmann::json JsonlReader::parse(const std::string& raw) const {
  try {
    return parse_json_object(raw);
  } catch (const Error& e) {
    fail(e.what());
  }
}

void JsonlReader::fail(const std::string& what) const {
  throw Error(path_ + ":" + std::to_string(line_) + ": " + what);
}

}  // namespace vpmoe::host::data
