#!/usr/bin/env bash
# Evidence benchmark: PII and toxicity scoring throughput (MB/s, one thread)
# over the whole SpamAssassin e-mail corpus (data/spam-assassin/data/*/*.txt:
# 6046 raw RFC 822 messages, headers included, 32.5 MB), each message one
# document: `posterior score --no-findings --scorer pii|toxicity FILE...` and
# `posterior pii FILE...` (every finding printed, to /dev/null).
# Time = best of 3 runs minus the same command on one empty file (start-up,
# lexicon loading, pattern JIT). Both wall time and CPU time (user + sys of the
# child) are reported: on a busy machine the CPU figure is the stable one.
#   bash bench/bench_evidence.sh [BUILD]          (default BUILD=build)
# Prints a Markdown table and appends JSON lines to BUILD/bench/results.jsonl
# when that folder exists.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
cd "$root"
bin=$build/posterior
[ -x "$bin" ] || { echo "bench_evidence: no $bin (build first)" >&2; exit 1; }
ls data/spam-assassin/data/*/*.txt >/dev/null 2>&1 || { echo "bench_evidence: data/ missing (scripts/bootstrap.sh)" >&2; exit 1; }
exec /usr/bin/python3 - "$bin" "$build" <<'PY'
import glob, json, os, resource, subprocess, sys, tempfile, time

binary, build = sys.argv[1], sys.argv[2]
files = sorted(glob.glob("data/spam-assassin/data/*/*.txt"))
nbytes = sum(os.path.getsize(f) for f in files)
empty = tempfile.NamedTemporaryFile(delete=False)
empty.close()


def best(cmd, paths):
    """best (wall, cpu) seconds of 3 runs"""
    runs = []
    for _ in range(3):
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        p = subprocess.run(cmd + paths, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - t0
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        if p.returncode not in (0, 1):  # pii exits 1 when it finds something
            sys.exit("bench_evidence: %s failed (%d)" % (" ".join(cmd), p.returncode))
        cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
        runs.append((wall, cpu))
    return min(w for w, _ in runs), min(c for _, c in runs)


print("| command | documents | MB | wall s | MB/s (wall) | CPU s | MB/s (CPU) |")
print("|---|---|---|---|---|---|---|")
commands = [("score --scorer pii", [binary, "score", "--no-findings", "--scorer", "pii"]),
            ("score --scorer toxicity", [binary, "score", "--no-findings", "--scorer", "toxicity"]),
            ("pii (findings printed)", [binary, "pii"])]
results = os.path.join(build, "bench", "results.jsonl")
for name, cmd in commands:
    w0, c0 = best(cmd, [empty.name])
    w1, c1 = best(cmd, files)
    wall, cpu = max(w1 - w0, 1e-9), max(c1 - c0, 1e-9)
    mb = nbytes / 1e6
    print("| posterior %s | %d | %.1f | %.2f | %.1f | %.2f | %.1f |"
          % (name, len(files), mb, wall, mb / wall, cpu, mb / cpu))
    if os.path.isdir(os.path.dirname(results)):
        with open(results, "a") as f:
            f.write(json.dumps({"bench": "evidence", "command": "posterior " + name,
                                "documents": len(files), "bytes": nbytes, "wall_s": wall,
                                "cpu_s": cpu, "mb_per_s_wall": mb / wall,
                                "mb_per_s_cpu": mb / cpu}) + "\n")
os.unlink(empty.name)
print()
print("one thread; load average %s" % open("/proc/loadavg").read().split()[0])
PY
