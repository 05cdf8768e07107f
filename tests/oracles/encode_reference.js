// Reference encodings for the real-tokenizer test (tests/engine/real_tokenizers_test.cpp):
// Hugging Face's Rust tokenizers library (npm `tokenizers`, Node bindings) encodes every
// line of a JSON-lines corpus with one tokenizer.json.
//   node encode_reference.js <tokenizer.json> <corpus.jsonl>
// Writes one JSON object a corpus line: "ids" (no special tokens added), "special" (the
// file's default special tokens added by its post-processor) and "decoded" (decode of
// "ids" skipping special tokens).
'use strict';
const fs = require('fs');
const path = require('path');
const { Tokenizer } = require(path.join(__dirname, 'node_modules', 'tokenizers'));

async function main() {
  const [tokenizerFile, corpusFile] = process.argv.slice(2);
  if (!tokenizerFile || !corpusFile) throw new Error('usage: encode_reference.js <tokenizer.json> <corpus.jsonl>');
  const tokenizer = Tokenizer.fromFile(tokenizerFile);
  const lines = fs.readFileSync(corpusFile, 'utf8').split('\n').filter((l) => l.length > 0).map((l) => JSON.parse(l));
  const plain = await tokenizer.encodeBatch(lines, { addSpecialTokens: false });
  const special = await tokenizer.encodeBatch(lines, { addSpecialTokens: true });
  const ids = plain.map((e) => e.getIds());
  const decoded = await tokenizer.decodeBatch(ids, true);
  const out = lines.map((_, i) => JSON.stringify({ ids: ids[i], special: special[i].getIds(), decoded: decoded[i] }));
  process.stdout.write(out.join('\n') + '\n');
}

main().catch((error) => {
  process.stderr.write(`encode_reference.js: ${error.message}\n`);
  process.exit(1);
});
