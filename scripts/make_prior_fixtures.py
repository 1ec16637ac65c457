#!/usr/bin/python3
"""Writes the PyTorch fixtures that tests/prior/test_gpt2.c checks the C GPT-2 against.

    /usr/bin/python3 scripts/make_prior_fixtures.py [OUT_DIR]   (default tests/fixtures/prior)

One safetensors file, gpt2_tiny.safetensors (config and optimiser settings in
__metadata__), with the C layout of the parameter buffer (16 tensors, layers
stacked, see include/posterior/prior.h):
  tokens, targets [B,T] I32; weights [B,T] F32 (some zero)
  params [N]                  the model (GPT-2 init, then perturbed so that biases
                              and LayerNorm parameters are not trivial)
  logits [B,T,V], logprobs [B,T], loss [1] (F64)   weighted cross-entropy
  grads [N]                   ∂loss/∂params
  dlogprobs_custom [B,T], grads_custom [N]          ∂(Σ c·logprobs)/∂params
  grad_norm [1] (F64), grads_clipped [N]            torch.nn.utils.clip_grad_norm_
  adamw_step1 [N], adamw_step2 [N]                  torch.optim.AdamW after 1 and 2
                              steps on grads_clipped (decay on 2-D weights only)
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "prior"))
import gpt2_reference as ref  # noqa: E402

CONFIG = {"n_layer": 2, "n_head": 4, "n_embd": 32, "n_positions": 16, "vocab_size": 97,
          "layer_norm_epsilon": 1e-5}
B, T = 2, 8
ADAMW = {"lr": 1e-3, "beta1": 0.9, "beta2": 0.95, "eps": 1e-8, "weight_decay": 0.1,
         "max_norm": 0.5}
DECAYED = ("wte", "wpe", "qkvw", "attprojw", "fcw", "fcprojw")


def make(config=CONFIG, B=B, T=T, seed=1234):
    """The fixture tensors and metadata for one config (tests/prior/test_gpt2_torch.py
    calls this with other configs)."""
    torch.manual_seed(seed)
    cfg = ref.config_from_dict(config)
    model = ref.GPT2(cfg)
    with torch.no_grad():  # non-trivial biases and LayerNorm weights
        for name, t in model.named_tensors():
            t.add_(0.05 * torch.randn(t.shape))
    tokens = torch.randint(0, cfg["vocab_size"], (B, T))
    targets = torch.randint(0, cfg["vocab_size"], (B, T))
    weights = torch.rand(B, T) + 0.5
    for i in (2, T + 5):  # two ignored positions
        if i < B * T - 1:
            weights.view(-1)[i] = 0.0
    out = {"tokens": tokens.int().numpy(), "targets": targets.int().numpy(),
           "weights": weights.numpy(), "params": model.c_buffer()}

    logits = model(tokens)
    lp = logits.log_softmax(-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    loss = -(weights * lp).sum() / weights.sum()
    model.zero_grad()
    loss.backward()
    out.update({"logits": logits.detach().numpy(), "logprobs": lp.detach().numpy(),
                "loss": np.array([loss.item()], dtype=np.float64), "grads": model.c_buffer(grad=True)})

    c = torch.randn(B, T)
    model.zero_grad()
    (c * model.logprobs(tokens, targets)).sum().backward()
    out.update({"dlogprobs_custom": c.numpy(), "grads_custom": model.c_buffer(grad=True)})

    # clipping then AdamW, with the weighted-CE gradients
    model.zero_grad()
    model.cross_entropy(tokens, targets, weights).backward()
    norm = torch.nn.utils.clip_grad_norm_([t for _, t in model.named_tensors()], ADAMW["max_norm"])
    g = model.c_buffer(grad=True)
    out.update({"grad_norm": np.array([norm.item()], dtype=np.float64), "grads_clipped": g})
    sizes = [model.c_tensor(n).size for n, _, _ in ref.C_TENSORS]
    mask = np.concatenate([np.full(s, n in DECAYED, dtype=bool)
                           for s, (n, _, _) in zip(sizes, ref.C_TENSORS)])
    p0 = out["params"]
    zeros = np.zeros_like(p0)
    kw = dict(lr=ADAMW["lr"], beta1=ADAMW["beta1"], beta2=ADAMW["beta2"], eps=ADAMW["eps"],
              weight_decay=ADAMW["weight_decay"], decay_mask=mask)
    p1, m1, v1 = ref.adamw_step(p0, g, zeros, zeros, 1, **kw)
    p2, _, _ = ref.adamw_step(p1, g, m1, v1, 2, **kw)
    out.update({"adamw_step1": p1, "adamw_step2": p2})
    meta = dict(cfg)
    meta.update(ADAMW)
    meta.update({"B": B, "T": T, "seed": seed})
    return out, meta


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "tests", "fixtures", "prior")
    os.makedirs(out_dir, exist_ok=True)
    tensors, meta = make()
    path = os.path.join(out_dir, "gpt2_tiny.safetensors")
    ref.save_safetensors(path, tensors, metadata=meta)
    print("wrote %s (%d bytes)" % (path, os.path.getsize(path)))


if __name__ == "__main__":
    main()
