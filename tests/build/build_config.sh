# Sourced by tests/build/*.sh: cache_value NAME prints the build's CMake cache value
# (POSTERIOR_BUILD/CMakeCache.txt), e.g. `cache_value POSTERIOR_NATIVE` → ON / OFF.
build=${POSTERIOR_BUILD:?POSTERIOR_BUILD must name the build folder}
cache_value() { sed -n "s/^$1:[A-Z]*=//p" "$build/CMakeCache.txt"; }
skip() { echo "SKIP: $*"; exit 77; } # SKIP_RETURN_CODE of the build tests (CMakeLists.txt)
