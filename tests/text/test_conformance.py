#!/usr/bin/env python3
"""Conformance of our GPT-2 tokenizer with the reference JavaScript encoder.

Runs GPT-2's encoder as ported to JavaScript (npm gpt-3-encoder 1.1.4, in
data/gpt-3-encoder, run by node through tests/text/test_conformance_ref.js) and
`posterior tokenize --null` over the same documents, one node process and one
posterior process per corpus, and asserts identical ids document by document.

Corpora: data/sotu (prose, one .txt per address), data/nlp-corpus (informal
sentences, one per document), data/spam-assassin (raw e-mails, one per file),
the Python standard library in /usr/lib/python3.11 (one .py per document), the
cuss lexicon (every entry, and every lexicon file), and the hard cases in
tests/fixtures/text/tokenizer_hard_cases.bin (NUL-separated; emoji, CJK,
combining marks, whitespace runs, contractions, digits in words, control
characters, invalid UTF-8).

Invalid UTF-8: node sees text only after its UTF-8 decoder has replaced each
maximal invalid subsequence with U+FFFD. So node is given the raw bytes and
ours is given the bytes Python's decode(errors="replace") produces (the same
replacement rule), and the ids must agree: we compare on what JavaScript sees.
Our encoder on the raw bytes is checked separately: decode(encode(raw)) == raw
for every hard case here, and on random byte strings in test_tokenizer.c.
Documents containing a NUL byte cannot be sent NUL-separated; they are
counted and skipped (none in the CI subset).

  test_conformance.py            fixed subset of >= 2 MB (ctest)
  test_conformance.py --full     every document of every corpus (make conformance)
"""
import concurrent.futures
import glob
import json
import os
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.path.join(ROOT, "data")
ENCODER = os.path.join(DATA, "gpt-3-encoder")
REF_JS = os.path.join(ROOT, "tests", "text", "test_conformance_ref.js")
HARD = os.path.join(ROOT, "tests", "fixtures", "text", "tokenizer_hard_cases.bin")
PYLIB = "/usr/lib/python3.11"
NODE = "/usr/bin/node" if os.path.exists("/usr/bin/node") else "node"

# CI subset: the first documents (in sorted order) of each corpus up to a byte
# budget; chosen once, fixed by the sort order of the pinned data packages.
SUBSET_BYTES = {"sotu": 800_000, "nlp-corpus": 300_000, "spam-assassin": 500_000,
                "python-stdlib": 500_000}
SUBSET_MAX_DOC = 40_000  # the reference is quadratic in a document's tokens


def posterior_bin():
    b = os.environ.get("POSTERIOR_BIN")
    if b:
        return b
    build = os.environ.get("POSTERIOR_BUILD", os.path.join(ROOT, "build"))
    return os.path.join(build, "posterior")


def read(path):
    with open(path, "rb") as f:
        return f.read()


def budgeted(docs, full, name):
    """docs: iterable of (label, bytes) in a fixed order."""
    if full:
        return list(docs)
    out, total = [], 0
    for label, b in docs:
        if len(b) > SUBSET_MAX_DOC:
            continue
        if total >= SUBSET_BYTES[name]:
            break
        out.append((label, b))
        total += len(b)
    return out


def corpus_sotu():
    for p in sorted(glob.glob(os.path.join(DATA, "sotu", "data", "*.txt"))):
        yield os.path.basename(p), read(p)


def corpus_nlp():
    files = glob.glob(os.path.join(DATA, "nlp-corpus", "builds", "doc-*.json"))
    files.sort(key=lambda p: int(re.search(r"doc-(\d+)", p).group(1)))
    for p in files:
        with open(p, encoding="utf-8") as f:
            sentences = json.load(f)
        for i, s in enumerate(sentences):
            yield "%s[%d]" % (os.path.basename(p), i), s.encode("utf-8", "surrogatepass")


def corpus_spam():
    for p in sorted(glob.glob(os.path.join(DATA, "spam-assassin", "data", "*", "*.txt"))):
        yield os.path.relpath(p, DATA), read(p)


def corpus_python():
    paths = []
    for d, _, files in os.walk(PYLIB):
        if "site-packages" in d or "dist-packages" in d:
            continue
        paths += [os.path.join(d, f) for f in files if f.endswith(".py")]
    for p in sorted(paths):
        yield os.path.relpath(p, PYLIB), read(p)


def corpus_cuss():
    files = sorted(glob.glob(os.path.join(DATA, "cuss", "*.js")))
    entry = re.compile(r"^\s*(?:'((?:[^'\\]|\\.)*)'|\"((?:[^\"\\]|\\.)*)\"|([^\s:'\"]+))\s*:\s*(\d)\s*,?\s*$")
    for p in files:
        raw = read(p)
        yield os.path.basename(p), raw
        for n, line in enumerate(raw.decode("utf-8").splitlines()):
            m = entry.match(line)
            if m:
                word = m.group(1) or m.group(2) or m.group(3)
                yield "%s:%d" % (os.path.basename(p), n + 1), word.encode("utf-8")


def corpus_hard():
    for i, b in enumerate(read(HARD).split(b"\0")):
        yield "hard case %d" % i, b


def run_ours(binary, docs_path, out_path):
    with open(docs_path, "rb") as fin, open(out_path, "wb") as fout:
        r = subprocess.run([binary, "tokenize", "--null",
                            "--vocab", os.path.join(ENCODER, "encoder.json"),
                            "--merges", os.path.join(ENCODER, "vocab.bpe")],
                           stdin=fin, stdout=fout, stderr=subprocess.PIPE)
    if r.returncode != 0:
        raise SystemExit("posterior tokenize failed: %s" % r.stderr.decode(errors="replace"))


def run_ref(docs_path, out_path):
    r = subprocess.run([NODE, REF_JS, docs_path, out_path], stderr=subprocess.PIPE)
    if r.returncode != 0:
        raise SystemExit("reference encoder failed: %s" % r.stderr.decode(errors="replace"))


def compare(name, docs, binary, tmp):
    kept = [(label, b) for label, b in docs if b"\0" not in b]
    skipped = len(docs) - len(kept)
    raw_path = os.path.join(tmp, name + ".raw")
    clean_path = os.path.join(tmp, name + ".clean")
    with open(raw_path, "wb") as f:
        f.write(b"\0".join(b for _, b in kept))
    with open(clean_path, "wb") as f:
        f.write(b"\0".join(b.decode("utf-8", "replace").encode("utf-8") for _, b in kept))
    ours_path, ref_path = os.path.join(tmp, name + ".ours"), os.path.join(tmp, name + ".ref")
    t0 = time.time()
    run_ours(binary, clean_path, ours_path)
    t1 = time.time()
    run_ref(raw_path, ref_path)
    t2 = time.time()
    ours = read(ours_path).split(b"\n")
    ref = read(ref_path).split(b"\n")
    # n documents -> n lines each ending in "\n" -> n + 1 pieces, the last empty
    ok = len(ours) == len(kept) + 1 and len(ref) == len(kept) + 1
    if not ok:
        print("FAIL %s: %d documents but %d lines from ours and %d from the reference"
              % (name, len(kept), len(ours) - 1, len(ref) - 1))
        return len(kept), 0, 0, len(kept), skipped
    bad, tokens = 0, 0
    for (label, b), o, r in zip(kept, ours, ref):
        tokens += r.count(b" ") + (1 if r else 0)
        if o != r:
            bad += 1
            if bad <= 5:
                oi, ri = o.split(), r.split()
                k = next((i for i in range(min(len(oi), len(ri))) if oi[i] != ri[i]), min(len(oi), len(ri)))
                print("FAIL %s: %s: ids differ at token %d: ours %s, reference %s"
                      % (name, label, k, b" ".join(oi[max(0, k - 3):k + 5]).decode(),
                         b" ".join(ri[max(0, k - 3):k + 5]).decode()))
    nbytes = sum(len(b) for _, b in kept)
    print("conformance: %-14s %7d documents %10d bytes %9d tokens: %s  (ours %.2fs, reference %.2fs)%s"
          % (name, len(kept), nbytes, tokens, "identical" if not bad else "%d DIFFER" % bad,
             t1 - t0, t2 - t1, "  [%d skipped: contain NUL]" % skipped if skipped else ""))
    return len(kept), nbytes, tokens, bad, skipped


def hard_case_round_trip(binary, tmp):
    """decode(encode(raw)) == raw through the CLI, on the raw hard-case bytes."""
    cases = [b for _, b in corpus_hard()]
    g = ["--vocab", os.path.join(ENCODER, "encoder.json"), "--merges", os.path.join(ENCODER, "vocab.bpe")]
    enc = subprocess.run([binary, "tokenize", "--null"] + g, input=b"\0".join(cases),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if enc.returncode != 0:
        print("FAIL hard cases: tokenize: %s" % enc.stderr.decode(errors="replace"))
        return 1
    dec = subprocess.run([binary, "detokenize", "--lines"] + g, input=enc.stdout,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    want = b"".join(c + b"\n" for c in cases)
    if dec.returncode != 0 or dec.stdout != want:
        print("FAIL hard cases: raw-byte round trip through tokenize | detokenize differs")
        return 1
    print("conformance: raw-byte round trip of %d hard cases (invalid UTF-8 included): identical" % len(cases))
    return 0


def main():
    full = "--full" in sys.argv[1:]
    binary = posterior_bin()
    if not os.path.exists(os.path.join(ENCODER, "Encoder.js")):
        print("FAIL: %s is missing (run scripts/bootstrap.sh)" % ENCODER)
        return 1
    if not os.access(binary, os.X_OK):
        print("FAIL: posterior binary not found at %s (set POSTERIOR_BIN)" % binary)
        return 1
    corpora = [("sotu", corpus_sotu), ("nlp-corpus", corpus_nlp), ("spam-assassin", corpus_spam),
               ("python-stdlib", corpus_python), ("cuss", corpus_cuss), ("hard-cases", corpus_hard)]
    if full:  # the slowest for the reference first, so that the workers finish together
        order = ["python-stdlib", "spam-assassin", "sotu", "nlp-corpus", "cuss", "hard-cases"]
        corpora.sort(key=lambda c: order.index(c[0]))
    failures = 0
    totals = [0, 0, 0, 0, 0]

    def run_one(tmp, name, fn):
        docs = budgeted(fn(), full, name) if name in SUBSET_BYTES else list(fn())
        if not docs:
            print("FAIL %s: no documents found" % name)
            return None
        return compare(name, docs, binary, tmp)

    with tempfile.TemporaryDirectory(prefix="pst-conformance-") as tmp:
        # make conformance: corpora in parallel (one node process each); ctest: one at a time
        workers = (os.cpu_count() or 1) if full else 1
        with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(lambda c: run_one(tmp, *c), corpora))
        for r in results:
            if r is None:
                failures += 1
                continue
            totals = [a + b for a, b in zip(totals, r)]
            failures += r[3] != 0
        failures += hard_case_round_trip(binary, tmp)
    docs, nbytes, tokens, bad, skipped = totals
    print("conformance (%s): %d documents, %.2f MB, %d tokens compared; %d differ; %d skipped"
          % ("full" if full else "CI subset", docs, nbytes / 1e6, tokens, bad, skipped))
    minimum = 20_000_000 if full else 2_000_000
    if nbytes < minimum:
        print("FAIL: only %d bytes compared; at least %d expected" % (nbytes, minimum))
        failures += 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
