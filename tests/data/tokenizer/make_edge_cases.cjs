// Writes parity_edge_cases.jsonl: hand-picked pre-tokenizer corner cases encoded by the npm
// tiktoken@1.0.22 package (o200k_base ranks and pattern + the Harmony specials), the same
// reference as the shared parity file. Usage (from a folder where `npm install tiktoken@1.0.22`
// was run): NODE_PATH=$PWD/node_modules node make_edge_cases.cjs OUT.jsonl
const fs = require("fs");
const { Tiktoken } = require("tiktoken/lite");
const base = require("tiktoken/encoders/o200k_base.json");

const specials = { ...base.special_tokens, "<|startoftext|>": 199998, "<|endoftext|>": 199999,
  "<|return|>": 200002, "<|constrain|>": 200003, "<|channel|>": 200005, "<|start|>": 200006,
  "<|end|>": 200007, "<|message|>": 200008, "<|call|>": 200012 };
for (let i = 200000; i < 201088; i++) {
  if (![200002, 200003, 200005, 200006, 200007, 200008, 200012].includes(i))
    specials[`<|reserved_${i}|>`] = i;
}
const enc = new Tiktoken(base.bpe_ranks, specials, base.pat_str);

const texts = [
  // contractions, case-insensitive, incl. U+017F (long s) which folds to s
  "he's HE'S it'Ll we'RE they'Ve I'M you'D o'ſ 'ſ", "don't'll", "''s", "x'", "'",
  // word classes: title case, modifier letters, marks, other letters
  "ABCdEF", "ǅungla ǅUNGLA", "ʰello ʰELLO", "\u0301abc a\u0301 A\u0301B \u0301\u0301 1\u0301",
  "中文abc 中文ABC", "İstanbul ǈ", "ﬁnance Ǆ", "ÀÉÎõü ÀÉÎÕÜ",
  // numbers: all of \p{N}
  "１２３４５ Ⅻ ½¾ 12345678 ١٢٣٤", "a1b22c333d4444",
  // symbols and line breaks
  "x.\n/y", "// comment\n/", " ...\r\n", "a/\n\n/b", " !!\n\n\r", "<<>>", " <| x |>",
  // whitespace: runs, breaks, the end of text, White_Space beyond ASCII
  "a   b", "a \t\n  b", " \n\n x", "\r\n\r\n", "abc   ", "   ", "\t", "\n", " ",
  "\u3000\u3000a", "\u0085a", "\u00a0 a", "\u001c a", "a\u2028b\u2029c", "x \u200b y",
  "  \n  x", "a\n \n b", "\n\n\n", " \r", "end \n",
  // specials as text
  "<|endoftext|>", "<|start|>user<|message|>hi<|end|>", "<|endofprompt|><|reserved_200018|>",
  "<|<|end|>", "<|end", "|>", "<|reserved_201088|>", "<|reserved_199999|>",
];
const out = [];
for (const text of texts) {
  out.push({ src: "edge", mode: "ordinary", text, ids: Array.from(enc.encode_ordinary(text)) });
  out.push({ src: "edge", mode: "all", text, ids: Array.from(enc.encode(text, "all")) });
}
fs.writeFileSync(process.argv[2], out.map((o) => JSON.stringify(o)).join("\n") + "\n");
console.log(`${out.length} cases`);
