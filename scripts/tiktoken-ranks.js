#!/usr/bin/env node
// node scripts/tiktoken-ranks.js ENCODER.json OUT.tiktoken
// Turns the `bpe_ranks` string of an npm tiktoken encoder JSON (lines "<tag> <offset> <b64>...",
// the tokens of a line having consecutive ranks from <offset>) into the .tiktoken text format:
// one "<b64> <rank>" line per token, in rank order.
"use strict";
const fs = require("fs");

const [src, dst] = process.argv.slice(2);
if (!src || !dst) {
  console.error("usage: node tiktoken-ranks.js ENCODER.json OUT.tiktoken");
  process.exit(2);
}
const ranks = JSON.parse(fs.readFileSync(src, "utf8")).bpe_ranks;
if (typeof ranks !== "string") {
  console.error(`${src}: expected a string field "bpe_ranks"`);
  process.exit(1);
}
const byRank = [];
for (const line of ranks.split("\n")) {
  if (!line) continue;
  const [, offsetStr, ...tokens] = line.split(" ");
  const offset = Number.parseInt(offsetStr, 10);
  if (!Number.isInteger(offset) || offset < 0) {
    console.error(`${src}: bad rank offset "${offsetStr}"`);
    process.exit(1);
  }
  tokens.forEach((tok, i) => {
    if (byRank[offset + i] !== undefined) {
      console.error(`${src}: rank ${offset + i} given twice`);
      process.exit(1);
    }
    byRank[offset + i] = tok;
  });
}
const out = [];
for (let r = 0; r < byRank.length; r++) {
  if (byRank[r] === undefined) {
    console.error(`${src}: rank ${r} is missing`);
    process.exit(1);
  }
  out.push(`${byRank[r]} ${r}\n`);
}
fs.writeFileSync(dst, out.join(""));
