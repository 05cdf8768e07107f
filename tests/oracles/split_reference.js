// Reference regex matches for tests/engine/tokenizer_regex_reference_test.cpp: the
// Rust tokenizers library (npm `tokenizers`) runs each pattern as a Split
// pre-tokenizer (Oniguruma) over each text and reports the matched pieces.
//   node split_reference.js <patterns.json> <corpus.jsonl>
// patterns.json: a JSON array of patterns; corpus.jsonl: one JSON string a
// line. Writes one JSON line per pattern: {"pieces": [[pieces of line 1],
// [pieces of line 2], ...]}, or {"error": "..."} when the library rejects it.
'use strict';
const fs = require('fs');
const path = require('path');
const { Tokenizer } = require(path.join(__dirname, 'node_modules', 'tokenizers'));

function splitter(pattern) {
  const spec = {
    version: '1.0', added_tokens: [], normalizer: null, post_processor: null, decoder: null,
    pre_tokenizer: { type: 'Split', pattern: { Regex: pattern }, behavior: 'Removed', invert: true },
    model: { type: 'BPE', vocab: {}, merges: [] },
  };
  return Tokenizer.fromString(JSON.stringify(spec)).getPreTokenizer();
}

const patterns = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const texts = fs.readFileSync(process.argv[3], 'utf8').split('\n').filter((l) => l.length > 0).map((l) => JSON.parse(l));
const out = patterns.map((pattern) => {
  let pre;
  try {
    pre = splitter(pattern);
  } catch (error) {
    return JSON.stringify({ error: String(error.message || error) });
  }
  return JSON.stringify({ pieces: texts.map((text) => pre.preTokenizeString(text).map((p) => p[0])) });
});
process.stdout.write(out.join('\n') + '\n');
