#!/usr/bin/env bash
# The main job: set up, build, export the MLP and evaluate its loss in the reference interpreter on a real
# Fashion-MNIST batch.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
./build/kiln export mlp > build/mlp.kir
echo "exported the MLP to build/mlp.kir ($(wc -l < build/mlp.kir) lines)"
./build/kiln run build/mlp.kir --data fashion-mnist
