#pragma once
// The log every part writes to: one line per message on stderr, prefixed with the rank, e.g.
// "[vpmoe r0/8] [info] loaded 9 plugins". The rank comes from RANK/WORLD_SIZE or
// OMPI_COMM_WORLD_RANK/OMPI_COMM_WORLD_SIZE when set, else 0/1, until set_rank says otherwise.
// No logging library leaks into the SDK: plugins only see these functions.
#include <optional>
#include <string_view>

namespace vpmoe::log {

enum class Level { trace, debug, info, warn, error, off };

void trace(std::string_view msg);
void debug(std::string_view msg);
void info(std::string_view msg);
void warn(std::string_view msg);
void error(std::string_view msg);

// Messages below level are dropped (default info).
void set_level(Level level);
Level level();
bool enabled(Level level);
// "trace" | "debug" | "info" | "warn" | "error" | "off"; nullopt for anything else.
std::optional<Level> parse_level(std::string_view name);

// Sets the prefix's rank; the host calls it once the process groups exist.
void set_rank(int rank, int world);
int rank();
int world_size();

void flush();

}  // namespace vpmoe::log
