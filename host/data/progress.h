#pragma once
// A progress line on stderr: documents/s and tokens/s. On a terminal it redraws one line
// (at most 5 times a second); otherwise it prints a plain line every 5 seconds.
#include <chrono>
#include <cstdint>
#include <string>

namespace vpmoe::host::data {

class Progress {
 public:
  Progress(std::string what, std::uint64_t total_bytes);
  void update(std::uint64_t documents, std::uint64_t tokens, std::uint64_t bytes);
  void finish(std::uint64_t documents, std::uint64_t tokens, std::uint64_t bytes);

 private:
  void print(std::uint64_t documents, std::uint64_t tokens, std::uint64_t bytes, bool last);
  std::string what_;
  std::uint64_t total_;
  bool tty_;
  std::chrono::steady_clock::time_point start_, last_;
};

}  // namespace vpmoe::host::data
