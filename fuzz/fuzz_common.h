#pragma once
// Helpers shared by the fuzz targets: a private temporary folder (removed at exit) for the
// targets whose reader takes a path, and the abort that libFuzzer reports as a crash.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

namespace vpmoe::fuzz {

[[noreturn]] inline void bug(const char* target, const std::string& what) {
  std::fprintf(stderr, "%s: %s\n", target, what.c_str());
  std::abort();
}

// One folder per process under $TMPDIR (or /tmp); libFuzzer's -fork/-jobs workers get their own.
inline const std::string& temp_dir() {
  static const std::string dir = [] {
    const char* base = std::getenv("TMPDIR");
    std::string templ = std::string(base && *base ? base : "/tmp") + "/vpmoe-fuzz-XXXXXX";
    if (!::mkdtemp(templ.data())) bug("fuzz", "mkdtemp failed for " + templ);
    static const std::string keep = templ;
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(keep, ec);
    });
    return templ;
  }();
  return dir;
}

inline void write_file(const std::string& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) bug("fuzz", "cannot write " + path);
}

}  // namespace vpmoe::fuzz
