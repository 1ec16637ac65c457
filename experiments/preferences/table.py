#!/usr/bin/env python3
"""The table of experiments/preferences/run.sh: the pairs (oracle, noise, achievable accuracy),
the reward model's held-out accuracy, each method's E_π[oracle], E_π[r_RM], KL(π‖a) with the
effective sample size behind it, the mean length and distinct-2 of its samples (mean over seeds
± the standard deviation over seeds), and the over-optimisation curve.
    /usr/bin/python3 experiments/preferences/table.py OUT_DIR"""
import glob
import json
import os
import re
import statistics
import sys

out = sys.argv[1]


def cell(values):
    values = [v for v in values if v is not None]
    if not values:
        return "—"
    if len(values) == 1:
        return "%.4f" % values[0]
    return "%.4f ± %.4f" % (statistics.mean(values), statistics.stdev(values))


meta = json.load(open(os.path.join(out, "pairs.jsonl.meta.json")))
rm = json.load(open(os.path.join(out, "rm.json")))
print("Pairs: %d from the prior, oracle `%s` (prefer %s), Bradley-Terry noise T = %g, %d ties; "
      "the oracle's achievable accuracy on these labels: %.4f.\n"
      % (meta["pairs"], meta["oracle"], meta["prefer"], meta["noise"], meta["ties"], meta["achievable_accuracy"]))
print("Reward model: held-out accuracy %.4f ± %.4f on %d pairs (loss %.4f, ECE %.4f).\n"
      % (rm["held_out_accuracy"], rm["held_out_accuracy_se"], rm["held_out_pairs"], rm["held_out_loss"], rm["ece"]))
runs = {}
for f in sorted(glob.glob(os.path.join(out, "*_s*.json"))):
    m = re.match(r"(.*)_s(\d+)\.json$", os.path.basename(f))
    if m:
        runs.setdefault(m.group(1), []).append(json.load(open(f)))
# length (tokens, of at most 40), distinct-2 and the ESS behind KL(π‖a): in runs from
# before they were recorded, "—"
keys = ("oracle", "rm", "kl_pi_a", "ess", "mean_length", "distinct_2")
print("| method | seeds | E_π[oracle] | E_π[r_RM] | KL(π‖a) | its ESS | length | distinct-2 |")
print("|---|---|---|---|---|---|---|---|")
for name in sorted(runs, key=lambda n: (n != "prior", n)):
    ds = runs[name]
    cells = [cell([d.get(k) for d in ds]) for k in keys]
    print("| %s | %d | %s |" % (name, len(ds), " | ".join(cells)))
stages = sorted((int(re.search(r"_(\d+)\.json$", f).group(1)), json.load(open(f)))
                for f in glob.glob(os.path.join(out, "overopt_*.json")))
if stages:
    print("\nOver-optimisation (seed 1's DPG on a·exp(r_RM/β)):\n")
    print("| step | E_π[oracle] | E_π[r_RM] | KL(π‖a) |")
    print("|---|---|---|---|")
    for s, d in stages:
        print("| %d | %.4f | %.4f | %.4f |" % (s, d["oracle"], d["rm"], d["kl_pi_a"]))
