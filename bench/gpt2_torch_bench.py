"""The PyTorch peer of bench/bench_prior.c: the same GPT-2 (tests/prior/gpt2_reference.py,
an independent PyTorch implementation), the same shapes, the same measurements.

    /usr/bin/python3 bench/gpt2_torch_bench.py --config small|tiny --mode train|sample
        [--threads N] [--steps N] [--batch B] [--seq T] [--new-tokens N]

train:  one step = zero_grad + forward + cross-entropy + backward + torch.optim.AdamW
        step (betas 0.9/0.95, eps 1e-8, weight decay 0.1 on 2-D weights), on uniform
        random tokens [B, T]; one untimed warm-up step, then N timed steps.
sample: B rows from the end-of-text token, N new tokens each, ancestral sampling at
        temperature 1 with a KV cache (keys and values of past positions are kept
        per layer, each step runs only the new token); one untimed warm-up call.

Prints one JSON line with the fields of bench_prior.c (impl "torch"); peak_rss_mb is
this process's ru_maxrss, which includes the PyTorch runtime itself.
"""
import argparse
import json
import math
import os
import resource
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "prior"))
import gpt2_reference as ref  # noqa: E402

CONFIGS = {
    "small": {"n_layer": 12, "n_head": 12, "n_embd": 768, "n_positions": 1024, "vocab_size": 50257},
    "tiny": {"n_layer": 4, "n_head": 4, "n_embd": 128, "n_positions": 256, "vocab_size": 50257},
}


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def train(model, batch, seq, steps):
    """Seconds for `steps` training steps (after one warm-up step)."""
    cfg = model.cfg
    gen = torch.Generator().manual_seed(1234)
    tok = torch.randint(0, cfg["vocab_size"], (batch * seq + 1,), generator=gen)
    x, y = tok[:-1].view(batch, seq), tok[1:].view(batch, seq)
    decay = [p for n, p in model.named_tensors() if p.dim() == 2]
    no_decay = [p for n, p in model.named_tensors() if p.dim() != 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=3e-4, betas=(0.9, 0.95), eps=1e-8)
    total = cpu = 0.0
    for s in range(steps + 1):
        t0, c0 = time.perf_counter(), time.process_time()
        opt.zero_grad(set_to_none=True)
        loss = model.cross_entropy(x, y)
        loss.backward()
        opt.step()
        dt = time.perf_counter() - t0
        print("gpt2_torch_bench: train step %d/%d  loss %.4f  %.2f s" % (s, steps, loss.item(), dt),
              file=sys.stderr)
        if s > 0:
            total += dt
            cpu += time.process_time() - c0
    return total, cpu, batch * seq * steps


@torch.no_grad()
def decode(model, tokens, pos, cache):
    """One incremental forward of new tokens [B, t] at positions pos..pos+t-1,
    appending keys/values to cache (list of [k, v] per layer, [B, NH, T, hs]).
    Returns the logits of the last position [B, V]."""
    cfg, p = model.cfg, model.p
    B, t = tokens.shape
    C, NH, eps = cfg["n_embd"], cfg["n_head"], cfg["layer_norm_epsilon"]
    hs = C // NH
    x = p("wte.weight")[tokens] + p("wpe.weight")[pos:pos + t].unsqueeze(0)
    for i in range(cfg["n_layer"]):
        h = "h.%d." % i
        a = F.layer_norm(x, (C,), p(h + "ln_1.weight"), p(h + "ln_1.bias"), eps)
        qkv = a @ p(h + "attn.c_attn.weight") + p(h + "attn.c_attn.bias")
        q, k, v = qkv.split(C, dim=2)
        q = q.view(B, t, NH, hs).transpose(1, 2)
        k = k.view(B, t, NH, hs).transpose(1, 2)
        v = v.view(B, t, NH, hs).transpose(1, 2)
        if cache[i] is not None:
            k = torch.cat([cache[i][0], k], dim=2)
            v = torch.cat([cache[i][1], v], dim=2)
        cache[i] = (k, v)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hs))
        if t > 1:
            T = k.shape[2]
            mask = torch.ones(t, T, dtype=torch.bool).tril(diagonal=T - t)
            att = att.masked_fill(~mask, float("-inf"))
        y = (att.softmax(dim=-1) @ v).transpose(1, 2).reshape(B, t, C)
        x = x + y @ p(h + "attn.c_proj.weight") + p(h + "attn.c_proj.bias")
        a = F.layer_norm(x, (C,), p(h + "ln_2.weight"), p(h + "ln_2.bias"), eps)
        a = F.gelu(a @ p(h + "mlp.c_fc.weight") + p(h + "mlp.c_fc.bias"), approximate="tanh")
        x = x + a @ p(h + "mlp.c_proj.weight") + p(h + "mlp.c_proj.bias")
    x = F.layer_norm(x[:, -1], (C,), p("ln_f.weight"), p("ln_f.bias"), eps)
    return x @ p("wte.weight").t()


@torch.no_grad()
def sample(model, batch, new_tokens, gen):
    """Generated tokens [B, new_tokens], from the end-of-text prompt."""
    eot = model.cfg["vocab_size"] - 1
    cache = [None] * model.cfg["n_layer"]
    tok = torch.full((batch, 1), eot, dtype=torch.long)
    out = []
    for pos in range(new_tokens):
        logits = decode(model, tok, pos, cache)
        tok = torch.multinomial(logits.softmax(-1), 1, generator=gen)
        out.append(tok)
    return torch.cat(out, dim=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", choices=sorted(CONFIGS), default="tiny")
    ap.add_argument("--mode", choices=["train", "sample"], default="train")
    ap.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "0") or 0))
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--batch", type=int, default=None)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--new-tokens", type=int, default=None)
    args = ap.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.manual_seed(1234)
    model = ref.GPT2(ref.config_from_dict(CONFIGS[args.config]))
    cfg = model.cfg
    small = args.config == "small"
    n_params = sum(t.numel() for _, t in model.named_tensors())
    n_flop_params = n_params - cfg["n_positions"] * cfg["n_embd"]  # without wpe
    if args.mode == "train":
        batch = args.batch or 4
        seconds, cpu, tokens = train(model, batch, args.seq, args.steps or (3 if small else 10))
        seq, new_tokens = args.seq, 0
    else:
        batch, seq = args.batch or 1, 1
        new_tokens = args.new_tokens or (64 if small else 128)
        gen = torch.Generator().manual_seed(1234)
        sample(model, batch, 4, gen)  # warm-up
        t0, c0 = time.perf_counter(), time.process_time()
        out = sample(model, batch, new_tokens, gen)
        seconds, cpu, tokens = time.perf_counter() - t0, time.process_time() - c0, out.numel()
    print(json.dumps({
        "impl": "torch", "config": args.config, "mode": args.mode, "batch": batch, "seq": seq,
        "new_tokens": new_tokens, "threads": torch.get_num_threads(), "params": n_params,
        "tokens_per_s": round(tokens / seconds, 3), "seconds": round(seconds, 3),
        "cpu_seconds": round(cpu, 3), "peak_rss_mb": round(peak_rss_mb(), 1),
        "flops_per_token": 6.0 * n_flop_params + 12.0 * cfg["n_layer"] * cfg["n_embd"] * args.seq,
        "weight_bytes": 4.0 * n_params, "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()
