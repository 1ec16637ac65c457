"""How good a proxy is the lexicon? Precision and recall of `toxicity >= 0.5`
against 100 nlp-corpus sentences labelled by hand (toxic = profane, a slur, or
an insult aimed at someone), labelled before the scorer was run on them.
tests/fixtures/evidence/README.md says how the sentences were drawn: 50 at
random (none toxic) and 50 matching a keyword list that overlaps the lexicon,
so recall here is optimistic. The bounds are the measured values.
"""
import json
import os
import subprocess
import sys

BIN = os.environ.get("POSTERIOR_BIN", "build/posterior")
FIXTURE = "tests/fixtures/evidence/toxicity_labelled.jsonl"
# measured 2026-11-29: precision 25/28 = 0.893, recall 25/26 = 0.962
MIN_PRECISION, MIN_RECALL = 0.89, 0.96


def main():
    gold = [json.loads(line) for line in open(FIXTURE, encoding="utf-8")]
    out = subprocess.run([BIN, "score", "--jsonl", "--scorer", "toxicity", FIXTURE],
                         capture_output=True, check=True).stdout.decode().splitlines()
    res = [json.loads(line) for line in out]
    assert len(res) == len(gold) == 100
    tp = fp = fn = 0
    for g, r in zip(gold, res):
        flagged = r["score"] >= 0.5
        if flagged and g["toxic"]:
            tp += 1
        elif flagged:
            fp += 1
            print("false positive %.2f %r %s" % (r["score"], g["text"], [f["text"] for f in r["findings"]]))
        elif g["toxic"]:
            fn += 1
            print("missed %.2f %r" % (r["score"], g["text"]))
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    print("precision %d/%d = %.3f, recall %d/%d = %.3f" % (tp, tp + fp, precision, tp, tp + fn, recall))
    return 0 if precision >= MIN_PRECISION and recall >= MIN_RECALL else 1


if __name__ == "__main__":
    sys.exit(main())
