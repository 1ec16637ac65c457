#!/usr/bin/env python3
"""`posterior eval` and `posterior target estimate` under `mpirun -np 2` and `-np 3
--oversubscribe` (docs/scaling.md): each rank draws and scores its rows of every batch of
samples (row i from its own random stream, whatever the split), rank 0 prints.

On the tiny model and target of tests/mpi/test_mpi_tune.py and a policy tuned from it:
  (a) target estimate (--n 50 --batch 16: batches of 16, 16, 16 and 2 rows, split unevenly
      over 3 ranks), with the prior as q and with the policy as q and π: the same JSON
      line as one rank, every number within TOL_REL relative or TOL_ABS absolute (log-probs
      computed over other row counts round differently in the last bits), the strings
      (features, kind) equal;
  (b) eval (--n 40 --batch 16 --n-exact 32 --show 3; the exact samples of p drawn by
      rejection with the prior's draws split too): the same sample texts bit for bit,
      every number within the tolerance, one JSON line (rank 0's);
  (c) under mpirun -np 2, said once: eval's exact samples over their budget (the prior's
      draws split over the ranks, every rank finds it), target estimate --policy of a
      missing folder (every rank fails to load it), target fit (not data parallel yet), eval --prompts.
Skipped (exit 77) like tests/mpi/test_mpi_train.py."""
import json
import os

import test_mpi_train as mt
from test_mpi_tune import make_target

TOL_REL = 1e-4  # printed to 6 significant digits: one unit of the last is up to 1e-5
TOL_ABS = 1e-6
check = mt.check


def close(a, b, path="", worst=None):
    """Whether JSON values a and b agree (numbers within the tolerance, the rest equal);
    worst[key] collects the largest relative difference."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(close(a[k], b[k], k, worst) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(close(x, y, path, worst) for x, y in zip(a, b))
    if isinstance(a, (int, float)) and not isinstance(a, bool) and isinstance(b, (int, float)):
        d = abs(a - b)
        if worst is not None and d:
            worst[path] = max(worst.get(path, 0), d / max(abs(a), abs(b)))
        return d <= TOL_ABS or d <= TOL_REL * max(abs(a), abs(b))
    return a == b


def same_numbers(args, what):
    """args on 1 rank (no mpirun), 2 and 3 ranks: one JSON line each, the same within the tolerance."""
    p = mt.plain(args)
    check(p.returncode == 0 and p.stdout.count("\n") == 1, f"{what}, 1 rank: {p.stderr.strip()[:300]}")
    if p.returncode:
        return None
    one = json.loads(p.stdout)
    for n in (2, 3):
        q = mt.mpirun(n, args)
        lines = q.stdout.splitlines()
        worst = {}
        ok = q.returncode == 0 and len(lines) == 1 and close(one, json.loads(lines[0]), worst=worst)
        check(ok, f"{what}: {n} ranks = 1 rank within {TOL_REL:g} relative or {TOL_ABS:g} absolute, one line "
                  f"(largest relative differences {worst}) {q.stderr.strip()[:300]}")
    return one


def main():
    mt.run_main("pst_mpi_eval_", run_all)


def run_all(tmp):
    spec = make_target(tmp)
    pol = os.path.join(tmp, "pol")
    p = mt.plain(["tune", "--spec", spec, "--out", pol, "--steps", "6", "--batch", "16", "--max-new-tokens", "8",
                  "--n-exact", "0", "--lr", "1e-2", "--quiet", "--seed", "3"])
    check(p.returncode == 0, f"setup: a tuned policy: {p.stderr.strip()}")
    model = os.path.join(pol, "model")
    est = ["target", "estimate", "--spec", spec, "--n", "50", "--batch", "16", "--seed", "4"]
    one = same_numbers(est, "target estimate, q = the prior")
    check(one is not None and one["n"] == 50 and 0 < one["z"] < 1, f"target estimate: 50 samples, 0 < Z < 1: {one}")
    one = same_numbers(est + ["--model", model, "--policy", model], "target estimate, q = pi = the tuned policy")
    check(one is not None and one["kl_pi_a"] > 0, f"target estimate: the policy moved from the prior: {one}")
    ev = ["eval", "--model", model, "--spec", spec, "--n", "40", "--batch", "16", "--n-exact", "32", "--show", "3",
          "--seed", "4"]
    one = same_numbers(ev, "eval (samples, IS and exact-sample measures)")
    check(one is not None and len(one["samples"]) == 3 and one["n_exact"] == 32,
          f"eval: 3 sample texts (equal on every number of ranks above) and 32 exact samples: {one and one['n_exact']}")

    p = mt.mpirun(2, ["target", "fit", "--spec", spec, "--out", os.path.join(tmp, "fit.json")])
    check(p.returncode != 0 and mt.once(p.stderr, "does not run data parallel yet") and
          not os.path.exists(os.path.join(tmp, "fit.json")), f"target fit under mpirun -np 2: refused once: "
          f"{p.stderr[:300]!r}")
    p = mt.mpirun(2, mt.with_values(ev, {"--n-exact": "64"}) + ["--max-proposals", "40"])
    check(p.returncode != 0 and mt.once(p.stderr, "exact samples: acceptance rate") and not p.stdout,
          f"eval --n-exact 64 --max-proposals 40 on 2 ranks: the budget error (found by both) said once: "
          f"{p.stderr[:300]!r}")
    p = mt.mpirun(2, est + ["--policy", os.path.join(tmp, "nowhere")])
    check(p.returncode != 0 and mt.once(p.stderr, "posterior target estimate:") and "nowhere/config.json" in p.stderr
          and not p.stdout,
          f"target estimate --policy of a missing folder on 2 ranks: one clear error, no output: {p.stderr[:300]!r}")
    prompts = os.path.join(tmp, "prompts.txt")
    with open(prompts, "w") as f:
        f.write("the cat\nyou and\n")
    p = mt.mpirun(2, ev + ["--prompts", prompts])
    check(p.returncode != 0 and mt.once(p.stderr, "--prompts does not run data parallel yet") and not p.stdout,
          f"eval --prompts under mpirun -np 2: refused once: {p.stderr[:300]!r}")


if __name__ == "__main__":
    main()
