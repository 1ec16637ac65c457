#!/usr/bin/python3
"""Randomised conformance of `posterior pep8` with Debian's pycodestyle 2.10:
files made (with a fixed seed) by mutating slices of the standard library
(deleted / inserted / replaced characters, indentation, backslashes, quotes,
decorators, tabs, CRLF, BOM, coding cookies, stray bytes) and by gluing random
Python tokens, including non-ASCII identifiers and whitespace. Each file is
checked by pycodestyle (as a library, one file at a time, so that a file on
which pycodestyle itself raises an exception is skipped and counted) and by
posterior, under several option sets; every output line must be identical.
PEP8_FUZZ_SEED and PEP8_FUZZ_N change the corpus."""
import contextlib
import glob
import io
import os
import random
import subprocess
import sys
import tempfile

sys.path.insert(0, '/usr/lib/python3/dist-packages')
import pycodestyle  # noqa: E402  (the peer)

BIN = os.environ.get('POSTERIOR_BIN') or os.path.join(
    os.environ.get('POSTERIOR_BUILD', 'build'), 'posterior')
SEED = int(os.environ.get('PEP8_FUZZ_SEED', '2026'))
N = int(os.environ.get('PEP8_FUZZ_N', '600'))
MODES = [[], ['--select', 'E,W'],
         ['--select', 'E,W', '--max-line-length', '60', '--max-doc-length', '50',
          '--hang-closing'],
         ['--ignore', 'E501,W']]

MUT_CHARS = "([{}]):,;'\"\\\t \n#=+-*/%@<>!.0123456789abcfrlOIu\x0c\xa0é\x00$?`~&|^"
MUT_SNIPPETS = ['    ', '\t', '\n', '\\\n', '"""', "'''", '#', ' # noqa', 'lambda',
                'not ', ' is ', 'def ', 'class ', '@d\n', 'if ', '==None',
                'type(x)', '\n\n\n']
TOKENS = ['(', ')', '[', ']', '{', '}', ':', ',', ';', '=', '==', '!=', '+', '-',
          '*', '**', '/', '//', '%', '@', '->', ':=', '<', '>', '<<', '&', '|',
          '^', '~', '.', '...', 'x', 'l', 'O', 'I', 'def', 'class', 'lambda', 'if',
          'else', 'for', 'in', 'not', 'is', 'None', 'True', 'False', 'and', 'or',
          'import', 'from', 'as', 'return', 'yield', 'async', 'await', 'with',
          'try', 'except', 'print', 'type', 'match', '_', '1', '0x1f', '1.5e3',
          '1j', '.5', '"s"', "'s'", '"""d"""', "f'x{y}'", "rb'\\d'", "'\\d'",
          '"\\q"', "'''a\nb\\x'''", '"a\\\nb"', ' ', '  ', '\t', '\n', '\n',
          '\\\n', '# c', '#!x', '#:x', '## y', '# noqa', '    ', '\x0c', '\xa0',
          'é', '$', '?', '`', '\x00', '\r\n', '\r', '²', 'µ', '·', '\u3000',
          'e\u0301', '٣', '→', 'ǅ']
COOKIES = [b'', b'# -*- coding: latin-1 -*-\n', b'# coding=utf-8\n',
           b'# coding: bogus-enc\n', b'# vim: set fileencoding=ascii :\n']


def corpus(r, d):
    files = sorted(glob.glob('/usr/lib/python3.11/**/*.py', recursive=True))
    paths = []
    for i in range(N):
        if i % 2 == 0:
            src = open(r.choice(files), encoding='utf-8', errors='replace').read()
            lines = src.split('\n')
            a = r.randrange(len(lines))
            s = list('\n'.join(lines[a:a + r.randrange(5, 80)]))
            for _ in range(r.randrange(1, 10)):
                if not s:
                    break
                op, k = r.randrange(4), r.randrange(len(s))
                if op == 0:
                    del s[k]
                elif op == 1:
                    s.insert(k, r.choice(MUT_CHARS))
                elif op == 2:
                    s[k] = r.choice(MUT_CHARS)
                else:
                    s.insert(k, r.choice(MUT_SNIPPETS))
            text = ''.join(s) + r.choice(['', '\n', '\n\n', ' ', '\t\n'])
        else:
            text = ''.join(r.choice(TOKENS) + r.choice(['', ' ', '', ''])
                           for _ in range(r.randrange(5, 300)))
        data = text.encode('utf-8')
        if r.random() < 0.1:
            b = bytearray(data)
            for _ in range(3):
                b.insert(r.randrange(len(b) + 1), r.randrange(128, 256))
            data = bytes(b)
        if r.random() < 0.05:
            data = data.replace(b'\n', b'\r\n')
        data = r.choice(COOKIES) + data
        if r.random() < 0.05:
            data = b'\xef\xbb\xbf' + data
        p = os.path.join(d, 'f%04d.py' % i)
        with open(p, 'wb') as f:
            f.write(data)
        paths.append(p)
    return paths


def peer(args, paths):
    options, _ = pycodestyle.process_options(args + ['x'], parse_argv=True)
    sg = pycodestyle.StyleGuide(paths=['x'], **{
        k: getattr(options, k) for k in ('select', 'ignore', 'max_line_length',
                                         'max_doc_length', 'hang_closing')})
    out, crashed = {}, set()
    for p in paths:
        buf = io.StringIO()
        try:
            with contextlib.redirect_stdout(buf):
                sg.input_file(p)
            out[p] = buf.getvalue()
        except Exception:
            crashed.add(p)
    return out, crashed


def main():
    r = random.Random(SEED)
    failed = 0
    with tempfile.TemporaryDirectory() as d:
        paths = corpus(r, d)
        for args in MODES:
            ref, crashed = peer(args, paths)
            m = subprocess.run([BIN, 'pep8'] + args + paths, capture_output=True)
            assert m.returncode in (0, 1) and not m.stderr, m.stderr[:500]
            mine = {p: [] for p in paths}
            for line in m.stdout.decode('utf-8').splitlines(keepends=True):
                mine[line.split(':', 1)[0]].append(line)
            bad = [p for p in paths if p not in crashed and ''.join(mine[p]) != ref[p]]
            nlines = sum(len(v) for v in mine.values())
            print('%-4s %s: %d files, %d lines, %d differ, pycodestyle raised on %d'
                  % ('ok' if not bad else 'FAIL', ' '.join(args) or 'default',
                     len(paths), nlines, len(bad), len(crashed)))
            for p in bad[:3]:
                print('  %s\n  posterior:   %r\n  pycodestyle: %r'
                      % (p, ''.join(mine[p])[:300], ref[p][:300]))
            failed += len(bad)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
