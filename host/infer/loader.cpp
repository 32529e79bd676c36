#include "infer/loader.h"

#include <toml++/toml.h>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "data/tokenizer_json.h"
#include "registry/plugin_loader.h"
#include "train/checkpoint.h"
#include "train/checkpoint_integrity.h"
#include "train/model_builder.h"
#include "vpmoe/comm.h"
#include "vpmoe/error.h"
#include "vpmoe/log.h"
#include "vpmoe/parallel.h"

namespace fs = std::filesystem;

namespace vpmoe::host::infer {
namespace {

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw Error(p.string() + ": cannot open");
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

// run.toml names its model_config as the run's folder had it ("../x/vpmoe.toml"); the copy sits
// beside run.toml under its file name, so that name replaces the value (on its line, so that
// errors keep their line numbers).
std::string with_model_config_copy(std::string text, const fs::path& run) {
  toml::table t;
  try {
    t = toml::parse(text, run.string());
  } catch (const toml::parse_error&) {
    return text;  // parse_config reports it with the position
  }
  const toml::node* mc = t.at_path("run.model_config").node();
  if (!mc || !mc->is_string()) return text;
  const fs::path given = mc->as_string()->get();
  const std::string name = given.filename().string();
  if (given.empty() || given == name || !fs::exists(run.parent_path() / name)) return text;
  const auto& at = mc->source();
  std::size_t line_start = 0;
  for (std::uint32_t l = 1; l < at.begin.line && line_start != std::string::npos; ++l) {
    line_start = text.find('\n', line_start);
    if (line_start != std::string::npos) ++line_start;
  }
  const std::size_t b = line_start + at.begin.column - 1;
  if (line_start == std::string::npos || at.begin.line != at.end.line || b >= text.size() ||
      (text[b] != '"' && text[b] != '\''))
    throw Error(run.string() + ":" + std::to_string(at.begin.line) +
                ": [run] model_config: expected a one-line string naming the copy " + name +
                " beside it; give the configuration with --config");
  const std::size_t e = line_start + at.end.column - 1;
  return text.replace(b, e - b, "\"" + name + "\"");
}

Device pick_device(const Config& c, const std::string& asked) {
  const std::string d = asked.empty() ? c.run.device : asked;
  const std::string from = asked.empty() ? c.origin("run.device") + ": [run] device" : "--device";
  if (d == "cpu") return Device::cpu();
  if (d == "cuda") {
    if (!cuda_available())
      throw Error(from +
                  " is \"cuda\", but this build or machine has no CUDA device (--device "
                  "cpu runs on the CPU)");
    return Device::cuda(0);
  }
  if (d == "auto") return cuda_available() ? Device::cuda(0) : Device::cpu();
  throw Error(from + ": expected auto, cpu or cuda, found \"" + d + "\"");
}

// The tokenizer the configuration builds must be the one the checkpoint was trained with.
void check_tokenizer(const std::string& dir, const nlohmann::json& saved,
                     const TokenizerIdentity& mine) {
  const nlohmann::json have = data::tokenizer_json(mine);
  std::string diff;
  for (const char* k : {"name", "asset_sha256", "vocab_size"})
    if (saved.value(k, nlohmann::json()) != have[k])
      diff += std::string("\n  ") + k + ": checkpoint " + saved.value(k, nlohmann::json()).dump() +
              ", this configuration " + have[k].dump();
  if (!diff.empty())
    throw Error("checkpoint " + dir + ": its tokenizer differs from the configuration's:" + diff);
}

}  // namespace

std::int64_t LoadedModel::token_vocab() const {
  return std::min(model->vocab(), tokenizer->vocab_size());
}

Context LoadedModel::context(std::int64_t batch, std::int64_t seq_len) const {
  return Context{device, batch, seq_len, false, 1.0};
}

Config inference_config(const InferOptions& o, const std::string& dir) {
  if (!o.config.empty()) return load_config(o.config);
  const fs::path run = fs::path(dir) / "run.toml";
  if (!fs::exists(run))
    throw Error("checkpoint " + dir +
                ": has no run.toml copy (its run was not configured from a file); give the "
                "configuration with --config");
  return parse_config(with_model_config_copy(read_text(run), run), run.string());
}

namespace {

// The step directory, its state.json and configuration, after the files inference reads (the
// weights, the configuration copies) are checked; the optimizer state is neither read nor
// hashed.
struct Checked {
  std::string dir;
  nlohmann::json state;
  std::optional<train::FileDigests> listed;
  Config config;
};

Checked check(const InferOptions& o) {
  Checked c;
  c.dir = train::resolve_checkpoint(o.checkpoint);
  c.state = train::read_checkpoint_state(c.dir);
  c.listed = train::listed_files(c.state, c.dir);
  if (c.listed) {
    train::FileDigests used;
    for (const auto& [f, h] : *c.listed)
      if (f.rfind("optimizer", 0) != 0) used.emplace(f, h);
    train::verify_files(c.dir, used, *single_process_comm());
  } else {
    log::warn("checkpoint " + c.dir +
              ": state.json lists no file digests (written before they were recorded); its "
              "files cannot be verified");
  }
  c.config = inference_config(o, c.dir);
  return c;
}

LoadedModel build(const InferOptions& o, Checked c, const Registry& reg) {
  LoadedModel m;
  m.dir = c.dir;
  m.config = std::move(c.config);
  m.step = c.state.value("iteration", std::int64_t(0));
  m.device = pick_device(m.config, o.device);
  m.bf16 = m.device.is_cuda() && m.config.train.precision == "bf16";
  if (!reg.contains(m.config.plugins.tokenizer))
    throw Error(m.config.origin("plugins.tokenizer") +
                ": [plugins] tokenizer: no loaded plugin provides " + m.config.plugins.tokenizer);
  BuildArgs a;
  a.config = &m.config;
  m.tokenizer = reg.create<Tokenizer>(m.config.plugins.tokenizer, a);
  check_tokenizer(m.dir, c.state.value("tokenizer", nlohmann::json::object()),
                  m.tokenizer->identity());
  m.model = train::build_model(m.config, reg,
                               train::ModelTarget{m.device, m.bf16, m.config.run.seed, nullptr});
  train::load_model_weights(m.dir, c.state, c.listed, *m.model, single_process_state()->layout);
  return m;
}

}  // namespace

LoadedModel load_for_inference(const InferOptions& o) {
  Checked c = check(o);
  Registry reg;
  const PluginLoadReport report =
      load_plugins(plugin_search_path(o.plugin_paths, c.config.plugins.paths), reg);
  for (const auto& e : report.errors) log::warn("plugin " + e.file + ": " + e.message);
  return build(o, std::move(c), reg);
}

LoadedModel load_for_inference(const InferOptions& o, const Registry& reg) {
  return build(o, check(o), reg);
}

}  // namespace vpmoe::host::infer
