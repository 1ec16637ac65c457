#!/usr/bin/python3
"""Bad input for `posterior pep8`, each compared with Debian's pycodestyle:
binary data, invalid UTF-8, NUL bytes (also escaped: W605), BOM, latin-1 cookie, CRLF, unterminated
strings / triple quotes / continuation strings (E901 TokenError), unclosed
brackets, inconsistent dedent (E901 IndentationError), missing files (E902),
a broken symlink in a walked directory, and 50 MB lines (a string literal and
a comment). Asserts identical output and exit status, and no crash (exit 0/1,
nothing on stderr). A file pycodestyle itself crashes on is only checked for
"no crash"."""
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, '..', 'fixtures', 'pep8')
BIN = os.environ.get('POSTERIOR_BIN') or os.path.join(
    os.environ.get('POSTERIOR_BUILD', 'build'), 'posterior')
failed = 0


def compare(label, args):
    global failed
    mine = subprocess.run([BIN, 'pep8'] + args, capture_output=True)
    peer = subprocess.run(['/usr/bin/pycodestyle'] + args, capture_output=True)
    ok = (mine.stdout == peer.stdout and mine.returncode == peer.returncode
          and mine.returncode in (0, 1) and not mine.stderr)
    n = mine.stdout.count(b'\n')
    print('%-4s %s: %d findings (pycodestyle %d), exit %d (pycodestyle %d)'
          % ('ok' if ok else 'FAIL', label, n, peer.stdout.count(b'\n'),
             mine.returncode, peer.returncode))
    if not ok:
        failed += 1
        print(mine.stderr.decode(errors='replace')[:500])
        a = mine.stdout.decode(errors='replace').splitlines()
        b = peer.stdout.decode(errors='replace').splitlines()
        print('  only posterior:', [x[:150] for x in a if x not in b][:5])
        print('  only pycodestyle:', [x[:150] for x in b if x not in a][:5])


def main():
    files = sorted(os.path.join(FIX, f) for f in os.listdir(FIX)
                   if f.endswith('.py') and f != 'pycodestyle_crashes.py')
    rel = [os.path.relpath(f) for f in files]
    compare('%d fixtures, default options' % len(rel), rel)
    compare('%d fixtures, --select E,W' % len(rel), ['--select', 'E,W'] + rel)
    for f in rel:
        compare(os.path.basename(f) + ' alone, --select E,W', ['--select', 'E,W', f])
    crash = os.path.relpath(os.path.join(FIX, 'pycodestyle_crashes.py'))
    p = subprocess.run([BIN, 'pep8', crash], capture_output=True)
    print('%-4s pycodestyle_crashes.py: exit %d, %d findings, no crash'
          % ('ok' if p.returncode in (0, 1) and not p.stderr else 'FAIL',
             p.returncode, p.stdout.count(b'\n')))
    if p.returncode not in (0, 1) or p.stderr:
        global failed
        failed += 1
    with tempfile.TemporaryDirectory() as d:
        compare('missing files (E902)', [os.path.join(d, 'missing.py'), 'no/such.py'])
        os.symlink('/nonexistent/target', os.path.join(d, 'broken.py'))
        with open(os.path.join(d, 'a.py'), 'w') as f:
            f.write('x=1\n')
        compare('directory with a broken symlink', [d])
        # W605 quotes the escaped character, a NUL byte too (the message was cut there)
        with open(os.path.join(d, 'nul_escape.py'), 'wb') as f:
            f.write(b'x = "a\\\x00b"\ny = "\\\x00\\\x00"\n')
        compare('W605 on a backslash before a NUL', [os.path.join(d, 'nul_escape.py')])
        n = 50 * 1024 * 1024
        with open(os.path.join(d, 'long_string.py'), 'w') as f:
            f.write('x = "' + 'a' * n + '"\n')
        with open(os.path.join(d, 'long_comment.py'), 'w') as f:
            f.write('# ' + 'ab ' * (n // 3) + '\n')
        compare('50 MB string literal line', [os.path.join(d, 'long_string.py')])
        compare('50 MB comment line', ['--select', 'E,W', os.path.join(d, 'long_comment.py')])
    print('%d comparisons failed' % failed)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
