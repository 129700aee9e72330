#!/usr/bin/env bash
# Installs what kiln needs on Debian 12 (run as root), skipping packages that are already there. PyTorch
# (python3-torch, run as /usr/bin/python3) is the outside oracle of the tests and the peer of the benches;
# OpenBLAS gives it optimised BLAS kernels (without it Debian's torch falls back to the reference BLAS).
# Graphviz's dot renders `kiln dot --svg`; fortunes is the default corpus of `kiln train gpt --data text`.
# `setup.sh ci` also installs what CI's other jobs need: clang 19 and its libFuzzer runtime
# (scripts/fuzz.sh) and gcovr (scripts/coverage.sh).
set -euo pipefail
pkgs=(g++ cmake ninja-build pkg-config llvm-19-dev libfmt-dev doctest-dev nlohmann-json3-dev zlib1g-dev
      dataset-fashion-mnist fortunes python3 python3-numpy python3-torch libopenblas0-pthread graphviz)
if [ "${1:-}" = ci ]; then pkgs+=(clang-19 libclang-rt-19-dev gcovr); fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "kiln setup: installing ${missing[*]}"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
