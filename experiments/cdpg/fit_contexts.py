#!/usr/bin/env python3
"""Keeps the contexts of a prompts file that fit the prior's window with room for the
continuation: tokens(context) + 1 (<|endoftext|>) + MAX_NEW <= N_POSITIONS. Counts tokens
with the prior's own tokenizer (`posterior tokenize --null`); rewrites FILE in place (one
rename) and says on stderr how many it dropped. A filtered file passes unchanged.
    fit_contexts.py POSTERIOR TOKENIZER_DIR N_POSITIONS MAX_NEW FILE   (.txt: a line each;
    .jsonl: a JSON string each)"""
import json
import os
import subprocess
import sys

posterior, tokenizer, n_positions, max_new, path = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
lines = open(path, encoding="utf-8").read().split("\n")
if lines and lines[-1] == "":
    lines.pop()
texts = [json.loads(l) if path.endswith(".jsonl") else l for l in lines]
out = subprocess.run([posterior, "tokenize", "--model", tokenizer, "--null"], input="\0".join(texts).encode(),
                     capture_output=True, check=True).stdout.decode().split("\n")
counts = [len(o.split()) for o in out[:len(texts)]]
room = n_positions - max_new - 1
keep = [l for l, c in zip(lines, counts) if c <= room]
if len(keep) < len(lines):
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        f.write("".join(l + "\n" for l in keep))
    os.replace(path + ".tmp", path)
    print("%s: %d of %d contexts kept (at most %d tokens: window %d, %d new tokens, <|endoftext|>)"
          % (path, len(keep), len(lines), room, n_positions, max_new), file=sys.stderr)
