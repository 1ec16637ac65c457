#!/usr/bin/env python3
"""A reward model's accuracy against the oracle's, on fresh pairs, without label noise in the
measurement.

    rm_vs_oracle.py POSTERIOR PAIRS RM_DIR ORACLE PREFER T

PAIRS: pairs made by `posterior pairs make` from the same prior, with a seed the reward model
never saw (their labels are not used). Both texts of every pair are scored by the oracle
(ORACLE, a scorer spec; PREFER low or high) and by the reward model (rm:RM_DIR). With
Bradley-Terry labels of temperature T, the first text of a pair is chosen with probability
p = sigmoid((s1 - s2)/T) (prefer high; s2 - s1 for low). A model that ranks the first text
higher is right with probability p, else 1 - p (1/2 when it ranks them equal), so on these
pairs:

  achievable  = mean max(p, 1 - p)              the oracle's own expected accuracy
  rm_expected = mean of the reward model's       its expected accuracy on labels drawn with T
  agreement   = share of pairs with s1 != s2 that the reward model orders as the oracle does

Each with a standard error over pairs. Prints one JSON object.
"""
import json
import math
import subprocess
import sys


def scores(posterior, spec, texts):
    lines = "".join(json.dumps({"text": t}) + "\n" for t in texts)
    out = subprocess.run([posterior, "score", "--scorer", spec, "--jsonl", "--no-findings"],
                         input=lines, capture_output=True, text=True, check=True).stdout
    return [json.loads(line)["score"] for line in out.splitlines()]


def mean_se(xs):
    m = sum(xs) / len(xs)
    v = sum((x - m) ** 2 for x in xs) / max(len(xs) - 1, 1)
    return m, math.sqrt(v / len(xs))


def main():
    posterior, pairs_path, rm_dir, oracle, prefer, temp = sys.argv[1:7]
    temp = float(temp)
    pairs = [json.loads(line) for line in open(pairs_path)]
    firsts, seconds = [p["chosen"] for p in pairs], [p["rejected"] for p in pairs]
    o = scores(posterior, oracle, firsts + seconds)
    r = scores(posterior, "rm:" + rm_dir, firsts + seconds)
    n = len(pairs)
    sign = -1.0 if prefer == "low" else 1.0
    achievable, expected, agree = [], [], []
    for i in range(n):
        d_o, d_r = sign * (o[i] - o[n + i]), r[i] - r[n + i]
        p = 1.0 / (1.0 + math.exp(-d_o / temp))  # P(first text chosen)
        achievable.append(max(p, 1.0 - p))
        expected.append(p if d_r > 0 else 1.0 - p if d_r < 0 else 0.5)
        if d_o != 0:
            agree.append(1.0 if d_o * d_r > 0 else 0.0)
    res = {"pairs": n, "oracle": oracle, "prefer": prefer, "noise": temp, "rm": rm_dir,
           "equal_oracle_scores": n - len(agree)}
    for name, xs in (("achievable", achievable), ("rm_expected", expected), ("agreement", agree)):
        res[name], res[name + "_se"] = mean_se(xs) if xs else (float("nan"), float("nan"))
    res["gap"] = res["achievable"] - res["rm_expected"]
    # the gap is a paired difference: its standard error over pairs
    res["gap_se"] = mean_se([a - e for a, e in zip(achievable, expected)])[1]
    print(json.dumps(res))


if __name__ == "__main__":
    main()
