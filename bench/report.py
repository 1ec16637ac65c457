"""Formats bench/run.sh's results (JSON lines) as one Markdown table: ours, PyTorch, ratios,
MFU for training and the bandwidth limit for sampling.

    /usr/bin/python3 bench/report.py [--cpu] RESULTS.jsonl

--cpu divides by CPU time instead of wall time (tokens per CPU-second, and the FMA
peak per CPU-second of each thread): on a machine shared with other jobs, and with
OMP_NUM_THREADS=1, it estimates the quiet machine's single-thread numbers (with
several threads, CPU time also counts threads spinning at barriers). The bandwidth
per CPU-second is only partly corrected: other jobs still share the memory bus.

Lines with "fma_gflops" are the machine's ceilings (bench_ceilings --json): bench/run.sh
measures them at the start and again between the model measurements, because on a
shared host they move by up to 2x within minutes. Each measurement is set against the
higher of the ceilings read just before and just after it (the peak the machine showed
in those minutes: the lower, conservative share). The others come from bench_prior
(impl "c", and "c-bf16" for sampling with bf16 weights: a second table against fp32 at
the same batch) and gpt2_torch_bench.py (impl "torch").
  MFU              = flops_per_token · tokens/s / FMA peak
  bandwidth limit  = batch · read bandwidth / weight_bytes tokens/s (every weight is
                     read once per decoding step; the KV cache and activations are not
                     counted, so the real limit is a little lower)
"""
import json
import sys

TARGETS = {"train": "≥ 3× PyTorch, MFU ≥ 40%", "sample": "≥ 5× PyTorch, ≥ 50% of limit"}


def main():
    args = sys.argv[1:]
    cpu = "--cpu" in args
    args = [a for a in args if a != "--cpu"]
    if len(args) != 1:
        sys.exit("usage: report.py [--cpu] RESULTS.jsonl")
    path = args[0]
    ceils, runs, profiles, machine = [], {}, {}, None  # ceils: (line number, reading)
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                r = json.loads(line)
            except ValueError as e:
                sys.exit("%s:%d: not JSON (%s)" % (path, n, e))
            if "fma_gflops" in r:
                ceils.append((n, r))
            elif "machine" in r:
                machine = r["machine"]
            elif r.get("profile") == "train":
                r["_line"] = n
                profiles[r["config"]] = r
            elif r.get("impl") in ("c", "c-bf16", "torch") and "mode" in r:
                r["_line"] = n
                runs[(r["config"], r["mode"], r["batch"], r["impl"])] = r
            # other lines (other benchmarks' results) are not ours to format
    def peak_of(c):
        return c["fma_gflops_cpu" if cpu else "fma_gflops"] * 1e9

    def bw_of(c):
        return c.get("read_gbs_cpu" if cpu else "read_gbs", c["read_gbs"]) * 1e9

    def near(x):
        """(FMA peak, read bandwidth) for run x: the higher of the ceilings just before and after it"""
        before = [c for line, c in ceils if line < x["_line"]][-1:]
        after = [c for line, c in ceils if line > x["_line"]][:1]
        around = before + after
        if not around:
            return None, None
        return max(peak_of(c) for c in around), max(bw_of(c) for c in around)
    if machine:
        print("Machine: %s\n" % machine)
    if ceils:
        c0 = ceils[0][1]
        print("Ceilings at the start: FMA peak %.1f GFLOP/s, memory read %.1f GB/s%s (%s, %d threads)"
              % (peak_of(c0) / 1e9, bw_of(c0) / 1e9, " per CPU-second" if cpu else "", c0["isa"],
                 c0["threads"]))
        print("Over the run (%d reading(s)): FMA peak %.1f-%.1f GFLOP/s, read %.1f-%.1f GB/s; each share "
              "below is against the higher reading just before and after its measurement.\n"
              % (len(ceils), min(peak_of(c) for _, c in ceils) / 1e9, max(peak_of(c) for _, c in ceils) / 1e9,
                 min(bw_of(c) for _, c in ceils) / 1e9, max(bw_of(c) for _, c in ceils) / 1e9))
    if cpu:
        print("Throughput below is tokens per CPU-second of the process (--cpu).\n")

    def rate(x):
        return x["tokens_per_s"] * x["seconds"] / x["cpu_seconds"] if cpu else x["tokens_per_s"]
    print("| model | measurement | ours (C) | PyTorch | ours / PyTorch | ours vs ceiling "
          "| PyTorch vs ceiling | peak RSS ours / PyTorch (MB) | target |")
    print("|---|---|---|---|---|---|---|---|---|")
    keys = sorted({k[:3] for k in runs if k[3] != "c-bf16"}, key=lambda k: (k[0] != "tiny", k[1] != "train", k[2]))
    for config, mode, batch in keys:
        c, t = runs.get((config, mode, batch, "c")), runs.get((config, mode, batch, "torch"))
        r = c or t
        name = "GPT-2 %s (%.1fM params)" % (config, r["params"] / 1e6)
        if mode == "train":
            what = "train tok/s (B=%d, T=%d)" % (batch, r["seq"])
        else:
            what = "sample tok/s (batch %d, %d new)" % (batch, r["new_tokens"])

        def ceiling(x):
            if not x:
                return "–"
            peak, bw = near(x)
            if mode == "train":
                return ("MFU %.1f%% of %.1f GFLOP/s" % (100 * x["flops_per_token"] * rate(x) / peak, peak / 1e9)
                        if peak else "–")
            limit = batch * bw / x["weight_bytes"] if bw else None
            return "%.0f%% of %.1f tok/s (%.1f GB/s)" % (100 * rate(x) / limit, limit, bw / 1e9) if limit else "–"

        def fmt(x):
            return "%.1f" % rate(x) if x else "–"

        ratio = "%.2f×" % (rate(c) / rate(t)) if c and t else "–"
        mem = "%s / %s" % ("%.0f" % c["peak_rss_mb"] if c else "–", "%.0f" % t["peak_rss_mb"] if t else "–")
        print("| %s | %s | %s | %s | %s | %s | %s | %s | %s |"
              % (name, what, fmt(c), fmt(t), ratio, ceiling(c), ceiling(t), mem, TARGETS[mode]))

    # our training step by operation (pst_gpt2.op_seconds): where the distance to the FMA peak is
    for config in sorted(profiles, key=lambda k: k != "tiny"):
        p = profiles[config]
        peak = near(p)[0]
        total = sum(p["step_s"].values())
        print("\nGPT-2 %s, our training step by operation (wall s a step; the products' GFLOP/s against "
              "%s):\n" % (config, "%.1f GFLOP/s" % (peak / 1e9) if peak else "no ceiling reading"))
        print("| operation | s / step | share of the step | GFLOP/s | of the FMA peak |")
        print("|---|---|---|---|---|")
        flops = {"matmul": p["matmul_flops"], "output": p["output_flops"]}
        for op, sec in p["step_s"].items():
            f = flops.get(op)
            rate_ = f / sec if f and sec > 0 else None
            print("| %s | %.4f | %.1f%% | %s | %s |"
                  % (op, sec, 100 * sec / total if total else 0, "%.1f" % (rate_ / 1e9) if rate_ else "–",
                     "%.1f%%" % (100 * rate_ / peak) if rate_ and peak else "–"))
        print("| step | %.4f | 100%% | | |" % total)

    # the bf16 sampling path (pst_sample_options.bf16_weights) against fp32, same batch
    half = sorted(k[:3] for k in runs if k[3] == "c-bf16")
    if half:
        print("\n| model | sampling, batch | fp32 tok/s | bf16 tok/s | bf16 / fp32 | fp32 vs its limit "
              "| bf16 vs its limit |")
        print("|---|---|---|---|---|---|---|")
    for config, mode, batch in half:
        c, h = runs.get((config, mode, batch, "c")), runs[(config, mode, batch, "c-bf16")]

        def share(x):
            bw = near(x)[1] if x else None
            return "%.0f%% of %.1f" % (100 * rate(x) * x["weight_bytes"] / (batch * bw),
                                       batch * bw / x["weight_bytes"]) if bw else "–"
        print("| GPT-2 %s | %d (%d new) | %s | %.1f | %s | %s | %s |"
              % (config, batch, h["new_tokens"], "%.1f" % rate(c) if c else "–", rate(h),
                 "%.2f×" % (rate(h) / rate(c)) if c else "–", share(c), share(h)))


if __name__ == "__main__":
    main()
