#!/usr/bin/env python3
"""Tables of experiments/cdpg/run.sh: per task, one row per method (the prior first): the
mean over seeds ± the sd over seeds of the per-context averages that `eval --prompts` reports
(length: tokens per continuation, of at most 24), and over how many held-out contexts the
exact KL was measured (the others were out of the exact-sample budget).
    /usr/bin/python3 experiments/cdpg/table.py OUT_DIR"""
import glob, json, os, re, statistics, sys

out = sys.argv[1]
COLS = [("E_π[b|c]", "alignment"), ("KL(p_c‖π_c) exact", "kl_p_pi_exact"), ("contexts with exact", "n_exact_contexts"),
        ("KL(π_c‖a_c)", "kl_pi_a"), ("median log Z_c", "log_z_median"), ("LM loss (held-out)", "lm_loss"),
        ("distinct-2", "distinct_2"), ("length", "mean_length")]

def cell(vs):
    vs = [v for v in vs if isinstance(v, (int, float))]
    if not vs: return "—"
    m = statistics.mean(vs)
    return f"{m:.3f}" if len(vs) == 1 else f"{m:.3f} ± {statistics.stdev(vs):.3f}"

for task in sorted(d for d in os.listdir(out) if os.path.isdir(os.path.join(out, d, "")) and
                   os.path.exists(os.path.join(out, d, "target.json"))):
    runs = {}
    for f in sorted(glob.glob(os.path.join(out, task, "*.eval.json"))):
        m = re.match(r"(.*?)(?:_s(\d+))?\.eval\.json$", os.path.basename(f))
        runs.setdefault(m.group(1), []).append(json.load(open(f)))
    print(f"\n## Task {task}\n")
    print("| method | seeds | " + " | ".join(c for c, _ in COLS) + " |")
    print("|---|---|" + "---|" * len(COLS))
    for name in sorted(runs, key=lambda n: (n != "prior", n)):
        ds = runs[name]
        print(f"| {name} | {len(ds)} | " + " | ".join(cell([d.get(k) for d in ds]) for _, k in COLS) + " |")
    for f in sorted(glob.glob(os.path.join(out, task, "*.failed"))):
        print(f"\n- {os.path.basename(f)[:-7]} failed: {open(f).read().strip()}")
