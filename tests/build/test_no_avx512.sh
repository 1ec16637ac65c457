#!/usr/bin/env bash
# The default (portable) build runs on any x86-64 CPU: no AVX-512 instruction (zmm
# registers, mask registers k0-k7, xmm16-31 / ymm16-31, any EVEX-encoded instruction,
# i.e. one whose first byte is 0x62) and no AVX instruction (ymm registers, VEX
# encodings: first byte 0xc4 or 0xc5) outside the
# dispatched kernels, which are called only after a CPU check (base/cpu.c):
# the functions defined in src/base/gemm_avx512.c, src/base/gemm_avx2.c,
# src/prior/optim_avx512.c, src/prior/exp_kernels.c and src/prior/bf16_kernels.c.
# Checked with objdump on the CLI, libposterior.so and every object file.
set -euo pipefail
. "$(dirname "$0")/build_config.sh"
fail() { echo "FAIL: $*" >&2; exit 1; }
[ "$(cache_value POSTERIOR_NATIVE)" = ON ] && skip "a -march=native build (POSTERIOR_NATIVE=ON)"
case "$(uname -m)" in x86_64) ;; *) skip "not x86-64" ;; esac
command -v objdump >/dev/null || fail "objdump is missing (binutils)"

kernels=(src/base/gemm_avx512.c src/base/gemm_avx2.c src/prior/optim_avx512.c src/prior/exp_kernels.c src/prior/bf16_kernels.c)
objects=$(find "$build/CMakeFiles" -path '*.dir/src/*' -name '*.c.o')
[ -n "$objects" ] || fail "no object files under $build/CMakeFiles"
allowed=$(mktemp)
trap 'rm -f "$allowed"' EXIT
for k in "${kernels[@]}"; do
  obj=$(echo "$objects" | grep -F "/$k.o") || fail "no object file for $k"
  # every function the kernel file defines, static ones included
  nm --defined-only "$obj" | awk '$2 ~ /^[tT]$/ {print $3}' >> "$allowed"
done

# vector_functions FILE: "function<TAB>instruction" for every AVX / AVX-512 instruction
vector_functions() {
  objdump -d --no-addresses "$1" 2>/dev/null | awk '
    # gcc clones (f.constprop.0, f._omp_fn.1) count as f; clang names its OpenMP
    # regions .omp_outlined.* in every file: those are told apart by the object check
    /^<.*>:$/ { fn = substr($0, 2, length($0) - 3); if (fn !~ /^\./) sub(/\..*/, "", fn); next }
    /^\t/ {
      split($0, f, "\t"); bytes = f[2]; insn = f[3]
      if (insn == "") next # the rest of the bytes of a long instruction
      if (insn ~ /zmm|ymm|%k[0-7]|[xy]mm(1[6-9]|2[0-9]|3[01])/ || bytes ~ /^ *(62|c4|c5) /)
        print fn "\t" insn
    }'
}

bad=0
for f in "$POSTERIOR_BIN" "$build/libposterior.so" $objects; do
  case "$f" in */gemm_avx512.c.o|*/optim_avx512.c.o|*/exp_kernels.c.o|*/bf16_kernels.c.o) continue ;; esac
  hits=$(vector_functions "$f" | awk -F'\t' -v list="$allowed" '
           BEGIN { while ((getline l < list) > 0) ok[l] = 1 }
           !($1 in ok) { print }')
  if [ -n "$hits" ]; then
    echo "FAIL: $f has AVX / AVX-512 instructions outside the dispatched kernels:" >&2
    echo "$hits" | sort | uniq -c | sort -rn | head -10 >&2
    bad=1
  fi
done
[ "$bad" = 0 ] || exit 1
# the kernels themselves are there, and do use zmm (so the check above can see them)
has_zmm() { vector_functions "$POSTERIOR_BIN" | awk -F'\t' -v fn="$1" '$1 ~ fn && $2 ~ /zmm/ {n++} END {exit !n}'; }
has_zmm '^pst_adamw_update_avx512$' || fail "no zmm in pst_adamw_update_avx512"
has_zmm '^pst_sgemm_avx512' || fail "no zmm in the GEMM kernels"
echo "OK: no AVX / AVX-512 outside $(sort -u "$allowed" | wc -l) dispatched kernel functions"
