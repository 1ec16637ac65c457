#!/usr/bin/env bash
# DPG (KL-adaptive) on task c beta=1, seed 1, as rl_vs_dm runs it, with --warmup 25
export OMP_NUM_THREADS=1
P=/work/exp/bin10/posterior
$P tune --spec /work/exp/rl/out/c_beta1.json --out /work/exp/warmup/dpg_w25 --method dpg --variant kl-adaptive \
  --steps 200 --batch 128 --lr 1e-4 --lr-min 1e-5 --warmup 25 --max-new-tokens 40 --reference /work/exp/rl/out/c_beta1_reference.jsonl \
  --exact-every 25 --seed 1 --quiet > dpg_w25.out 2> dpg_w25.log
echo "rc $?"
