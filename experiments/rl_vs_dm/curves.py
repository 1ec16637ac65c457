#!/usr/bin/env python3
"""Curves of experiments/rl_vs_dm/run.sh's runs, one SVG per task (no plotting library: plain SVG).

    /usr/bin/python3 experiments/rl_vs_dm/curves.py OUT_DIR     -> OUT_DIR/TASK.svg

Six panels against samples seen (step × the run's batch), each the mean over seeds: the exact
KL(p‖π) on p's exact samples every --exact-every steps (`kl_p_pi_exact`, log scale, the prior's
own as a dashed line), E_π[φ] on π's batch (`moments_pi`[0]), KL(π‖a) on π's batch, distinct-2,
mean length and the next-token entropy (the last three logged per step since commit cbbabfa, and
only for on-policy batches: off-policy DPG samples q; the legend says which runs have none). Per-step keys are
moving averages over 10 steps. A method's colour is its place in the task's sorted methods."""
import glob, json, math, os, re, statistics, sys

COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf"]
W, H, PAD_L, PAD_R, PAD_T, PAD_B = 420, 300, 58, 24, 28, 40


def load_runs(task_dir):
    """{method: [[metrics line, ...] per seed]} from METHOD_sSEED.metrics.jsonl."""
    runs = {}
    for f in sorted(glob.glob(os.path.join(task_dir, "*_s*.metrics.jsonl"))):
        m = re.match(r"(.*)_s(\d+)\.metrics\.jsonl$", os.path.basename(f))
        lines = [json.loads(l) for l in open(f) if l.strip()]
        runs.setdefault(m.group(1), []).append(lines)
    return runs


def mean_curve(seeds, value):
    """[(step, mean over the seeds that have it)] for the steps where value(line) is not None."""
    by_step = {}
    for lines in seeds:
        for l in lines:
            v = value(l)
            if v is not None and math.isfinite(v):
                by_step.setdefault(l["step"], []).append(v)
    return [(s, statistics.mean(v)) for s, v in sorted(by_step.items())]


def smooth(curve, k=10):
    return [(s, statistics.mean(v for _, v in curve[max(0, i - k + 1):i + 1])) for i, (s, _) in enumerate(curve)]


def panel(x0, title, curves, log_y, hline=None):
    """SVG of one panel at x offset x0: curves = [(name, colour, [(x, y)])]."""
    pts = [p for _, _, c in curves for p in c] + ([(0, hline)] if hline else [])
    if not pts:
        return (f'<text x="{x0 + W / 2}" y="16" text-anchor="middle" font-size="13">{title}</text>'
                f'<text x="{x0 + W / 2}" y="{H / 2}" text-anchor="middle" font-size="11">not logged by these runs</text>')
    f = (lambda y: math.log10(max(y, 1e-3))) if log_y else (lambda y: y)
    xs = [p[0] for p in pts]
    ys = [f(p[1]) for p in pts]
    x_lo, x_hi = 0, max(xs)
    y_lo, y_hi = (math.floor(min(ys)), math.ceil(max(ys))) if log_y else (0.0, max(1.0, max(ys)))
    if y_hi == y_lo:
        y_hi = y_lo + 1
    px = lambda x: x0 + PAD_L + (x - x_lo) / (x_hi - x_lo or 1) * (W - PAD_L - PAD_R)
    py = lambda y: PAD_T + (y_hi - f(y)) / (y_hi - y_lo) * (H - PAD_T - PAD_B)
    out = [f'<text x="{x0 + W / 2}" y="16" text-anchor="middle" font-size="13">{title}</text>',
           f'<rect x="{x0 + PAD_L}" y="{PAD_T}" width="{W - PAD_L - PAD_R}" height="{H - PAD_T - PAD_B}" '
           'fill="none" stroke="#888"/>']
    ticks = [10 ** e for e in range(y_lo, y_hi + 1)] if log_y else [y_lo + i * (y_hi - y_lo) / 4 for i in range(5)]
    for t in ticks:
        out.append(f'<text x="{x0 + PAD_L - 4}" y="{py(t) + 4:.1f}" text-anchor="end" font-size="10">{t:.3g}</text>')
        out.append(f'<line x1="{x0 + PAD_L}" x2="{x0 + W - PAD_R}" y1="{py(t):.1f}" y2="{py(t):.1f}" stroke="#eee"/>')
    for t in range(0, int(x_hi) + 1, max(1, int(x_hi) // 4)):
        out.append(f'<text x="{px(t):.1f}" y="{H - PAD_B + 14}" text-anchor="middle" font-size="10">{t}</text>')
    if hline:
        out.append(f'<line x1="{x0 + PAD_L}" x2="{x0 + W - PAD_R}" y1="{py(hline):.1f}" y2="{py(hline):.1f}" '
                   'stroke="#000" stroke-dasharray="4 3"/>')
    for name, colour, c in curves:
        d = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in c)
        out.append(f'<polyline points="{d}" fill="none" stroke="{colour}" stroke-width="1.5"><title>{name}</title></polyline>')
    return "\n".join(out)


PANELS = [  # title, key, log scale, smoothed
    ("exact KL(p‖π) (dashed: the prior)", lambda l: l.get("kl_p_pi_exact"), True, False),
    ("E_π[φ] on π's batch", lambda l: (l.get("moments_pi") or [None])[0], False, True),
    ("KL(π‖a) on π's batch", lambda l: l.get("kl_pi_a"), True, True),
    ("distinct-2", lambda l: l.get("distinct_2"), False, True),
    ("mean length (tokens)", lambda l: l.get("mean_length"), False, True),
    ("next-token entropy (nats)", lambda l: l.get("entropy"), False, True)]


def task_svg(task, task_dir):
    runs = load_runs(task_dir)
    if not runs:
        return None
    prior = [json.load(open(f)).get("kl_p_pi_exact") for f in glob.glob(os.path.join(task_dir, "prior_s*.eval.json"))]
    prior = [v for v in prior if v is not None]
    batch = {}
    for f in glob.glob(os.path.join(task_dir, "*_s*.run.json")):
        batch[re.sub(r"_s\d+\.run\.json$", "", os.path.basename(f))] = json.load(open(f)).get("batch", 1)
    body, legend = [], []
    for j, (title, key, log_y, smoothed) in enumerate(PANELS):
        curves = []
        for i, name in enumerate(sorted(runs)):
            c = mean_curve(runs[name], key)
            c = [(s * batch.get(name, 1), v) for s, v in (smooth(c) if smoothed else c)]
            if c:
                curves.append((name, COLOURS[i % len(COLOURS)], c))
        hline = statistics.mean(prior) if j == 0 and prior else None
        x0, y0 = (j % 3) * W, (j // 3) * H
        body.append(f'<g transform="translate(0,{y0})">' + panel(x0, title, curves, log_y, hline) + "</g>")
    for i, name in enumerate(sorted(runs)):
        n = len(runs[name])
        per_step = any("distinct_2" in l for lines in runs[name] for l in lines)
        x, y = 20 + (i % 3) * W, 2 * H + 14 + 16 * (i // 3)
        body.append(f'<rect x="{x}" y="{y - 9}" width="14" height="3" fill="{COLOURS[i % len(COLOURS)]}"/>'
                    f'<text x="{x + 20}" y="{y}" font-size="11">{name} ({n} seed{"s" if n > 1 else ""})'
                    f'{"" if per_step else ": no per-step distinct-2 (off-policy batch, or an older build)"}</text>')
    height = 2 * H + 16 * ((len(runs) + 2) // 3) + 24
    body.append(f'<text x="{1.5 * W}" y="{height - 6}" text-anchor="middle" font-size="12">'
                f'task {task}: x axis = samples seen (step × batch)</text>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{3 * W}" height="{height}" '
            f'font-family="sans-serif"><rect width="100%" height="100%" fill="#fff"/>\n'
            + "\n".join(body) + "\n</svg>\n")


def main():
    out = sys.argv[1]
    for task in sorted(d for d in os.listdir(out) if os.path.isdir(os.path.join(out, d))):
        svg = task_svg(task, os.path.join(out, task))
        if svg:
            path = os.path.join(out, task + ".svg")
            with open(path + ".tmp", "w") as f:
                f.write(svg)
            os.replace(path + ".tmp", path)
            print(path)


if __name__ == "__main__":
    main()
