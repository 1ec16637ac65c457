"""The vector kernels compile at -O3 in every build type but Debug (CMakeLists.txt,
POSTERIOR_KERNEL_SOURCES). Under -O2 gcc kept their register-tile loops as loops over
arrays on the stack and decoding's 4-row products ran at half speed, so a
RelWithDebInfo build (or a packager's -O2) must still give these files -O3, last on
their command line; other files keep the build type's level; a Debug build keeps its
-O0 everywhere. Checked on the compile commands CMake writes for a fresh configure of
this source tree, with the compiler of the build under test (nothing is compiled)."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KERNELS = ["src/base/gemm_avx512.c", "src/base/gemm_avx2.c", "src/prior/optim_avx512.c", "src/prior/exp_kernels.c",
           "src/prior/bf16_kernels.c"]
PLAIN = "src/base/error.c"


def cache_value(name):
    with open(os.path.join(os.environ["POSTERIOR_BUILD"], "CMakeCache.txt")) as f:
        for line in f:
            m = re.match(r"^%s:[A-Z]*=(.*)$" % re.escape(name), line.rstrip("\n"))
            if m:
                return m.group(1)
    return ""


def last_opt_level(build_type, tmp):
    """{source path: the last -O flag of its compile command} for a configure of build_type"""
    out = os.path.join(tmp, build_type)
    cmd = ["cmake", "-S", ROOT, "-B", out, "-DCMAKE_BUILD_TYPE=" + build_type,
           "-DCMAKE_EXPORT_COMPILE_COMMANDS=ON", "-DCMAKE_C_COMPILER=" + cache_value("CMAKE_C_COMPILER")]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("FAIL: cmake configure (%s) failed:\n%s" % (build_type, r.stderr[-2000:]))
    with open(os.path.join(out, "compile_commands.json")) as f:
        entries = json.load(f)
    levels = {}
    for e in entries:
        rel = os.path.relpath(e["file"], ROOT)
        opts = re.findall(r"(?:^|\s)(-O\w*)", e["command"])
        levels[rel] = opts[-1] if opts else None
    return levels


def main():
    tmp = tempfile.mkdtemp(prefix="pst_kernel_opt.")
    try:
        rel = last_opt_level("RelWithDebInfo", tmp)
        for k in KERNELS:
            if k not in rel:
                sys.exit("FAIL: no compile command for %s" % k)
            if rel[k] != "-O3":
                sys.exit("FAIL: RelWithDebInfo compiles %s with %s last, not -O3" % (k, rel[k]))
        if rel.get(PLAIN) != "-O2":
            sys.exit("FAIL: RelWithDebInfo compiles %s with %s, expected its own -O2" % (PLAIN, rel.get(PLAIN)))
        dbg = last_opt_level("Debug", tmp)
        for k in KERNELS:
            if dbg.get(k) == "-O3":
                sys.exit("FAIL: a Debug build compiles %s with -O3" % k)
        print("ok: kernels at -O3 under RelWithDebInfo (others -O2), none under Debug")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


main()
