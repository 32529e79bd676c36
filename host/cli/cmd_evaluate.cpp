// vpmoe-host evaluate --checkpoint DIR --data PREFIX...: the loss-masked mean cross-entropy
// and perplexity of a checkpoint on preprocessed datasets, overall, per span and per dataset,
// as JSON (infer/evaluate.h).
#include <iostream>

#include "data/atomic_file.h"
#include "infer/evaluate.h"
#include "vpmoe/device.h"
#include "vpmoe/log.h"

#include "cli/cli.h"
#include "cli/infer_options.h"

namespace vpmoe::host::cli {

int run_evaluate(const std::vector<std::string>& args, Common& common) {
  po::options_description desc("evaluate options");
  InferArgs ia;
  infer::EvalOptions eo;
  std::string output;
  add_infer_options(desc, ia);
  desc.add_options()("data", po::value(&eo.data)->multitoken()->value_name("PREFIX..."),
                     "datasets (PREFIX.bin/.idx, or PREFIX_tokens with PREFIX_lossmask and "
                     "PREFIX_span), each evaluated whole")(
      "output,o", po::value(&output)->value_name("FILE.json"),
      "write the JSON here (default: stdout)")(
      "batch-size", po::value(&eo.batch_size)->value_name("N"),
      "sequences per forward (default: [train] micro_batch_size)")(
      "max-batches", po::value(&eo.max_batches)->value_name("N"),
      "only the first N batches of each dataset (default: all of one epoch)");
  add_common_options(desc, common);
  parse_command_args(args, desc, common);
  if (common.help) {
    std::cout << "Usage: vpmoe-host evaluate --checkpoint DIR --data PREFIX... [--output "
                 "FILE.json] [--batch-size N] [--max-batches N] [--config RUN.toml] [--device "
                 "D]\n\n"
              << desc
              << "\nEach dataset is read as training's validation reads it: windows of "
                 "max_sequence_length + 1 tokens,\none epoch, the validation order. loss = mean "
                 "CE over the loss-masked labels, perplexity = exp(loss).\n";
    return kExitOk;
  }
  const infer::InferOptions o = infer_options(ia, common, "evaluate");
  if (eo.data.empty()) throw UsageError("evaluate: --data PREFIX... is required");
  if (eo.batch_size < 0) throw UsageError("evaluate: --batch-size must be >= 1");
  if (eo.max_batches < 0) throw UsageError("evaluate: --max-batches must be >= 1");
  infer::LoadedModel m = infer::load_for_inference(o);
  log::info("evaluate: " + m.dir + " (step " + std::to_string(m.step) + ") on " +
            device_name(m.device) + (m.bf16 ? ", bf16 compute" : ", fp32"));
  const std::string text = infer::eval_json(m, infer::evaluate(m, eo)).dump(2) + "\n";
  if (output.empty()) {
    std::cout << text << std::flush;
  } else {
    data::AtomicFile f(output);
    f.out() << text;
    f.commit();
    log::info("evaluate: -> " + output);
  }
  return kExitOk;
}

}  // namespace vpmoe::host::cli
