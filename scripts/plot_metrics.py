#!/usr/bin/python3
"""Line charts of metrics.jsonl files (posterior train / tune / pretrain) as one SVG, one
panel per metric, one line per run, each a moving average over --window steps (the
per-step importance-sampled estimates of DPG are noisy). Standard library only.

  scripts/plot_metrics.py --out curves.svg --title "pointwise" \
      --run "baseline=run_point/metrics.jsonl" --run "fixed q=run2/metrics.jsonl" \
      --metric "moments_pi:E_pi[b]" --metric kl_pi_a --hline "moments_pi=0.9" --window 25

A metric whose value is a list (moments_pi) plots its first element. --hline KEY=VALUE
draws a dashed reference line on that metric's panel (a target, an ideal value)."""
import argparse
import json
import os
import sys

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]


def read_runs(specs):
    runs = []
    for spec in specs:
        if "=" not in spec:
            sys.exit(f"plot_metrics: --run '{spec}': expected LABEL=PATH")
        label, path = spec.rsplit("=", 1)  # the label may contain "="
        rows = []
        try:
            with open(path) as f:
                for n, line in enumerate(f, 1):
                    if line.strip():
                        try:
                            rows.append(json.loads(line))
                        except ValueError as e:
                            sys.exit(f"plot_metrics: {path}:{n}: not JSON ({e})")
        except OSError as e:
            sys.exit(f"plot_metrics: --run {label}: {e}")
        runs.append((label, rows))
    return runs


def series(rows, key, window):
    """[(step, moving average of key over the last `window` points)]"""
    pts = []
    for i, r in enumerate(rows):
        v = r.get(key)
        if isinstance(v, list):
            v = v[0] if v else None
        if isinstance(v, (int, float)) and v == v:  # skips null and NaN
            pts.append((r.get("step", i + 1), float(v)))
    out, acc = [], 0.0
    for i, (s, v) in enumerate(pts):
        acc += v
        if i >= window:
            acc -= pts[i - window][1]
        out.append((s, acc / min(i + 1, window)))
    return out


def plot(runs, metrics, hlines, title, window):
    W, H, L, T = 340, 230, 52, 40  # panel size, left / top margins
    pw, ph = W - L - 12, H - 50
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W * len(metrics)}" '
           f'height="{T + H + 14 * len(runs)}" font-family="sans-serif" font-size="11">',
           f'<text x="10" y="18" font-size="13">{title}</text>']
    for k, (key, name) in enumerate(metrics):
        x0, y0 = k * W + L, T
        lines = [(label, series(rows, key, window)) for label, rows in runs]
        xs = [s for _, pts in lines for s, _ in pts] or [0, 1]
        ys = [v for _, pts in lines for _, v in pts] + [v for hk, v in hlines if hk == key] or [0, 1]
        xmin, xmax, ymin, ymax = min(xs), max(xs), min(ys), max(ys)
        if ymax == ymin:
            ymax = ymin + 1
        if xmax == xmin:
            xmax = xmin + 1
        X = lambda s: x0 + (s - xmin) / (xmax - xmin) * pw
        Y = lambda v: y0 + ph - (v - ymin) / (ymax - ymin) * ph
        svg.append(f'<rect x="{x0}" y="{y0}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>')
        svg.append(f'<text x="{x0 + pw / 2}" y="{y0 - 6}" text-anchor="middle">{name} '
                   f'({window}-step mean)</text>')
        for v in (ymin, (ymin + ymax) / 2, ymax):
            svg.append(f'<text x="{x0 - 3}" y="{Y(v) + 4:.1f}" text-anchor="end">{v:.3g}</text>')
        svg.append(f'<text x="{x0}" y="{y0 + ph + 14}">{xmin:g}</text>')
        svg.append(f'<text x="{x0 + pw}" y="{y0 + ph + 14}" text-anchor="end">step {xmax:g}</text>')
        for hk, v in hlines:
            if hk == key:
                svg.append(f'<line x1="{x0}" x2="{x0 + pw}" y1="{Y(v):.1f}" y2="{Y(v):.1f}" '
                           f'stroke="#555" stroke-dasharray="4,3"/>')
                svg.append(f'<text x="{x0 + pw - 2}" y="{Y(v) - 3:.1f}" text-anchor="end" fill="#555">{v:g}</text>')
        for c, (label, pts) in enumerate(lines):
            if pts:
                p = " ".join(f"{X(s):.1f},{Y(v):.1f}" for s, v in pts)
                svg.append(f'<polyline fill="none" stroke="{COLORS[c % len(COLORS)]}" '
                           f'stroke-width="1.4" points="{p}"/>')
    for c, (label, _) in enumerate(runs):
        svg.append(f'<text x="{L}" y="{T + H + 14 * c}" fill="{COLORS[c % len(COLORS)]}">— {label}</text>')
    svg.append("</svg>")
    return "\n".join(svg) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="SVG file to write")
    ap.add_argument("--title", default="")
    ap.add_argument("--run", action="append", required=True, help="LABEL=metrics.jsonl (repeat)")
    ap.add_argument("--metric", action="append", required=True, help="KEY or KEY:label (repeat)")
    ap.add_argument("--hline", action="append", default=[], help="KEY=VALUE reference line (repeat)")
    ap.add_argument("--window", type=int, default=25, help="moving-average window in steps")
    a = ap.parse_args()
    if a.window < 1:
        sys.exit("plot_metrics: --window must be >= 1")
    metrics = [tuple(m.split(":", 1)) if ":" in m else (m, m) for m in a.metric]
    hlines = []
    for h in a.hline:
        try:
            key, v = h.split("=", 1)
            hlines.append((key, float(v)))
        except ValueError:
            sys.exit(f"plot_metrics: --hline '{h}': expected KEY=NUMBER")
    svg = plot(read_runs(a.run), metrics, hlines, a.title, a.window)
    tmp = a.out + ".tmp"
    with open(tmp, "w") as f:
        f.write(svg)
    os.replace(tmp, a.out)


if __name__ == "__main__":
    main()
