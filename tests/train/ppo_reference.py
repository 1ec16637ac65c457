"""PPO's loss and gradients in PyTorch, the independent peer of src/train/ppo.c.

Ziegler et al. (2019) as in naver/gdc's baseline and trl: for each token t of a
minibatch of continuations (each after its context), with the policy's log-prob
log pi_t, the value V_t = v . h_t + b on the final hidden state h_t (the output of
the last LayerNorm at the position that predicts token t), and the rollout's
log pi_old, V_old, advantage A and return R:

    rho  = exp(log pi_t - log pi_old)
    pg   = max(-A rho, -A clamp(rho, 1 - clip, 1 + clip))
    vf   = 0.5 max((V - R)^2, (V_old + clamp(V - V_old, -value_clip, value_clip) - R)^2)
    L    = mean_tokens(pg) + vf_coef mean_tokens(vf)

computed with autograd in float64 on tests/prior/gpt2_reference.py's GPT-2, one
sequence at a time (no padding). make() builds a random model and minibatch with the
clipping active or inactive and returns the inputs of `test_ppo_gpt2 --eval` and the
expected loss, clip fractions and gradients (model, in the C buffer layout; value head).

    /usr/bin/python3 tests/train/ppo_reference.py OUT_DIR   # writes one case there
"""
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "prior"))
import gpt2_reference as ref  # noqa: E402

CONFIG = {"n_layer": 2, "n_head": 2, "n_embd": 16, "n_positions": 16, "vocab_size": 37,
          "layer_norm_epsilon": 1e-5}
CONTEXT_LENGTHS = [1, 2, 3, 1, 2]
CONTINUATION_LENGTHS = [5, 3, 6, 2, 4]


class _RecordLayerNorm:
    """Stands in for torch.nn.functional inside gpt2_reference: passes every call
    through and keeps the output of the last layer_norm (the final ln_f: h)."""

    def __init__(self, functional):
        self.functional = functional
        self.last = None

    def layer_norm(self, *args, **kwargs):
        self.last = self.functional.layer_norm(*args, **kwargs)
        return self.last

    def __getattr__(self, name):
        return getattr(self.functional, name)


def logprobs_and_hidden(model, seq):
    """log pi of seq[1:] given seq[:-1] and the hidden states there, [T], [T, C]."""
    rec = _RecordLayerNorm(ref.F)
    saved, ref.F = ref.F, rec
    try:
        logits = model(seq[:-1].unsqueeze(0))[0]
    finally:
        ref.F = saved
    lp = logits.log_softmax(-1).gather(-1, seq[1:].unsqueeze(-1)).squeeze(-1)
    return lp, rec.last[0]


def ppo_loss(model, v, b, contexts, continuations, lp_old, v_old, adv, ret, clip, value_clip, vf_coef):
    """L, mean pg, mean vf, clip fractions (policy, value); per-token arrays flat."""
    pgs, vfs, clipped, vclipped = [], [], [], []
    at = 0
    for c, x in zip(contexts, continuations):
        seq = torch.tensor(c + x)
        lp, h = logprobs_and_hidden(model, seq)
        T = len(x)
        lp, h = lp[len(c) - 1:], h[len(c) - 1:]  # the continuation's positions
        sl = slice(at, at + T)
        at += T
        value = h @ v + b
        ratio = torch.exp(lp - lp_old[sl])
        unclipped = -adv[sl] * ratio
        with_clip = -adv[sl] * torch.clamp(ratio, 1 - clip, 1 + clip)
        pgs.append(torch.max(unclipped, with_clip))
        clipped.append(with_clip > unclipped)
        v_clip = v_old[sl] + torch.clamp(value - v_old[sl], -value_clip, value_clip)
        l1, l2 = (value - ret[sl]) ** 2, (v_clip - ret[sl]) ** 2
        vfs.append(0.5 * torch.max(l1, l2))
        vclipped.append(l2 > l1)
    pg, vf = torch.cat(pgs).mean(), torch.cat(vfs).mean()
    return (pg + vf_coef * vf, pg, vf, torch.cat(clipped).double().mean().item(),
            torch.cat(vclipped).double().mean().item())


def make(model_dir, clipping, seed=7, clip=0.2, value_clip=0.2, vf_coef=0.1):
    """Writes a random model to model_dir; returns (the --eval input, the expected)."""
    torch.manual_seed(seed)
    cfg = ref.config_from_dict(CONFIG)
    model = ref.GPT2(cfg)
    with torch.no_grad():
        for _, t in model.named_tensors():
            t.add_(0.1 * torch.randn(t.shape))
    ref.save_model_dir(model, model_dir)
    # the C model is float32: the reference starts from exactly those weights, in float64
    model = ref.load_model_dir(model_dir).double()
    C, V = CONFIG["n_embd"], CONFIG["vocab_size"]
    contexts = [torch.randint(0, V, (n,)).tolist() for n in CONTEXT_LENGTHS]
    continuations = [torch.randint(0, V, (n,)).tolist() for n in CONTINUATION_LENGTHS]
    vh = (0.3 * torch.randn(C + 1)).float().double()
    v, b = vh[:C].clone().requires_grad_(True), vh[C:].clone().requires_grad_(True)
    with torch.no_grad():  # the current log pi and V, from which the rollout's are drawn
        lp_now, v_now = [], []
        for c, x in zip(contexts, continuations):
            lp, h = logprobs_and_hidden(model, torch.tensor(c + x))
            lp_now.append(lp[len(c) - 1:])
            v_now.append(h[len(c) - 1:] @ vh[:C] + vh[C])
        lp_now, v_now = torch.cat(lp_now), torch.cat(v_now)
    N = lp_now.numel()
    noise = 0.5 if clipping else 0.02  # |log rho| up to ~1 (clipped) or < 0.1 (not)

    def f32(t):
        return t.float().double()

    lp_old = f32(lp_now + noise * torch.randn(N))
    v_old = f32(v_now + noise * torch.randn(N))
    adv = f32(torch.randn(N))
    ret = f32(v_old + (1.0 if clipping else 0.1) * torch.randn(N))
    loss, pg, vf, cf, vcf = ppo_loss(model, v, b, contexts, continuations, lp_old, v_old, adv, ret,
                                     clip, value_clip, vf_coef)
    model.zero_grad()
    loss.backward()
    grads = np.concatenate([model.c_tensor(n, grad=True) for n, _, _ in ref.C_TENSORS])
    grads64 = [torch.cat([model.p(nm).grad.reshape(-1) for nm in _names(cfg, hf, per_layer)]).numpy()
               for _, hf, per_layer in ref.C_TENSORS]
    inp = {"model": model_dir, "micro_batch": 2, "contexts": contexts, "xs": continuations,
           "lp_old": lp_old.tolist(), "v_old": v_old.tolist(), "adv": adv.tolist(), "ret": ret.tolist(),
           "vh": vh.tolist(), "clip": clip, "value_clip": value_clip, "vf_coef": vf_coef}
    expected = {"loss": loss.item(), "policy_loss": pg.item(), "value_loss": vf.item(),
                "clip_fraction": cf, "value_clip_fraction": vcf, "grads": grads,
                "grads64": grads64, "vh_grad": torch.cat([v.grad, b.grad]).numpy()}
    return inp, expected


def _names(cfg, hf, per_layer):
    return ["h.%d.%s" % (i, hf) for i in range(cfg["n_layer"])] if per_layer else [hf]


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "ppo_case"
    os.makedirs(out, exist_ok=True)
    inp, exp = make(os.path.join(out, "model"), clipping=True)
    with open(os.path.join(out, "in.json"), "w") as f:
        json.dump(inp, f)
    print("loss %.9g (policy %.6g, value %.6g), clip fractions %.3f / %.3f" % (
        exp["loss"], exp["policy_loss"], exp["value_loss"], exp["clip_fraction"], exp["value_clip_fraction"]))


if __name__ == "__main__":
    main()
