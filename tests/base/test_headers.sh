#!/usr/bin/env bash
# Every public header (include/posterior/*.h) stands alone, in C and in C++:
#  - each compiles on its own as C11 (it includes what it uses);
#  - each compiles as C++17 and declares its functions with C linkage (extern "C"):
#    a C++ file that calls pst_rng_seed links against the C library's symbol name.
set -u
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
for h in include/posterior/*.h; do
  name=${h#include/}
  printf '#include "%s"\n' "$name" > "$T/one.c"
  cc -std=c11 -fsyntax-only -Wall -Wextra -Werror -I include "$T/one.c" 2> "$T/err" ||
    { echo "FAIL: $name does not compile alone as C11:"; cat "$T/err"; fails=$((fails + 1)); }
  if command -v c++ > /dev/null; then
    cp "$T/one.c" "$T/one.cpp"
    c++ -std=c++17 -fsyntax-only -Wall -Werror -I include "$T/one.cpp" 2> "$T/err" ||
      { echo "FAIL: $name does not compile as C++17:"; cat "$T/err"; fails=$((fails + 1)); }
    grep -q 'extern "C"' "$h" || { echo "FAIL: $name has no extern \"C\" guard"; fails=$((fails + 1)); }
  fi
done
if command -v c++ > /dev/null; then
  # C linkage: the symbol a C++ caller references is the C one (no mangling)
  printf '#include "posterior/base.h"\nvoid f(pst_rng *r) { pst_rng_seed(r, 1); }\n' > "$T/link.cpp"
  c++ -std=c++17 -c -I include "$T/link.cpp" -o "$T/link.o" &&
    nm "$T/link.o" | grep -qw 'U pst_rng_seed' ||
    { echo "FAIL: pst_rng_seed is not referenced with C linkage from C++"; fails=$((fails + 1)); }
else
  echo "note: no C++ compiler; only the C checks ran"
fi
[ "$fails" = 0 ] && echo "all $(ls include/posterior/*.h | wc -l) headers compile alone (C11, C++17) with extern \"C\""
exit $((fails > 0))
