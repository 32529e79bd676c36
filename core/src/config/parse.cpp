// load_config / parse_config: parse the TOML (and the model_config it names), walk it against
// the schema in file order, then run the cross-key checks.
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "config/config_internal.h"

namespace vpmoe {
namespace config_detail {
namespace {

namespace fs = std::filesystem;

// False (and why in err) when the file cannot be read.
bool try_read(const std::string& path, std::string& out, std::string& err) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    err = "is a directory";
    return false;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    err = std::strerror(errno);
    return false;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  out = ss.str();
  return true;
}

toml::table parse_toml(const std::string& text, const std::string& source) {
  try {
    return toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    throw ConfigError(where(e.source(), source) +
                      ": TOML syntax error: " + std::string(e.description()));
  }
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

// " (did you mean \"x\"?)" when one known name is close to the unknown one.
std::string suggestion(std::string_view unknown, const std::vector<std::string>& known) {
  std::string best;
  std::size_t best_d = 3;
  for (const auto& k : known) {
    std::size_t d = edit_distance(unknown, k);
    if (d < best_d) best_d = d, best = k;
  }
  return best.empty() ? "" : " (did you mean \"" + best + "\"?)";
}

// Table entries in the order they appear in the file, so the first error reported is the
// first one a reader meets (toml::table itself is ordered by key).
std::vector<std::pair<const toml::key*, const toml::node*>> in_file_order(const toml::table& t) {
  std::vector<std::pair<const toml::key*, const toml::node*>> v;
  for (auto&& [k, n] : t) v.emplace_back(&k, &n);
  std::stable_sort(v.begin(), v.end(), [](const auto& a, const auto& b) {
    const auto &x = a.first->source().begin, &y = b.first->source().begin;
    return x.line != y.line ? x.line < y.line : x.column < y.column;
  });
  return v;
}

void apply_section(const Section& sec, const toml::table& t, const std::string& source,
                   bool model_file, Config& c) {
  std::vector<std::string> known;
  for (const auto& f : sec.fields) known.push_back(f.name);
  for (auto [key, node] : in_file_order(t)) {
    std::string name(key->str());
    std::string path = sec.name + "." + name;
    auto f = std::find_if(sec.fields.begin(), sec.fields.end(),
                          [&](const Field& x) { return x.name == name; });
    if (f == sec.fields.end())
      fail_at(where(key->source(), source), path,
              "expected a key of [" + sec.name +
                  "] (docs/config.md lists them), found unknown key \"" + name + "\"" +
                  suggestion(name, known));
    KeyCtx ctx{path, where(node->source(), source)};
    if (model_file && path == "run.model_config")
      ctx.fail("expected no model_config in a file that is itself a model_config (one level only)");
    f->read(c, *node, ctx);
    c.origins[path] = ctx.origin;
  }
}

void apply(const toml::table& root, const std::string& source, bool model_file, Config& c) {
  std::vector<std::string> known;
  std::string listed;
  for (const auto& s : schema()) {
    known.push_back(s.name);
    listed += (listed.empty() ? "[" : ", [") + s.name + "]";
  }
  for (auto [key, node] : in_file_order(root)) {
    std::string name(key->str());
    auto sec = std::find_if(schema().begin(), schema().end(),
                            [&](const Section& s) { return s.name == name; });
    if (sec == schema().end()) {
      std::string what =
          node->is_table() ? "unknown section [" + name + "]" : "top-level key \"" + name + "\"";
      fail_at(
          where(key->source(), source), name,
          "expected one of the sections " + listed + ", found " + what + suggestion(name, known));
    }
    if (!node->is_table())
      fail_at(where(node->source(), source), name, "expected a table, found " + describe(*node));
    // A section given in both files keeps the position of the later (the run.toml).
    c.origins[name] = where(node->source(), source);
    if (!sec->free_form) apply_section(*sec, *node->as_table(), source, model_file, c);
  }
}

}  // namespace
}  // namespace config_detail

Config parse_config(const std::string& toml_text, const std::string& source_name) {
  using namespace config_detail;
  const std::string source = source_name.empty() ? "<string>" : source_name;
  toml::table root = parse_toml(toml_text, source);

  Config c;
  c.path = source;

  // The model_config (if any) is read first; the run file's own keys then override it.
  std::string model_path;
  if (const toml::node* mc = root.at_path("run.model_config").node()) {
    KeyCtx ctx{"run.model_config", where(mc->source(), source)};
    if (!mc->is_string()) ctx.fail("expected a path (string), found " + describe(*mc));
    std::filesystem::path p(mc->as_string()->get());
    if (p.empty()) ctx.fail("expected a path to a vpMoE TOML file, found \"\"");
    if (p.is_relative()) p = std::filesystem::path(source).parent_path() / p;
    model_path = p.lexically_normal().string();
    std::string text, err;
    if (!try_read(model_path, text, err))
      ctx.fail("expected a readable vpMoE TOML file, found \"" + model_path + "\" (" + err + ")");
    apply(parse_toml(text, model_path), model_path, /*model_file=*/true, c);
  }
  apply(root, source, /*model_file=*/false, c);
  c.run.model_config = model_path;

  if (!c.origins.count("model"))
    throw ConfigError(source + ":1:1: [model]: expected a [model] section in this file or in " +
                      "the file named by [run] model_config, found neither");
  validate(c);
  return c;
}

Config load_config(const std::string& path) {
  std::string text, err;
  if (!config_detail::try_read(path, text, err))
    throw ConfigError(path + ": cannot read the configuration file (" + err + ")");
  return parse_config(text, path);
}

}  // namespace vpmoe
