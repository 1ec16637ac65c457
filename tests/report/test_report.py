"""posterior report: run folders made here with known metrics, evaluations and samples.
Checks the curves' points and moving averages (against values computed here), the reference
line KL(p‖a) = −log Z, the evaluation table, samples escaped with their findings marked
(contains, PII, PEP8 with codes), the experiment table, and bad input (a run folder without
metrics, a malformed metrics line named with the rest drawn, a folder that is no run, an
existing report left intact on error)."""
import html.parser
import json
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from checks import check, finish  # noqa: E402

BIN = os.environ.get("POSTERIOR_BIN", "build/posterior")


def run(*args):
    p = subprocess.run([BIN, "report", *args], capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


HOSTILE = "<script>alert(1)</script> and <img src=x onerror=alert(2)> you"


def make_run(d, name, lr, values, bad_line=None, eval_extra=None):
    """A DPG-like run folder: run.json (pointwise target), metrics.jsonl, eval.json."""
    r = os.path.join(d, name)
    write(os.path.join(r, "run.json"), json.dumps({"method": "dpg", "lr": lr, "batch": 64,
          "target": {"kind": "pointwise", "scorers": ["contains:you,your"]}}))
    lines = [json.dumps({"step": i + 1, "kl_p_pi": v, "kl_p_pi_se": 0.1, "moments_pi": [v / 10]})
             for i, v in enumerate(values)]
    if bad_line is not None:
        lines.insert(bad_line - 1, '{"step": 99, "kl_p_pi": ')  # a run killed mid-line
    write(os.path.join(r, "metrics.jsonl"), "\n".join(lines) + "\n")
    ev = {"model": os.path.join(r, "model"), "n": 512, "kind": "pointwise", "features": ["contains:you,your"],
          "alignment": [0.7], "alignment_se": [0.02], "kl_pi_a": 1.1, "kl_pi_a_se": 0.06,
          "kl_p_pi": 0.68, "kl_p_pi_se": 0.05, "tvd_p_pi": 0.44, "log_z": -1.71, "log_z_se": 0.06,
          "n_exact": 1000, "kl_p_pi_exact": 0.698, "kl_p_pi_exact_se": 0.027, "log_z_exact": -1.5,
          "log_z_exact_se": 0.02, "distinct_2": 0.77, "samples": [HOSTILE, "Your cat.\nno match"],
          "warnings": ["ESS 12 of 512: the IS estimates are unreliable"]}
    ev.update(eval_extra or {})
    write(os.path.join(r, "eval.json"), json.dumps(ev))
    return r


def moving_average(v, w):
    return [sum(v[max(0, i - w + 1):i + 1]) / min(i + 1, w) for i in range(len(v))]


class Page(html.parser.HTMLParser):
    """The tags of the page, with the metric panel each is in."""

    def __init__(self):
        super().__init__()
        self.tags, self.panel, self.titles, self.text = [], None, [], []
        self._in_title = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "svg" and "data-metric" in a:
            self.panel = a["data-metric"]
        self.tags.append((tag, a, self.panel))
        self._in_title = tag == "title"
        if self._in_title:
            self.titles.append([self.panel, ""])

    def handle_endtag(self, tag):
        if tag == "svg":
            self.panel = None
        if tag == "title":
            self._in_title = False

    def handle_data(self, data):
        self.text.append(data)
        if self._in_title and self.titles:
            self.titles[-1][1] += data


with tempfile.TemporaryDirectory() as d:
    exp = os.path.join(d, "exp")
    a_vals = [2.0, 1.5, 1.0, 0.9, 0.8, 0.5]
    b_vals = [1.8, 1.6, 1.2, 0.7]
    make_run(exp, "a", 1e-4, a_vals, bad_line=3)
    make_run(exp, "b", 3e-4, b_vals)
    out = os.path.join(d, "r.html")
    rc, so, se = run(exp, "--out", out, "--window", "2")
    check(rc == 0, f"report of an experiment: rc {rc}: {se}")
    check("a/metrics.jsonl:3: not a JSON object; line skipped" in se, f"the malformed line is named: {se}")
    summary = json.loads(so)
    check(summary["runs"] == 2 and summary["evaluations"] == 2, f"summary {summary}")
    # curves: kl_p_pi and moments_pi for each run (kl_p_pi_se is in the hover text)
    check(summary["curves"] == 4 and summary["points"] == 2 * (len(a_vals) + len(b_vals)), f"summary {summary}")
    page_text = open(out).read()
    p = Page()
    p.feed(page_text)
    curves = [(a, panel) for tag, a, panel in p.tags if tag == "polyline" and a.get("class") == "curve"]
    check(sorted(panel for _, panel in curves) == ["kl_p_pi", "kl_p_pi", "moments_pi", "moments_pi"],
          f"one curve per run and metric: {[c[1] for c in curves]}")
    for a, panel in curves:
        n = len(a["points"].split())
        want = len(a_vals) if a["data-run"] == "0" else len(b_vals)
        check(n == want == int(a["data-points"]), f"{panel} run {a['data-run']}: {n} points, want {want}")
    # hover: every value with its standard error and the mean of the last 2, as computed here
    for run_name, vals in (("a", a_vals), ("b", b_vals)):
        titles = [t for panel, t in p.titles if panel == "kl_p_pi" and t.startswith(run_name + " ")]
        check(len(titles) == len(vals), f"{run_name}: {len(titles)} hover points")
        for t, v, m in zip(titles, vals, moving_average(vals, 2)):
            got = re.search(r": ([-\d.e+]+) ± 0\.1 \(mean of the last \d: ([-\d.e+]+)\)", t)
            check(got and abs(float(got.group(1)) - v) < 1e-9 and abs(float(got.group(2)) - m) < 1e-9,
                  f"hover {t!r}: want {v} and mean {m}")
    # KL(p‖a) = −log Z from the evaluation's exact estimate (log_z_exact = −1.5)
    refs = [t for panel, t in p.titles if panel == "kl_p_pi" and "KL(p‖a)" in t]
    check(len(refs) == 2 and all(t.endswith("= 1.5") for t in refs), f"reference lines {refs}")
    check(any(panel == "moments_pi" and "E_p[b] = 1" in t for panel, t in p.titles), "E_p[b] = 1 line")
    # evaluation tables: exact beside IS, with standard errors; warnings
    check("0.698 ± 0.027" in page_text and "0.68 ± 0.05" in page_text, "KL(p‖π) exact and IS with s.e.")
    check("ESS 12 of 512: the IS estimates are unreliable" in page_text, "warnings shown")
    # samples: escaped, never markup; the contains words marked
    check("<script" not in page_text.lower() and "<img" not in page_text.lower(), "no script or img element")
    check("&lt;script&gt;alert(1)&lt;/script&gt;" in page_text and "onerror=alert(2)&gt;" in page_text,
          "the hostile sample is shown as text")
    check(page_text.count('<mark class="match" title="MATCH">you</mark>') == 2, "'you' marked in both runs")
    check(page_text.count('<mark class="match" title="MATCH">Your</mark>') == 2, "'Your' marked")
    check("connect-src" not in page_text and "http://" not in page_text.replace("http://www.w3.org/2000/svg", ""),
          "nothing fetched")
    # experiment table: the configuration value that differs (lr), not the one that does not (batch)
    table = page_text[page_text.index('<table class="experiment">'):]
    table = table[:table.index("</table>")]
    check("<th>lr</th>" in table and "<th>batch</th>" not in table, "experiment columns")
    check("0.0003" in table and "0.0001" in table, "lr values")

    # an evaluation kept beside the runs, of a model that is a link into the run's checkpoints
    os.makedirs(os.path.join(exp, "a", "checkpoints", "ckpt-6", "model"))
    os.symlink(os.path.join("checkpoints", "ckpt-6", "model"), os.path.join(exp, "a", "model"))
    os.rename(os.path.join(exp, "a", "eval.json"), os.path.join(exp, "eval_a.json"))
    rc, so, se = run(exp, "--out", out, "--window", "2")
    page_text = open(out).read()
    check(rc == 0 and re.search(r'<h3 style="color:#1f77b4">[^<]*eval_a\.json', page_text),
          "the evaluation of RUN/model (a link) belongs to RUN")

    # findings of PII and PEP8 scorers
    pii = make_run(d, "pii", 1e-4, [1.0, 2.0], eval_extra={
        "features": ["pii", "pep8"], "samples": ["mail me at jo.doe@example.com\nx=1\nok = 2\n"]})
    out2 = os.path.join(d, "pii.html")
    rc, so, se = run(pii, "--out", out2)
    t2 = open(out2).read() if rc == 0 else ""
    check(rc == 0, f"pii run: {se}")
    check(re.search(r'<mark class="pii" title="EMAIL">jo\.doe@example\.com</mark>', t2), "EMAIL span marked")
    check(re.search(r'<span class="pep8" title="E225">x=1 <span class="codes">← E225</span></span>', t2),
          "the PEP8 line with its code")
    check('<span class="pep8" title="E225">ok = 2' not in t2, "a clean line is not shaded")

    # runs kept as files (NAME.metrics.jsonl, NAME.run.json, NAME.eval.json), as experiments keep them
    flat = os.path.join(d, "flat")
    src = make_run(d, "src", 5e-4, [3.0, 2.0, 1.0])
    for kind, name in (("metrics.jsonl", "metrics.jsonl"), ("run.json", "run.json"), ("eval.json", "eval.json")):
        write(os.path.join(flat, "dpg_s1." + kind), open(os.path.join(src, name)).read())
    out3 = os.path.join(d, "flat.html")
    rc, so, se = run(flat, "--out", out3)
    check(rc == 0 and json.loads(so)["runs"] == 1 and json.loads(so)["curves"] == 2, f"flat runs: {so} {se}")
    t3 = open(out3).read() if rc == 0 else ""
    row = re.search(r"<tr><td>dpg_s1</td>(.*?)</tr>", t3)
    check(row and "0.698 ± 0.027" in row.group(1), "the flat run's evaluation is attached to it")

    # bad input
    nometrics = os.path.join(d, "nometrics")
    write(os.path.join(nometrics, "run.json"), "{}")
    write(out, "OLD")
    rc, so, se = run(nometrics, "--out", out)
    check(rc == 1 and "nometrics: a run folder (run.json) without metrics.jsonl" in se, f"no metrics: {rc} {se}")
    check(open(out).read() == "OLD", "the existing report is left intact")
    empty = os.path.join(d, "empty")
    os.makedirs(empty)
    rc, so, se = run(empty, "--out", out)
    check(rc == 1 and "not a run folder (no metrics.jsonl)" in se, f"empty folder: {se}")
    rc, so, se = run(os.path.join(d, "missing"), "--out", out)
    check(rc == 1 and "missing: no such file or folder" in se, f"missing: {se}")
    rc, so, se = run(exp)
    check(rc == 2 and "--out is required" in se, f"no --out: {se}")
    rc, so, se = run("--out", out)
    check(rc == 2 and "expected RUN" in se, f"no run: {se}")
    badjson = os.path.join(d, "bad.json")
    write(badjson, '{"n": 1,\n "kl_pi_a": }')
    rc, so, se = run(badjson, "--out", out)
    check(rc == 1 and "bad.json:2: not valid JSON" in se, f"bad eval JSON: {se}")
    check(open(out).read() == "OLD", "still intact")

finish()
