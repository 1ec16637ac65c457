"""The PyTorch peer of bench/bench_dpg.c: the same on-policy DPG step on the same
GPT-2 shapes (tests/prior/gpt2_reference.py, an independent PyTorch GPT-2).

    /usr/bin/python3 bench/dpg_torch_bench.py [--config tiny|small] [--batch B]
        [--new-tokens N] [--steps S] [--threads T]

One step toward P(x) = a(x)·b(x), b(x) = [x contains a token id < 500]:
  1. B samples of N tokens from the policy (KV cache, temperature 1, from the
     end-of-text token; bench/gpt2_torch_bench.py's incremental decode);
  2. log a(x) from the frozen prior (one forward, no grad);
  3. weights c_i = P/(pi·n·Z) with Z the running mean of P/pi;
  4. forward + backward of -sum c_i log pi(x_i) over the samples with c_i != 0 (the
     others have exactly zero gradient; our trainer skips them too), clipped at norm 1,
     torch.optim.Adam step (lr 1e-5, betas 0.9/0.999).
One untimed warm-up step; samples/s = B·S / time of S steps. Prints one JSON line.
"""
import argparse
import copy
import json
import math
import os
import resource
import sys
import time

import torch

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "tests", "prior"))
sys.path.insert(0, here)
import gpt2_reference as ref  # noqa: E402
from gpt2_torch_bench import CONFIGS, decode  # noqa: E402


@torch.no_grad()
def sample(model, batch, new_tokens, gen):
    """Tokens [B, 1 + N] (the end-of-text prompt, then N sampled tokens) and the
    policy's log-probs of the sampled tokens [B]."""
    eot = model.cfg["vocab_size"] - 1
    cache = [None] * model.cfg["n_layer"]
    tok = torch.full((batch, 1), eot, dtype=torch.long)
    out, logp = [tok], torch.zeros(batch, dtype=torch.float64)
    for pos in range(new_tokens):
        lp = decode(model, tok, pos, cache).log_softmax(-1)
        tok = torch.multinomial(lp.exp(), 1, generator=gen)
        logp += lp.gather(1, tok).squeeze(1).double()
        out.append(tok)
    return torch.cat(out, dim=1), logp


def seq_logprob(model, seqs):
    """log pi(x) of the continuation: sum over positions 1.. of the next-token log-probs."""
    return model.logprobs(seqs[:, :-1], seqs[:, 1:]).sum(dim=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", choices=sorted(CONFIGS), default="tiny")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--steps", type=int, default=5)
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
    opt = torch.optim.Adam(params, lr=1e-5, betas=(0.9, 0.999), eps=1e-8)
    gen = torch.Generator().manual_seed(1234)
    log_w_sum, count = -math.inf, 0
    t_first = None
    for step in range(args.steps + 1):
        seqs, log_q = sample(policy, args.batch, args.new_tokens, gen)
        with torch.no_grad():
            log_a = seq_logprob(prior, seqs).double()
        b = (seqs[:, 1:] < 500).any(dim=1)
        log_target = torch.where(b, log_a, torch.full_like(log_a, -math.inf))
        lw = log_target - log_q
        log_w_sum = float(torch.logsumexp(torch.cat([lw, torch.tensor([log_w_sum], dtype=torch.float64)]), 0))
        count += args.batch
        coef = (lw - (log_w_sum - math.log(count))).exp() / args.batch
        opt.zero_grad(set_to_none=True)
        # samples with c_i = 0 (P(x) = 0) contribute exactly nothing: skipped, as ours does
        keep = coef != 0
        if bool(keep.any()):
            loss = -(coef[keep].float() * seq_logprob(policy, seqs[keep])).sum()
            loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        if step == 0:
            t_first = time.perf_counter()
        print("dpg_torch_bench: step %d/%d" % (step, args.steps), file=sys.stderr)
    seconds = time.perf_counter() - t_first
    n_params = sum(t.numel() for t in params)
    print(json.dumps({
        "impl": "torch", "bench": "dpg", "config": args.config, "batch": args.batch,
        "new_tokens": args.new_tokens, "steps": args.steps, "threads": torch.get_num_threads(),
        "params": n_params, "samples_per_s": round(args.batch * args.steps / seconds, 3),
        "seconds": round(seconds, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
        "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()
