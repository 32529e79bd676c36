// bench_tokenizer ASSET CORPUS [--reps N] [--threads MAX]
// Prints JSON lines: load (ms, resident memory it added), single-thread encode_ordinary of the
// whole corpus (first pass with cold caches, then the best of N), and encode_ordinary_batch
// over documents (the corpus split after each blank line) for 1, 2, 4, ... MAX threads.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "o200k_tokenizer.h"

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

long resident_kib() {  // VmRSS of this process
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: bench_tokenizer ASSET CORPUS [--reps N] [--threads MAX]\n";
    return 2;
  }
  int reps = 5;
  unsigned max_threads = std::max(1u, std::thread::hardware_concurrency());
  for (int i = 3; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--reps") reps = std::stoi(argv[i + 1]);
    if (a == "--threads") max_threads = static_cast<unsigned>(std::stoul(argv[i + 1]));
  }
  std::ifstream in(argv[2], std::ios::binary);
  if (!in) {
    std::cerr << "bench_tokenizer: cannot read corpus " << argv[2] << "\n";
    return 1;
  }
  std::stringstream buf;
  buf << in.rdbuf();
  const std::string text = buf.str();
  const double mb = static_cast<double>(text.size()) / 1e6;

  const long rss0 = resident_kib();
  const auto t0 = Clock::now();
  const auto tok = vpmoe::o200k::O200kHarmony::load(argv[1]);
  const double load_ms = seconds_since(t0) * 1e3;
  const long rss1 = resident_kib();
  std::printf("{\"what\": \"load\", \"ms\": %.1f, \"resident_mib\": %.1f}\n", load_ms,
              static_cast<double>(rss1 - rss0) / 1024);

  // One output buffer, reused: what a dataset writer does.
  std::vector<std::int32_t> ids(text.size() / 2);  // touched now, so not counted below
  ids.clear();
  const long rss2 = resident_kib();
  double first = 0, best = 0;
  for (int r = 0; r <= reps; ++r) {
    ids.clear();
    const auto t = Clock::now();
    tok->encode_ordinary_into(text, ids);
    const double rate = mb / seconds_since(t);
    (r == 0 ? first : best) = r == 0 ? rate : std::max(best, rate);
  }
  std::printf(
      "{\"what\": \"single_thread\", \"bytes\": %zu, \"tokens\": %zu, \"cold_mb_s\": %.2f, "
      "\"best_mb_s\": %.2f, \"thread_cache_mib\": %.1f}\n",
      text.size(), ids.size(), first, best, static_cast<double>(resident_kib() - rss2) / 1024);

  std::vector<std::string_view> docs;
  for (std::size_t p = 0; p < text.size();) {
    std::size_t e = text.find("\n\n", p);
    e = e == std::string::npos ? text.size() : e + 2;
    docs.emplace_back(text.data() + p, e - p);
    p = e;
  }
  for (unsigned t = 1; t <= max_threads;
       t = t * 2 > max_threads && t != max_threads ? max_threads : t * 2) {
    double rate = 0;
    std::size_t tokens = 0;
    for (int r = 0; r < 3; ++r) {
      const auto s = Clock::now();
      const auto out = tok->encode_ordinary_batch(docs, t);
      rate = std::max(rate, mb / seconds_since(s));
      tokens = 0;
      for (const auto& v : out) tokens += v.size();
    }
    std::printf(
        "{\"what\": \"batch\", \"threads\": %u, \"documents\": %zu, \"tokens\": %zu, "
        "\"mb_s\": %.2f}\n",
        t, docs.size(), tokens, rate);
    if (t == max_threads) break;
  }
  return 0;
}
