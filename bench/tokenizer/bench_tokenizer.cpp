// bench_tokenizer ASSET CORPUS [--reps N] [--threads MAX]
// Prints JSON lines: load (ms, resident memory it added), single-thread encode_ordinary of the
// whole corpus (first pass with cold caches, then best and median of N), encode_ordinary_batch
// over documents (the corpus split after each blank line) for 1, 2, 4, ... MAX threads, and the
// peak resident memory. scripts/bench-tokenizer.sh checks the token counts against tiktoken.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "o200k_tokenizer.h"

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// A field of /proc/self/status in KiB: VmRSS (resident now) or VmHWM (peak resident).
long status_kib(const std::string& field = "VmRSS:") {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind(field, 0) == 0) return std::stol(line.substr(field.size()));
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
  for (int i = 3; i < argc; i += 2) {
    const std::string a = argv[i];
    if (i + 1 < argc && a == "--reps") {
      reps = std::max(1, std::stoi(argv[i + 1]));
    } else if (i + 1 < argc && a == "--threads") {
      max_threads = std::max(1u, static_cast<unsigned>(std::stoul(argv[i + 1])));
    } else {
      std::cerr << "bench_tokenizer: unknown or incomplete option " << a << "\n";
      return 2;
    }
  }
  // encode_ordinary_batch uses at most one thread per core; label only counts it can run.
  if (max_threads > std::thread::hardware_concurrency()) {
    max_threads = std::max(1u, std::thread::hardware_concurrency());
    std::cerr << "bench_tokenizer: --threads capped at the " << max_threads << " cores\n";
  }
  const long rss_start = status_kib();  // the linked libraries (CUDA ones among them)
  std::ifstream in(argv[2], std::ios::binary | std::ios::ate);
  if (!in) {
    std::cerr << "bench_tokenizer: cannot read corpus " << argv[2] << "\n";
    return 1;
  }
  std::string text(static_cast<std::size_t>(in.tellg()), '\0');
  in.seekg(0).read(text.data(), static_cast<std::streamsize>(text.size()));
  const double mb = static_cast<double>(text.size()) / 1e6;

  std::ofstream("/proc/self/clear_refs") << "5";  // resets VmHWM, so it shows the load's peak
  const long rss0 = status_kib();
  const auto t0 = Clock::now();
  const auto tok = vpmoe::o200k::O200kHarmony::load(argv[1]);
  const double load_ms = seconds_since(t0) * 1e3;
  const long rss1 = status_kib();
  std::printf(
      "{\"what\": \"load\", \"ms\": %.1f, \"resident_mib\": %.1f, \"peak_during_mib\": %.1f}\n",
      load_ms, static_cast<double>(rss1 - rss0) / 1024,
      static_cast<double>(status_kib("VmHWM:") - rss0) / 1024);

  // One output buffer, reused: what a dataset writer does.
  std::vector<std::int32_t> ids(text.size() / 2);  // touched now, so not counted below
  ids.clear();
  const long rss2 = status_kib();
  double first = 0;
  std::vector<double> rates;  // warm passes
  for (int r = 0; r <= reps; ++r) {
    ids.clear();
    const auto t = Clock::now();
    tok->encode_ordinary_into(text, ids);
    const double rate = mb / seconds_since(t);
    if (r == 0)
      first = rate;
    else
      rates.push_back(rate);
  }
  std::sort(rates.begin(), rates.end());
  std::printf(
      "{\"what\": \"single_thread\", \"bytes\": %zu, \"tokens\": %zu, \"cold_mb_s\": %.2f, "
      "\"best_mb_s\": %.2f, \"median_mb_s\": %.2f, \"thread_cache_mib\": %.1f}\n",
      text.size(), ids.size(), first, rates.back(), rates[rates.size() / 2],
      static_cast<double>(status_kib() - rss2) / 1024);

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
    for (int r = 0; r < reps; ++r) {  // the first also warms the pool threads' caches
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
  // Peak resident memory since the start of main: corpus, tokenizer, piece caches, outputs.
  std::printf("{\"what\": \"peak\", \"resident_mib\": %.1f, \"corpus_mib\": %.1f}\n",
              static_cast<double>(status_kib("VmHWM:") - rss_start) / 1024,
              static_cast<double>(text.size()) / 1048576);
  return 0;
}
