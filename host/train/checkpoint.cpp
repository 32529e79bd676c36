#include "train/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <nlohmann/json.hpp>
#include <sstream>

#include "data/tokenizer_json.h"
#include "io/durable.h"
#include "train/checkpoint_integrity.h"
#include "train/checkpoint_shards.h"
#include "train/safetensors.h"
#include "vpmoe/error.h"
#include "vpmoe/log.h"
#include "vpmoe/version.h"

namespace fs = std::filesystem;

namespace vpmoe::host::train {
namespace {

std::string step_name(std::int64_t iteration) {
  std::ostringstream os;
  os << "step_" << std::setw(8) << std::setfill('0') << iteration;
  return os.str();
}

// Global shapes: a checkpoint of another ep size still fits.
// The loss plugin's state from state.json: restored when the checkpoint was written with the
// same loss; otherwise (another loss, or a checkpoint from before [plugins] loss) the loss
// starts from its initial state, with a warning when it has state to lose.
void load_loss_state(const nlohmann::json& j, Loss& loss) {
  const nlohmann::json l = j.value("loss", nlohmann::json::object());
  const std::string saved = l.value("name", std::string());
  if (saved == loss.spec_name()) {
    loss.load_state(l.value("state", std::map<std::string, double>{}));
    return;
  }
  if (!loss.state().empty())
    log::warn("checkpoint: its loss is " + (saved.empty() ? std::string("not recorded") : saved) +
              ", this run's " + loss.spec_name() + ": " + loss.spec_name() +
              " starts from its initial state");
}

nlohmann::json shapes_of(model::GptModel& m, int ep) {
  nlohmann::json j = nlohmann::json::object();
  for (Parameter* p : m.parameters()) j[p->name] = global_shape(*p, ep);
  return j;
}

// The parallel state of the parts, or one process.
const ParallelState& state_of(const CheckpointParts& p) {
  static const std::shared_ptr<ParallelState> one = single_process_state();
  return p.parallel ? *p.parallel : *one;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("checkpoint: cannot open " + path);
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

// Writes text to path (created or truncated) and fsyncs it, through io::write_all like the
// tensors, so that every byte of a checkpoint meets the same disk-full handling (and test
// hook). Returns the digest of what was written.
data::FileHash write_durably(const std::string& path, const std::string& text) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw Error(path + ": cannot create: " + std::strerror(errno));
  try {
    io::write_all(fd, text.data(), text.size(), path);
    io::sync_fd(fd, path);
  } catch (...) {
    ::close(fd);
    throw;
  }
  if (::close(fd) != 0) throw Error(path + ": close failed: " + std::strerror(errno));
  data::Sha256 sha;
  sha.update(text.data(), text.size());
  return sha.finish();
}

// `latest` replaced through a temporary: a failed write leaves the old one as it was.
void write_latest(const fs::path& dir, const std::string& name) {
  const std::string path = (dir / "latest").string(),
                    tmp = path + ".tmp-" + std::to_string(::getpid());
  try {
    write_durably(tmp, name + "\n");
    io::rename_durably(tmp, path);
  } catch (...) {
    std::error_code ec;
    fs::remove(tmp, ec);
    throw;
  }
}

// "what differs" between the checkpoint's parameter shapes and the model's, a few lines.
std::string shape_differences(const nlohmann::json& saved, const nlohmann::json& mine) {
  std::string out;
  int n = 0;
  auto add = [&](const std::string& line) {
    if (n++ < 6) out += "\n  " + line;
  };
  for (const auto& [name, shape] : saved.items()) {
    if (!mine.contains(name))
      add(name + " " + shape.dump() + " is in the checkpoint, not in this model");
    else if (mine[name] != shape)
      add(name + ": checkpoint " + shape.dump() + ", this model " + mine[name].dump());
  }
  for (const auto& [name, shape] : mine.items())
    if (!saved.contains(name))
      add(name + " " + shape.dump() + " is in this model, not in the checkpoint");
  if (n > 6) out += "\n  ... and " + std::to_string(n - 6) + " more";
  return out;
}

std::string optimizer_file(int rank) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "optimizer_rank%05d.safetensors", rank);
  return buf;
}

bool is_optimizer_file(const std::string& f) {
  return f.rfind("optimizer", 0) == 0 && f.size() > 12 &&
         f.compare(f.size() - 12, 12, ".safetensors") == 0;
}

// Every rank's optimizer files (or an older checkpoint's optimizer.safetensors), merged: the
// optimizers take their own parts of them, whatever the layout that wrote them. With a listing
// only the listed (verified) files are read; a stray file in the directory is not.
void load_optimizer(const std::string& dir, const std::optional<FileDigests>& listed,
                    OptimizerSet& opt) {
  TensorMap saved;
  std::vector<std::string> files;
  if (listed) {
    for (const auto& [f, h] : *listed)
      if (is_optimizer_file(f)) files.push_back((fs::path(dir) / f).string());
  } else {
    for (const auto& e : fs::directory_iterator(dir))
      if (is_optimizer_file(e.path().filename().string())) files.push_back(e.path().string());
  }
  if (files.empty())
    throw Error(dir + ": expected optimizer_rank<N>.safetensors files (the optimizer state)");
  for (const std::string& f : files)
    for (auto& [k, t] : read_safetensors(f)) saved[k] = t;
  try {
    opt.load_state(saved);
  } catch (const Error& e) {
    throw Error(dir + ": " + e.what());
  }
}

}  // namespace

std::string save_checkpoint(const std::string& dir, const CheckpointParts& p) {
  const TrainerCounters c = p.trainer->counters();
  const std::string name = step_name(c.iteration);
  const fs::path final_dir = fs::path(dir) / name, tmp = fs::path(dir) / (name + ".tmp");
  const ParallelState& ps = state_of(p);
  const ParallelLayout& L = ps.layout;
  const bool root = L.rank == 0;
  if (root) {
    fs::create_directories(dir);
    fs::remove_all(tmp);
    fs::create_directories(tmp);
  }
  ps.world->barrier();
  if (!fs::is_directory(tmp))
    throw Error("checkpoint: " + tmp.string() + ", made by rank 0, is not visible from rank " +
                std::to_string(L.rank) +
                ": [checkpoint] dir must be on a filesystem every rank shares");

  // Expert stacks: in the shared file with ep 1, else one file per ep rank, written by that
  // rank's first replica.
  const bool split = L.ep > 1;
  const bool expert_writer = L.expert_dp_rank() == 0 && L.tp_rank() == 0;
  TensorMap weights, expert_weights, opt;
  FileDigests written;  // this rank's files
  for (Parameter* q : p.model->parameters())
    (split && q->sharding == Sharding::expert ? expert_weights : weights)[q->name] = q->value;
  for (auto& [k, t] : p.model->state()) weights["state/" + k] = t;
  // Optimizer state (in the whole model's coordinates), each piece written once: a distributed
  // optimizer's pieces by their owners; else replicated state by rank 0 and an ep rank's
  // expert state by its first replica.
  const bool distributed = p.optimizer->distributed();
  for (auto& [k, t] : p.optimizer->state())
    if (distributed || (p.optimizer->expert_state(k) ? expert_writer : root)) opt[k] = t;
  const std::map<std::string, std::string> meta{{"format", "vpmoe"},
                                                {"iteration", std::to_string(c.iteration)}};
  try {
    if (root)
      written["model.safetensors"] =
          write_safetensors((tmp / "model.safetensors").string(), weights, meta);
    if (split && expert_writer) {
      const std::string f = experts_file("model", L.ep_rank());
      written[f] = write_safetensors((tmp / f).string(), expert_weights, meta);
    }
    if (!opt.empty())
      written[optimizer_file(L.rank)] =
          write_safetensors((tmp / optimizer_file(L.rank)).string(), opt);
  } catch (...) {
    // A full disk: what was written of this step goes, so the space is back for the next
    // try. The previous checkpoint and latest were never touched.
    std::error_code ec;
    if (root) fs::remove_all(tmp, ec);
    throw;
  }
  // Rank 0 gets every rank's digests for state.json; each sends them after its files are
  // written and fsynced, so this also stands for the barrier before the rename.
  written = gather_digests(*ps.world, written);
  if (!root) {
    ps.world->barrier();  // rank 0 has renamed the directory and moved latest
    return final_dir.string();
  }

  nlohmann::json j;
  j["format"] = "vpmoe-checkpoint";
  j["format_version"] = kCheckpointFormatVersion;
  j["iteration"] = c.iteration;
  j["updates"] = c.updates;
  j["skipped_total"] = c.skipped_total;
  j["skipped_in_a_row"] = c.skipped_in_a_row;
  j["rerun_transient"] = c.rerun_transient;
  j["skipped_nonfinite"] = c.skipped_nonfinite;
  j["skipped_spiky"] = c.skipped_spiky;
  j["spike_reference"] = {{"steps", c.spike_seen}, {"max_loss", c.spike_reference}};
  // The loss plugin's state (the running mean's sum and count): doubles, which the JSON keeps
  // bit for bit (shortest round-trip form).
  j["loss"] = {{"name", p.trainer->loss().spec_name()}, {"state", p.trainer->loss().state()}};
  j["data_position"] = p.data ? p.data->position() : 0;
  j["micro_batches"] = p.micro_batches;
  j["consumed_samples"] = c.iteration * p.global_batch;
  j["seed"] = p.config->run.seed;
  j["seq_length"] = p.config->attention.max_sequence_length;
  j["global_batch_size"] = p.config->train.global_batch_size;
  j["tokenizer"] = data::tokenizer_json(p.tokenizer);
  j["parameters"] = shapes_of(*p.model, L.ep);
  j["parallel"] = {
      {"world", L.world}, {"tp", L.tp}, {"dp", L.dp()}, {"ep", L.ep}, {"expert_dp", L.expert_dp()}};
  j["build"] = {{"version", VPMOE_VERSION}, {"tag", VPMOE_BUILD_TAG}};
  try {
    nlohmann::json configs = nlohmann::json::array();
    auto copy_config = [&](const std::string& from, const std::string& as) {
      written[as] = write_durably((tmp / as).string(), read_text(from));
      configs.push_back(as);
    };
    if (fs::exists(p.config->path))  // a configuration parsed from a string has no file
      copy_config(p.config->path, "run.toml");
    if (!p.config->run.model_config.empty()) {
      const fs::path mc = p.config->run.model_config;  // resolved by load_config
      copy_config(mc.string(), mc.filename().string());
    }
    j["config_files"] = configs;
    j["files"] = files_json(written);  // every file but state.json itself
    write_durably((tmp / "state.json").string(), j.dump(2) + "\n");
    io::sync_path(tmp.string());
  } catch (...) {
    std::error_code ec;
    fs::remove_all(tmp, ec);
    throw;
  }
  fs::remove_all(final_dir);  // a checkpoint of the same step from an earlier, resumed run
  io::rename_durably(tmp.string(), final_dir.string());
  write_latest(dir, name);
  ps.world->barrier();
  return final_dir.string();
}

std::string resolve_checkpoint(const std::string& path) {
  if (fs::exists(fs::path(path) / "state.json")) return path;
  const fs::path latest = fs::path(path) / "latest";
  if (fs::exists(latest)) {
    std::string name = read_text(latest.string());
    while (!name.empty() && (name.back() == '\n' || name.back() == ' ')) name.pop_back();
    const fs::path step = fs::path(path) / name;
    if (!fs::exists(step / "state.json"))
      throw Error("checkpoint: " + latest.string() + " names " + name + ", but " +
                  (step / "state.json").string() + " does not exist");
    return step.string();
  }
  throw Error("checkpoint: " + path +
              " is neither a checkpoint (no state.json) nor a checkpoints directory (no latest)");
}

void load_model_weights(const std::string& dir, const nlohmann::json& j,
                        const std::optional<FileDigests>& listed, model::GptModel& m,
                        const ParallelLayout& L) {
  const std::string diff = shape_differences(j.at("parameters"), shapes_of(m, L.ep));
  if (!diff.empty()) throw Error("checkpoint " + dir + " does not fit this model:" + diff);
  const int saved_ep = j.contains("parallel") ? j["parallel"].value("ep", 1) : 1;
  // Expert rows come from the saved ep files that overlap this rank's experts (the shared
  // file when it was saved with ep 1), each file read once.
  std::map<std::string, TensorMap> files;
  auto file = [&](const std::string& f) -> const TensorMap& {
    auto it = files.find(f);
    if (it == files.end()) {
      if (listed && !listed->count(f))
        throw Error((fs::path(dir) / f).string() +
                    ": not listed in state.json's files, so it cannot be verified");
      it = files.emplace(f, read_safetensors((fs::path(dir) / f).string())).first;
    }
    return it->second;
  };
  auto saved = [&](const std::string& stem, int k, const std::string& key) {
    const std::string f = saved_ep == 1 ? stem + ".safetensors" : experts_file(stem, k);
    const TensorMap& tensors = file(f);
    const auto it = tensors.find(key);
    if (it == tensors.end())
      throw Error((fs::path(dir) / f).string() + ": expected " + key + ", which is not there");
    return it->second;
  };
  auto expert_rows = [&](const std::string& stem, const std::string& key, const Tensor& mine) {
    const std::int64_t first = std::int64_t(L.ep_rank()) * mine.size(0);
    return gather_rows(
        first, mine.size(0), saved_ep, [&](int k) { return saved(stem, k, key); },
        dir + ": " + key);
  };

  const std::string model_path = (fs::path(dir) / "model.safetensors").string();
  const TensorMap& weights = file("model.safetensors");
  std::map<std::string, Tensor> state;
  for (auto& [k, v] : weights)
    if (k.rfind("state/", 0) == 0) state[k.substr(6)] = v;
  for (Parameter* q : m.parameters()) {
    Tensor t;
    if (q->sharding == Sharding::expert) {
      t = expert_rows("model", q->name, q->value);
    } else {
      const auto it = weights.find(q->name);
      if (it != weights.end()) t = it->second;
    }
    if (!t.defined() || t.dtype() != DType::f32)
      throw Error(model_path + ": expected " + q->name + " as F32 " + shape_str(q->value.shape()));
    q->value.copy_from(t);
    q->sync_compute();
  }
  m.load_state(state);
}

std::string load_checkpoint(const std::string& path, CheckpointParts& p) {
  const std::string dir = resolve_checkpoint(path);
  const nlohmann::json j = read_checkpoint_state(dir);
  const auto& t = j.at("tokenizer");
  std::string diff;
  if (t.value("name", "") != p.tokenizer.name)
    diff += "\n  tokenizer: checkpoint " + t.value("name", "") + ", this run " + p.tokenizer.name;
  if (t.value("asset_sha256", "") != p.tokenizer.asset_sha256)
    diff += "\n  tokenizer asset sha256: checkpoint " + t.value("asset_sha256", "") +
            ", this run " + p.tokenizer.asset_sha256;
  if (t.value("vocab_size", std::int64_t(0)) != p.tokenizer.vocab_size)
    diff += "\n  vocabulary: checkpoint " + std::to_string(t.value("vocab_size", 0)) +
            ", this run " + std::to_string(p.tokenizer.vocab_size);
  // The sampler's order is a function of these: another value would not continue the run.
  const auto same = [&](const char* key, std::int64_t mine, const char* what) {
    if (j.value(key, std::int64_t(-1)) != mine)
      diff += std::string("\n  ") + what + ": checkpoint " + j.value(key, nlohmann::json()).dump() +
              ", this run " + std::to_string(mine);
  };
  same("seed", std::int64_t(p.config->run.seed), "[run] seed");
  same("seq_length", p.config->attention.max_sequence_length, "[attention] max_sequence_length");
  same("global_batch_size", p.config->train.global_batch_size, "[train] global_batch_size");
  const ParallelLayout& L = state_of(p).layout;
  diff += shape_differences(j.at("parameters"), shapes_of(*p.model, L.ep));
  if (!diff.empty()) throw Error("checkpoint " + dir + " does not fit this run:" + diff);

  // Every listed file is checked (the work shared over the ranks) before any weight is read.
  const std::optional<FileDigests> listed = listed_files(j, dir);
  if (listed)
    verify_files(dir, *listed, *state_of(p).world);
  else if (L.rank == 0)
    log::warn("checkpoint " + dir +
              ": state.json lists no file digests (written before they were recorded); its "
              "files cannot be verified");

  load_model_weights(dir, j, listed, *p.model, L);
  load_optimizer(dir, listed, *p.optimizer);
  TrainerCounters c;
  c.iteration = j.at("iteration").get<std::int64_t>();
  c.updates = j.at("updates").get<std::int64_t>();
  c.skipped_total = j.at("skipped_total").get<std::int64_t>();
  c.skipped_in_a_row = j.at("skipped_in_a_row").get<int>();
  // Checkpoints from before the re-run have none of these: zero, and a fresh spike reference.
  c.rerun_transient = j.value("rerun_transient", std::int64_t(0));
  c.skipped_nonfinite = j.value("skipped_nonfinite", std::int64_t(0));
  c.skipped_spiky = j.value("skipped_spiky", std::int64_t(0));
  const nlohmann::json spike = j.value("spike_reference", nlohmann::json::object());
  c.spike_seen = spike.value("steps", std::int64_t(0));
  c.spike_reference = spike.value("max_loss", 0.0);
  p.trainer->set_counters(c);
  load_loss_state(j, p.trainer->loss());
  // Positions count micro-batches: a layout with another count per step continues at the same
  // step of the global sample order.
  const std::uint64_t saved_k = j.value("micro_batches", std::uint64_t(p.micro_batches));
  if (p.data)
    p.data->seek(j.at("data_position").get<std::uint64_t>() / saved_k *
                 std::uint64_t(p.micro_batches));
  return dir;
}

}  // namespace vpmoe::host::train
