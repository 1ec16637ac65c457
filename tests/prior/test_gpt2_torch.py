"""The C GPT-2 against live PyTorch on several configs (tests/prior/gpt2_reference.py).

For each config, scripts/make_prior_fixtures.py's make() builds a random model and
batch and computes, in PyTorch, logits, log-probs, the weighted cross-entropy, its
gradients and the gradients of Σ c·logprobs; `test_gpt2 --eval` computes the same in
C; they must agree (logits, log-probs, loss to 1e-5; every gradient tensor to 1e-4 in
relative norm). Also checks that the committed fixture is what the script makes.
Runs with /usr/bin/python3 from the repository root; POSTERIOR_BUILD is the build dir.
"""
import math
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
sys.path.insert(0, os.path.join(ROOT, "tests", "prior"))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import gpt2_reference as ref  # noqa: E402
import make_prior_fixtures as fixtures  # noqa: E402

CASES = [
    # T = n_positions, 3 heads, odd vocabulary
    ({"n_layer": 3, "n_head": 3, "n_embd": 48, "n_positions": 20, "vocab_size": 131}, 3, 20),
    # one layer, one head, one position
    ({"n_layer": 1, "n_head": 1, "n_embd": 16, "n_positions": 4, "vocab_size": 5}, 2, 1),
    # sizes >= 64 everywhere, so the large-matrix GEMM paths run (attention too: T, hs)
    ({"n_layer": 1, "n_head": 2, "n_embd": 128, "n_positions": 80, "vocab_size": 300}, 2, 70),
    # attention by blocks of 64 rows (gpt2.c, ATT_BLOCK): two whole blocks and a partial one
    ({"n_layer": 1, "n_head": 2, "n_embd": 64, "n_positions": 140, "vocab_size": 97}, 1, 140),
]

failures = []


def check(cond, msg):
    print(("ok   " if cond else "FAIL ") + msg)
    if not cond:
        failures.append(msg)


def rel(a, b):
    d = np.linalg.norm(a.astype(np.float64) - b)
    n = np.linalg.norm(b.astype(np.float64))
    return d / n if n > 0 else d


def compare(config, B, T, seed):
    tensors, meta = fixtures.make(dict(config, layer_norm_epsilon=1e-5), B, T, seed)
    binary = os.path.join(os.environ.get("POSTERIOR_BUILD", os.path.join(ROOT, "build")), "test_gpt2")
    with tempfile.TemporaryDirectory() as tmp:
        inp, out = os.path.join(tmp, "in.safetensors"), os.path.join(tmp, "out.safetensors")
        ref.save_safetensors(inp, tensors, metadata=meta)
        r = subprocess.run([binary, "--eval", inp, out], capture_output=True, text=True)
        check(r.returncode == 0, "%s: test_gpt2 --eval exits 0 (%s)" % (config, r.stderr.strip()))
        if r.returncode:
            return
        c = ref.load_safetensors(out)
    name = "L%d NH%d C%d V%d B%d T%d" % (
        config["n_layer"], config["n_head"], config["n_embd"], config["vocab_size"], B, T)
    e = np.abs(c["logits"] - tensors["logits"].ravel()).max()
    check(e <= 1e-5, "%s: logits max |diff| %.3g" % (name, e))
    e = np.abs(c["logprobs"] - tensors["logprobs"].ravel()).max()
    check(e <= 1e-5, "%s: log-probs max |diff| %.3g" % (name, e))
    e = abs(c["loss"][0] - tensors["loss"][0])
    check(e <= 1e-5, "%s: loss %.7f vs %.7f" % (name, c["loss"][0], tensors["loss"][0]))
    model = ref.GPT2(ref.config_from_dict(config))
    off = 0
    for cname, _, _ in ref.C_TENSORS:
        n = model.c_tensor(cname).size
        for key in ("grads", "grads_custom"):
            e = rel(c[key][off:off + n], tensors[key][off:off + n])
            check(e <= 1e-4, "%s: %s of %s relative error %.3g" % (name, key, cname, e))
        off += n


def lr_schedule(step, warmup, total, lr_max, lr_min):
    """Linear warmup then cosine decay (the formula of pst_lr_schedule, in Python)."""
    if step < warmup:
        return lr_max * (step + 1) / warmup
    if step >= total:
        return lr_min
    ratio = (step - warmup) / (total - warmup)
    return lr_min + 0.5 * (1 + math.cos(math.pi * ratio)) * (lr_max - lr_min)


def compare_training(steps=6, warmup=2):
    """Several steps of weighted CE + clip_grad_norm_ + torch.optim.AdamW (decay on
    2-D weights) with a warmup + cosine learning rate, in PyTorch and in C."""
    config = {"n_layer": 2, "n_head": 2, "n_embd": 24, "n_positions": 12, "vocab_size": 41}
    B, T = 3, 12
    tensors, meta = fixtures.make(dict(config, layer_norm_epsilon=1e-5), B, T, seed=7)
    # eps 1e-5, not 1e-8: the key bias has an exactly zero gradient (softmax ignores a
    # constant added to every score), so both sides hold only rounding noise (~1e-9)
    # there, which Adam with a tiny eps would turn into different ±lr steps.
    hp = {"lr": 3e-3, "lr_min": 3e-4, "beta1": 0.9, "beta2": 0.95, "eps": 1e-5,
          "weight_decay": 0.1, "max_norm": 1.0}
    meta.update(hp)
    meta.update({"steps": steps, "warmup": warmup})
    model = ref.GPT2(ref.config_from_dict(config))
    model.load_c_buffer(tensors["params"])
    decay = [t for n, t in model.named_tensors() if t.dim() == 2]
    no_decay = [t for n, t in model.named_tensors() if t.dim() != 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": hp["weight_decay"]},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=hp["lr"], betas=(hp["beta1"], hp["beta2"]), eps=hp["eps"])
    tokens = torch.from_numpy(tensors["tokens"]).long()
    targets = torch.from_numpy(tensors["targets"]).long()
    weights = torch.from_numpy(tensors["weights"])
    losses, norms = [], []
    for s in range(steps):
        for g in opt.param_groups:
            g["lr"] = lr_schedule(s, warmup, steps, hp["lr"], hp["lr_min"])
        opt.zero_grad()
        loss = model.cross_entropy(tokens, targets, weights)
        loss.backward()
        norms.append(torch.nn.utils.clip_grad_norm_(decay + no_decay, hp["max_norm"]).item())
        opt.step()
        losses.append(loss.item())
    binary = os.path.join(os.environ.get("POSTERIOR_BUILD", os.path.join(ROOT, "build")), "test_gpt2")
    with tempfile.TemporaryDirectory() as tmp:
        inp, out = os.path.join(tmp, "in.safetensors"), os.path.join(tmp, "out.safetensors")
        ref.save_safetensors(inp, tensors, metadata=meta)
        r = subprocess.run([binary, "--train", inp, out], capture_output=True, text=True)
        check(r.returncode == 0, "test_gpt2 --train exits 0 (%s)" % r.stderr.strip())
        if r.returncode:
            return
        c = ref.load_safetensors(out)
    for s in range(steps):
        check(abs(c["losses"][s] - losses[s]) <= 1e-5,
              "training step %d: loss %.7f vs PyTorch %.7f" % (s, c["losses"][s], losses[s]))
        check(abs(c["grad_norms"][s] - norms[s]) <= 1e-5 * norms[s],
              "training step %d: gradient norm %.7f vs PyTorch %.7f" % (s, c["grad_norms"][s], norms[s]))
    e = rel(c["params"], model.c_buffer())
    check(e <= 1e-6, "parameters after %d training steps: relative error %.3g" % (steps, e))
    check(losses[-1] < losses[0] - 0.05, "the loss goes down (%.4f -> %.4f)" % (losses[0], losses[-1]))


def main():
    for i, (config, B, T) in enumerate(CASES):
        compare(config, B, T, seed=100 + i)
    compare_training()
    # the committed fixture is reproducible from the script
    committed = ref.load_safetensors(os.path.join(ROOT, "tests", "fixtures", "prior", "gpt2_tiny.safetensors"))
    fresh, _ = fixtures.make()
    for k in sorted(fresh):  # equal up to BLAS rounding (OpenBLAS kernels differ by CPU)
        if fresh[k].dtype.kind == "i":
            check(np.array_equal(fresh[k], committed[k]), "committed fixture %s matches the script" % k)
        else:
            e = rel(np.asarray(fresh[k]), committed[k].astype(np.float64))
            check(e <= 1e-4, "committed fixture %s matches the script (relative error %.3g)" % (k, e))
    print("%d failed" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
