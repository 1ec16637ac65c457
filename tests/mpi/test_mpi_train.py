#!/usr/bin/env python3
"""Data-parallel `posterior train` under `mpirun -np 2 --oversubscribe` (docs/scaling.md).

Checks, on a tiny model (1 layer, 16 wide) and a random token file:
  (a) 2 ranks reproduce 1 rank with the same global batch (--batch 4, --grad-accum 2,
      --val-data): the same losses, grad norms and val losses in metrics.jsonl and the
      same final weights, within a tolerance (the gradient is a sum of two half-batch
      sums added in another order: float32 rounding, not bit equality);
  (b) where bit equality holds: 1 rank under mpirun -np 1 = 1 rank without mpirun
      (every file of the run); a 2-rank run stopped at a checkpoint and resumed on 2
      ranks = the uninterrupted 2-rank run, and so is a 2-rank run one of whose ranks is
      killed (SIGKILL) mid-run (the job ends by itself), then resumed on 2 ranks;
  (c) bad input, each a clear error printed once (by rank 0), a non-zero exit, no hang
      and nothing written: a global batch not divisible by the ranks; ranks started with
      different options (an MPMD command line); --resume on 2 ranks of a run trained on
      1 (its files unchanged); a command that is not data parallel yet.
Skipped (exit 77) when the build has no MPI (POSTERIOR_HAVE_MPI) or under the
sanitizers (POSTERIOR_SANITIZE: LeakSanitizer reports OpenMPI's own allocations at
MPI_Finalize). Every mpirun has a time limit (mpirun --timeout and timeout -k)."""
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import signal
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "train"))
from test_kill_resume import metrics, tree  # noqa: E402  (every file of a run; metrics without timings)

BIN = os.environ.get("POSTERIOR_BIN", "build/posterior")
TOL_LOSS = 1e-6      # relative, losses / grad norms / val losses
TOL_WEIGHT = 1e-5    # absolute, final weights (|w| ~ 0.02 .. 1)
ENV = dict(os.environ, OMP_NUM_THREADS="1", OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_btl="self,vader", OMPI_MCA_btl_vader_single_copy_mechanism="none",
           OMPI_MCA_rmaps_base_oversubscribe="1")
failures, passes = [], []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    (passes if cond else failures).append(what)


def skip(why):
    print(f"SKIP: {why}")
    sys.exit(77)


def mpirun(np_, args, extra=None):
    """`mpirun -np np_ posterior ARGS [: -np 1 posterior EXTRA]`, 60 s at most."""
    cmd = ["timeout", "-k", "5", "60", "mpirun", "--timeout", "50", "--oversubscribe", "-np", str(np_), BIN] + args
    if extra:
        cmd += [":", "-np", "1", BIN] + extra
    p = subprocess.run(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    check(p.returncode not in (124, 137), f"mpirun -np {np_} {' '.join(args[:1])} ended by itself (rc {p.returncode})")
    return p


def plain(args):
    return subprocess.run([BIN] + args, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def weights(d):
    """{tensor name: list of floats} of d/model/model.safetensors (F32 only)."""
    raw = open(os.path.join(d, "model", "model.safetensors"), "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    head = json.loads(raw[8:8 + n])
    out = {}
    for name, t in head.items():
        if name == "__metadata__":
            continue
        a, b = t["data_offsets"]
        assert t["dtype"] == "F32", t["dtype"]
        out[name] = struct.unpack(f"<{(b - a) // 4}f", raw[8 + n + a:8 + n + b])
    return out


def same_weights(one, two, steps, tol):
    """The final weights of the 1-rank run `one` and the 2-rank run `two` within tol."""
    w1, w2 = weights(one), weights(two)
    dw = max(abs(x - y) for k in w1 for x, y in zip(w1[k], w2.get(k, [])))
    print(f"     largest |weight difference| after {steps} steps, 2 ranks vs 1: {dw:.3g}")
    check(w1.keys() == w2.keys() and dw < tol, f"2 ranks = 1 rank: final weights within {tol:g} ({dw:.3g})")


def same_run(a, b, resumed=False):
    """Every file bit-identical, metrics.jsonl without its timing fields (and a resumed
    run's train_config.json, whose "init" is "resume", without it)."""
    ta, tb = tree(a), tree(b)
    for f in ("metrics.jsonl", "train_config.json") if resumed else ("metrics.jsonl",):
        ta.pop(f), tb.pop(f)
    return ta == tb and metrics(a) == metrics(b)


def rel(x, y):
    return abs(x - y) / max(abs(x), abs(y), 1e-30)


def main():
    run_main("pst_mpi_", run_all)


def run_main(prefix, run_all):
    """Skips (77) without MPI, under the sanitizers or without mpirun; else run_all(tmp) in a
    temporary folder, the count of checks, exit 1 on a failure (the other MPI tests too)."""
    if os.environ.get("POSTERIOR_HAVE_MPI", "ON") != "ON":
        skip("this build has no MPI (POSTERIOR_MPI=OFF or libopenmpi-dev missing): data parallelism not built")
    if os.environ.get("POSTERIOR_SANITIZE") == "ON":
        skip("MPI tests do not run under the sanitizers (LeakSanitizer reports OpenMPI's own allocations)")
    if not shutil.which("mpirun"):
        skip("mpirun not found (openmpi-bin)")
    tmp = tempfile.mkdtemp(prefix=prefix)
    try:
        run_all(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{len(passes)} passed, {len(failures)} failed")
    if failures:
        sys.exit(1)


def run_all(tmp):
    rng = random.Random(17)
    data, val = os.path.join(tmp, "ids.txt"), os.path.join(tmp, "val.txt")
    with open(data, "w") as f:
        f.write(" ".join(str(rng.randrange(48)) for _ in range(4000)))
    with open(val, "w") as f:
        f.write(" ".join(str(rng.randrange(48)) for _ in range(1000)))
    common = ["train", "--data", data, "--val-data", val, "--val-every", "2", "--val-batches", "2", "--n-layer", "1",
              "--n-head", "2", "--n-embd", "16", "--n-positions", "32", "--vocab-size", "48", "--seq", "16",
              "--batch", "4", "--grad-accum", "2", "--steps", "8", "--warmup", "2", "--lr", "3e-3",
              "--save-every", "4", "--quiet", "--seed", "5"]
    out = {k: os.path.join(tmp, k) for k in ("one", "one_mpi", "two", "two_resumed", "bad")}

    p = plain(common + ["--out", out["one"]])
    check(p.returncode == 0, f"1 rank without mpirun: {p.stderr.strip()}")
    p = mpirun(1, common + ["--out", out["one_mpi"]])
    check(p.returncode == 0, f"1 rank under mpirun: {p.stderr.strip()}")
    check(same_run(out["one"], out["one_mpi"]), "bit-identical: mpirun -np 1 = no mpirun (every file)")
    p = mpirun(2, common + ["--out", out["two"]])
    check(p.returncode == 0, f"2 ranks: {p.stderr.strip()}")
    check(p.stdout.count('"model"') == 1, f"2 ranks: one summary line on stdout (rank 0's): {p.stdout!r}")

    m1, m2 = metrics(out["one"]), metrics(out["two"])
    check([r["step"] for r in m1] == [r["step"] for r in m2] and len(m1) == 8, "2 ranks: the same 8 metrics lines")
    worst = {k: max(rel(a[k], b[k]) for a, b in zip(m1, m2) if k in a) for k in ("loss", "grad_norm", "val_loss")}
    print(f"     largest relative difference 2 ranks vs 1: {worst}")
    for k, v in worst.items():
        check(v < TOL_LOSS, f"2 ranks = 1 rank: {k} within {TOL_LOSS:g} relative (largest {v:.3g})")
    check(all(a["lr"] == b["lr"] for a, b in zip(m1, m2)), "2 ranks = 1 rank: lr bit-identical")
    same_weights(out["one"], out["two"], 8, TOL_WEIGHT)
    cfg = json.load(open(os.path.join(out["two"], "train_config.json")))
    check(cfg.get("ranks") == 2 and cfg.get("batch") == 4, "train_config.json records ranks 2 and the global batch 4")

    p = mpirun(2, common + ["--out", out["two_resumed"], "--stop-at", "4"])
    check(p.returncode == 0, f"2 ranks stopped at step 4: {p.stderr.strip()}")
    p = mpirun(2, common + ["--out", out["two_resumed"], "--resume"])
    check(p.returncode == 0 and same_run(out["two"], out["two_resumed"], resumed=True),
          f"bit-identical: 2 ranks stopped at 4 and resumed on 2 = uninterrupted {p.stderr.strip()}")

    base = with_values(common[:common.index("--val-data")] + common[common.index("--n-layer"):],
                       {"--steps": "80", "--save-every": "1"})
    kill_one_rank(base, tmp, lambda a, b: same_run(a, b, resumed=True))
    bad_input(common, out, tmp)


def rank_pid(tag, rank):
    """The pid of the process of this test's job (env PST_MPI_TEST_TAG) with that rank."""
    want = {f"PST_MPI_TEST_TAG={tag}".encode(), f"OMPI_COMM_WORLD_RANK={rank}".encode()}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            env = set(open(f"/proc/{pid}/environ", "rb").read().split(b"\0"))
        except OSError:
            continue
        if want <= env:
            return int(pid)
    return None


def kill_one_rank(base, tmp, same):
    """SIGKILL of rank 1 after a few checkpoints of `base` (80 steps, a checkpoint each, in
    OUT/checkpoints): mpirun ends the job (no hang), and --resume on 2 ranks finishes
    identical (same(whole, resumed)) to an uninterrupted 2-rank run."""
    whole, killed = os.path.join(tmp, "kill_whole"), os.path.join(tmp, "kill_resumed")
    p = mpirun(2, base + ["--out", whole])
    check(p.returncode == 0, f"2 ranks, 80 steps, a checkpoint each: {p.stderr.strip()}")
    tag = str(os.getpid())
    cmd = ["timeout", "-k", "5", "60", "mpirun", "--timeout", "50", "--oversubscribe", "-np", "2", BIN] + base + \
        ["--out", killed]
    job = subprocess.Popen(cmd, env=dict(ENV, PST_MPI_TEST_TAG=tag), stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)
    latest, victim, t0 = os.path.join(killed, "checkpoints", "latest"), None, time.time()
    while victim is None and job.poll() is None and time.time() - t0 < 30:
        if os.path.islink(latest) and int(os.readlink(latest)[5:]) >= 5:
            victim = rank_pid(tag, 1)
        time.sleep(0.002)
    check(victim is not None, "found rank 1 of the running job after step 5")
    if victim is None:
        job.kill()
        return
    try:
        os.kill(victim, signal.SIGKILL)
    except ProcessLookupError:
        check(False, "rank 1 still running when killed")
    t_kill = time.time()
    try:
        rc = job.wait(timeout=40)
    except subprocess.TimeoutExpired:
        job.kill()
        rc = None
    waited, step = time.time() - t_kill, int(os.readlink(latest)[5:])
    # mpirun exits 137 (128 + SIGKILL, the killed rank's status), long before timeout's 60 s
    check(rc not in (None, 0) and waited < 30,
          f"rank 1 killed at step >= 5: the job ends by itself in {waited:.1f} s, exit {rc} "
          f"(checkpoint of step {step} kept)")
    p = mpirun(2, base + ["--out", killed, "--resume"])
    check(p.returncode == 0 and step < 80 and same(whole, killed),
          f"resumed on 2 ranks from step {step}: bit-identical to the uninterrupted run {p.stderr.strip()}")


def once(stderr, text):
    """text in stderr exactly once (rank 0 alone reports)."""
    return stderr.count(text) == 1


def with_values(args, values):
    """args with the value after each flag of values replaced."""
    return [values.get(args[i - 1], a) if i > 0 else a for i, a in enumerate(args)]


def bad_input(common, out, tmp):
    odd = with_values(common, {"--batch": "3"})
    p = mpirun(2, odd + ["--out", out["bad"]])
    check(p.returncode != 0 and once(p.stderr, "must be a multiple of 2") and "--batch" in p.stderr
          and not os.path.exists(out["bad"]),
          f"--batch 3 on 2 ranks: one clear error, nothing written: {p.stderr[:300]!r}")
    p = mpirun(1, common + ["--out", out["bad"]], extra=common + ["--out", out["bad"], "--lr", "1e-3"])
    check(p.returncode != 0 and once(p.stderr, "started with different options") and "rank 1" in p.stderr
          and not os.path.exists(out["bad"]), f"different options on rank 1: one clear error, nothing written: "
          f"{p.stderr[:300]!r}")
    before = tree(out["one"])
    p = mpirun(2, common + ["--out", out["one"], "--resume"])
    check(p.returncode != 0 and once(p.stderr, "trained on 1 rank and is resumed on 2") and tree(out["one"]) == before,
          f"--resume on 2 ranks of a 1-rank run: one clear error, files unchanged: {p.stderr[:300]!r}")
    p = mpirun(2, ["tokenize", "--help"])
    check(p.returncode != 0 and once(p.stderr, "does not run data parallel yet"),
          f"a command that is not data parallel under mpirun -np 2: refused once: {p.stderr[:300]!r}")


if __name__ == "__main__":
    main()
