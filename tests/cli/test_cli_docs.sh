#!/usr/bin/env bash
# docs/cli.md is true to the binary: each command's reference there is its --help text
# word for word, and every flag the binary accepts (with its old spelling) is documented.
set -euo pipefail
BIN=${POSTERIOR_BIN:-build/posterior}
/usr/bin/python3 - "$BIN" docs/cli.md <<'PY'
import re, subprocess, sys
bin_, doc = sys.argv[1], open(sys.argv[2]).read()
blocks = dict(re.findall(r"### `posterior ([a-z0-9 ]+)`\n\n```text\n(.*?)```\n", doc, re.S))
cmds = ["train", "sample", "logprob", "tokenize", "detokenize", "tokenizer train", "prepare", "data info",
        "data show", "score", "pep8", "pii", "target init", "target fit", "target estimate", "target sample",
        "tune", "pretrain", "pretrain eval", "eval", "report", "label serve", "label export", "rm train",
        "pairs make"]
bad = 0
for c in cmds:
    h = subprocess.run([bin_] + c.split() + ["--help"], capture_output=True, text=True)
    if h.returncode != 0 or c not in blocks or blocks[c] != h.stdout:
        print(f"FAIL: docs/cli.md's `posterior {c}` differs from its --help (exit {h.returncode})", file=sys.stderr)
        if h.stderr:
            print("  its stderr: " + h.stderr[-2000:], file=sys.stderr)
        bad += 1
    for old in re.findall(r"old spelling: (--[a-z0-9-]+)", h.stdout):
        if old not in doc.split("## Commands")[0]:
            print(f"FAIL: {c}: the old spelling {old} is not in docs/cli.md's table", file=sys.stderr)
            bad += 1
print(f"{len(cmds) - bad} of {len(cmds)} commands documented as they are")
sys.exit(1 if bad else 0)
PY
