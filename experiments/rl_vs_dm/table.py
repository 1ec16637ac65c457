#!/usr/bin/env python3
"""One table per task of experiments/rl_vs_dm/run.sh's evaluations: for each method, the mean
over seeds ± the standard deviation over seeds (the seed-to-seed spread, which is what a method
comparison must beat), with the number of seeds; the prior's row first.
    /usr/bin/python3 experiments/rl_vs_dm/table.py OUT_DIR"""
import glob, json, os, re, statistics, sys

out = sys.argv[1]
COLS = [("E_π[b] / E_π[φ]", lambda d: d["alignment"][0]),
        ("KL(p‖π) exact", lambda d: d.get("kl_p_pi_exact")),
        ("KL(p‖π) IS from π", lambda d: d.get("kl_p_pi")),
        ("dropped from p", lambda d: d.get("dropped_fraction")),
        ("KL(π‖a)", lambda d: d["kl_pi_a"]),
        ("distinct-2", lambda d: d["distinct_2"]),
        ("mean length", lambda d: d["mean_length"])]

def cell(values):
    values = [v for v in values if v is not None]
    if not values: return "—"
    m = statistics.mean(values)
    if len(values) == 1: return f"{m:.3f}"
    return f"{m:.3f} ± {statistics.stdev(values):.3f}"

for task in sorted(d for d in os.listdir(out) if os.path.isdir(os.path.join(out, d))):
    runs = {}
    for f in sorted(glob.glob(os.path.join(out, task, "*_s*.eval.json"))):
        m = re.match(r"(.*)_s(\d+)\.eval\.json$", os.path.basename(f))
        runs.setdefault(m.group(1), []).append(json.load(open(f)))
    if not runs: continue
    print(f"\n## Task {task}\n")
    print("| method | seeds | " + " | ".join(c for c, _ in COLS) + " |")
    print("|---|---|" + "---|" * len(COLS))
    order = sorted(runs, key=lambda n: (n != "prior", n))
    for name in order:
        ds = runs[name]
        print(f"| {name} | {len(ds)} | " + " | ".join(cell([g(d) for d in ds]) for _, g in COLS) + " |")
    for f in sorted(glob.glob(os.path.join(out, task, "*.failed"))):
        print(f"\n- {os.path.basename(f)[:-7]} failed: {open(f).read().strip()}")
