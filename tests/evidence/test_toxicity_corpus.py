"""Toxicity scorer vs an independent Python reference on nlp-corpus sentences.

The reference parses data/cuss/index.js with its own regex, splits lower-cased
text into [a-z0-9]+ words, and matches entries greedily left to right, longest
phrase first: the documented behaviour of the C scorer on plain text. On every
plain ASCII sentence (no obfuscation characters * # @ $ !, no words mixing
letters and digits, no letter repeated 3+ times: the cases where the C scorer
deliberately does more) the two scores must agree exactly; on the others the C
scorer must find at least what the reference finds.
"""
import json
import os
import re
import subprocess
import sys
import tempfile

BIN = os.environ.get("POSTERIOR_BIN", "build/posterior")
P = {0: 0.0, 1: 0.5, 2: 0.9}


def load_lexicon(path="data/cuss/index.js"):
    lex = {}
    for m in re.finditer(r"^\s*'?([a-z0-9 ]+?)'?: ([012]),?$", open(path).read(), re.M):
        lex[m.group(1)] = int(m.group(2))
    return lex


def reference_score(text, lex, max_words):
    words = re.findall(r"[a-z0-9]+", text.lower())
    keep, i = 1.0, 0
    while i < len(words):
        for k in range(min(max_words, len(words) - i), 0, -1):
            key = " ".join(words[i:i + k])
            if key in lex:
                keep *= 1 - P[lex[key]]
                i += k
                break
        else:
            i += 1
    return 1 - keep


def plain(text):
    if not text.isascii() or re.search(r"[*#@$!]", text):
        return False
    if re.search(r"\b(?=\w*[a-z])(?=\w*\d)\w+", text.lower()):
        return False
    return not re.search(r"([a-z])\1\1", text.lower())


def main():
    lex = load_lexicon()
    assert len(lex) == 1795, len(lex)
    max_words = max(len(k.split()) for k in lex)
    sentences = []
    for i in range(8):
        sentences += json.load(open("data/nlp-corpus/builds/doc-%d.json" % i))
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
        for s in sentences:
            f.write(json.dumps({"text": s}) + "\n")
        path = f.name
    try:
        out = subprocess.run([BIN, "score", "--jsonl", "--scorer", "toxicity", path],
                             capture_output=True, check=True).stdout.decode().splitlines()
    finally:
        os.unlink(path)
    results = [json.loads(l) for l in out]
    assert len(results) == len(sentences)
    n_plain = agree = flagged = flagged_ref = extra = 0
    bad = []
    for s, r in zip(sentences, results):
        ref = reference_score(s, lex, max_words)
        flagged += r["score"] > 0
        flagged_ref += ref > 0
        if plain(s):
            n_plain += 1
            if abs(r["score"] - ref) < 1e-12:
                agree += 1
            else:
                bad.append((s, r["score"], ref))
        else:
            if r["score"] < ref - 1e-12:
                bad.append((s, r["score"], ref))
            extra += r["score"] > ref + 1e-12
        # the score is 1 - prod(1 - p(rating)) over the reported matches
        keep = 1.0
        for f in r["findings"]:
            assert f["type"] == "TOXIC" and f["rating"] in (1, 2), f
            assert lex.get(f["text"].lower(), f["rating"]) == f["rating"], f
            keep *= 1 - P[f["rating"]]
        if abs(r["score"] - (1 - keep)) > 1e-12:
            bad.append((s, r["score"], 1 - keep))
    for s, c, ref in bad[:20]:
        print("disagree: C %.6f ref %.6f: %r" % (c, ref, s))
    top = sorted(zip(results, sentences), key=lambda t: -t[0]["score"])[:5]
    for r, s in top:
        print("%.3f %s | %s" % (r["score"], s[:100], [f["text"] for f in r["findings"]]))
    print("sentences %d, plain %d (agree %d), flagged %d (reference %d), "
          "more than the reference on %d obfuscated/non-plain sentences"
          % (len(sentences), n_plain, agree, flagged, flagged_ref, extra))
    ok = not bad and flagged > 0.01 * len(sentences) and n_plain > 0.5 * len(sentences)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
