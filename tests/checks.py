"""The assertions of the Python tests of tests/report and tests/label: check(cond, msg)
counts and prints each failure; finish() prints "N passed, M failed" and exits non-zero
when anything failed (tests/check.h does the same for the C tests)."""
import sys

passed = failed = 0


def check(cond, msg):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL:", msg)


def finish():
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
