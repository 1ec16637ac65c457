#!/usr/bin/python3
"""Preference losses on a small GPT-2 in PyTorch, the numerical peer of
src/train/preference_gpt2.c and src/evidence/reward_model.c.

    /usr/bin/python3 tests/train/preference_reference.py [OUT]
        (default tests/fixtures/train/preference_gpt2.safetensors)

Independent of the C code: the GPT-2 is tests/prior/gpt2_reference.py, the losses are
written here from their formulas (include/posterior/preference.h), and every gradient comes
from torch.autograd in float64. One safetensors file (config, beta, label smoothing in
__metadata__; C layout of the parameter buffers, see include/posterior/prior.h):

  chosen, rejected [n, T] I32 (zero-padded); chosen_len, rejected_len, prompt_len, tie [n] I32
  Reward model r(x) = w . h_last(x) (GPT2ForSequenceClassification, one label):
    rm_params [N], rm_head [C]; rm_rewards [2n] F64 (chosen then rejected);
    bt_loss [1] F64 = mean over pairs of -log s(r_w - r_l) (tie: the mean of both orders);
    bt_head_grad [C], bt_grads [N]
  DPO family on a policy pi with reference a (log-probs of the responses only):
    policy_params [N]; ref_chosen, ref_rejected [n] F64 (sum log a(y_t | y_<t) from a
    third model); for K in sigmoid, csigmoid (label smoothing eps), ipo, hinge:
    K_loss [1] F64 and K_grads [N]; with m = (log pi_w - log a_w) - (log pi_l - log a_l):
      sigmoid  -log s(beta m)          csigmoid  -(1-eps) log s(beta m) - eps log s(-beta m)
      ipo      (m - 1/(2 beta))^2      hinge     max(0, 1 - beta m)
    (a tie is the mean of the loss for m and for -m).
tests/train/test_preference_gpt2.c compares the C code with this file to 1e-5 relative.
"""
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
sys.path.insert(0, os.path.join(ROOT, "tests", "prior"))
import gpt2_reference as ref  # noqa: E402

CONFIG = {"n_layer": 2, "n_head": 2, "n_embd": 32, "n_positions": 16, "vocab_size": 61,
          "layer_norm_epsilon": 1e-5}
N_PAIRS, BETA, EPS = 5, 0.1, 0.1
DEFAULT_OUT = os.path.join(ROOT, "tests", "fixtures", "train", "preference_gpt2.safetensors")


def random_model(cfg, scale):
    """A GPT-2 with GPT-2 initialisation plus noise (non-trivial biases and LayerNorms),
    its parameters rounded to float32, then computing in float64."""
    model = ref.GPT2(cfg)
    with torch.no_grad():
        for _, t in model.named_tensors():
            t.add_(scale * torch.randn(t.shape))
    params = model.c_buffer()
    model.load_c_buffer(params)
    return model.double(), params


def make_pairs(cfg, n):
    """n pairs: <|endoftext|> (id 0 here) + a prompt of 0-2 tokens, responses of 1-5 tokens;
    pair 1 is a tie."""
    V = cfg["vocab_size"]
    pairs = []
    for i in range(n):
        prompt = [0] + torch.randint(1, V, (int(torch.randint(0, 3, ())),)).tolist()
        w = torch.randint(1, V, (int(torch.randint(1, 6, ())),)).tolist()
        lo = torch.randint(1, V, (int(torch.randint(1, 6, ())),)).tolist()
        pairs.append((prompt, prompt + w, prompt + lo, int(i == 1)))
    return pairs


def padded(seqs):
    T = max(len(s) for s in seqs)
    out = np.zeros((len(seqs), T), dtype=np.int32)
    for i, s in enumerate(seqs):
        out[i, :len(s)] = s
    return out


def rewards(model, head, seqs):
    """r(x) = w . h[len - 1] for each sequence (one at a time: no padding involved)."""
    return torch.stack([model.hidden(torch.tensor([s]))[0, -1] @ head for s in seqs])


def bradley_terry(r_w, r_l, tie):
    d = r_w - r_l
    won, tied = -F.logsigmoid(d), -0.5 * F.logsigmoid(d) - 0.5 * F.logsigmoid(-d)
    return torch.where(tie.bool(), tied, won).mean()


def response_logprob(model, seq, prompt_len):
    """sum_{t >= prompt_len} log model(seq[t] | seq[<t])."""
    x = torch.tensor([seq])
    lp = model(x[:, :-1]).log_softmax(-1).gather(-1, x[:, 1:].unsqueeze(-1)).squeeze(-1)[0]
    return lp[prompt_len - 1:].sum()


def dpo_loss(kind, m):
    z = BETA * m
    if kind == "sigmoid":
        return -F.logsigmoid(z)
    if kind == "csigmoid":
        return -(1 - EPS) * F.logsigmoid(z) - EPS * F.logsigmoid(-z)
    if kind == "ipo":
        return (m - 1 / (2 * BETA)) ** 2
    return torch.relu(1 - z)


def main():
    out_path = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_OUT
    torch.manual_seed(20261205)
    cfg = ref.config_from_dict(CONFIG)
    pairs = make_pairs(cfg, N_PAIRS)
    chosen, rejected = [p[1] for p in pairs], [p[2] for p in pairs]
    tie = torch.tensor([p[3] for p in pairs])
    out = {"chosen": padded(chosen), "rejected": padded(rejected),
           "chosen_len": np.array([len(s) for s in chosen], dtype=np.int32),
           "rejected_len": np.array([len(s) for s in rejected], dtype=np.int32),
           "prompt_len": np.array([len(p[0]) for p in pairs], dtype=np.int32),
           "tie": tie.numpy().astype(np.int32)}

    rm, out["rm_params"] = random_model(cfg, 0.05)
    head = torch.nn.Parameter((0.5 * torch.randn(cfg["n_embd"])).float().double())
    r = rewards(rm, head, chosen + rejected)
    loss = bradley_terry(r[:N_PAIRS], r[N_PAIRS:], tie)
    loss.backward()
    out.update({"rm_head": head.detach().numpy().astype(np.float32),
                "rm_rewards": r.detach().numpy().astype(np.float64),
                "bt_loss": np.array([loss.item()]), "bt_head_grad": head.grad.numpy().astype(np.float32),
                "bt_grads": rm.c_buffer(grad=True)})

    policy, out["policy_params"] = random_model(cfg, 0.05)
    reference, _ = random_model(cfg, 0.05)
    with torch.no_grad():
        ref_w = torch.stack([response_logprob(reference, s, len(p[0])) for s, p in zip(chosen, pairs)])
        ref_l = torch.stack([response_logprob(reference, s, len(p[0])) for s, p in zip(rejected, pairs)])
    out.update({"ref_chosen": ref_w.numpy(), "ref_rejected": ref_l.numpy()})
    for kind in ("sigmoid", "csigmoid", "ipo", "hinge"):
        policy.zero_grad()
        lp_w = torch.stack([response_logprob(policy, s, len(p[0])) for s, p in zip(chosen, pairs)])
        lp_l = torch.stack([response_logprob(policy, s, len(p[0])) for s, p in zip(rejected, pairs)])
        m = (lp_w - ref_w) - (lp_l - ref_l)
        per_pair = torch.where(tie.bool(), 0.5 * dpo_loss(kind, m) + 0.5 * dpo_loss(kind, -m), dpo_loss(kind, m))
        loss = per_pair.mean()
        loss.backward()
        out[kind + "_loss"] = np.array([loss.item()])
        out[kind + "_grads"] = policy.c_buffer(grad=True)
    meta = {k: str(v) for k, v in CONFIG.items()}
    meta.update({"n_pairs": str(N_PAIRS), "beta": repr(BETA), "label_smoothing": repr(EPS)})
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    ref.save_safetensors(out_path, out, metadata=meta)
    print("wrote %s" % out_path)


if __name__ == "__main__":
    main()
