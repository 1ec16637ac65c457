#!/usr/bin/python3
"""`posterior score --scorer python-compiles` against Python 3.11's own
compile(x, "<x>", "exec") on snippets cut from the standard library
(/usr/lib/python3.11/*.py) with a fixed seed:

  whole     a whole top-level statement (def, class, import, assignment ...)
  nested    a statement nested in a function or class, dedented (return /
            yield / await / break / nonlocal now stand outside their context)
  lines     a random range of 1-30 lines, dedented
  cut       a whole top-level definition cut at a random character
  cutline   a whole top-level definition cut at a random line end
  mutate    a nested statement (dedented) with one random edit: 1-3
            characters deleted, or a piece of Python (bracket, operator,
            keyword, string, indentation) inserted or put in place of one

compile()'s verdict: accepted unless it raises SyntaxError (IndentationError
and TabError included) or ValueError (NUL bytes); SyntaxWarnings (invalid
escapes, `1if`) are accepted, as compile() accepts them. Asserts that the
agreement is at least 99.5% and prints every disagreement.

Usage: test_python_compiles.py [N per kind (default 1000)] [--seed S] [--all] [--list FILE]
(--all: every *.py under /usr/lib/python3.11, subpackages and tests included;
--list writes the disagreements as markdown for docs/evidence.md)."""
import ast
import glob
import json
import os
import random
import subprocess
import sys
import textwrap
import time
import warnings

BIN = os.environ.get('POSTERIOR_BIN') or os.path.join(
    os.environ.get('POSTERIOR_BUILD', 'build'), 'posterior')
STDLIB = '/usr/lib/python3.11'
MAX_CHARS = 20000


def compiles(text):
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        try:
            compile(text, '<x>', 'exec')
            return 1, ''
        except (SyntaxError, ValueError) as e:
            return 0, '%s: %s' % (type(e).__name__, e)
        except (RecursionError, MemoryError) as e:
            return 0, type(e).__name__


def snippets(n_per_kind, seed, recursive=False):
    rng = random.Random(seed)
    files = []
    pattern = os.path.join(STDLIB, '**', '*.py') if recursive else os.path.join(STDLIB, '*.py')
    for path in sorted(glob.glob(pattern, recursive=recursive)):
        with open(path, encoding='utf-8', errors='replace') as f:
            src = f.read()
        try:
            tree = ast.parse(src)
        except SyntaxError:
            continue
        lines = src.splitlines(keepends=True)
        top = [s for s in tree.body if s.end_lineno - s.lineno < 400]
        defs = [s for s in top if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
        nested = [s for d in defs for s in ast.walk(d)
                  if isinstance(s, ast.stmt) and s not in top and s.end_lineno - s.lineno < 200]
        files.append((os.path.basename(path), lines, top, defs, nested))

    def text_of(lines, node):
        start = node.lineno - 1
        if getattr(node, 'decorator_list', None):
            start = min(d.lineno for d in node.decorator_list) - 2
        return ''.join(lines[start:node.end_lineno])

    out = []
    kinds = ['whole', 'nested', 'lines', 'cut', 'cutline', 'mutate']
    pieces = ['(', ')', '[', ']', '{', '}', ':', ',', '*', '**', '=', ':=', '.', ';', '\n', ' ',
              '    ', 'lambda ', 'yield ', 'await ', 'return ', 'async ', 'not ', 'in ', 'is ', 'if ',
              'else ', 'for ', '@', '/', '-', '"', "'", 'f"{x}"', 'b"\\xe9"', 'None',
              'b"é"', 'f"{x!z}"', 'f"{}"', '"\\x4"', 'def ', 'global x',
              'nonlocal x', 'break', 'continue', 'del ', '\\', '\t', 'from __future__ import annotations\n',
              'import *', 'x', '1', '#']
    for kind in kinds:
        made = 0
        while made < n_per_kind:
            name, lines, top, defs, nested = rng.choice(files)
            if kind == 'whole' and top:
                node = rng.choice(top)
                text = text_of(lines, node)
                where = '%s:%d' % (name, node.lineno)
            elif kind == 'nested' and nested:
                node = rng.choice(nested)
                text = textwrap.dedent(''.join(lines[node.lineno - 1:node.end_lineno]))
                where = '%s:%d' % (name, node.lineno)
            elif kind == 'lines' and lines:
                a = rng.randrange(len(lines))
                b = min(len(lines), a + rng.randint(1, 30))
                text = textwrap.dedent(''.join(lines[a:b]))
                where = '%s:%d-%d' % (name, a + 1, b)
            elif kind == 'mutate' and nested:
                node = rng.choice(nested)
                text = textwrap.dedent(''.join(lines[node.lineno - 1:node.end_lineno]))
                k = rng.randrange(len(text) + 1)
                op = rng.randrange(3)
                if op == 0:
                    text = text[:k] + text[k + rng.randint(1, 3):]
                elif op == 1:
                    text = text[:k] + rng.choice(pieces) + text[k:]
                else:
                    text = text[:k] + rng.choice(pieces) + text[k + 1:]
                where = '%s:%d@%d' % (name, node.lineno, k)
            elif kind in ('cut', 'cutline') and defs:
                node = rng.choice(defs)
                full = text_of(lines, node)
                if kind == 'cut':
                    k = rng.randrange(1, len(full) + 1)
                    text = full[:k]
                    where = '%s:%d@%d' % (name, node.lineno, k)
                else:
                    ends = [i + 1 for i, c in enumerate(full) if c == '\n']
                    k = rng.choice(ends)
                    text = full[:k]
                    where = '%s:%d@%d' % (name, node.lineno, k)
            else:
                continue
            if not text.strip() or len(text) > MAX_CHARS:
                continue
            out.append((kind, where, text))
            made += 1
    return out


def main():
    args = sys.argv[1:]
    n_per_kind, seed, list_file, recursive = 1000, 15, None, False
    while args:
        a = args.pop(0)
        if a == '--seed':
            seed = int(args.pop(0))
        elif a == '--all':
            recursive = True
        elif a == '--list':
            list_file = args.pop(0)
        else:
            n_per_kind = int(a)
    cases = snippets(n_per_kind, seed, recursive)
    t0 = time.time()
    ref = [compiles(text) for _, _, text in cases]
    t_py = time.time() - t0
    feed = ''.join(json.dumps({'text': text}) + '\n' for _, _, text in cases)
    t0 = time.time()
    p = subprocess.run([BIN, 'score', '--scorer', 'python-compiles', '--jsonl'],
                       input=feed, capture_output=True, text=True)
    t_c = time.time() - t0
    assert p.returncode == 0, p.stderr
    rows = [json.loads(line) for line in p.stdout.splitlines()]
    assert len(rows) == len(cases), (len(rows), len(cases))
    mine = [int(r['score']) for r in rows]
    agree = sum(m == r[0] for m, (r) in zip(mine, ref))
    n = len(cases)
    accepted = sum(r[0] for r in ref)
    print('%d snippets from %s (seed %d): compile() accepts %d, rejects %d; '
          'python-compiles agrees on %d = %.2f%% (compile() %.1f s, posterior %.1f s)'
          % (n, STDLIB, seed, accepted, n - accepted, agree, 100.0 * agree / n, t_py, t_c))
    by_kind = {}
    for (kind, _, _), m, r in zip(cases, mine, ref):
        k = by_kind.setdefault(kind, [0, 0, 0])
        k[0] += 1
        k[1] += r[0]
        k[2] += m == r[0]
    for kind, (k, acc, ag) in by_kind.items():
        print('  %-8s %5d snippets, %5d accepted by compile(), %5d agree' % (kind, k, acc, ag))
    dis = [(kind, where, text, m, r) for (kind, where, text), m, r in zip(cases, mine, ref) if m != r[0]]
    for kind, where, text, m, (rv, msg) in dis:
        print('DISAGREE %s %s: compile() %s, posterior %s  %s' %
              (kind, where, 'accepts' if rv else 'rejects (%s)' % msg,
               'accepts' if m else 'rejects', repr(text[-200:])))
    if list_file:
        with open(list_file, 'w') as f:
            for kind, where, text, m, (rv, msg) in dis:
                f.write('| %s | `%s` | %s | %s |\n' % (
                    kind, where, 'accepts' if rv else 'rejects: ' + msg.replace('|', '\\|'),
                    'accepts' if m else 'rejects'))
    rate = agree / n
    ok = n >= 5000 and rate >= 0.995 and 0.2 < accepted / n < 0.8
    print('PASS' if ok else 'FAIL: need >= 5000 snippets, agreement >= 99.5%, both answers plentiful')
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
