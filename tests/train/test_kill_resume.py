#!/usr/bin/env python3
"""Crash consistency: `posterior train`, `pretrain` (awr: model + value head) and `tune`
(DPG variants) are killed with SIGKILL at random (seeded) moments and resumed until they
finish; checks, against an uninterrupted run with the same seed:
  (a) every restart succeeds: --resume when a complete checkpoint exists, a fresh start
      when none does (a kill before the first checkpoint);
  (b) the finished run is bit-identical: every file of the final checkpoint and of the
      model, and metrics.jsonl without its timing fields;
  (c) nothing partial or temporary is left (no *.tmp.*, one ckpt-STEP), and, before each
      restart, the latest pointer never names a temporary (none is ever loaded).
Every step writes a checkpoint (--save-every 1), so many kills land inside a write; those
that left a temporary behind are counted.

CI runs a short version (3 kills per command). The long version:
    nice -n 19 python3 tests/train/test_kill_resume.py --kills 20 --variants all
(or PST_KILLS=20). POSTERIOR_BIN names the binary (default build/posterior)."""
import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

BIN = os.environ.get("POSTERIOR_BIN", "build/posterior")
ENV = dict(os.environ, OMP_NUM_THREADS="1")
TIMING = {"tokens_per_s", "elapsed_s", "samples_per_s", "op_s"}
SMALL = ["--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--n-positions", "32", "--batch", "2",
         "--seq", "16", "--quiet", "--seed", "3"]


def run(args, check=True):
    p = subprocess.run([BIN] + args, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if check and p.returncode != 0:
        sys.exit(f"FAIL: {' '.join(args)} exited {p.returncode}: {p.stderr}")
    return p


def tree(d):
    """{relative path: bytes} of every file under d (links followed)."""
    out = {}
    for root, _, files in os.walk(d, followlinks=True):
        for f in files:
            p = os.path.join(root, f)
            out[os.path.relpath(p, d)] = open(p, "rb").read()
    return out


def temporaries(d):
    return sorted(os.path.relpath(os.path.join(r, n), d) for r, ds, fs in os.walk(d) for n in ds + fs
                  if ".tmp." in n)


def metrics(d):
    rows = [json.loads(l) for l in open(os.path.join(d, "metrics.jsonl"))]
    return [{k: v for k, v in r.items() if k not in TIMING} for r in rows]


def final_state(d):
    """What must be bit-identical: the final checkpoint, the model and the metrics."""
    ck = os.path.join(d, "checkpoints")
    names = [n for n in os.listdir(ck) if n.startswith("ckpt-")]
    if len(names) != 1:
        sys.exit(f"FAIL: {ck} holds {sorted(os.listdir(ck))}, want one ckpt-STEP")
    return {"checkpoint": (names[0], tree(os.path.join(ck, names[0]))),
            "model": tree(os.path.join(d, "model")), "metrics": metrics(d)}


def has_checkpoint(d):
    ck = os.path.join(d, "checkpoints")
    return os.path.isdir(ck) and any(n.startswith("ckpt-") and ".tmp." not in n for n in os.listdir(ck))


def done_steps(out):
    latest = os.path.join(out, "checkpoints", "latest")
    return int(os.readlink(latest)[5:]) if os.path.islink(latest) and has_checkpoint(out) else 0


def killed_run(name, args, out, n_kills, timing, steps, rng, stats):
    """Runs args --out out, killing it n_kills times at random moments, restarting
    (--resume once a checkpoint exists) until it finishes. timing["duration"]: the time
    of a whole run, shortened when a fresh run ends before its kill."""
    kills = 0
    while True:
        latest = os.path.join(out, "checkpoints", "latest")
        if os.path.islink(latest) and ".tmp." in os.readlink(latest):
            sys.exit(f"FAIL: {name}: {latest} names a temporary: {os.readlink(latest)}")
        resume = has_checkpoint(out)
        cmd = [BIN] + args + ["--out", out] + (["--resume"] if resume else [])
        stats["resumes"] += resume
        t0 = time.time()
        p = subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if kills < n_kills:
            time.sleep(rng.uniform(0.0, 0.9 * timing["duration"] * (1 - done_steps(out) / steps)))
            if p.poll() is not None and not resume:
                timing["duration"] = min(timing["duration"], time.time() - t0)
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                p.wait()
                kills += 1
                stats["kills"] += 1
                stats["in_write"] += bool(temporaries(out))
                stats["before_first"] += not has_checkpoint(out)
                continue
        err = p.communicate()[1]
        if p.returncode != 0:
            sys.exit(f"FAIL: {name}: {'resume' if resume else 'restart'} after {kills} kills exited "
                     f"{p.returncode}: {err}")
        return kills


def check_same(name, ref, out, kills):
    left = temporaries(out)
    if left:
        sys.exit(f"FAIL: {name}: temporaries left after the run: {left}")
    a, b = final_state(ref), final_state(out)
    if a["checkpoint"][0] != b["checkpoint"][0]:
        sys.exit(f"FAIL: {name}: final checkpoint {b['checkpoint'][0]}, want {a['checkpoint'][0]}")
    for part in ("checkpoint", "model"):
        ta, tb = (a[part][1], b[part][1]) if part == "checkpoint" else (a[part], b[part])
        if ta.keys() != tb.keys():
            sys.exit(f"FAIL: {name}: {part} files {sorted(tb)} != {sorted(ta)}")
        diff = [f for f in ta if ta[f] != tb[f]]
        for f in diff:
            if f.endswith(".json"):
                print(f"{f}: uninterrupted {ta[f].decode()}\n{f}: killed      {tb[f].decode()}", file=sys.stderr)
        if diff:
            sys.exit(f"FAIL: {name}: after {kills} kills, {part} files differ from the uninterrupted run: {diff}")
    if a["metrics"] != b["metrics"]:
        sys.exit(f"FAIL: {name}: metrics differ from the uninterrupted run")


def check_command(name, args, root, n_kills, rng, stats):
    """An uninterrupted reference run, then killed runs (each one checked against it)
    until n_kills kills have landed (a run may finish before its kill comes)."""
    ref = os.path.join(root, name + ".ref")
    t0 = time.time()
    run(args + ["--out", ref])
    timing = {"duration": time.time() - t0}
    steps = int(args[args.index("--steps") + 1])
    kills = runs = 0
    while kills < n_kills and runs < 3 * n_kills + 3:
        out = os.path.join(root, f"{name}.killed{runs}")
        k = killed_run(name, args, out, n_kills - kills, timing, steps, rng, stats)
        check_same(name, ref, out, k)
        shutil.rmtree(out)
        kills += k
        runs += 1
    print(f"{name}: {kills} kills over {runs} runs, each bit-identical (a run: {timing['duration']:.1f} s)", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kills", type=int, default=int(os.environ.get("PST_KILLS", "3")),
                    help="kills per command (and per tune variant)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--variants", default="kl-adaptive",
                    help="DPG variants to tune, comma-separated, or all")
    o = ap.parse_args()
    variants = ["on-policy", "kl-adaptive", "baseline", "f"] if o.variants == "all" else o.variants.split(",")
    rng = random.Random(o.seed)
    root = tempfile.mkdtemp(prefix="pst_kill_resume.")
    stats = {"kills": 0, "in_write": 0, "before_first": 0, "resumes": 0}
    try:
        tok, data = os.path.join(root, "tok"), os.path.join(root, "tox")
        run(["tokenizer", "train", "--corpus", "nlp-corpus", "--vocab-size", "300", "--out", tok])
        run(["prepare", "--corpus", "nlp-corpus", "--max-docs", "300", "--scorer", "toxicity", "--tokenizer", tok,
             "--out", data, "--quiet"])
        steps = ["--steps", str(o.steps), "--save-every", "1", "--warmup", "2"]
        check_command("train", ["train", "--data", data + ".train.bin", "--tokenizer", tok] + SMALL + steps,
                      root, o.kills, rng, stats)
        check_command("pretrain", ["pretrain", "--objective", "awr", "--task", "toxicity", "--data",
                                   data + ".train.bin", "--tokenizer", tok] + SMALL + steps, root, o.kills, rng, stats)
        prior, spec = os.path.join(root, "prior"), os.path.join(root, "spec.json")
        shutil.copytree(os.path.join(root, "train.ref", "model"), prior)
        run(["target", "init", "--kind", "pointwise", "--prior", prior, "--out", spec, "regex:^[a-z]"])
        for v in variants:
            check_command("tune-" + v, ["tune", "--spec", spec, "--variant", v, "--steps", str(o.steps), "--batch", "8",
                                        "--max-new-tokens", "4", "--checkpoint-every", "1", "--quiet", "--seed", "1"],
                          root, o.kills, rng, stats)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"{stats['kills']} kills ({stats['in_write']} left a temporary behind, i.e. inside a write; "
          f"{stats['before_first']} before the first checkpoint), {stats['resumes']} starts with --resume: all succeeded, bit-identical, "
          f"nothing left")


if __name__ == "__main__":
    main()
