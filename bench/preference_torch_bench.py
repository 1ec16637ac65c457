"""The PyTorch peer of bench/bench_preference.c: the same reward-model (Bradley-Terry)
and DPO steps on the same GPT-2 shapes (tests/prior/gpt2_reference.py, float32).

    /usr/bin/python3 bench/preference_torch_bench.py [--config tiny|small] [--mode rm|dpo]
        [--pairs P] [--prompt N] [--response N] [--steps S] [--threads T]

One step on P pairs of random ids (prompt + response tokens; the two responses of a
pair share the prompt): rm: r = w . h_last, -log sigmoid(r_w - r_l), backward through
head and trunk; dpo: the sigmoid DPO loss (beta 0.1) from the responses' log-probs
against precomputed reference log-probs; then clip_grad_norm_(1) and AdamW (lr 1e-5,
betas 0.9/0.95). One untimed warm-up step; prints one JSON line.
"""
import argparse
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "tests", "prior"))
sys.path.insert(0, here)
import gpt2_reference as ref  # noqa: E402
from gpt2_torch_bench import CONFIGS  # noqa: E402


def response_logprobs(model, x, prompt):
    lp = model(x[:, :-1]).log_softmax(-1).gather(-1, x[:, 1:].unsqueeze(-1)).squeeze(-1)
    return lp[:, prompt - 1:].sum(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="tiny")
    ap.add_argument("--mode", default="rm")
    ap.add_argument("--pairs", type=int, default=8)
    ap.add_argument("--prompt", type=int, default=16)
    ap.add_argument("--response", type=int, default=48)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    cfg = ref.config_from_dict(CONFIGS[a.config])
    model = ref.GPT2(cfg)
    head = torch.nn.Parameter(0.02 * torch.randn(cfg["n_embd"]))
    V, P, L = cfg["vocab_size"], a.pairs, a.prompt + a.response
    w = torch.randint(0, V, (P, L))
    lo = torch.cat([w[:, :a.prompt], torch.randint(0, V, (P, a.response))], 1)
    x = torch.cat([w, lo])
    params = [t for _, t in model.named_tensors()] + ([head] if a.mode == "rm" else [])
    opt = torch.optim.AdamW(params, lr=1e-5, betas=(0.9, 0.95), weight_decay=0.0)
    if a.mode == "dpo":
        with torch.no_grad():
            ref_lp = response_logprobs(model, x, a.prompt)
    t0 = 0.0
    for s in range(a.steps + 1):
        if s == 1:
            t0 = time.perf_counter()
        opt.zero_grad()
        if a.mode == "rm":
            r = model.hidden(x)[:, -1] @ head
            loss = -F.logsigmoid(r[:P] - r[P:]).mean()
        else:
            lp = response_logprobs(model, x, a.prompt) - ref_lp
            loss = -F.logsigmoid(0.1 * (lp[:P] - lp[P:])).mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
    dt = time.perf_counter() - t0
    print(json.dumps({"impl": "pytorch", "mode": a.mode, "config": a.config, "pairs": P, "seq": L,
                      "threads": a.threads, "steps_per_s": round(a.steps / dt, 4),
                      "pairs_per_s": round(a.steps * P / dt, 2)}))


if __name__ == "__main__":
    main()
