#!/usr/bin/python3
"""Collects the evaluations of experiments/phf/run.sh into results.md and one SVG scatter
plot per task (misalignment score against LM loss: the Pareto view). Standard library only."""
import argparse
import json
import os

OBJECTIVES = ["mle", "filter", "conditional", "unlikelihood", "rwr", "awr"]
TASKS = ["toxicity", "pii", "pep8"]
COLORS = {"mle": "#000000", "filter": "#1f77b4", "conditional": "#d62728",
          "unlikelihood": "#2ca02c", "rwr": "#9467bd", "awr": "#8c564b",
          "rwr_auto": "#e377c2", "awr_auto": "#bcbd22", "conditional_ft": "#ff7f0e"}
LABELS = {"conditional_ft": "conditional (finetuned from MLE at 50%)",
          "rwr_auto": "rwr (β auto)", "awr_auto": "awr (β auto)"}


def load(path):
    try:
        with open(path) as f:
            return json.loads(f.read())
    except (OSError, ValueError):
        return None


def fmt(v, digits=4):
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.{digits}g}"
    return str(v)


def svg_plot(task, rows, path):
    pts = [(name, r["lm_loss"], r["mean_score"]) for name, r in rows
           if r.get("lm_loss") is not None and r.get("mean_score") is not None]
    W, H, M = 560, 400, 60
    if not pts:
        return
    xs = [p[1] for p in pts]
    ys = [p[2] for p in pts]
    x0, x1 = min(xs), max(xs)
    y0, y1 = 0.0, max(ys)
    if x1 - x0 < 1e-9:
        x0, x1 = x0 - 0.5, x1 + 0.5
    if y1 - y0 < 1e-12:
        y1 = y0 + 1e-3
    pad_x, pad_y = 0.08 * (x1 - x0), 0.08 * (y1 - y0)
    x0, x1, y1 = x0 - pad_x, x1 + pad_x, y1 + pad_y

    def px(x):
        return M + (x - x0) / (x1 - x0) * (W - 2 * M)

    def py(y):
        return H - M - (y - y0) / (y1 - y0) * (H - 2 * M)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
           'font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="{W / 2}" y="20" text-anchor="middle" font-size="14">'
           f'{task}: misalignment vs LM loss (lower-left is better)</text>',
           f'<line x1="{M}" y1="{H - M}" x2="{W - M}" y2="{H - M}" stroke="black"/>',
           f'<line x1="{M}" y1="{M}" x2="{M}" y2="{H - M}" stroke="black"/>',
           f'<text x="{W / 2}" y="{H - 15}" text-anchor="middle">LM loss on held-out data (nats/token)</text>',
           f'<text x="15" y="{H / 2}" text-anchor="middle" transform="rotate(-90 15 {H / 2})">'
           'mean misalignment score of samples</text>']
    for i in range(5):
        xv = x0 + (x1 - x0) * i / 4
        yv = y0 + (y1 - y0) * i / 4
        out.append(f'<text x="{px(xv):.1f}" y="{H - M + 16}" text-anchor="middle">{xv:.3g}</text>')
        out.append(f'<text x="{M - 6}" y="{py(yv) + 4:.1f}" text-anchor="end">{yv:.3g}</text>')
    for name, x, y in pts:
        c = COLORS.get(name.split(" ")[0], "#777777")
        out.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="5" fill="{c}"/>')
        dy = 16 if "(" in name else -6  # variants (steer) labelled below their point
        out.append(f'<text x="{px(x) + 7:.1f}" y="{py(y) + dy:.1f}" fill="{c}">{name}</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def seeds_table(dirs):
    """mean score, Δ vs MLE, LM loss and KL from MLE per seed (one column group per folder)"""
    lines = ["## Seeds", "", "The same grid with other seeds (initialisation, data order, samples; same tokenizer and "
             "shards), values separated by ` / ` in the order: " + ", ".join(f"`{d}`" for d in dirs) + ".", "",
             "| task | objective | mean score | Δ vs MLE | score steer | LM loss | KL from MLE |", "|---|---|---|---|---|---|---|"]
    for task in TASKS:
        if not all(os.path.isdir(os.path.join(d, task)) for d in dirs):
            continue
        for name in OBJECTIVES + ["rwr_auto", "awr_auto", "conditional_ft"]:
            rs = [load(os.path.join(d, task, f"{name}.eval.json")) or {} for d in dirs]
            ms = [load(os.path.join(d, task, "mle.eval.json")) or {} for d in dirs]
            st = [load(os.path.join(d, task, f"{name}.steer.eval.json")) or {} for d in dirs]

            def col(vals):
                return " / ".join(fmt(v) for v in vals)
            delta = " / ".join("—" if r.get("mean_score") is None or not m.get("mean_score") else
                               f"{(r['mean_score'] - m['mean_score']) / m['mean_score'] * 100:+.0f}%"
                               for r, m in zip(rs, ms))
            lines.append(f"| {task} | {LABELS.get(name, name)} | {col(r.get('mean_score') for r in rs)} | {delta} | "
                         f"{col(x.get('mean_score') for x in st) if any(st) else '—'} | "
                         f"{col(r.get('lm_loss') for r in rs)} | {col(r.get('kl_from_reference') for r in rs)} |")
    return lines + [""]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--quick", type=int, default=0)
    ap.add_argument("--command", default="experiments/phf/run.sh")
    ap.add_argument("--seed-dirs", nargs="*", default=[], metavar="DIR",
                    help="other seeds' --out folders: a table of the tasks they share with OUT, seed by seed")
    a = ap.parse_args()
    lines = ["# Pretraining with human feedback: results", "",
             f"Command: `{a.command}`" + {0: " (the full grid)", 1: " (quick smoke test: the numbers mean nothing)",
                                          2: " (small preliminary grid, see run.sh)"}.get(a.quick, ""), ""]
    timing = os.path.join(a.out, "timing.txt")
    if os.path.exists(timing):
        lines += ["Timing (seconds, from timing.txt):", "", "```", open(timing).read().strip(), "```", ""]
    lines += ["Columns: mean misalignment score of unconditional samples (`score`), expected maximum "
              "score over k samples (`E max`), fraction of samples above the task threshold (`frac>t`), "
              "the same expected maximum for continuations of the task's prompts (`prompted E max`), "
              "LM loss on the held-out shard, KL(MLE ‖ model) estimated from MLE samples (± s.e.), "
              "distinct-1/2 and self-BLEU-5. Δ score is relative to MLE's.", ""]
    for task in TASKS:
        d = os.path.join(a.out, task)
        if not os.path.isdir(d):
            continue
        rows = []
        for name in OBJECTIVES + ["rwr_auto", "awr_auto", "conditional_ft"]:
            r = load(os.path.join(d, f"{name}.eval.json"))
            if r:
                rows.append((name, r))
        if not rows:
            continue
        prep = load(os.path.join(d, "prepare.json")) or {}
        mle = dict(rows).get("mle", {})
        lines += [f"## {task}", "",
                  f"Data: {prep.get('train_tokens', '?')} training tokens, {prep.get('documents', '?')} documents, "
                  f"{prep.get('segments', '?')} segments.", "",
                  "| objective | score | Δ score vs MLE | E max | frac>t | prompted E max | LM loss | "
                  "KL from MLE | distinct-1 | distinct-2 | self-BLEU-5 |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for name, r in rows:
            ms, m0 = r.get("mean_score"), mle.get("mean_score")
            delta = "—" if ms is None or not m0 else f"{(ms - m0) / m0 * 100:+.0f}%"
            kl = "—" if r.get("kl_from_reference") is None else \
                f"{r['kl_from_reference']:.3g} ± {fmt(r.get('kl_stderr'), 2)}"
            label = LABELS.get(name, name)
            lines.append(f"| {label} | {fmt(ms)} | {delta} | {fmt(r.get('expected_max_score'))} | "
                         f"{fmt(r.get('fraction_above'))} | {fmt(r.get('prompted_expected_max_score'))} | "
                         f"{fmt(r.get('lm_loss'))} | {kl} | {fmt(r.get('distinct_1'))} | "
                         f"{fmt(r.get('distinct_2'))} | {fmt(r.get('self_bleu_5'))} |")
        ctl = []
        for name in ["conditional", "conditional_ft"]:
            al, mi = dict(rows).get(name), load(os.path.join(d, f"{name}.misaligned.eval.json"))
            st = load(os.path.join(d, f"{name}.steer.eval.json")) or {}
            if al and mi:
                ctl.append(f"| {name} | {fmt(al.get('mean_score'))} | {fmt(mi.get('mean_score'))} | "
                           f"{fmt(st.get('mean_score'))} | {fmt(al.get('fraction_above'))} | "
                           f"{fmt(mi.get('fraction_above'))} | {fmt(st.get('fraction_above'))} |")
        if ctl:
            lines += ["", "Control tokens: the same evaluation after `<|aligned|>` (both control tokens banned, "
                      "as in the paper), after `<|misaligned|>`, and after `<|aligned|>` with only "
                      "`<|misaligned|>` banned (`steer`: the model may re-assert `<|aligned|>` at later "
                      "segments). A model that learned them scores higher after `<|misaligned|>`.", "",
                      "| model | score aligned | score misaligned | score steer | frac>t aligned | "
                      "frac>t misaligned | frac>t steer |",
                      "|---|---|---|---|---|---|---|"] + ctl
        svg = f"{task}.svg"
        plot_rows = list(rows)
        for name in ["conditional", "conditional_ft"]:
            st, al = load(os.path.join(d, f"{name}.steer.eval.json")), dict(rows).get(name)
            if st and al and st.get("mean_score") is not None:
                plot_rows.append((f"{name} (steer)", dict(al, mean_score=st["mean_score"])))
        svg_plot(task, plot_rows, os.path.join(a.out, svg))
        lines += ["", f"![{task}]({svg})", ""]
    if a.seed_dirs:
        lines += seeds_table([a.out] + a.seed_dirs)
    with open(os.path.join(a.out, "results.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
