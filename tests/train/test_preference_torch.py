"""The preference losses on GPT-2 against live PyTorch: tests/train/preference_reference.py
writes a fresh fixture, `test_preference_gpt2 FRESH` compares the C code with it (1e-5
relative), and the committed fixture must be what the script writes (up to BLAS rounding).
Runs with /usr/bin/python3 from the repository root; POSTERIOR_BUILD is the build dir."""
import os
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
sys.path.insert(0, os.path.join(ROOT, "tests", "prior"))
import gpt2_reference as ref  # noqa: E402

failures = []


def check(cond, msg):
    print(("ok   " if cond else "FAIL ") + msg)
    if not cond:
        failures.append(msg)


def main():
    binary = os.path.join(os.environ.get("POSTERIOR_BUILD", os.path.join(ROOT, "build")), "test_preference_gpt2")
    with tempfile.TemporaryDirectory() as tmp:
        fresh = os.path.join(tmp, "preference_gpt2.safetensors")
        r = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "tests", "train", "preference_reference.py"),
                            fresh], capture_output=True, text=True)
        check(r.returncode == 0, "preference_reference.py exits 0 (%s)" % r.stderr.strip()[-300:])
        r = subprocess.run([binary, fresh], capture_output=True, text=True)
        check(r.returncode == 0, "test_preference_gpt2 on a fresh fixture: %s %s"
              % (r.stdout.strip(), r.stderr.strip()[-500:]))
        a = ref.load_safetensors(fresh)
        b = ref.load_safetensors(os.path.join(ROOT, "tests", "fixtures", "train", "preference_gpt2.safetensors"))
    check(sorted(a) == sorted(b), "the committed fixture has the script's tensors")
    for k in sorted(set(a) & set(b)):
        if a[k].dtype.kind == "i":
            check(np.array_equal(a[k], b[k]), "committed fixture %s matches the script" % k)
        else:
            x, y = a[k].astype(np.float64), b[k].astype(np.float64)
            e = np.linalg.norm(x - y) / max(np.linalg.norm(y), 1e-30)
            check(e <= 1e-4 or np.linalg.norm(x - y) <= 1e-9,
                  "committed fixture %s matches the script (relative error %.3g)" % (k, e))
    print("%d failed" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
