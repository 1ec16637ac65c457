#!/usr/bin/env bash
# make demo — the main job on the bundled defaults, end to end on this machine:
#   1. a tokenizer (2048-token byte-level BPE) learned on the informal-text corpus
#   2. token shards of that corpus
#   3. a small GPT-2 prior a(x) trained from scratch by maximum likelihood
#   4. evidence b(x) = [the text mentions one of a few words]; target p(x) ∝ a(x)·b(x)
#   5. π_θ fine-tuned toward p with DPG with a baseline (GDC++: KL-adaptive proposal, swaps
#      decided on 512 exact samples of p that tune draws itself), 400 steps of 256 samples
#   6. a before/after table: E_π[b], KL(p‖π) measured on 1000 exact samples of p (rejection
#      from a) next to the importance-sampled one, KL(π‖a), diversity, and samples; and
#      runs/demo/report.html (posterior report: curves, tables, samples), whose path it prints
# Every step is a plain `posterior` command; the run folder keeps their outputs.
# Environment: DEMO_DIR (default runs/demo), DEMO_SEED (1), DEMO_PRIOR_STEPS, DEMO_TUNE_STEPS.
set -euo pipefail
build=${1:-build}
P="$build/posterior"
run=${DEMO_DIR:-runs/demo}
seed=${DEMO_SEED:-1}
prior_steps=${DEMO_PRIOR_STEPS:-2500}
tune_steps=${DEMO_TUNE_STEPS:-400}
constraint=${DEMO_CONSTRAINT:-contains:you,your}
start=$(date +%s)
say() { printf '\n== %s  (%ds)\n' "$*" $(( $(date +%s) - start )) >&2; }

rm -rf "$run" && mkdir -p "$run"

say "1/6 tokenizer: 2048-token BPE on nlp-corpus"
"$P" tokenizer train --corpus nlp-corpus --vocab-size 2048 --out "$run/tokenizer"

say "2/6 token shards"
"$P" prepare --corpus nlp-corpus --tokenizer "$run/tokenizer" --segments document \
    --out "$run/data" --seed "$seed" --quiet > "$run/prepare.json"
cat "$run/prepare.json" >&2

say "3/6 prior a(x): GPT-2, 4 layers x 128, $prior_steps steps of 16 x 64 tokens"
"$P" train --data "$run/data.train.bin" --val-data "$run/data.val.bin" --tokenizer "$run/tokenizer" \
    --out "$run/prior" --n-layer 4 --n-head 4 --n-embd 128 --n-positions 64 \
    --steps "$prior_steps" --batch 16 --seq 64 --lr 2e-3 --warmup 50 --seed "$seed" \
    --print-every 200 --quiet

say "4/6 target p(x) ∝ a(x)·b(x), b = $constraint; 1000 exact samples of p (rejection from a)"
"$P" target init --kind pointwise --prior "$run/prior/model" --out "$run/target.json" "$constraint"
"$P" target sample --spec "$run/target.json" --sampler rs --n 1000 --max-new-tokens 40 --seed $((seed + 1000)) \
    --out "$run/reference.jsonl" > /dev/null
"$P" eval --model "$run/prior/model" --spec "$run/target.json" --n 512 --max-new-tokens 40 \
    --reference "$run/reference.jsonl" --data "$run/data.val.bin" --show 4 --seed "$seed" > "$run/eval_prior.json"

say "5/6 DPG with a baseline (GDC++) toward p, $tune_steps steps of 256 samples"
"$P" tune --method dpg --variant baseline --spec "$run/target.json" --out "$run/dpg" \
    --steps "$tune_steps" --batch 256 --lr 1e-4 --lr-min 1e-5 --max-new-tokens 40 --seed "$seed" --quiet
"$P" eval --model "$run/dpg/model" --spec "$run/target.json" --n 512 --max-new-tokens 40 \
    --reference "$run/reference.jsonl" --data "$run/data.val.bin" --show 4 --seed "$seed" > "$run/eval_dpg.json"

say "6/6 before / after"
/usr/bin/env python3 - "$run" <<'PY' || cat "$run/eval_prior.json" "$run/eval_dpg.json"
import json, sys
run = sys.argv[1]
a = json.load(open(f"{run}/eval_prior.json")); d = json.load(open(f"{run}/eval_dpg.json"))
def f(x, k, se=None):
    v = x.get(k)
    if isinstance(v, list): v = v[0]
    if v is None: return "n/a"
    s = f"{v:.3f}"
    if se and x.get(se) is not None:
        e = x[se][0] if isinstance(x[se], list) else x[se]
        s += f" ± {e:.3f}"
    return s
rows = [("constraint satisfaction E_pi[b]", "alignment", "alignment_se"),
        ("KL(p || pi), exact samples of p", "kl_p_pi_exact", "kl_p_pi_exact_se"),
        ("KL(p || pi), IS from pi's samples", "kl_p_pi", "kl_p_pi_se"),
        ("TVD(p, pi), exact samples of p", "tvd_p_pi_exact", "tvd_p_pi_exact_se"),
        ("KL(pi || a)", "kl_pi_a", "kl_pi_a_se"),
        ("ideal KL(p || a) = -log Z (exact)", None, None),
        ("distinct-2", "distinct_2", None),
        ("distinct-3", "distinct_3", None),
        ("mean length (tokens)", "mean_length", None),
        ("LM loss on held-out text", "lm_loss", None)]
print(f"\n{'':36s} {'prior a':>18s} {'DPG policy pi':>18s}")
for name, k, se in rows:
    if k is None:
        lz, se = a.get("log_z_exact"), a.get("log_z_exact_se")
        v = f"{-lz:.3f} ± {se:.3f}" if isinstance(lz, (int, float)) else "n/a"
        print(f"{name:36s} {v:>18s} {'':>18s}")
        continue
    print(f"{name:36s} {f(a, k, se):>18s} {f(d, k, se):>18s}")
for title, x in (("prior", a), ("DPG policy", d)):
    for w in x.get("warnings", []):
        print(f"warning ({title}): {w}")
for title, x in (("prior", a), ("DPG policy", d)):
    print(f"\nsamples from the {title}:")
    for s in x.get("samples", [])[:4]:
        print("  ", json.dumps(s, ensure_ascii=False)[:160])
PY
"$P" report "$run" --out "$run/report.html" --title "make demo: DPG toward p ∝ a·b, b = $constraint" > /dev/null
say "done: everything is in $run"
echo "report: $run/report.html"
