#include "config/values.h"

#include <cmath>
#include <sstream>

namespace vpmoe::config_detail {

std::string num(double x) {
  std::ostringstream os;
  os << x;
  return os.str();
}

namespace {

std::string range_text(const Range& r) {
  bool has_lo = std::isfinite(r.lo), has_hi = std::isfinite(r.hi);
  if (has_lo && has_hi)
    return "a number in " + std::string(r.lo_open ? "(" : "[") + num(r.lo) + ", " + num(r.hi) +
           (r.hi_open ? ")" : "]");
  if (has_lo) return "a number " + std::string(r.lo_open ? "> " : ">= ") + num(r.lo);
  if (has_hi) return "a number " + std::string(r.hi_open ? "< " : "<= ") + num(r.hi);
  return "a finite number";
}

bool in_range(double x, const Range& r) {
  if (!std::isfinite(x)) return false;
  if (r.lo_open ? !(x > r.lo) : !(x >= r.lo)) return false;
  if (r.hi_open ? !(x < r.hi) : !(x <= r.hi)) return false;
  return true;
}

std::string int_range_text(std::int64_t lo, std::int64_t hi) {
  if (hi == std::numeric_limits<std::int32_t>::max() ||
      hi == std::numeric_limits<std::int64_t>::max())
    return "an integer >= " + std::to_string(lo);
  return "an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
}

// An element of a list, positioned and named like a key ("data.weights[2]").
KeyCtx element(const KeyCtx& k, const toml::node& e, std::size_t i) {
  return {k.path + "[" + std::to_string(i) + "]",
          e.source().path ? where(e.source(), "") : k.origin};
}

const toml::array& need_array(const toml::node& n, const KeyCtx& k, const char* of) {
  if (!n.is_array()) k.fail(std::string("expected an array of ") + of + ", found " + describe(n));
  return *n.as_array();
}

}  // namespace

std::int64_t read_int(const toml::node& n, const KeyCtx& k, std::int64_t lo, std::int64_t hi) {
  if (!n.is_integer()) k.fail("expected " + int_range_text(lo, hi) + ", found " + describe(n));
  std::int64_t v = n.as_integer()->get();
  if (v < lo || v > hi) k.fail("expected " + int_range_text(lo, hi) + ", found " + describe(n));
  return v;
}

double read_float(const toml::node& n, const KeyCtx& k, Range r) {
  double v = 0;
  if (n.is_floating_point())
    v = n.as_floating_point()->get();
  else if (n.is_integer())
    v = static_cast<double>(n.as_integer()->get());
  else
    k.fail("expected " + range_text(r) + ", found " + describe(n));
  if (!in_range(v, r)) k.fail("expected " + range_text(r) + ", found " + describe(n));
  return v;
}

bool read_bool(const toml::node& n, const KeyCtx& k) {
  if (!n.is_boolean()) k.fail("expected a boolean (true or false), found " + describe(n));
  return n.as_boolean()->get();
}

std::string read_string(const toml::node& n, const KeyCtx& k) {
  if (!n.is_string()) k.fail("expected a string, found " + describe(n));
  return n.as_string()->get();
}

std::string read_enum(const toml::node& n, const KeyCtx& k, const std::vector<std::string>& set) {
  std::string allowed;
  for (const auto& s : set) allowed += (allowed.empty() ? "\"" : ", \"") + s + "\"";
  if (!n.is_string()) k.fail("expected one of " + allowed + ", found " + describe(n));
  std::string v = n.as_string()->get();
  for (const auto& s : set)
    if (v == s) return v;
  k.fail("expected one of " + allowed + ", found " + describe(n));
}

std::vector<std::string> read_string_list(const toml::node& n, const KeyCtx& k) {
  const toml::array& a = need_array(n, k, "strings");
  std::vector<std::string> out;
  for (std::size_t i = 0; i < a.size(); ++i) out.push_back(read_string(a[i], element(k, a[i], i)));
  return out;
}

std::vector<double> read_float_list(const toml::node& n, const KeyCtx& k, Range r) {
  const toml::array& a = need_array(n, k, "numbers");
  std::vector<double> out;
  for (std::size_t i = 0; i < a.size(); ++i)
    out.push_back(read_float(a[i], element(k, a[i], i), r));
  return out;
}

}  // namespace vpmoe::config_detail
