// Registers tokenizer.o200k_harmony. The asset path comes from run.toml [tokenizer] path, and
// the padded vocabulary there must equal 201,088.
#include <memory>

#include "o200k_tokenizer.h"
#include "vpmoe/config.h"
#include "vpmoe/plugin.h"

namespace {

std::unique_ptr<vpmoe::Tokenizer> build(const vpmoe::BuildArgs& args) {
  vpmoe::Config defaults;
  const vpmoe::Config& cfg = args.config ? *args.config : defaults;
  if (cfg.tokenizer.vocab_size != vpmoe::o200k::kVocabSize)
    cfg.fail("tokenizer.vocab_size",
             "tokenizer.o200k_harmony has a padded vocabulary of 201088, "
             "found " +
                 std::to_string(cfg.tokenizer.vocab_size));
  return vpmoe::o200k::O200kHarmony::load(cfg.tokenizer.path);
}

void register_o200k(vpmoe::Registry& reg) {
  reg.add<vpmoe::Tokenizer>("tokenizer.o200k_harmony", build);
}

}  // namespace

VPMOE_PLUGIN("o200k_harmony", "0.1.0", register_o200k)
