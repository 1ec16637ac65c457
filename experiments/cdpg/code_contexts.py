#!/usr/bin/env python3
"""Contexts of the code task (experiments/cdpg/run.sh): the signature and one-line docstring
of functions of Python's standard library, deterministic:

    code_contexts.py STDLIB_DIR OUT_DIR N_TRAIN N_HELDOUT [SEED]

Functions (top level or methods, dedented to column 0) whose docstring is one line and whose
signature + docstring is at most 160 characters; the context is those lines with a final
newline, written as one JSON string per line (a context spans lines). Modules are
split by the parity of a hash of their name: one half gives the tuning contexts, the other the
held-out ones. Writes OUT_DIR/code.{train,heldout}.jsonl (a prompts file in JSON lines)."""
import ast, glob, hashlib, json, os, random, sys, textwrap

def contexts(path):
    try:
        src = open(path, encoding="utf-8").read()
        tree = ast.parse(src)
    except (SyntaxError, UnicodeDecodeError, ValueError):
        return
    lines = src.splitlines()
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or not node.body: continue
        doc = node.body[0]
        if not (isinstance(doc, ast.Expr) and isinstance(doc.value, ast.Constant) and isinstance(doc.value.value, str)):
            continue
        if doc.lineno != doc.end_lineno or len(node.body) < 2 or node.decorator_list: continue
        text = textwrap.dedent("\n".join(lines[node.lineno - 1:doc.end_lineno])) + "\n"
        if len(text) <= 160 and text.startswith(("def ", "async def ")): yield text

def main():
    stdlib, out, n_train, n_held = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    seed = int(sys.argv[5]) if len(sys.argv) > 5 else 1
    pools = {"train": set(), "heldout": set()}
    for path in sorted(glob.glob(os.path.join(stdlib, "*.py"))):
        name = os.path.basename(path)
        split = "train" if hashlib.sha256(name.encode()).digest()[0] % 2 == 0 else "heldout"
        pools[split].update(contexts(path))
    os.makedirs(out, exist_ok=True)
    rng = random.Random(seed)
    for split, want in (("train", n_train), ("heldout", n_held)):
        pool = sorted(pools[split])
        rng.shuffle(pool)
        if len(pool) < want: sys.exit(f"code {split}: only {len(pool)} functions, {want} wanted")
        with open(os.path.join(out, f"code.{split}.jsonl"), "w") as f:
            f.write("".join(json.dumps(c) + "\n" for c in pool[:want]))
        print(f"code.{split}: {want} of {len(pool)} functions", file=sys.stderr)

main()
