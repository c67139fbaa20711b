#!/usr/bin/env bash
# SDK CI step: install lynex-sdk with its test extra into the current `python` and run its tests.
# Called by the top-level CI from the repo root with the project venv first on PATH.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"
python -m pip install --quiet -e "sdk/python[test]"
python -m pytest sdk/python/tests -q -p no:cacheprovider "$@"
