"""bench/report.py sets each measurement against the ceilings read around it: the higher
of the readings just before and just after (bench/run.sh reads them between runs). A
results file with known numbers; the shares printed are checked against hand-computed
ones, so a report that used the start-of-run ceiling (or the lower reading) fails."""
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def ceil(fma, bw):
    return {"threads": 2, "isa": "avx512", "fma_gflops": fma, "fma_gflops_cpu": fma,
            "read_gbs": bw, "read_gbs_cpu": bw}


def run(impl, mode, batch, tok_s):
    return {"impl": impl, "config": "small", "mode": mode, "batch": batch, "seq": 256,
            "new_tokens": 64, "threads": 2, "params": 124439808, "tokens_per_s": tok_s,
            "seconds": 10.0, "cpu_seconds": 20.0, "peak_rss_mb": 100.0,
            "flops_per_token": 7.7e8, "weight_bytes": 5.0e8}


lines = [{"machine": "test machine"},
         ceil(400.0, 40.0),              # start of the run: not next to any measurement
         ceil(200.0, 20.0),
         run("c", "train", 4, 200.0),    # around it: 200 and 250 GFLOP/s -> 250
         ceil(250.0, 25.0),
         run("c", "sample", 4, 90.0),    # around it: 25 and 20 GB/s -> 25
         ceil(150.0, 20.0)]
with tempfile.TemporaryDirectory() as d:
    path = os.path.join(d, "results.jsonl")
    with open(path, "w") as f:
        f.write("\n".join(json.dumps(x) for x in lines) + "\n")
    out = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "report.py"), path],
                         capture_output=True, text=True, check=True).stdout

failures = []


def expect(text):
    if text not in out:
        failures.append("expected %r in the report" % text)


mfu = 100 * 7.7e8 * 200.0 / 250e9              # 61.6%
limit = 4 * 25e9 / 5.0e8                       # 200 tok/s
expect("MFU %.1f%% of 250.0 GFLOP/s" % mfu)
expect("%.0f%% of %.1f tok/s (25.0 GB/s)" % (100 * 90.0 / limit, limit))
expect("Ceilings at the start: FMA peak 400.0 GFLOP/s, memory read 40.0 GB/s")
expect("Over the run (4 reading(s)): FMA peak 150.0-400.0 GFLOP/s, read 20.0-40.0 GB/s")
if failures:
    print(out)
    sys.exit("\n".join(failures))
print("ok: bench/report.py uses the higher ceiling around each measurement")
