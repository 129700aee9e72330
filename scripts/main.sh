#!/usr/bin/env bash
# The main job: set up, build, and train the MLP on Fashion-MNIST for 5 epochs with the JIT (batch 128,
# SGD with momentum 0.9, lr 0.01, shuffled each epoch with seed 0: the PyTorch baseline's set-up),
# printing the test accuracy after each epoch.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
./build/kiln train mlp --data fashion-mnist --epochs 5 --batch 128 --optimizer sgd-momentum --lr 0.01 --momentum 0.9 \
  --seed 0 --time-passes
