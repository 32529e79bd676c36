#include "harmony/typescript.h"

#include <set>

#include "harmony/text.h"

namespace vpmoe::o200k::harmony {
namespace {

bool has_enum(const Json& s) {
  return s.contains("enum") && s["enum"].is_array() && !s["enum"].empty();
}
bool is_nullable(const Json& s) {
  return s.contains("nullable") && s["nullable"].is_boolean() && s["nullable"].get<bool>();
}
std::string string_of(const Json& s, const char* key) {
  return s.contains(key) && s[key].is_string() ? s[key].get<std::string>() : std::string();
}
bool has_string(const Json& s, const char* key) {
  return s.contains(key) && s[key].is_string();
}

// "default: ..." as Harmony writes it: a string default is quoted unless the schema is an
// enum (`quote_enum_strings` covers the one place where Harmony keeps JSON's quotes anyway).
std::string default_comment(const Json& s, bool quote_enum_strings) {
  const Json& d = s["default"];
  if (d.is_string() && !has_enum(s)) return "default: \"" + d.get<std::string>() + "\"";
  if (d.is_string() && !quote_enum_strings) return "default: " + d.get<std::string>();
  return "default: " + d.dump();
}

std::string with_null(std::string type, const Json& s) {
  if (is_nullable(s) && type.find("null") == std::string::npos) type += " | null";
  return type;
}

// A property whose schema is a oneOf: comments above it, then one line per variant.
std::string one_of_property(const std::string& key, const Json& val, bool required,
                            const std::string& indent) {
  std::string out;
  const Json& variants = val["oneOf"];
  const bool has_desc = has_string(val, "description");
  const std::string desc = string_of(val, "description");
  const bool first_repeats = has_desc && !variants.empty() &&
                             has_string(variants[0], "description") &&
                             variants[0]["description"].get<std::string>() == desc;
  const bool desc_above = has_desc && !first_repeats;
  if (desc_above) out += indent + "// " + desc + "\n";
  if (val.contains("default")) out += indent + "// " + default_comment(val, false) + "\n";
  out += indent + key + (required ? "" : "?") + ":\n";
  for (std::size_t i = 0; i < variants.size(); ++i) {
    const Json& v = variants[i];
    out += indent + " | " + with_null(schema_to_typescript(v, indent + "   "), v);
    std::vector<std::string> notes;
    if (!(i == 0 && desc_above) && has_string(v, "description") &&
        !(has_desc && v["description"].get<std::string>() == desc))
      notes.push_back(v["description"].get<std::string>());
    if (v.contains("default")) notes.push_back(default_comment(v, false));
    if (!notes.empty()) out += " // " + join(notes, " ");
    out += "\n";
  }
  return out + indent + ",\n";
}

std::string object_type(const Json& s, const std::string& indent) {
  std::string out;
  if (has_string(s, "description")) out += indent + "// " + string_of(s, "description") + "\n";
  out += "{\n";
  std::set<std::string> required;
  if (s.contains("required") && s["required"].is_array())
    for (const auto& r : s["required"])
      if (r.is_string()) required.insert(r.get<std::string>());
  if (s.contains("properties") && s["properties"].is_object()) {
    for (const auto& [key, val] : s["properties"].items()) {
      const bool req = required.count(key) > 0;
      if (has_string(val, "title"))
        out += indent + "// " + string_of(val, "title") + "\n" + indent + "//\n";
      const bool one_of = val.contains("oneOf") && val["oneOf"].is_array();
      if (!val.contains("oneOf") && has_string(val, "description"))
        out += indent + "// " + string_of(val, "description") + "\n";
      if (val.contains("examples") && val["examples"].is_array() && !val["examples"].empty()) {
        out += indent + "// Examples:\n";
        for (const auto& ex : val["examples"])
          if (ex.is_string()) out += indent + "// - \"" + ex.get<std::string>() + "\"\n";
      }
      if (one_of) {
        out += one_of_property(key, val, req, indent);
        continue;
      }
      out += indent + key + (req ? "" : "?") + ": " +
             with_null(schema_to_typescript(val, indent + "    "), val) + ",";
      if (!val.contains("oneOf") && val.contains("default"))
        out += " // " + default_comment(val, false);
      out += "\n";
    }
  }
  return out + indent + "}";
}

}  // namespace

std::string schema_to_typescript(const Json& s, const std::string& indent) {
  if (s.contains("oneOf") && s["oneOf"].is_array()) {
    std::string out;
    for (const auto& v : s["oneOf"]) {
      out += "\n" + indent + " | " + with_null(schema_to_typescript(v, indent + "   "), v);
      std::vector<std::string> notes;
      if (has_string(v, "description")) notes.push_back(string_of(v, "description"));
      if (v.contains("default")) notes.push_back(default_comment(v, true));
      if (!notes.empty()) out += " // " + join(notes, " ");
    }
    return out;
  }
  if (s.contains("type") && s["type"].is_array()) {
    std::vector<std::string> types;
    for (const auto& t : s["type"])
      if (t.is_string()) types.push_back(t == "integer" ? "number" : t.get<std::string>());
    if (!types.empty()) return join(types, " | ");
  }
  if (!s.contains("type") || !s["type"].is_string()) return "any";
  const std::string type = s["type"];
  if (type == "object") return object_type(s, indent);
  if (type == "string") {
    std::vector<std::string> values;
    if (has_enum(s))
      for (const auto& v : s["enum"])
        if (v.is_string()) values.push_back("\"" + v.get<std::string>() + "\"");
    return values.empty() ? "string" : join(values, " | ");
  }
  if (type == "number" || type == "integer") return "number";
  if (type == "boolean") return "boolean";
  if (type == "array")
    return s.contains("items") ? schema_to_typescript(s["items"], indent) + "[]" : "Array<any>";
  return "any";
}

}  // namespace vpmoe::o200k::harmony
