#!/usr/bin/python3
"""Conformance of `posterior pep8` with Debian's pycodestyle 2.10 over the
whole Python 3.11 standard library as Debian installs it (/usr/lib/python3.11,
every *.py found by pycodestyle's own directory walk), with the default
options and again with --select E,W (every code, nothing ignored).

Asserts identical (path, row, col, code) lists, in the same order, and
identical output lines. The peer really runs each time (two pycodestyle
processes in parallel, one per mode); nothing is cached."""
import os
import subprocess
import sys
import time
from collections import Counter

STDLIB = os.environ.get('PEP8_CONFORMANCE_ROOT', '/usr/lib/python3.11')
BIN = os.environ.get('POSTERIOR_BIN') or os.path.join(
    os.environ.get('POSTERIOR_BUILD', 'build'), 'posterior')
MODES = [('default', []), ('select E,W', ['--select', 'E,W'])]


def parse(text):
    rows = []
    for line in text.splitlines():
        path, row, col, rest = line.split(':', 3)
        rows.append((path, int(row), int(col), rest.split()[0]))
    return rows


def main():
    nfiles = sum(1 for r, _, fs in os.walk(STDLIB) for f in fs
                 if f.endswith('.py') and '__pycache__' not in r)
    t0 = time.time()
    peers = [subprocess.Popen(['/usr/bin/pycodestyle'] + args + [STDLIB],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
             for _, args in MODES]
    t_mine = 0.0
    mine = []
    for _, args in MODES:
        t = time.time()
        p = subprocess.run([BIN, 'pep8'] + args + [STDLIB],
                           capture_output=True, text=True)
        t_mine += time.time() - t
        assert p.returncode in (0, 1), p.stderr
        mine.append(p)
    ref = [(p.communicate(), p.returncode) for p in peers]
    t_peer = time.time() - t0
    failed = 0
    for (mode, _), m, ((out, err), rc) in zip(MODES, mine, ref):
        a, b = parse(m.stdout), parse(out)
        same_lines = m.stdout == out
        print('%s: %d files, pycodestyle %d findings, posterior %d findings, '
              '(path,row,col,code) lists %s, output lines %s, exit %d vs %d'
              % (mode, nfiles, len(b), len(a),
                 'identical' if a == b else 'DIFFERENT',
                 'identical' if same_lines else 'DIFFERENT',
                 m.returncode, rc))
        if a != b or not same_lines or m.returncode != rc:
            failed += 1
            sa, sb = Counter(a), Counter(b)
            extra, missing = sa - sb, sb - sa
            print('  only posterior: %d, only pycodestyle: %d'
                  % (sum(extra.values()), sum(missing.values())))
            byc = Counter(k[3] for k in extra.elements())
            byc2 = Counter(k[3] for k in missing.elements())
            print('  by code (posterior-only):', byc.most_common(10))
            print('  by code (pycodestyle-only):', byc2.most_common(10))
            for k in list(extra.elements())[:10]:
                print('  + %s:%d:%d: %s' % k)
            for k in list(missing.elements())[:10]:
                print('  - %s:%d:%d: %s' % k)
    print('wall time: pycodestyle (2 in parallel) %.1f s, posterior (both '
          'modes) %.2f s' % (t_peer, t_mine))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
