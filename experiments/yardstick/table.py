"""One markdown row per run folder: the final policy's eval (exact and importance-sampled)
and the trainer's exact measurements. Usage: table.py RUN_DIR..."""
import json
import os
import sys


def first(v):
    return v[0] if isinstance(v, list) else v


def fmt(e, k, se=None, d=3):
    v = first(e.get(k))
    if v is None:
        return "—"
    s = f"{v:.{d}f}"
    if se and first(e.get(se)) is not None:
        s += f" ± {first(e[se]):.{d}f}"
    return s


print("| run | E_π[b] | KL(p‖π) exact | KL(p‖π) IS from π | TVD exact | KL(π‖a) | dropped | "
      "mean length | distinct-2 | proposal updates | warnings |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for d in sys.argv[1:]:
    f = os.path.join(d, "eval.json")
    lines = [json.loads(x) for x in open(os.path.join(d, "metrics.jsonl"))]
    name = os.path.basename(os.path.normpath(d))
    if not os.path.exists(f):  # stopped early: the trainer's last measurement on its own exact samples
        m = [x for x in lines if "kl_p_pi_exact" in x]
        if m:
            print(f"| {name} (stopped at step {lines[-1]['step']}) | — | {m[-1]['kl_p_pi_exact']:.3f} ± "
                  f"{m[-1]['kl_p_pi_exact_se']:.3f} (step {m[-1]['step']}, trainer's {m[-1]['n_exact']} samples) | "
                  f"— | — | — | {m[-1]['dropped_fraction']:.3f} | — | — | {lines[-1].get('proposal_updates')} | — |")
        continue
    e = json.load(open(f))
    print(f"| {name} | {fmt(e, 'alignment', 'alignment_se')} | **{fmt(e, 'kl_p_pi_exact', 'kl_p_pi_exact_se')}** | "
          f"{fmt(e, 'kl_p_pi', 'kl_p_pi_se')} | {fmt(e, 'tvd_p_pi_exact', 'tvd_p_pi_exact_se')} | "
          f"{fmt(e, 'kl_pi_a', 'kl_pi_a_se')} | {fmt(e, 'dropped_fraction')} | {fmt(e, 'mean_length', d=1)} | "
          f"{fmt(e, 'distinct_2')} | {lines[-1].get('proposal_updates')} | {len(e.get('warnings', []))} |")
