#!/usr/bin/python3
"""Every `Okay:` / `E225:` example in the installed pycodestyle.py docstrings,
checked the way pycodestyle's own selftest (testsuite/support.py) does: the
example's `\\n` separates lines and `\\t` is a tab, nothing is ignored, an
`Okay` example must yield no finding and a coded example must yield that code.
Each example is also run through Debian's pycodestyle itself and the complete
(row, col, code) lists must be identical."""
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, '/usr/lib/python3/dist-packages')
import pycodestyle  # noqa: E402  (the peer, for its docstrings)

SELFTEST_REGEX = re.compile(r'\b(Okay|[EW]\d{3}):\s(.*)')
BIN = os.environ.get('POSTERIOR_BIN') or os.path.join(
    os.environ.get('POSTERIOR_BUILD', 'build'), 'posterior')


def examples():
    out = []
    for kind in ('physical_line', 'logical_line'):
        for check in sorted(pycodestyle._checks[kind], key=lambda f: f.__name__):
            for line in (check.__doc__ or '').splitlines():
                m = SELFTEST_REGEX.match(line.lstrip())
                if m is None:
                    continue
                code, source = m.groups()
                lines = [part.replace(r'\t', '\t') + '\n'
                         for part in source.split(r'\n')]
                out.append((check.__name__, code, ''.join(lines)))
    return out


def parse(text, files):
    found = {f: [] for f in files}
    for line in text.splitlines():
        path, row, col, rest = line.split(':', 3)
        found[path].append((int(row), int(col), rest.split()[0]))
    return found


def main():
    exs = examples()
    assert len(exs) > 200, len(exs)
    with tempfile.TemporaryDirectory() as d:
        files = []
        for i, (_, _, src) in enumerate(exs):
            p = os.path.join(d, 'ex%04d.py' % i)
            with open(p, 'w') as f:
                f.write(src)
            files.append(p)
        mine = subprocess.run([BIN, 'pep8', '--select', 'E,W'] + files,
                              capture_output=True, text=True)
        assert mine.returncode in (0, 1), mine.stderr
        peer = subprocess.run(['/usr/bin/pycodestyle', '--select', 'E,W'] + files,
                              capture_output=True, text=True)
        got, ref = parse(mine.stdout, files), parse(peer.stdout, files)
    failed = 0
    exact = 0
    for (name, code, src), p in zip(exs, files):
        codes = sorted({c for _, _, c in got[p]})
        if code == 'Okay':
            ok = not codes
        else:
            ok = code in codes
        if ok and (codes == [code] or (code == 'Okay' and not codes)):
            exact += 1
        if got[p] != ref[p]:
            ok = False
        if not ok:
            failed += 1
            print('FAIL %s %s %r: posterior %s, pycodestyle %s'
                  % (name, code, src, got[p], ref[p]))
    print('%d docstring examples, %d failed; %d yield exactly the expected '
          'code (the rest also yield other codes, identically to pycodestyle)'
          % (len(exs), failed, exact))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
