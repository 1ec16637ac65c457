#!/usr/bin/env python3
"""Data-parallel `posterior tune --method dpg --variant kl-adaptive` under `mpirun -np 2
--oversubscribe` (docs/scaling.md).

On a tiny model (1 layer, 16 wide, a 300-token BPE tokenizer) and the target a(x)·[x starts
with a letter a-s]:
  (a) 2 ranks reproduce 1 rank with the same global batch (--batch 16, 16 steps, proposal
      swaps decided on the batch's estimates: 6 of them): every numeric key of
      metrics.jsonl but the timing (samples_per_s) within TOL_REL relative or TOL_ABS
      absolute (the metrics are printed to 6 significant digits; log π_θ and the gradient
      are sums added in another order on 2 ranks: float rounding, not bit equality), the
      same proposal decisions, and the final weights within TOL_WEIGHT;
  (b) bit equality: 1 rank under mpirun -np 1 = 1 rank without mpirun; the same 2 ranks
      twice; a 2-rank run one of whose ranks is killed (SIGKILL) mid-run (the job ends by
      itself), then --resume on 2 ranks = the uninterrupted 2-rank run (final checkpoint,
      model, metrics); and the exact samples (--n-exact 64: the prior's draws split over
      the ranks: the same samples of the same draws) and the measurements on them
      (--exact-every) on 2 ranks = on 1 rank within the tolerance, and so are on-policy DPG, f-DPG (js), GRPO
      and KL-adaptive on a conditional target with 3 prompts (8 steps each);
  (c) bad input, each a clear error said once (by rank 0), a non-zero exit, no hang and
      nothing written: --batch not a multiple of the ranks; ranks started with different
      options (an MPMD command line); --resume on 2 ranks of a run tuned on 1 (its files
      unchanged); --method ppo (not data parallel yet).
Skipped (exit 77) like tests/mpi/test_mpi_train.py: no MPI in the build, the sanitizers,
no mpirun. Every mpirun has a time limit (mpirun --timeout and timeout -k)."""
import json
import os
import random
import sys

import test_mpi_train as mt  # check, mpirun, plain, weights, rank_pid, once, with_values, skip
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "train"))
from test_kill_resume import final_state, metrics, tree  # noqa: E402

TOL_REL = 1e-4     # metrics, relative (one unit of the 6th printed digit is up to 1e-5)
TOL_ABS = 1e-6     # metrics, absolute (values near 0, e.g. KL(pi||a) ~ 4e-7 at step 1)
TOL_WEIGHT = 1e-5  # final weights, absolute (|w| ~ 0.02 .. 1)
check = mt.check


def numbers(row, prefix=""):
    """(key, value) of every number of a metrics row (lists flattened), timing left out."""
    for k, v in row.items():
        if k == "samples_per_s":
            continue
        if isinstance(v, list):
            for i, x in enumerate(v):
                yield f"{prefix}{k}[{i}]", x
        else:
            yield prefix + k, v


def compare_metrics(m1, m2):
    """The largest relative and absolute difference per key; None/null where one is null
    and the other not (infinite)."""
    worst = {}
    for a, b in zip(m1, m2):
        for (k, x), (k2, y) in zip(numbers(a), numbers(b)):
            if k != k2:
                return {"keys differ: " + k + " " + k2: (float("inf"), float("inf"))}
            d = (0.0, 0.0) if x == y else (float("inf"), float("inf")) if x is None or y is None else \
                (abs(x - y) / max(abs(x), abs(y)), abs(x - y))
            key = k.split("[")[0]
            worst[key] = max(worst.get(key, (0.0, 0.0)), d)
    return worst


def within(worst):
    return all(r <= TOL_REL or a <= TOL_ABS for r, a in worst.values())


def main():
    mt.run_main("pst_mpi_tune_", run_all)


def make_target(tmp):
    """A tiny model with a tokenizer (posterior tokenizer train, train) and a target spec."""
    rng = random.Random(1)
    words = "the cat sat on a mat you and your dog are here".split()
    with open(os.path.join(tmp, "c.txt"), "w") as f:
        f.write("\n".join(" ".join(rng.choice(words) for _ in range(10)) for _ in range(300)))
    with open(os.path.join(tmp, "ids.txt"), "w") as f:
        f.write(" ".join(str(rng.randrange(280)) for _ in range(3000)))
    tok, run, spec = (os.path.join(tmp, n) for n in ("tok", "run", "t.json"))
    for args in (["tokenizer", "train", "--corpus", os.path.join(tmp, "c.txt"), "--vocab-size", "300", "--out", tok],
                 ["train", "--data", os.path.join(tmp, "ids.txt"), "--tokenizer", tok, "--out", run, "--n-layer", "1",
                  "--n-head", "2", "--n-embd", "16", "--n-positions", "32", "--steps", "2", "--batch", "2",
                  "--seq", "16", "--quiet"],
                 ["target", "init", "--prior", os.path.join(run, "model"), "--out", spec, "regex:^[a-s]"]):
        p = mt.plain(args)
        check(p.returncode == 0, f"setup: posterior {' '.join(args[:2])}: {p.stderr.strip()}")
    return spec


def run_all(tmp):
    spec = make_target(tmp)
    common = ["tune", "--method", "dpg", "--variant", "kl-adaptive", "--spec", spec, "--steps", "16", "--batch", "16",
              "--max-new-tokens", "8", "--micro-batch", "4", "--n-exact", "0", "--checkpoint-every", "4",
              "--lr", "3e-3", "--proposal-margin", "0", "--quiet", "--seed", "3"]
    out = {k: os.path.join(tmp, k) for k in ("one", "one_mpi", "two", "two_again", "bad")}
    p = mt.plain(common + ["--out", out["one"]])
    check(p.returncode == 0, f"1 rank without mpirun: {p.stderr.strip()}")
    p = mt.mpirun(1, common + ["--out", out["one_mpi"]])
    check(p.returncode == 0 and tree(out["one"]).keys() == tree(out["one_mpi"]).keys() and
          final_state(out["one"]) == final_state(out["one_mpi"]),
          f"bit-identical: mpirun -np 1 = no mpirun (checkpoint, model, metrics) {p.stderr.strip()}")
    p = mt.mpirun(2, common + ["--out", out["two"]])
    check(p.returncode == 0, f"2 ranks: {p.stderr.strip()}")
    check(p.stdout.count('"model"') == 1, f"2 ranks: one summary line on stdout (rank 0's): {p.stdout!r}")

    m1, m2 = metrics(out["one"]), metrics(out["two"])
    check(len(m1) == 16 and [r["step"] for r in m1] == [r["step"] for r in m2], "2 ranks: the same 16 metrics lines")
    swaps = [r["proposal_updated"] for r in m1]
    check(sum(swaps) >= 3 and swaps == [r["proposal_updated"] for r in m2],
          f"2 ranks = 1 rank: the same {sum(swaps)} proposal swaps at the same steps")
    worst = compare_metrics(m1, m2)
    print("     largest difference 2 ranks vs 1 (relative, absolute): " +
          ", ".join(f"{k} {r:.2g} {a:.2g}" for k, (r, a) in sorted(worst.items()) if a > 0))
    check(within(worst), f"2 ranks = 1 rank: every metric within {TOL_REL:g} relative or {TOL_ABS:g} absolute")
    mt.same_weights(out["one"], out["two"], 16, TOL_WEIGHT)
    cfg = json.load(open(os.path.join(out["two"], "run.json")))
    check(cfg.get("ranks") == 2 and cfg.get("batch") == 16, "run.json records ranks 2 and the global batch 16")
    p = mt.mpirun(2, common + ["--out", out["two_again"]])
    check(p.returncode == 0 and final_state(out["two"]) == final_state(out["two_again"]),
          f"bit-identical: the same 2 ranks twice {p.stderr.strip()}")

    exact_samples(common, tmp)
    other_variants(common, spec, tmp)
    base = mt.with_values(common, {"--steps": "80", "--checkpoint-every": "1"})
    mt.kill_one_rank(base, tmp, lambda a, b: final_state(a) == final_state(b))
    bad_input(common, out)


def other_variants(common, spec, tmp):
    """The rest of the DPG loop on 2 ranks = 1 rank within the same tolerances, 8 steps each:
    on-policy (its entropy, mean_length and distinct_2 need the other rank's tokens),
    f-DPG (js), GRPO (advantages over groups of 4), and KL-adaptive on a conditional
    target with 3 prompts (contexts per row, Ẑ per context)."""
    prompts, cspec = os.path.join(tmp, "prompts.txt"), os.path.join(tmp, "ct.json")
    with open(prompts, "w") as f:
        f.write("the cat\nyou and\na dog sat on\n")
    model = os.path.join(os.path.dirname(spec), json.load(open(spec))["prior"])  # relative to the spec
    p = mt.plain(["target", "init", "--prior", model, "--conditional", "--out", cspec, "regex:[a-s]"])
    check(p.returncode == 0, f"setup: a conditional target: {p.stderr.strip()}")
    base = mt.with_values(common, {"--steps": "8"})
    runs = {"on-policy": ["--variant", "on-policy"], "f-js": ["--variant", "f", "--f", "js"],
            "grpo": ["--method", "grpo", "--group-size", "4"],
            "kl-adaptive, 3 prompts": ["--variant", "kl-adaptive", "--spec", cspec, "--prompts", prompts,
                                       "--batch", "12"]}
    for name, extra in runs.items():
        args = [a for a in base if a not in ("--method", "dpg", "--variant", "kl-adaptive")] + extra
        a, b = os.path.join(tmp, f"v1_{len(name)}"), os.path.join(tmp, f"v2_{len(name)}")
        p1, p2 = mt.plain(args + ["--out", a]), mt.mpirun(2, args + ["--out", b])
        ok = p1.returncode == 0 and p2.returncode == 0
        worst = compare_metrics(metrics(a), metrics(b)) if ok else {}
        check(ok and len(metrics(b)) == 8 and within(worst), f"{name}: 2 ranks = 1 rank, every metric within the "
              f"tolerance (not bit-identical: {sorted(k for k, (r, d) in worst.items() if d > 0)}) "
              f"{p1.stderr.strip()[-200:]} {p2.stderr.strip()[-200:]}")
        if ok:
            mt.same_weights(a, b, 8, TOL_WEIGHT)


def exact_samples(common, tmp):
    """--n-exact 64 --exact-every 4: the exact-sample keys (every rank measures its copy of
    the policy on the same exact samples) of 2 ranks = 1 rank within the tolerance."""
    args = mt.with_values(common, {"--n-exact": "64"}) + ["--exact-every", "4"]
    a, b = os.path.join(tmp, "exact1"), os.path.join(tmp, "exact2")
    p1, p2 = mt.plain(args + ["--out", a]), mt.mpirun(2, args + ["--out", b])
    check(p1.returncode == 0 and p2.returncode == 0, f"--n-exact 64 on 1 and 2 ranks: {p1.stderr} {p2.stderr}")
    m1, m2 = metrics(a), metrics(b)
    exact = [r for r in m1 if "kl_p_pi_exact" in r]
    worst = compare_metrics(m1, m2)
    check(len(exact) == 4 and [("kl_p_pi_exact" in r) for r in m1] == [("kl_p_pi_exact" in r) for r in m2] and
          within(worst), f"exact-sample measurements at steps 4, 8, 12, 16: 2 ranks = 1 rank within the tolerance "
          f"(kl_p_pi_exact {worst.get('kl_p_pi_exact')})")
    r1, r2 = ([json.loads(line) for line in open(os.path.join(d, "reference.jsonl"))] for d in (a, b))
    worst = compare_metrics(r1, r2)  # the header (n, proposed, log Z) and each sample's log a, log P
    check(len(r1) == 65 and [x.get("tokens") for x in r1] == [x.get("tokens") for x in r2] and
          r1[0]["proposed"] == r2[0]["proposed"] and within(worst),
          f"the exact samples drawn on 2 ranks (the prior's draws split) = on 1 rank: the same 64 samples of the "
          f"same {r1[0]['proposed']} draws, log-probs within the tolerance ({worst.get('log_prior')})")


def bad_input(common, out):
    p = mt.mpirun(2, mt.with_values(common, {"--batch": "15"}) + ["--out", out["bad"]])
    check(p.returncode != 0 and mt.once(p.stderr, "must be a multiple of 2") and "--batch" in p.stderr
          and not os.path.exists(out["bad"]), f"--batch 15 on 2 ranks: one clear error, nothing written: "
          f"{p.stderr[:300]!r}")
    p = mt.mpirun(1, common + ["--out", out["bad"]], extra=common + ["--out", out["bad"], "--lr", "1e-3"])
    check(p.returncode != 0 and mt.once(p.stderr, "started with different options") and "rank 1" in p.stderr
          and not os.path.exists(out["bad"]), f"different options on rank 1: one clear error, nothing written: "
          f"{p.stderr[:300]!r}")
    before = tree(out["one"])
    p = mt.mpirun(2, common + ["--out", out["one"], "--resume"])
    check(p.returncode != 0 and mt.once(p.stderr, "tuned on 1 rank and is resumed on 2") and
          tree(out["one"]) == before, f"--resume on 2 ranks of a 1-rank run: one clear error, files unchanged: "
          f"{p.stderr[:300]!r}")
    p = mt.mpirun(2, ["tune", "--method", "ppo"] + common[5:] + ["--out", out["bad"]])  # no --variant
    check(p.returncode != 0 and mt.once(p.stderr, "--method ppo does not run data parallel yet") and
          not os.path.exists(out["bad"]), f"--method ppo under mpirun -np 2: refused once: {p.stderr[:300]!r}")


if __name__ == "__main__":
    main()
