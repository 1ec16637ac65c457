#!/usr/bin/env python3
"""Interleaved A/B benchmark of two builds on a shared machine (docs/benchmarks.md,
"Portable default vs native"):

    /usr/bin/python3 bench/ab.py A_BUILD B_BUILD [--rounds 3] [--small] [--out FILE]

Each round runs, for A then B (then B then A on the next round, so neither build
always runs first), with OMP_NUM_THREADS=1: bench_prior tiny train, bench_prior tiny
sample (batch 1), bench_dpg tiny (batch 16 x 32 new tokens, 10 steps), and with
--small bench_prior small train (3 steps). Throughput is per CPU second of the child
process (user + system), which a busy machine disturbs far less than wall time, and
also per wall second. Prints per-measurement medians of B/A and the spread of the
ratios over rounds (the noise)."""
import json, os, resource, statistics, subprocess, sys, time

def run(cmd):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.time()
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    wall = time.time() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return json.loads(out.strip().splitlines()[-1]), wall, cpu

def measures(build, small):
    b = lambda name: os.path.join(build, name)
    m = {}
    j, _, _ = run([b("bench_prior"), "--config", "tiny", "--mode", "train"])
    m["tiny train tok/s (CPU)"] = j["tokens_per_s"] * j["seconds"] / j["cpu_seconds"]
    m["tiny train tok/s (wall)"] = j["tokens_per_s"]
    j, _, _ = run([b("bench_prior"), "--config", "tiny", "--mode", "sample", "--batch", "1"])
    m["tiny sample b1 tok/s (CPU)"] = j["tokens_per_s"] * j["seconds"] / j["cpu_seconds"]
    j, wall, cpu = run([b("bench_dpg"), "--config", "tiny", "--batch", "16", "--new-tokens", "32",
                        "--steps", "10"])
    m["dpg tiny samples/s (wall)"] = j["samples_per_s"]
    m["dpg tiny process CPU s (lower is better)"] = cpu
    if small:
        j, _, _ = run([b("bench_prior"), "--config", "small", "--mode", "train"])
        m["small train tok/s (CPU)"] = j["tokens_per_s"] * j["seconds"] / j["cpu_seconds"]
    return m

def main():
    a, b = sys.argv[1], sys.argv[2]
    rounds = int(sys.argv[sys.argv.index("--rounds") + 1]) if "--rounds" in sys.argv else 3
    small = "--small" in sys.argv
    res = {a: [], b: []}
    for r in range(rounds):
        order = (a, b) if r % 2 == 0 else (b, a)
        for build in order:
            res[build].append(measures(build, small))
            print("round %d %s: %s" % (r + 1, build, json.dumps(res[build][-1])), flush=True)
    print("\n| measurement | A median | B median | B/A median | B/A per round |")
    print("|---|---|---|---|---|")
    for k in res[a][0]:
        ra = [x[k] for x in res[a]]
        rb = [x[k] for x in res[b]]
        ratios = [y / x for x, y in zip(ra, rb)]
        print("| %s | %.2f | %.2f | %.3f | %s |" % (k, statistics.median(ra), statistics.median(rb),
              statistics.median(rb) / statistics.median(ra), ", ".join("%.3f" % q for q in ratios)))
    print("\nA = %s, B = %s, %d rounds, load average at the end: %s" % (a, b, rounds, open("/proc/loadavg").read().strip()))

main()
