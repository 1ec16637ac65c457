"""An independent GPT-2 in PyTorch, the numerical peer of src/prior/gpt2.c.

Parameter names follow Hugging Face's GPT2Model (``wte.weight``,
``h.0.attn.c_attn.weight``, ...) and linear weights use the Conv1D layout
[in, out] (y = x @ W + b), so a model directory written by the C code loads
here and vice versa. The safetensors format is read and written by hand
(8-byte little-endian header length, JSON header with dtype / shape /
data_offsets, raw little-endian data), because the `safetensors` and
`transformers` packages are not installable here.

Use as a library::

    import sys; sys.path.insert(0, "tests/prior")
    import gpt2_reference as ref
    model = ref.GPT2(ref.config_from_dict({"n_layer": 2, ...}))
    ref.save_model_dir(model, "out/model")       # config.json + model.safetensors
    model = ref.load_model_dir("out/model")
    logits = model(tokens)                       # [B, T, V]

Run with /usr/bin/python3 (PyTorch 1.13).
"""
import json
import math
import os
import struct

import numpy as np
import torch
import torch.nn.functional as F

DEFAULT_CONFIG = {
    "n_layer": 12, "n_head": 12, "n_embd": 768, "n_positions": 1024,
    "vocab_size": 50257, "layer_norm_epsilon": 1e-5,
}


def config_from_dict(d):
    """GPT-2 config keys (as in config.json); missing keys take GPT-2 small's values."""
    cfg = dict(DEFAULT_CONFIG)
    for k in DEFAULT_CONFIG:
        if k in d:
            cfg[k] = d[k]
    cfg["layer_norm_epsilon"] = float(cfg["layer_norm_epsilon"])
    for k in ("n_layer", "n_head", "n_embd", "n_positions", "vocab_size"):
        cfg[k] = int(cfg[k])
    if cfg["n_embd"] % cfg["n_head"]:
        raise ValueError("n_embd must be divisible by n_head")
    return cfg


def param_shapes(cfg):
    """Hugging Face names and shapes, in the order of pst_gpt2_params (layer-major
    within each of the 16 tensors is the C order; this lists them per name)."""
    C, L, V, P = cfg["n_embd"], cfg["n_layer"], cfg["vocab_size"], cfg["n_positions"]
    shapes = {"wte.weight": (V, C), "wpe.weight": (P, C)}
    for i in range(L):
        h = "h.%d." % i
        shapes.update({
            h + "ln_1.weight": (C,), h + "ln_1.bias": (C,),
            h + "attn.c_attn.weight": (C, 3 * C), h + "attn.c_attn.bias": (3 * C,),
            h + "attn.c_proj.weight": (C, C), h + "attn.c_proj.bias": (C,),
            h + "ln_2.weight": (C,), h + "ln_2.bias": (C,),
            h + "mlp.c_fc.weight": (C, 4 * C), h + "mlp.c_fc.bias": (4 * C,),
            h + "mlp.c_proj.weight": (4 * C, C), h + "mlp.c_proj.bias": (C,),
        })
    shapes.update({"ln_f.weight": (C,), "ln_f.bias": (C,)})
    return shapes


# The C parameter buffer: 16 tensors, each stacking the L layers.
C_TENSORS = [
    ("wte", "wte.weight", False), ("wpe", "wpe.weight", False),
    ("ln1w", "ln_1.weight", True), ("ln1b", "ln_1.bias", True),
    ("qkvw", "attn.c_attn.weight", True), ("qkvb", "attn.c_attn.bias", True),
    ("attprojw", "attn.c_proj.weight", True), ("attprojb", "attn.c_proj.bias", True),
    ("ln2w", "ln_2.weight", True), ("ln2b", "ln_2.bias", True),
    ("fcw", "mlp.c_fc.weight", True), ("fcb", "mlp.c_fc.bias", True),
    ("fcprojw", "mlp.c_proj.weight", True), ("fcprojb", "mlp.c_proj.bias", True),
    ("lnfw", "ln_f.weight", False), ("lnfb", "ln_f.bias", False),
]


class GPT2(torch.nn.Module):
    """GPT-2: token + position embeddings, pre-LayerNorm blocks with causal
    multi-head attention and a tanh-GELU MLP, final LayerNorm, tied output."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.params = torch.nn.ParameterDict()
        # ParameterDict keys cannot contain '.', so map names.
        for name, shape in param_shapes(cfg).items():
            self.params[name.replace(".", "__")] = torch.nn.Parameter(torch.zeros(shape))
        self.reset_parameters()

    def p(self, name):
        return self.params[name.replace(".", "__")]

    def named_tensors(self):
        """(Hugging Face name, parameter) pairs."""
        return [(k.replace("__", "."), v) for k, v in self.params.items()]

    @torch.no_grad()
    def reset_parameters(self, generator=None):
        L = self.cfg["n_layer"]
        for name, t in self.named_tensors():
            if name.endswith("ln_1.weight") or name.endswith("ln_2.weight") or name == "ln_f.weight":
                t.fill_(1.0)
            elif t.dim() == 1:
                t.zero_()
            else:
                std = 0.02 / math.sqrt(2 * L) if name.endswith("c_proj.weight") else 0.02
                t.normal_(0.0, std, generator=generator)

    def forward(self, tokens):
        """tokens [B, T] int64 -> logits [B, T, V]."""
        return self.hidden(tokens) @ self.p("wte.weight").t()

    def hidden(self, tokens):
        """tokens [B, T] int64 -> final hidden states ln_f(...) [B, T, C]."""
        cfg = self.cfg
        B, T = tokens.shape
        C, NH, eps = cfg["n_embd"], cfg["n_head"], cfg["layer_norm_epsilon"]
        hs = C // NH
        p = self.p
        x = p("wte.weight")[tokens] + p("wpe.weight")[:T].unsqueeze(0)
        mask = torch.ones(T, T, dtype=torch.bool).tril()
        for i in range(cfg["n_layer"]):
            h = "h.%d." % i
            a = F.layer_norm(x, (C,), p(h + "ln_1.weight"), p(h + "ln_1.bias"), eps)
            qkv = a @ p(h + "attn.c_attn.weight") + p(h + "attn.c_attn.bias")
            q, k, v = qkv.split(C, dim=2)
            q = q.view(B, T, NH, hs).transpose(1, 2)
            k = k.view(B, T, NH, hs).transpose(1, 2)
            v = v.view(B, T, NH, hs).transpose(1, 2)
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hs))
            att = att.masked_fill(~mask, float("-inf")).softmax(dim=-1)
            y = (att @ v).transpose(1, 2).reshape(B, T, C)
            x = x + y @ p(h + "attn.c_proj.weight") + p(h + "attn.c_proj.bias")
            a = F.layer_norm(x, (C,), p(h + "ln_2.weight"), p(h + "ln_2.bias"), eps)
            a = F.gelu(a @ p(h + "mlp.c_fc.weight") + p(h + "mlp.c_fc.bias"), approximate="tanh")
            x = x + a @ p(h + "mlp.c_proj.weight") + p(h + "mlp.c_proj.bias")
        return F.layer_norm(x, (C,), p("ln_f.weight"), p("ln_f.bias"), eps)

    def logprobs(self, tokens, targets):
        """log softmax(logits)[target], [B, T]."""
        return self.forward(tokens).log_softmax(-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)

    def cross_entropy(self, tokens, targets, weights=None):
        """Σ w·(−log p(target)) / Σ w (weights None: plain mean)."""
        lp = self.logprobs(tokens, targets)
        if weights is None:
            weights = torch.ones_like(lp)
        return -(weights * lp).sum() / weights.sum()

    # ---- the C layout ----------------------------------------------------
    def c_tensor(self, cname, grad=False):
        """One of the 16 C tensors (layers stacked), as a flat float32 numpy array."""
        for name, hf, per_layer in C_TENSORS:
            if name != cname:
                continue
            names = ["h.%d.%s" % (i, hf) for i in range(self.cfg["n_layer"])] if per_layer else [hf]
            ts = [self.p(n).grad if grad else self.p(n) for n in names]
            return np.concatenate([t.detach().numpy().astype(np.float32).ravel() for t in ts])
        raise KeyError(cname)

    def c_buffer(self, grad=False):
        """The whole C parameter (or gradient) buffer, [num_params] float32."""
        return np.concatenate([self.c_tensor(n, grad) for n, _, _ in C_TENSORS])

    @torch.no_grad()
    def load_c_buffer(self, buf):
        """Inverse of c_buffer()."""
        buf = np.asarray(buf, dtype=np.float32)
        off = 0
        for name, hf, per_layer in C_TENSORS:
            names = ["h.%d.%s" % (i, hf) for i in range(self.cfg["n_layer"])] if per_layer else [hf]
            for n in names:
                t = self.p(n)
                t.copy_(torch.from_numpy(buf[off:off + t.numel()].reshape(t.shape).copy()))
                off += t.numel()
        if off != buf.size:
            raise ValueError("buffer has %d floats, model needs %d" % (buf.size, off))


# ---- safetensors, by hand ------------------------------------------------

_DTYPES = {"F32": np.dtype("<f4"), "F16": np.dtype("<f2"), "I32": np.dtype("<i4"),
           "I64": np.dtype("<i8"), "F64": np.dtype("<f8"), "U8": np.dtype("u1")}


def save_safetensors(path, tensors, metadata=None):
    """tensors: dict name -> numpy array (or torch tensor). Keys written sorted,
    data contiguous in that order; written to a temporary file then renamed."""
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        a = tensors[name]
        if isinstance(a, torch.Tensor):
            a = a.detach().cpu().numpy()
        a = np.ascontiguousarray(a)
        dtype = {np.dtype("float32"): "F32", np.dtype("float16"): "F16",
                 np.dtype("int32"): "I32", np.dtype("int64"): "I64",
                 np.dtype("float64"): "F64", np.dtype("uint8"): "U8"}[a.dtype]
        raw = a.astype(_DTYPES[dtype]).tobytes()
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = path + ".tmp.%d" % os.getpid()
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def load_safetensors(path):
    """dict name -> numpy array (BF16 converted to float32)."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    body = data[8 + n:]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b0, b1 = info["data_offsets"]
        raw = body[b0:b1]
        if info["dtype"] == "BF16":
            u = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            a = u.view(np.float32)
        else:
            a = np.frombuffer(raw, dtype=_DTYPES[info["dtype"]])
        out[name] = a.reshape(info["shape"]).copy()
    return out


def save_model_dir(model, path):
    """config.json (GPT-2 keys) + model.safetensors (F32, Hugging Face names)."""
    os.makedirs(path, exist_ok=True)
    cfg = dict(model.cfg)
    cfg.update({"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"],
                "n_ctx": cfg["n_positions"], "activation_function": "gelu_new"})
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    save_safetensors(os.path.join(path, "model.safetensors"),
                     {n: t.detach().numpy().astype(np.float32) for n, t in model.named_tensors()},
                     metadata={"format": "pt"})


def load_model_dir(path):
    """Loads a directory written by save_model_dir or by the C code (or a Hugging
    Face GPT-2 with a "transformer." prefix and attn.bias buffers)."""
    with open(os.path.join(path, "config.json")) as f:
        cfg = config_from_dict(json.load(f))
    model = GPT2(cfg)
    tensors = load_safetensors(os.path.join(path, "model.safetensors"))
    with torch.no_grad():
        for name, t in model.named_tensors():
            a = tensors.get(name, tensors.get("transformer." + name))
            if a is None:
                raise KeyError("%s: missing tensor %s" % (path, name))
            if tuple(a.shape) != tuple(t.shape):
                raise ValueError("%s: %s has shape %s, expected %s" % (path, name, a.shape, tuple(t.shape)))
            t.copy_(torch.from_numpy(a.astype(np.float32)))
    return model


def adamw_step(params, grads, m, v, step, lr, beta1=0.9, beta2=0.95, eps=1e-8,
               weight_decay=0.1, decay_mask=None):
    """One torch.optim.AdamW step on flat numpy buffers, run by torch itself:
    params decayed only where decay_mask != 0. Returns (params, m, v) new arrays;
    step is the 1-based number of this update (moments m, v from the previous steps)."""
    p = torch.tensor(params, dtype=torch.float32)
    mask = np.ones_like(params, dtype=bool) if decay_mask is None else np.asarray(decay_mask) != 0
    out_p, out_m, out_v = p.clone(), torch.tensor(m), torch.tensor(v)
    for sel, wd in ((mask, weight_decay), (~mask, 0.0)):
        idx = torch.from_numpy(np.nonzero(sel)[0])
        if idx.numel() == 0:
            continue
        q = torch.nn.Parameter(p[idx].clone())
        q.grad = torch.tensor(grads, dtype=torch.float32)[idx].clone()
        opt = torch.optim.AdamW([q], lr=lr, betas=(beta1, beta2), eps=eps, weight_decay=wd)
        if step > 1:
            opt.state[q] = {"step": torch.tensor(float(step - 1)),
                            "exp_avg": torch.tensor(m, dtype=torch.float32)[idx].clone(),
                            "exp_avg_sq": torch.tensor(v, dtype=torch.float32)[idx].clone()}
        opt.step()
        st = opt.state[q]
        out_p[idx] = q.detach()
        out_m[idx] = st["exp_avg"]
        out_v[idx] = st["exp_avg_sq"]
    return out_p.numpy(), out_m.numpy(), out_v.numpy()
