#pragma once
// Typed readers for one TOML value: check the type and the range, or fail with
// "expected ..., found ..." at the value's position.
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "config/config_internal.h"

namespace vpmoe::config_detail {

// Closed or half-open bounds for a float key; NaN and infinities never pass.
struct Range {
  double lo = -std::numeric_limits<double>::infinity();
  double hi = std::numeric_limits<double>::infinity();
  bool lo_open = false;
  bool hi_open = false;

  static Range any() { return {}; }
  static Range at_least(double lo) { return {lo}; }
  static Range above(double lo) { return {lo, Range{}.hi, true}; }
  static Range closed(double lo, double hi) { return {lo, hi}; }
  static Range half_open(double lo, double hi) { return {lo, hi, false, true}; }
};

std::int64_t read_int(const toml::node& n, const KeyCtx& k, std::int64_t lo,
                      std::int64_t hi = std::numeric_limits<std::int32_t>::max());
double read_float(const toml::node& n, const KeyCtx& k, Range r);  // integers accepted
bool read_bool(const toml::node& n, const KeyCtx& k);
std::string read_string(const toml::node& n, const KeyCtx& k);
// A string from a fixed set (the message lists the set).
std::string read_enum(const toml::node& n, const KeyCtx& k, const std::vector<std::string>& set);
std::vector<std::string> read_string_list(const toml::node& n, const KeyCtx& k);
std::vector<double> read_float_list(const toml::node& n, const KeyCtx& k, Range r);

// A number as messages print it (shortest stream form: 0.0001, 1e-10).
std::string num(double x);

}  // namespace vpmoe::config_detail
