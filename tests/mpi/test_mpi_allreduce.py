#!/usr/bin/env python3
"""The gradient sum of data-parallel runs (pst_comm_allreduce_sum_f32, docs/scaling.md) on
2 and 3 ranks, through `bench_allreduce` (element i of rank r is (r + 1)·(i mod 1000 + 1);
it counts the elements that do not hold the exact sum): below 65,536 floats (MPI_Allreduce),
at and above it (the ranks' shared window, summed in rank order, uneven shares on 3 ranks),
each with several calls on the same window. Skipped (77) like the other MPI tests."""
import json
import os
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


if __name__ == "__main__":
    mt.run_main("pst_mpi_allreduce_", run_all)
