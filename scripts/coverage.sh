#!/usr/bin/env bash
# Line and branch coverage of kiln's library code (ir/, runtime/, passes/, compiler/, models/, tools/) by
# the whole test suite: a --coverage build in build-cov/, the suite, then gcovr, summed per folder by
# scripts/coverage_floor.py, which fails below the floors (lines, and branches without the compiler's
# exception and unreachable branches).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build-cov -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS="-O1 -g --coverage" -DCMAKE_C_FLAGS="-O1 --coverage" \
      -DCMAKE_EXE_LINKER_FLAGS="--coverage" >/dev/null
ninja -C build-cov
find build-cov -name '*.gcda' -delete
rm -rf build-cov/kiln-cache  # a cold object cache, as on a fresh clone: the same paths are taken every run
ctest --test-dir build-cov -j2 -E "install and build examples" --timeout 1200 >build-cov/ctest.log 2>&1 || {
  tail -40 build-cov/ctest.log
  exit 1
}
tail -3 build-cov/ctest.log
gcovr -r . --object-directory build-cov --exclude-throw-branches --exclude-unreachable-branches \
      --filter 'ir/' --filter 'runtime/' --filter 'passes/' --filter 'compiler/' --filter 'models/' --filter 'tools/' \
      --json build-cov/coverage.json -j 2
/usr/bin/python3 scripts/coverage_floor.py build-cov/coverage.json "${KILN_LINE_FLOOR:-95}" "${KILN_BRANCH_FLOOR:-85}"
