#!/usr/bin/env bash
# Builds kiln's libFuzzer targets with clang (ASan + UBSan, build-fuzz/) and runs each for SECONDS (default
# 60) from its seed corpus in fuzz/corpus/TARGET (new inputs go to build-fuzz/corpus/TARGET). Prints each
# target's executions and exits non-zero on the first crash, leaving the reproducer in build-fuzz/.
#   bash scripts/fuzz.sh [SECONDS] [TARGET ...]     e.g. bash scripts/fuzz.sh 3600 kir   (a long run)
# KILN_FUZZ_RUNS=N stops each target after N executions instead (SECONDS then only bounds it).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(kir json safetensors idx checkpoint)
cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++-19 -DCMAKE_C_COMPILER=clang-19 \
      -DKILN_FUZZ=ON >/dev/null
ninja -C build-fuzz "${targets[@]/#/fuzz_}"
for t in "${targets[@]}"; do
  mkdir -p "build-fuzz/corpus/$t" "build-fuzz/crashes/$t"
  log="build-fuzz/fuzz_$t.log"
  status=0
  ASAN_OPTIONS=detect_leaks=0 "build-fuzz/fuzz_$t" -max_total_time="$seconds" -runs="${KILN_FUZZ_RUNS:--1}" -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="build-fuzz/crashes/$t/" -print_final_stats=1 "build-fuzz/corpus/$t" "fuzz/corpus/$t" >"$log" 2>&1 || status=$?
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  secs=$(grep -o 'Done [0-9]* runs in [0-9]* second' "$log" | grep -o '[0-9]* second' | grep -o '[0-9]*' || echo "$seconds")
  echo "fuzz $t: $runs executions in $secs s, exit $status"
  if [ $status -ne 0 ]; then
    tail -40 "$log"
    echo "fuzz $t: a finding; reproduce with build-fuzz/fuzz_$t build-fuzz/crashes/$t/<file>"
    exit 1
  fi
done
