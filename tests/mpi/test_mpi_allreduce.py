#!/usr/bin/env python3
"""The gradient sum of data-parallel runs (pst_comm_allreduce_sum_f32, docs/scaling.md) on
2 and 3 ranks, through `bench_allreduce` (element i of rank r is (r + 1)·(i mod 1000 + 1);
it counts the elements that do not hold the exact sum): below 65,536 floats (MPI_Allreduce),
at and above it (the ranks' shared window, summed in rank order, uneven shares on 3 ranks),
each with several calls on the same window; and `train` of a model whose gradient takes the
shared window (116,160 floats): 2 ranks twice bit-identical, and 2 ranks = 1 rank within the
train test's tolerances. Skipped (77) like the other MPI tests."""
import json
import os
import random
import subprocess

import test_mpi_train as mt

BENCH = os.path.join(os.environ.get("POSTERIOR_BUILD", "build"), "bench_allreduce")


def run_all(tmp):
    for ranks in (2, 3):
        for floats in (1000, 65535, 65536, 65543, 1000003):
            cmd = ["timeout", "-k", "5", "60", "mpirun", "--timeout", "50", "--oversubscribe", "-np", str(ranks),
                   BENCH, "--floats", str(floats), "--reps", "3"]
            p = subprocess.run(cmd, env=mt.ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
            got = json.loads(lines[-1]) if lines else {}
            mt.check(p.returncode == 0 and got.get("sums_wrong") == 0 and got.get("ranks") == ranks,
                     f"{ranks} ranks, {floats} floats: every element is the exact sum ({got or p.stderr.strip()[-300:]})")

    train_through_window(tmp)


def train_through_window(tmp):
    rng = random.Random(3)
    data = os.path.join(tmp, "ids.txt")
    with open(data, "w") as f:
        f.write(" ".join(str(rng.randrange(1000)) for _ in range(6000)))
    common = ["train", "--data", data, "--n-layer", "1", "--n-head", "2", "--n-embd", "64", "--n-positions", "32",
              "--vocab-size", "1000", "--seq", "16", "--batch", "4", "--steps", "4", "--warmup", "1", "--lr", "1e-3",
              "--quiet", "--seed", "5"]
    runs = {k: os.path.join(tmp, k) for k in ("one", "two", "two_again")}
    p = mt.plain(common + ["--out", runs["one"]])
    mt.check(p.returncode == 0, f"train, 1 rank: {p.stderr.strip()}")
    for k in ("two", "two_again"):
        p = mt.mpirun(2, common + ["--out", runs[k]])
        mt.check(p.returncode == 0, f"train, 2 ranks ({k}): {p.stderr.strip()}")
    n = sum(len(v) for v in mt.weights(runs["one"]).values())
    mt.check(n >= 65536, f"the model has {n} parameters: its gradient goes through the shared window")
    mt.check(mt.same_run(runs["two"], runs["two_again"]), "train through the window: 2 ranks twice bit-identical")
    m1, m2 = mt.metrics(runs["one"]), mt.metrics(runs["two"])
    worst = max(mt.rel(a[k], b[k]) for a, b in zip(m1, m2) for k in ("loss", "grad_norm"))
    mt.check(len(m1) == len(m2) == 4 and worst < mt.TOL_LOSS,
             f"train through the window: 2 ranks = 1 rank, loss and grad_norm within {mt.TOL_LOSS:g} ({worst:.3g})")
    mt.same_weights(runs["one"], runs["two"], 4, mt.TOL_WEIGHT)


if __name__ == "__main__":
    mt.run_main("pst_mpi_allreduce_", run_all)
