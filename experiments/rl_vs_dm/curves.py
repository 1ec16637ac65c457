#!/usr/bin/env python3
"""Curves of experiments/rl_vs_dm/run.sh's runs, one SVG per task (no plotting library: plain SVG).

    /usr/bin/python3 experiments/rl_vs_dm/curves.py OUT_DIR     -> OUT_DIR/TASK.svg

Left panel: the exact KL(p‖π) measured on p's exact samples every --exact-every steps
(`kl_p_pi_exact` in each run's metrics.jsonl), log scale, mean over seeds, with the prior's own
exact KL (its eval.json) as a dashed line. Right panel: E_π[φ] (`moments_pi`[0], the constraint's
feature on π's own batch), a moving average over 10 steps, mean over seeds; p's value is in the
table, not drawn. A method's colour is its place in the task's sorted list of methods."""
import glob, json, math, os, re, statistics, sys

COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf"]
W, H, PAD_L, PAD_R, PAD_T, PAD_B = 420, 300, 58, 12, 28, 40


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
        return ""
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
        out.append(f'<text x="{x0 + PAD_L - 4}" y="{py(t) + 4:.1f}" text-anchor="end" font-size="10">{t:g}</text>')
        out.append(f'<line x1="{x0 + PAD_L}" x2="{x0 + W - PAD_R}" y1="{py(t):.1f}" y2="{py(t):.1f}" stroke="#eee"/>')
    for t in range(0, int(x_hi) + 1, max(1, int(x_hi) // 4)):
        out.append(f'<text x="{px(t):.1f}" y="{H - PAD_B + 14}" text-anchor="middle" font-size="10">{t}</text>')
    out.append(f'<text x="{x0 + W / 2}" y="{H - 8}" text-anchor="middle" font-size="11">step</text>')
    if hline:
        out.append(f'<line x1="{x0 + PAD_L}" x2="{x0 + W - PAD_R}" y1="{py(hline):.1f}" y2="{py(hline):.1f}" '
                   'stroke="#000" stroke-dasharray="4 3"/>')
    for name, colour, c in curves:
        d = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in c)
        out.append(f'<polyline points="{d}" fill="none" stroke="{colour}" stroke-width="1.5"><title>{name}</title></polyline>')
    return "\n".join(out)


def task_svg(task, task_dir):
    runs = load_runs(task_dir)
    if not runs:
        return None
    prior = [json.load(open(f)).get("kl_p_pi_exact") for f in glob.glob(os.path.join(task_dir, "prior_s*.eval.json"))]
    prior = [v for v in prior if v is not None]
    kl, phi, legend = [], [], []
    for i, name in enumerate(sorted(runs)):
        colour = COLOURS[i % len(COLOURS)]
        kl.append((name, colour, mean_curve(runs[name], lambda l: l.get("kl_p_pi_exact"))))
        phi.append((name, colour, smooth(mean_curve(runs[name], lambda l: (l.get("moments_pi") or [None])[0]))))
        legend.append((name, colour, len(runs[name])))
    rows = (len(legend) + 2) // 3
    height = H + 16 * rows + 8
    body = [panel(0, f"task {task}: exact KL(p‖π) (log; dashed: the prior)", kl, True,
                  statistics.mean(prior) if prior else None),
            panel(W, "E_π[φ] on π's batch (10-step average)", phi, False)]
    for i, (name, colour, n) in enumerate(legend):
        x, y = 20 + (i % 3) * 2 * W // 3, H + 14 + 16 * (i // 3)
        body.append(f'<rect x="{x}" y="{y - 9}" width="14" height="3" fill="{colour}"/>'
                    f'<text x="{x + 20}" y="{y}" font-size="11">{name} ({n} seed{"s" if n > 1 else ""})</text>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{2 * W}" height="{height}" '
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
