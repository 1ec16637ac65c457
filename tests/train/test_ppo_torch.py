"""PPO's loss and every gradient in C against PyTorch (tests/train/ppo_reference.py).

For a small GPT-2 minibatch (5 continuations after contexts of 1 to 3 tokens, micro-
batches of 2 in C) with the clipping active (policy and value clip fractions > 0.1)
and inactive (both 0), `test_ppo_gpt2 --eval` (pst_ppo_minibatch through the GPT-2
distribution's token pass) must give the loss, its policy and value parts and the
clip fractions of the float64 PyTorch reference to 1e-5 relative, and the gradient of
every model tensor and of the value head to 1e-5 in relative norm. The fixture is made
at test time (as tests/prior/test_gpt2_torch.py does). Runs with /usr/bin/python3 from
the repository root; POSTERIOR_BUILD is the build directory.
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
sys.path.insert(0, os.path.join(ROOT, "tests", "train"))
sys.path.insert(0, os.path.join(ROOT, "tests", "prior"))
import gpt2_reference as ref  # noqa: E402
import ppo_reference as ppo  # noqa: E402

TOL = 1e-5
failures = []


def check(cond, msg):
    print(("ok   " if cond else "FAIL ") + msg)
    if not cond:
        failures.append(msg)


def rel(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    n = np.linalg.norm(b)
    return np.linalg.norm(a - b) / n if n > 0 else np.linalg.norm(a - b)


def case(clipping):
    name = "clipping %s" % ("active" if clipping else "inactive")
    binary = os.path.join(os.environ.get("POSTERIOR_BUILD", os.path.join(ROOT, "build")), "test_ppo_gpt2")
    with tempfile.TemporaryDirectory() as tmp:
        inp, exp = ppo.make(os.path.join(tmp, "model"), clipping)
        with open(os.path.join(tmp, "in.json"), "w") as f:
            json.dump(inp, f)
        r = subprocess.run([binary, "--eval", os.path.join(tmp, "in.json"), os.path.join(tmp, "out.json")],
                           capture_output=True, text=True)
        check(r.returncode == 0, "%s: test_ppo_gpt2 --eval exits 0 (%s)" % (name, r.stderr.strip()))
        if r.returncode:
            return
        with open(os.path.join(tmp, "out.json")) as f:
            c = json.load(f)
    if clipping:
        check(exp["clip_fraction"] > 0.1 and exp["value_clip_fraction"] > 0.1,
              "%s: PyTorch clips %.2f of the ratios and %.2f of the values" % (
                  name, exp["clip_fraction"], exp["value_clip_fraction"]))
    else:
        check(exp["clip_fraction"] == 0 and exp["value_clip_fraction"] == 0, "%s: PyTorch clips nothing" % name)
    for key in ("clip_fraction", "value_clip_fraction"):
        check(abs(c[key] - exp[key]) < 1e-12, "%s: %s C %.4f, PyTorch %.4f" % (name, key, c[key], exp[key]))
    for key in ("loss", "policy_loss", "value_loss"):
        e = abs(c[key] - exp[key]) / max(abs(exp[key]), 1e-3)
        check(e <= TOL, "%s: %s C %.9g, PyTorch %.9g (relative %.2g)" % (name, key, c[key], exp[key], e))
    g = np.asarray(c["grads"], dtype=np.float64)
    off = 0
    for (cname, _, _), want in zip(ref.C_TENSORS, exp["grads64"]):
        n = want.size
        e = rel(g[off:off + n], want)
        check(e <= TOL, "%s: gradient of %s, relative error %.2g" % (name, cname, e))
        off += n
    check(off == g.size, "%s: %d gradient values, %d compared" % (name, g.size, off))
    e = rel(c["vh_grad"], exp["vh_grad"])
    check(e <= TOL, "%s: gradient of the value head, relative error %.2g" % (name, e))


for clipping in (True, False):
    case(clipping)
print("%d failures" % len(failures))
sys.exit(1 if failures else 0)
