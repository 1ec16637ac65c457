"""Precision and recall of `posterior pii` on a labelled set.

tests/fixtures/evidence/pii_labelled.jsonl (see README.md there) holds 222
lines drawn at random from the bodies of data/spam-assassin e-mails (seeded
sample, biased toward lines with digits, '@', URLs, 'password', 'Box') and
labelled by hand, plus 51 synthetic sentences: positives in formats the
e-mails lack and hard negatives (versions, dates, code, ISBNs, order numbers).
A predicted span counts as correct when it overlaps a labelled span of the same
type. The bounds below are the values measured when the set was built, so a
change that loses precision or recall fails here.
"""
import json
import os
import subprocess
import sys
from collections import Counter

BIN = os.environ.get("POSTERIOR_BIN", "build/posterior")
FIXTURE = "tests/fixtures/evidence/pii_labelled.jsonl"

# measured 2026-11-29: precision 0.9881 (166/168), recall 0.9486 (166/175)
MIN_PRECISION = 0.98
MIN_RECALL = 0.94
MIN_TYPE_RECALL = {"URL": 1.0, "EMAIL": 0.94, "PHONE": 0.85, "IP": 1.0, "SSN": 1.0,
                   "CREDIT_CARD": 1.0, "HANDLE": 1.0, "ADDRESS": 0.78, "CREDENTIAL": 0.9}


def main():
    docs = [json.loads(line) for line in open(FIXTURE, encoding="utf-8")]
    p = subprocess.run([BIN, "score", "--jsonl", "--scorer", "pii", FIXTURE],
                       capture_output=True, check=True)
    results = [json.loads(line) for line in p.stdout.decode().splitlines()]
    assert len(results) == len(docs), (len(results), len(docs))
    n_pred = n_gold = tp_pred = tp_gold = 0
    gold_by_type, found_by_type = Counter(), Counter()
    errors = []
    for doc, res in zip(docs, results):
        raw = doc["text"].encode("utf-8")
        gold = []
        for typ, text in doc["pii"]:
            start = raw.find(text.encode("utf-8"))
            assert start >= 0, (doc, text)
            gold.append((typ, start, start + len(text.encode("utf-8"))))
        pred = [(f["type"], f["start"], f["end"]) for f in res["findings"]]
        # the score is findings per character
        chars = len(raw.decode("utf-8", "replace"))
        assert abs(res["score"] - (len(pred) / chars if chars else 0)) < 1e-9, res
        overlap = lambda a, b: a[0] == b[0] and a[1] < b[2] and b[1] < a[2]
        n_pred += len(pred)
        n_gold += len(gold)
        for q in pred:
            if any(overlap(q, g) for g in gold):
                tp_pred += 1
            else:
                errors.append("false positive %s %r in %r" % (q[0], raw[q[1]:q[2]], doc["text"]))
        for g in gold:
            gold_by_type[g[0]] += 1
            if any(overlap(q, g) for q in pred):
                tp_gold += 1
                found_by_type[g[0]] += 1
            else:
                errors.append("missed %s %r in %r" % (g[0], raw[g[1]:g[2]], doc["text"]))
    precision = tp_pred / n_pred
    recall = tp_gold / n_gold
    for e in errors:
        print(e)
    print("lines %d, labelled spans %d, predicted %d" % (len(docs), n_gold, n_pred))
    print("precision %.4f  recall %.4f" % (precision, recall))
    for t in sorted(gold_by_type):
        print("  %-12s recall %d/%d = %.3f" % (t, found_by_type[t], gold_by_type[t],
                                              found_by_type[t] / gold_by_type[t]))
    failed = 0
    if precision < MIN_PRECISION:
        print("FAIL: precision %.4f < %.4f" % (precision, MIN_PRECISION))
        failed = 1
    if recall < MIN_RECALL:
        print("FAIL: recall %.4f < %.4f" % (recall, MIN_RECALL))
        failed = 1
    for t, bound in MIN_TYPE_RECALL.items():
        r = found_by_type[t] / gold_by_type[t]
        if r < bound:
            print("FAIL: %s recall %.3f < %.3f" % (t, r, bound))
            failed = 1
    return failed


if __name__ == "__main__":
    sys.exit(main())
