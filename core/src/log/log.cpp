// vpmoe::log on spdlog: one stderr logger (stdout stays free for machine-readable output such as
// `vpmoe-host plugins --json`), its pattern carrying the rank.
#include "vpmoe/log.h"

#include <cstdlib>
#include <mutex>
#include <string>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace vpmoe::log {
namespace {

struct State {
  std::mutex mu;
  std::shared_ptr<spdlog::logger> logger;
  int rank = 0;
  int world = 1;
  Level level = Level::info;
};

State& state() {
  static State s;
  return s;
}

std::optional<int> env_int(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) return std::nullopt;
  char* end = nullptr;
  long x = std::strtol(v, &end, 10);
  if (*end != '\0' || x < 0) return std::nullopt;
  return static_cast<int>(x);
}

spdlog::level::level_enum to_spd(Level l) {
  switch (l) {
    case Level::trace:
      return spdlog::level::trace;
    case Level::debug:
      return spdlog::level::debug;
    case Level::info:
      return spdlog::level::info;
    case Level::warn:
      return spdlog::level::warn;
    case Level::error:
      return spdlog::level::err;
    default:
      return spdlog::level::off;
  }
}

void apply_pattern(State& s) {
  s.logger->set_pattern("[vpmoe r" + std::to_string(s.rank) + "/" + std::to_string(s.world) +
                        "] [%^%l%$] %v");
}

// The logger, created on first use with the launcher's rank (torchrun-style variables first,
// then Open MPI's).
spdlog::logger& logger() {
  State& s = state();
  std::lock_guard lock(s.mu);
  if (!s.logger) {
    auto r = env_int("RANK"), w = env_int("WORLD_SIZE");
    if (!r || !w) r = env_int("OMPI_COMM_WORLD_RANK"), w = env_int("OMPI_COMM_WORLD_SIZE");
    if (r && w && *w > 0) s.rank = *r, s.world = *w;
    s.logger = std::make_shared<spdlog::logger>(
        "vpmoe", std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
    s.logger->set_level(to_spd(s.level));
    s.logger->flush_on(spdlog::level::warn);
    apply_pattern(s);
  }
  return *s.logger;
}

void emit(Level l, std::string_view msg) {
  if (!enabled(l)) return;
  logger().log(to_spd(l), "{}", msg);
}

}  // namespace

void trace(std::string_view msg) {
  emit(Level::trace, msg);
}
void debug(std::string_view msg) {
  emit(Level::debug, msg);
}
void info(std::string_view msg) {
  emit(Level::info, msg);
}
void warn(std::string_view msg) {
  emit(Level::warn, msg);
}
void error(std::string_view msg) {
  emit(Level::error, msg);
}

void set_level(Level l) {
  spdlog::logger& lg = logger();
  std::lock_guard lock(state().mu);
  state().level = l;
  lg.set_level(to_spd(l));
}

Level level() {
  std::lock_guard lock(state().mu);
  return state().level;
}

bool enabled(Level l) {
  return l != Level::off && l >= level();
}

std::optional<Level> parse_level(std::string_view name) {
  if (name == "trace") return Level::trace;
  if (name == "debug") return Level::debug;
  if (name == "info") return Level::info;
  if (name == "warn" || name == "warning") return Level::warn;
  if (name == "error") return Level::error;
  if (name == "off") return Level::off;
  return std::nullopt;
}

void set_rank(int r, int world) {
  logger();
  State& s = state();
  std::lock_guard lock(s.mu);
  s.rank = r;
  s.world = world;
  apply_pattern(s);
}

int rank() {
  logger();
  std::lock_guard lock(state().mu);
  return state().rank;
}

int world_size() {
  logger();
  std::lock_guard lock(state().mu);
  return state().world;
}

void flush() {
  logger().flush();
}

}  // namespace vpmoe::log
