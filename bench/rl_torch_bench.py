"""The PyTorch peer of bench/bench_rl.c: the same PPO and REINFORCE steps on the same
GPT-2 shapes (tests/prior/gpt2_reference.py, an independent PyTorch GPT-2).

    /usr/bin/python3 bench/rl_torch_bench.py [--method ppo|reinforce] [--config tiny|small]
        [--batch B] [--new-tokens N] [--steps S] [--epochs E] [--minibatch M] [--threads T]

One step toward the reward r(x) = [x contains a token id < 500] with a KL penalty
beta = 0.2 (score r/beta, as ours on a KL-RL target a.exp(r/beta)):
  1. B samples of N tokens from the policy (KV cache, bench/dpg_torch_bench.py's sample);
  2. reinforce: log a(x) (one prior forward); R = r/beta - beta (log pi - log a);
     A = R - moving-average baseline; forward + backward of -sum A log pi / B;
     ppo: per-token log a (prior forward), log pi_old and values v.h + b (policy
     forward, h the final LayerNorm's output); per-token rewards -beta (log pi_old -
     log a) plus the score at the last token; GAE (gamma 1, lambda 0.95); whitened
     advantages; E epochs over shuffled minibatches of M: forward, clipped policy loss
     (0.2) + 0.1 x clipped value loss (0.2), backward, Adam steps of policy and head;
Adam lr 1e-5, betas 0.9/0.999, gradients clipped at norm 1. One untimed warm-up step;
samples/s = B.S / time of S steps. Prints one JSON line.
"""
import argparse
import copy
import json
import os
import resource
import sys
import time

import torch

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "tests", "prior"))
sys.path.insert(0, os.path.join(here, "..", "tests", "train"))
sys.path.insert(0, here)
import gpt2_reference as ref  # noqa: E402
from dpg_torch_bench import sample, seq_logprob  # noqa: E402
from gpt2_torch_bench import CONFIGS  # noqa: E402
from ppo_reference import _RecordLayerNorm  # noqa: E402

BETA, CLIP, VALUE_CLIP, VF_COEF, LAMBDA = 0.2, 0.2, 0.2, 0.1, 0.95


def token_logprobs_and_hidden(model, seqs):
    """Per-token log pi of seqs[:, 1:] [B, N] and the final hidden states [B, N, C]."""
    rec = _RecordLayerNorm(ref.F)
    saved, ref.F = ref.F, rec
    try:
        logits = model(seqs[:, :-1])
    finally:
        ref.F = saved
    lp = logits.log_softmax(-1).gather(-1, seqs[:, 1:].unsqueeze(-1)).squeeze(-1)
    return lp, rec.last


def gae(rewards, values):
    """Advantages and returns over the last dimension (gamma 1, V_T = 0)."""
    adv = torch.zeros_like(rewards)
    last = torch.zeros(rewards.shape[0], dtype=rewards.dtype)
    for t in reversed(range(rewards.shape[1])):
        nxt = values[:, t + 1] if t + 1 < rewards.shape[1] else torch.zeros_like(last)
        last = rewards[:, t] + nxt - values[:, t] + LAMBDA * last
        adv[:, t] = last
    return adv, adv + values


def ppo_step(policy, prior, head, opt, head_opt, params, seqs, score, args, gen):
    with torch.no_grad():
        lp_prior = prior.logprobs(seqs[:, :-1], seqs[:, 1:])
        lp_old, h = token_logprobs_and_hidden(policy, seqs)
        v_old = h @ head[:-1] + head[-1]
        rewards = -BETA * (lp_old - lp_prior)
        rewards[:, -1] += score
        adv, ret = gae(rewards, v_old)
        adv = (adv - adv.mean()) / (adv.std(unbiased=False) + 1e-8)
    n = seqs.shape[0]
    for _ in range(args.epochs):
        order = torch.randperm(n, generator=gen)
        for b0 in range(0, n, args.minibatch):
            idx = order[b0:b0 + args.minibatch]
            lp, h = token_logprobs_and_hidden(policy, seqs[idx])
            value = h @ head[:-1] + head[-1]
            ratio = torch.exp(lp - lp_old[idx])
            pg = torch.max(-adv[idx] * ratio, -adv[idx] * ratio.clamp(1 - CLIP, 1 + CLIP)).mean()
            v_clip = v_old[idx] + (value - v_old[idx]).clamp(-VALUE_CLIP, VALUE_CLIP)
            vf = 0.5 * torch.max((value - ret[idx]) ** 2, (v_clip - ret[idx]) ** 2).mean()
            opt.zero_grad(set_to_none=True)
            head_opt.zero_grad(set_to_none=True)
            (pg + VF_COEF * vf).backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            head_opt.step()


def reinforce_step(policy, prior, opt, params, seqs, log_q, score, state):
    with torch.no_grad():
        log_a = seq_logprob(prior, seqs).double()
    R = score.double() - BETA * (log_q - log_a)
    mean = float(R.mean())
    baseline = state.get("baseline", mean)
    state["baseline"] = 0.9 * baseline + 0.1 * mean if "baseline" in state else mean
    coef = (R - baseline) / seqs.shape[0]
    opt.zero_grad(set_to_none=True)
    (-(coef.float() * seq_logprob(policy, seqs)).sum()).backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--method", choices=["ppo", "reinforce"], default="ppo")
    ap.add_argument("--config", choices=sorted(CONFIGS), default="tiny")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--minibatch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "0") or 0))
    args = ap.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.manual_seed(1234)
    policy = ref.GPT2(ref.config_from_dict(CONFIGS[args.config]))
    prior = copy.deepcopy(policy)
    for _, p in prior.named_tensors():
        p.requires_grad_(False)
    params = [p for _, p in policy.named_tensors()]
    head = torch.zeros(policy.cfg["n_embd"] + 1, requires_grad=True)
    opt = torch.optim.Adam(params, lr=1e-5, betas=(0.9, 0.999), eps=1e-8)
    head_opt = torch.optim.Adam([head], lr=1e-5, betas=(0.9, 0.95), eps=1e-8)
    gen = torch.Generator().manual_seed(1234)
    state, t_first = {}, None
    for step in range(args.steps + 1):
        seqs, log_q = sample(policy, args.batch, args.new_tokens, gen)
        score = (seqs[:, 1:] < 500).any(dim=1).float() / BETA
        if args.method == "ppo":
            ppo_step(policy, prior, head, opt, head_opt, params, seqs, score, args, gen)
        else:
            reinforce_step(policy, prior, opt, params, seqs, log_q, score, state)
        if step == 0:
            t_first = time.perf_counter()
        print("rl_torch_bench: %s step %d/%d" % (args.method, step, args.steps), file=sys.stderr)
    seconds = time.perf_counter() - t_first
    ppo = args.method == "ppo"
    print(json.dumps({
        "impl": "torch", "bench": args.method, "config": args.config, "batch": args.batch,
        "new_tokens": args.new_tokens, "steps": args.steps, "epochs": args.epochs if ppo else 1,
        "minibatch": args.minibatch if ppo else args.batch, "threads": torch.get_num_threads(),
        "params": sum(t.numel() for t in params), "samples_per_s": round(args.batch * args.steps / seconds, 3),
        "seconds": round(seconds, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
        "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()
