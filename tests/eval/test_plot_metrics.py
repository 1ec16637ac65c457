"""scripts/plot_metrics.py: moving averages against hand-computed values, one polyline per
run and metric in a well-formed SVG, list-valued metrics, reference lines, bad input."""
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "scripts", "plot_metrics.py")
spec = importlib.util.spec_from_file_location("plot_metrics", SCRIPT)
pm = importlib.util.module_from_spec(spec)
spec.loader.exec_module(pm)

failed = 0


def check(cond, msg):
    global failed
    if not cond:
        failed += 1
        print("FAIL:", msg)


rows = [{"step": 1, "loss": 1.0, "moments_pi": [0.2]}, {"step": 2, "loss": 2.0, "moments_pi": [0.4]},
        {"step": 3, "loss": None, "moments_pi": [0.9]}, {"step": 4, "loss": 6.0, "moments_pi": []}]
s = pm.series(rows, "loss", 2)  # null skipped: points 1, 2, 6 -> 1, 1.5, 4
check([p[0] for p in s] == [1, 2, 4], f"steps {s}")
check(all(abs(a - b) < 1e-12 for a, b in zip([p[1] for p in s], [1.0, 1.5, 4.0])), f"window 2 {s}")
m = pm.series(rows, "moments_pi", 3)  # first element; the empty list skipped: .2, .3, .5
check(all(abs(a - b) < 1e-12 for a, b in zip([p[1] for p in m], [0.2, 0.3, 0.5])) and len(m) == 3, f"list {m}")

with tempfile.TemporaryDirectory() as d:
    a, b = os.path.join(d, "a.jsonl"), os.path.join(d, "b.jsonl")
    with open(a, "w") as f:
        f.write("".join(json.dumps(r) + "\n" for r in rows))
    with open(b, "w") as f:
        f.write("".join(json.dumps({"step": i, "loss": 1.0 / i, "moments_pi": [i / 10]}) + "\n" for i in range(1, 11)))
    out = os.path.join(d, "c.svg")
    r = subprocess.run([sys.executable, SCRIPT, "--out", out, "--title", "t", "--run", f"A={a}", "--run", f"B={b}",
                        "--metric", "loss", "--metric", "moments_pi:E[b]", "--hline", "moments_pi=0.9"],
                       capture_output=True, text=True)
    check(r.returncode == 0, f"exit {r.returncode}: {r.stderr}")
    svg = ET.parse(out).getroot()
    ns = "{http://www.w3.org/2000/svg}"
    polys = svg.findall(f"{ns}polyline")
    check(len(polys) == 4, f"{len(polys)} polylines, want 2 runs x 2 metrics")
    check(len(polys[1].get("points").split()) == 10, "run B has 10 points")
    check(len(svg.findall(f"{ns}line")) == 1, "one reference line")
    texts = " ".join(t.text or "" for t in svg.iter(f"{ns}text"))
    check("E[b]" in texts and "— A" in texts and "— B" in texts, f"labels: {texts[:200]}")
    # bad input: a line that is not JSON names the file and line; nothing written
    with open(a, "a") as f:
        f.write("{oops\n")
    bad = os.path.join(d, "bad.svg")
    r = subprocess.run([sys.executable, SCRIPT, "--out", bad, "--run", f"A={a}", "--metric", "loss"],
                       capture_output=True, text=True)
    check(r.returncode != 0 and f"{a}:5" in r.stderr, f"bad JSON: {r.returncode} {r.stderr}")
    check(not os.path.exists(bad), "no SVG written on error")
    r = subprocess.run([sys.executable, SCRIPT, "--out", bad, "--run", "noequals", "--metric", "loss"],
                       capture_output=True, text=True)
    check(r.returncode != 0 and "LABEL=PATH" in r.stderr, f"bad --run: {r.stderr}")

print("plot_metrics:", "ok" if not failed else f"{failed} failed")
sys.exit(1 if failed else 0)
