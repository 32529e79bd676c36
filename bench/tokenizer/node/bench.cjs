// node bench.cjs CORPUS [REPS]: o200k ordinary encoding of the whole corpus on one thread with
// native tiktoken (@anysphere/tiktoken-node, the Rust core through N-API) and with the
// WebAssembly build (npm tiktoken). Prints JSON lines like bench_tokenizer.
const fs = require("fs");
const native = require("@anysphere/tiktoken-node");
const wasm = require("tiktoken");

const text = fs.readFileSync(process.argv[2], "utf8");
const reps = Number(process.argv[3] || 5);
const mb = Buffer.byteLength(text) / 1e6;
const now = () => Number(process.hrtime.bigint()) / 1e9;

async function measure(name, load, encode) {
  const t0 = now();
  const enc = await load();
  const loadMs = (now() - t0) * 1e3;
  let first = 0, best = 0, tokens = 0;
  for (let r = 0; r <= reps; r++) {
    const t = now();
    tokens = (await encode(enc)).length;
    const rate = mb / (now() - t);
    if (r === 0) first = rate; else best = Math.max(best, rate);
  }
  console.log(JSON.stringify({ what: name, load_ms: +loadMs.toFixed(1), tokens,
    cold_mb_s: +first.toFixed(2), best_mb_s: +best.toFixed(2) }));
}

(async () => {
  const { SupportedEncoding, SpecialTokenAction } = native;
  // NormalText: special-token text is encoded as ordinary text (encode_ordinary).
  await measure("tiktoken-node", () => native.getTokenizer(),
    (t) => t.encode(text, SupportedEncoding.O200k, SpecialTokenAction.NormalText, {}));
  await measure("tiktoken-wasm", () => wasm.get_encoding("o200k_base"),
    (e) => e.encode_ordinary(text));
})();
