#!/usr/bin/env bash
# DPG (KL-adaptive) on task c beta=1, seed 1, as rl_vs_dm runs it but with a 4x smaller learning
# rate (2.5e-5 -> 2.5e-6); binary: commit cbbabfa (native build). Run 2026-12-05 15:50-15:58 UTC.
export OMP_NUM_THREADS=1
P=/work/exp/bin10/posterior
$P tune --spec /work/exp/rl/out/c_beta1.json --out dpg_lr25 --method dpg --variant kl-adaptive \
  --steps 200 --batch 128 --lr 2.5e-5 --lr-min 2.5e-6 --max-new-tokens 40 \
  --reference /work/exp/rl/out/c_beta1_reference.jsonl --exact-every 25 --seed 1 --quiet 2> dpg_lr25.log
