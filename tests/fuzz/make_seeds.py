#!/usr/bin/env python3
"""Writes the generated seed inputs of tests/fuzz/corpus/{checkpoint,tokenizer,shard}
(small valid files in the formats of docs/formats.md, framed as tests/fuzz/fuzz.h
says: parts joined by "\\n%%\\n"). The other corpora are copies of tests/fixtures.
Run once from the repository root; the output is committed."""
import json, os, random, struct

SEP = b"\n%%\n"
OUT = "tests/fuzz/corpus"


def write(target, name, parts):
    os.makedirs(f"{OUT}/{target}", exist_ok=True)
    with open(f"{OUT}/{target}/{name}", "wb") as f:
        f.write(SEP.join(parts))


def safetensors(tensors, dtype="F32", prefix="", extra=None):
    header, blobs, off = {}, [], 0
    for name, (shape, a) in tensors.items():
        if dtype == "F16":
            b = struct.pack(f"<{len(a)}e", *a)
        elif dtype == "BF16":
            b = b"".join(struct.pack("<f", x)[2:] for x in a)
        else:
            b = struct.pack(f"<{len(a)}f", *a)
        header[prefix + name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    for name, (dt, shape, b) in (extra or {}).items():
        header[name] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


def checkpoint():
    V, P, C, L = 5, 3, 2, 1
    rng = random.Random(0)
    r = lambda *s: (s, [round(rng.gauss(0, 1), 2) for _ in range(s[0] * (s[1] if len(s) > 1 else 1))])
    t = {"wte.weight": r(V, C), "wpe.weight": r(P, C)}
    for i in range(L):
        for n, s in [("ln_1.weight", (C,)), ("ln_1.bias", (C,)), ("attn.c_attn.weight", (C, 3 * C)),
                     ("attn.c_attn.bias", (3 * C,)), ("attn.c_proj.weight", (C, C)), ("attn.c_proj.bias", (C,)),
                     ("ln_2.weight", (C,)), ("ln_2.bias", (C,)), ("mlp.c_fc.weight", (C, 4 * C)),
                     ("mlp.c_fc.bias", (4 * C,)), ("mlp.c_proj.weight", (4 * C, C)), ("mlp.c_proj.bias", (C,))]:
            t[f"h.{i}.{n}"] = r(*s)
    t["ln_f.weight"], t["ln_f.bias"] = r(C), r(C)
    cfg = {"model_type": "gpt2", "n_layer": L, "n_head": 1, "n_embd": C, "vocab_size": V, "n_positions": P,
           "layer_norm_epsilon": 1e-5, "activation_function": "gelu_new"}
    cj = json.dumps(cfg).encode()
    write("checkpoint", "f32", [cj, safetensors(t)])
    write("checkpoint", "f16", [cj, safetensors(t, "F16")])
    write("checkpoint", "bf16", [cj, safetensors(t, "BF16")])
    cfg2 = dict(cfg, n_ctx=P)
    del cfg2["n_positions"]
    extra = {"transformer.h.0.attn.bias": ("U8", [1, 1, P, P], bytes(P * P)),
             "lm_head.weight": ("F32", [V, C], struct.pack(f"<{V * C}f", *t["wte.weight"][1]))}
    write("checkpoint", "prefixed_lm_head", [json.dumps(cfg2).encode(),
                                             safetensors(t, "F32", "transformer.", extra)])


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b); cs.append(256 + n); n += 1
    return dict(zip(bs, map(chr, cs)))


def tokenizer():
    u = bytes_to_unicode()
    vocab = {u[b]: b for b in range(256)}
    merges = [("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("l", "l"), ("e", "ll"), ("h", "ell"), ("o", "r")]
    for a, b in merges:
        vocab[a + b] = len(vocab)
    m = ("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges)).encode()
    v = json.dumps(vocab, ensure_ascii=False).encode()
    text = "hello the world, <|endoftext|> the\n\tend 123 ünïcode's".encode()
    write("tokenizer", "with_added", [v, m, json.dumps({"<|endoftext|>": len(vocab), "<|pad|>": len(vocab) + 1}).encode(), text])
    write("tokenizer", "plain", [v, m])
    write("tokenizer", "no_merges", [v, b"#version: 0.2\n", b"{}", b"abc"])


def shard(tokens_per_doc, vocab=300, scorer=b"", scores=None, split=0):
    width = 2 if vocab <= 65536 else 4
    toks, seg_off, doc_seg, src, segs = [], [0], [0], [], []
    for d, doc in enumerate(tokens_per_doc):
        for seg in doc:
            toks += seg
            seg_off.append(len(toks))
            segs.append(float("nan") if scores is None else scores[len(segs)])
        doc_seg.append(len(seg_off) - 1)
        src.append(d)
    pad = lambda b: b + bytes(-len(b) % 8)
    head = struct.pack("<8sIIIIQQQQIIQd", b"PSTSHARD", 1, width, vocab, vocab - 1, len(toks), len(tokens_per_doc),
                       len(segs), 0, split, len(scorer), 7, 0.1)
    head += bytes(128 - len(head))
    body = pad(scorer) + pad(struct.pack(f"<{len(toks)}{'H' if width == 2 else 'I'}", *toks))
    body += struct.pack(f"<{len(seg_off)}Q", *seg_off) + struct.pack(f"<{len(doc_seg)}Q", *doc_seg)
    body += struct.pack(f"<{len(src)}Q", *src) + pad(struct.pack(f"<{len(segs)}f", *segs))
    return head + body  # the checksum is set by the harness


def shards():
    docs = [[[1, 2, 3], [4, 5]], [[6]], [[7, 8, 9, 10, 11, 12, 13], [], [14]]]
    pos = struct.pack("<QQQQQQQII", 0x534f504c54535050, 2, 1, 1, 2, 3, 14, 1, 0)
    write("shard", "unscored", [shard(docs)])
    write("shard", "scored_pos", [shard(docs, scorer=b"pii", scores=[0.1, 0.9, 0.0, 0.2, float("nan"), 1.0]), pos])
    write("shard", "wide", [shard([[[70000, 3]]], vocab=70001)])


if __name__ == "__main__":
    checkpoint()
    tokenizer()
    shards()
