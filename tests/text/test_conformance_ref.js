// The reference side of the tokenizer conformance test and benchmark: GPT-2's
// encoder as ported to JavaScript in npm gpt-3-encoder 1.1.4 (data/gpt-3-encoder).
//
//   node test_conformance_ref.js DOCS [OUT]   DOCS holds documents separated by
//       NUL bytes; writes one line of space-separated ids per document to OUT
//       (default stdout).
//   node test_conformance_ref.js --bench DOCS  encodes every document, prints
//       {"bytes", "docs", "tokens", "seconds", "cpu_seconds"} (encoding only:
//       wall and CPU time of the encode calls).
//
// Each document is decoded as UTF-8 by TextDecoder, which replaces invalid
// bytes with U+FFFD (the test feeds only valid UTF-8, so no replacement
// happens) and, with ignoreBOM, keeps a leading U+FEFF as text.
'use strict';
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..', '..');
const dir = process.env.GPT3_ENCODER_DIR || path.join(root, 'data', 'gpt-3-encoder');
const { encode } = require(path.join(dir, 'Encoder.js'));

function documents(buf) {
  const docs = [];
  let start = 0;
  for (;;) {
    const z = buf.indexOf(0, start);
    const end = z < 0 ? buf.length : z;
    // a trailing NUL ends the last document; it does not start an empty one
    if (end > start || z >= 0) docs.push(buf.subarray(start, end));
    if (z < 0) break;
    start = z + 1;
  }
  return docs;
}

function main() {
  const args = process.argv.slice(2);
  const bench = args[0] === '--bench';
  if (bench) args.shift();
  if (args.length < 1) {
    process.stderr.write('usage: node test_conformance_ref.js [--bench] DOCS [OUT]\n');
    process.exit(2);
  }
  const buf = fs.readFileSync(args[0]);
  const docs = documents(buf);
  const dec = new TextDecoder('utf-8', { ignoreBOM: true });
  const texts = docs.map((d) => dec.decode(d));
  if (bench) {
    let tokens = 0;
    const t0 = process.hrtime.bigint();
    const c0 = process.cpuUsage();
    for (const s of texts) tokens += encode(s).length;
    const c1 = process.cpuUsage(c0);
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpu_seconds = (c1.user + c1.system) / 1e6;
    process.stdout.write(JSON.stringify({ bytes: buf.length - docs.length + 1, docs: docs.length, tokens,
                                          seconds, cpu_seconds }) + '\n');
    return;
  }
  const out = args[1] ? fs.openSync(args[1], 'w') : 1;
  let chunk = [];
  let size = 0;
  for (const s of texts) {
    const line = encode(s).join(' ') + '\n';
    chunk.push(line);
    size += line.length;
    if (size > (1 << 20)) {
      fs.writeSync(out, chunk.join(''));
      chunk = [];
      size = 0;
    }
  }
  fs.writeSync(out, chunk.join(''));
  if (args[1]) fs.closeSync(out);
}

main();
