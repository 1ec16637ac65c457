"""posterior report in a real browser (Debian's headless chromium, tests/cdp.py): a report
of two runs opens with no console error, no exception and no blocked load; each curve has
one point per value of its metric in metrics.jsonl (counted here); every panel is laid out;
a screenshot is not blank; samples holding <script> and <img onerror> show as text and run
nothing. Skipped (exit 77) when chromium is not installed."""
import json
import os
import random
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import cdp  # noqa: E402
from checks import check, finish  # noqa: E402

cdp.skip_without_chromium("the report's browser test")
BIN = os.path.abspath(os.environ.get("POSTERIOR_BIN", "build/posterior"))


HOSTILE = ["<script>window.__pwned = 1</script> you", "<img src=x onerror=\"window.__pwned = 2\"> your turn"]

with tempfile.TemporaryDirectory() as d:
    rng = random.Random(3)
    expected = {}  # (run, metric) -> number of values
    for name, steps in (("alpha", 180), ("beta", 120)):
        r = os.path.join(d, "exp", name)
        os.makedirs(r)
        with open(os.path.join(r, "run.json"), "w") as f:
            json.dump({"method": "dpg", "steps": steps, "target": {"kind": "pointwise",
                                                                   "scorers": ["contains:you,your"]}}, f)
        with open(os.path.join(r, "metrics.jsonl"), "w") as f:
            for s in range(1, steps + 1):
                row = {"step": s, "kl_p_pi": 2 * 0.99 ** s + rng.gauss(0, 0.1), "moments_pi": [1 - 0.8 * 0.98 ** s]}
                if s % 25 == 0:
                    row["kl_p_pi_exact"] = 1.8 * 0.99 ** s
                f.write(json.dumps(row) + "\n")
        expected[(name, "kl_p_pi")] = expected[(name, "moments_pi")] = steps
        expected[(name, "kl_p_pi_exact")] = steps // 25
        with open(os.path.join(r, "eval.json"), "w") as f:
            json.dump({"model": os.path.join(r, "model"), "n": 256, "features": ["contains:you,your"],
                       "alignment": [0.7], "alignment_se": [0.03], "kl_pi_a": 1.0, "kl_pi_a_se": 0.1,
                       "kl_p_pi": 0.7, "kl_p_pi_se": 0.05, "kl_p_pi_exact": 0.72, "kl_p_pi_exact_se": 0.03,
                       "log_z_exact": -1.7, "samples": HOSTILE, "warnings": []}, f)
    out = os.path.join(d, "report.html")
    p = subprocess.run([BIN, "report", os.path.join(d, "exp"), "--out", out], capture_output=True, text=True)
    check(p.returncode == 0, f"report: {p.stderr}")

    b = cdp.Browser()
    try:
        page = b.new_page("file://" + out)
        curves = page.eval("""[...document.querySelectorAll('svg.panel')].map(svg => ({
            metric: svg.dataset.metric, width: svg.getBoundingClientRect().width,
            curves: [...svg.querySelectorAll('polyline.curve')].map(c => ({
                run: +c.dataset.run, declared: +c.dataset.points, drawn: c.points.numberOfItems}))}))""")
        runs = ["alpha", "beta"]
        seen = set()
        for panel in curves:
            check(panel["width"] > 100, f"panel {panel['metric']} laid out ({panel['width']} px)")
            for c in panel["curves"]:
                want = expected.get((runs[c["run"]], panel["metric"]))
                seen.add((runs[c["run"]], panel["metric"]))
                check(c["drawn"] == c["declared"] == want,
                      f"{panel['metric']} of {runs[c['run']]}: {c['drawn']} points drawn, want {want}")
        check(seen == set(expected), f"curves drawn {sorted(seen)} want {sorted(expected)}")
        check(page.eval("document.querySelectorAll('svg.panel circle.hover title').length") > 100, "hover titles")
        # samples: shown as text, nothing ran
        texts = page.eval("[...document.querySelectorAll('pre.sample')].map(p => p.textContent)")
        for h in HOSTILE:
            check(sum(t == h for t in texts) == 2, f"sample {h!r} shown as text in both runs: {texts}")
        check(page.eval("document.querySelectorAll('script, img, iframe, object').length") == 0, "no active element")
        check(page.eval("window.__pwned === undefined"), "no sample ran")
        check(page.eval("document.querySelectorAll('pre.sample mark').length") == 4, "you/your marked")
        png = page.screenshot()
        ink, colours = cdp.png_ink(b, png)
        check(ink > 0.03 and colours > 20, f"screenshot not blank: ink {ink:.3f}, {colours} colours")
        errors = page.errors()
        check(not errors, f"console / log errors: {errors}")
        if os.environ.get("PST_SCREENSHOT"):  # docs/: PST_SCREENSHOT=FILE.png
            open(os.environ["PST_SCREENSHOT"], "wb").write(page.screenshot(full_page=True))
    finally:
        b.close()

finish()
