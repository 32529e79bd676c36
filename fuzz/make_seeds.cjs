// Writes the seed corpus of one fuzz target into a folder (scripts/fuzz.sh runs it once):
//   node fuzz/make_seeds.cjs TARGET DIR
// Every seed is a valid input of its kind, so the fuzzer starts from inputs that are read
// through to the end rather than refused at the first byte.
"use strict";
const fs = require("fs");
const path = require("path");
const [target, dir] = process.argv.slice(2);
const root = path.join(__dirname, "..");
let n = 0;
const put = (name, bytes) => fs.writeFileSync(path.join(dir, `${name}-${n++}`), bytes);

const u64 = (v) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); return b; };
const u32 = (v) => { const b = Buffer.alloc(4); b.writeUInt32LE(v); return b; };

if (target === "o200k_roundtrip") {
  // A mode byte then data: '0' and one reference text (every 40th case), or '1' and the ids of
  // one case as little-endian u32 (every 400th).
  const src = path.join(root, "tests/data/tokenizer/parity_o200k_harmony.jsonl");
  const cases = fs.readFileSync(src, "utf8").split("\n").filter(Boolean).map(JSON.parse);
  cases.forEach((c, i) => {
    if (i % 40 === 0) put("text", "0" + c.text);
    if (i % 400 === 0)
      put("ids", Buffer.concat([Buffer.from("1"), Buffer.from(Uint32Array.from(c.ids).buffer)]));
  });
} else if (target === "harmony_render") {
  // The options byte then the conversation: the Harmony golden cases (as the renderer's own
  // tests give them), the error cases, and a training conversation under the pipeline rules.
  const h = path.join(root, "tests/data/tokenizer/harmony");
  for (const c of JSON.parse(fs.readFileSync(path.join(h, "golden_cases.json"), "utf8"))) {
    const o = c.options || {};
    const bits = (o.training ? 1 : 0) | (o.completion ? 8 : 0) | (o.drop_analysis ? 16 : 0);
    put("golden", String.fromCharCode(bits) + JSON.stringify({ messages: c.messages }));
  }
  for (const c of JSON.parse(fs.readFileSync(path.join(h, "error_cases.json"), "utf8"))) {
    const text = c.text !== undefined ? c.text : JSON.stringify(c.conversation);
    put("error", String.fromCharCode(c.pipeline_rules ? 7 : 5) + text);
  }
  put("train", "\x07" + JSON.stringify({ messages: [
    { role: "system", content: "You are a calculator." },
    { role: "user", content: "What is 2 + 3?" },
    { role: "assistant", channel: "analysis", content: "2 + 3 = 5" },
    { role: "assistant", channel: "final", content: "5" },
  ] }));
} else if (target === "config") {
  // Every checked-in configuration (run files, vpMoE model files).
  for (const d of ["configs", "tests/data/config"])
    for (const f of fs.readdirSync(path.join(root, d)).filter((f) => f.endsWith(".toml")))
      put(f.replace(/\.toml$/, ""), fs.readFileSync(path.join(root, d, f)));
} else if (target === "indexed_dataset") {
  // u32 .idx size, the .idx, the .bin: a small dataset of each dtype, documents of 0..4
  // elements (spec/data.md §1).
  const sizes = { 1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 8, 7: 4, 8: 2 };
  for (const [code, esize] of Object.entries(sizes)) {
    const lengths = [3, 0, 4, 1];
    const idx = [Buffer.from("MMIDIDX\0\0", "binary"), u64(1), Buffer.from([Number(code)]),
                 u64(lengths.length), u64(lengths.length + 1)];
    let at = 0;
    idx.push(...lengths.map(u32));
    for (const l of lengths) { idx.push(u64(at)); at += l * esize; }
    for (let d = 0; d <= lengths.length; ++d) idx.push(u64(d));
    const bin = Buffer.alloc(at);
    for (let i = 0; i < at; ++i) bin[i] = (i * 37 + 11) & 0xff;
    const idxBytes = Buffer.concat(idx);
    put(`dtype${code}`, Buffer.concat([u32(idxBytes.length), idxBytes, bin]));
  }
} else if (target === "safetensors") {
  // Files as write_safetensors writes them: every dtype, a 0-d and an empty tensor, metadata.
  const file = (tensors, meta) => {
    const header = {};
    if (meta) header.__metadata__ = meta;
    let at = 0;
    const data = [];
    for (const [name, dtype, shape, esize] of tensors) {
      const bytes = shape.reduce((a, b) => a * b, 1) * esize;
      header[name] = { dtype, shape, data_offsets: [at, at + bytes] };
      const b = Buffer.alloc(bytes);
      for (let i = 0; i < bytes; ++i) b[i] = (i * 13 + at) & 0xff;
      data.push(b);
      at += bytes;
    }
    let text = JSON.stringify(header);
    text += " ".repeat((8 - (text.length % 8)) % 8);
    return Buffer.concat([u64(text.length), Buffer.from(text), ...data]);
  };
  put("all", file([["a.weight", "F32", [2, 3], 4], ["b", "BF16", [4], 2], ["c", "I32", [1], 4],
                   ["d", "I64", [2, 1], 8], ["e", "U8", [5], 1]], { step: "3", kind: "model" }));
  put("scalar", file([["s", "F32", [], 4], ["empty", "F32", [0, 7], 4]]));
  put("none", file([], {}));
} else {
  throw new Error(`unknown target ${target}`);
}
