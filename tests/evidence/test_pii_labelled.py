"""Precision and recall of `posterior pii` on a labelled set.

tests/fixtures/evidence/pii_labelled.jsonl (README.md there says how it was
built) has three parts, told apart by "source":
  spam-assassin        222 lines sampled from data/spam-assassin e-mail bodies,
                       labelled by hand with the detectors' proposals in view;
  synthetic            51 written sentences: positives in formats the e-mails
                       lack and hard negatives (versions, dates, code, ISBNs);
  spam-assassin-blind  80 more sampled lines, labelled by hand BEFORE the
                       detectors were run on them (the unbiased estimate).
A predicted span counts as correct when it overlaps a labelled span of the same
type. The bounds below are the values measured when the set was built
(rounded down), so a change that loses precision or recall fails here.
"""
import json
import os
import subprocess
import sys
from collections import Counter

BIN = os.environ.get("POSTERIOR_BIN", "build/posterior")
FIXTURE = "tests/fixtures/evidence/pii_labelled.jsonl"

# measured 2026-11-29 (precision, recall): see docs/evidence.md
#   all 205/209 = 0.981, 205/218 = 0.940; spam-assassin 131/131, 131/137 = 0.956;
#   synthetic 35/37 = 0.946, 35/38 = 0.921; spam-assassin-blind 39/41 = 0.951, 39/43 = 0.907
MIN = {"all": (0.98, 0.94), "spam-assassin": (1.0, 0.95), "synthetic": (0.94, 0.92),
       "spam-assassin-blind": (0.95, 0.90)}
MIN_TYPE_RECALL = {"URL": 0.99, "EMAIL": 0.90, "PHONE": 0.86, "IP": 1.0, "SSN": 1.0,
                   "CREDIT_CARD": 1.0, "HANDLE": 1.0, "ADDRESS": 0.78, "CREDENTIAL": 0.91}


def overlap(a, b):
    return a[0] == b[0] and a[1] < b[2] and b[1] < a[2]


def main():
    docs = [json.loads(line) for line in open(FIXTURE, encoding="utf-8")]
    p = subprocess.run([BIN, "score", "--jsonl", "--scorer", "pii", FIXTURE],
                       capture_output=True, check=True)
    results = [json.loads(line) for line in p.stdout.decode().splitlines()]
    assert len(results) == len(docs), (len(results), len(docs))
    # counts per part: predicted, correct predicted, labelled, found labelled
    count = {k: Counter() for k in MIN}
    gold_by_type, found_by_type = Counter(), Counter()
    for doc, res in zip(docs, results):
        raw = doc["text"].encode("utf-8")
        gold = []
        after = {}  # a span text labelled twice is its first, then its second occurrence
        for typ, text in doc["pii"]:
            start = raw.find(text.encode("utf-8"), after.get(text, 0))
            assert start >= 0, (doc, text)
            after[text] = start + 1
            gold.append((typ, start, start + len(text.encode("utf-8"))))
        pred = [(f["type"], f["start"], f["end"]) for f in res["findings"]]
        # the score is findings per character
        chars = len(raw.decode("utf-8", "replace"))
        assert abs(res["score"] - (len(pred) / chars if chars else 0)) < 1e-12, res
        for part in ("all", doc["source"]):
            c = count[part]
            c["pred"] += len(pred)
            c["gold"] += len(gold)
            c["tp_pred"] += sum(any(overlap(q, g) for g in gold) for q in pred)
            c["tp_gold"] += sum(any(overlap(q, g) for q in pred) for g in gold)
        for q in pred:
            if not any(overlap(q, g) for g in gold):
                print("false positive %s %r in %r" % (q[0], raw[q[1]:q[2]], doc["text"]))
        for g in gold:
            gold_by_type[g[0]] += 1
            if any(overlap(q, g) for q in pred):
                found_by_type[g[0]] += 1
            else:
                print("missed %s %r in %r" % (g[0], raw[g[1]:g[2]], doc["text"]))
    failed = 0
    for part, (min_p, min_r) in MIN.items():
        c = count[part]
        precision, recall = c["tp_pred"] / c["pred"], c["tp_gold"] / c["gold"]
        print("%-20s precision %d/%d = %.4f  recall %d/%d = %.4f"
              % (part, c["tp_pred"], c["pred"], precision, c["tp_gold"], c["gold"], recall))
        if precision < min_p or recall < min_r:
            print("FAIL: %s below (%.2f, %.2f)" % (part, min_p, min_r))
            failed = 1
    for t in sorted(gold_by_type):
        r = found_by_type[t] / gold_by_type[t]
        print("  %-12s recall %d/%d = %.3f" % (t, found_by_type[t], gold_by_type[t], r))
        if r < MIN_TYPE_RECALL.get(t, 1.0):
            print("FAIL: %s recall %.3f < %.3f" % (t, r, MIN_TYPE_RECALL[t]))
            failed = 1
    return failed


if __name__ == "__main__":
    sys.exit(main())
