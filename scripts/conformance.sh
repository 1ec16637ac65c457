#!/usr/bin/env bash
# `make conformance`: our GPT-2 tokenizer against the reference JavaScript
# encoder (npm gpt-3-encoder 1.1.4, run by node) on every document of every
# corpus (> 20 MB: State of the Union, nlp-corpus, SpamAssassin, the Python
# standard library, the cuss lexicon, the hard cases), identical ids asserted
# document by document; then the trainer against a naive Python trainer and
# the reference encoder reading our trained files.
#   bash scripts/conformance.sh [BUILD]     (default BUILD=build)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
cd "$root"
export POSTERIOR_BIN=$build/posterior POSTERIOR_BUILD=$build
[ -x "$POSTERIOR_BIN" ] || { echo "conformance: no $POSTERIOR_BIN (build first)" >&2; exit 1; }
status=0
/usr/bin/python3 tests/text/test_conformance.py --full || status=1
/usr/bin/python3 tests/text/test_conformance_train.py || status=1
exit $status
