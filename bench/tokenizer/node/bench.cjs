// node bench.cjs CORPUS [REPS]: o200k ordinary encoding of the whole corpus on one thread with
// native tiktoken (@anysphere/tiktoken-node, the Rust core through N-API) and with the
// WebAssembly build (npm tiktoken). Prints JSON lines like bench_tokenizer, then the token
// count of the corpus split into documents as bench_tokenizer's batch mode splits it.
// (tiktoken-node 0.2.1 has no encode_ordinary: encode with SpecialTokenAction.NormalText is it.)
const fs = require("fs");
const native = require("@anysphere/tiktoken-node");
const wasm = require("tiktoken");

const text = fs.readFileSync(process.argv[2], "utf8");
const reps = Math.max(1, Number(process.argv[3] || 5));
const mb = Buffer.byteLength(text) / 1e6;
const now = () => Number(process.hrtime.bigint()) / 1e9;
const { SupportedEncoding, SpecialTokenAction } = native;
const nativeEncode = (t, s) => t.encode(s, SupportedEncoding.O200k, SpecialTokenAction.NormalText, {});

async function measure(name, load, encode) {
  const t0 = now();
  const enc = await load();
  const loadMs = (now() - t0) * 1e3;
  let first = 0, tokens = 0;
  const rates = [];
  for (let r = 0; r <= reps; r++) {
    const t = now();
    tokens = (await encode(enc)).length;
    const rate = mb / (now() - t);
    if (r === 0) first = rate; else rates.push(rate);
  }
  rates.sort((a, b) => a - b);
  console.log(JSON.stringify({ what: name, load_ms: +loadMs.toFixed(1), tokens,
    cold_mb_s: +first.toFixed(2), best_mb_s: +rates[rates.length - 1].toFixed(2),
    median_mb_s: +rates[rates.length >> 1].toFixed(2) }));
  return enc;
}

(async () => {
  const tok = await measure("tiktoken-node", () => native.getTokenizer(), (t) => nativeEncode(t, text));
  const enc = await measure("tiktoken-wasm", () => wasm.get_encoding("o200k_base"),
    (e) => e.encode_ordinary(text));
  enc.free();
  // Documents end after each "\n\n" (ASCII, so the same cut points as on the UTF-8 bytes).
  let documents = 0, tokens = 0;
  for (let p = 0; p < text.length; documents++) {
    const e = text.indexOf("\n\n", p);
    const end = e < 0 ? text.length : e + 2;
    tokens += (await nativeEncode(tok, text.slice(p, end))).length;
    p = end;
  }
  console.log(JSON.stringify({ what: "documents", documents, tokens }));
})();
