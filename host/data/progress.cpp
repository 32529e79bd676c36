#include "data/progress.h"

#include <unistd.h>

#include <cstdio>

namespace vpmoe::host::data {

Progress::Progress(std::string what, std::uint64_t total_bytes)
    : what_(std::move(what)),
      total_(total_bytes),
      tty_(::isatty(2) != 0),
      start_(std::chrono::steady_clock::now()),
      last_(start_) {}

void Progress::update(std::uint64_t documents, std::uint64_t tokens, std::uint64_t bytes) {
  const auto now = std::chrono::steady_clock::now();
  if (now - last_ < (tty_ ? std::chrono::milliseconds(200) : std::chrono::seconds(5))) return;
  last_ = now;
  print(documents, tokens, bytes, false);
}

void Progress::finish(std::uint64_t documents, std::uint64_t tokens, std::uint64_t bytes) {
  print(documents, tokens, bytes, true);
}

void Progress::print(std::uint64_t documents, std::uint64_t tokens, std::uint64_t bytes,
                     bool last) {
  const double s = std::max(
      1e-9, std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count());
  const double pct =
      total_ ? 100.0 * static_cast<double>(bytes) / static_cast<double>(total_) : 100.0;
  constexpr int kWidth = 24;
  const int filled = static_cast<int>(pct / 100.0 * kWidth);
  std::string bar(static_cast<std::size_t>(std::max(0, std::min(kWidth, filled))), '#');
  bar.resize(kWidth, '.');
  std::fprintf(
      stderr, "%s%s [%s] %5.1f%%  %llu docs  %llu tokens  %.0f docs/s  %.0f tokens/s  %.1f s%s",
      tty_ ? "\r" : "", what_.c_str(), bar.c_str(), pct, static_cast<unsigned long long>(documents),
      static_cast<unsigned long long>(tokens), static_cast<double>(documents) / s,
      static_cast<double>(tokens) / s, s, tty_ && !last ? "" : "\n");
  std::fflush(stderr);
}

}  // namespace vpmoe::host::data
