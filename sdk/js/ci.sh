#!/usr/bin/env bash
# CI for the JavaScript SDK: install pinned dev dependencies, build ESM + CJS, run every test.
# Runnable from the repo root: `bash sdk/js/ci.sh`. The server integration tests use LYNEX_PYTHON
# (default: the repo's .venv python if present, else python3).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cd "$here"

if [[ -z "${LYNEX_PYTHON:-}" ]]; then
  if [[ -x "$repo/.venv/bin/python" ]]; then LYNEX_PYTHON="$repo/.venv/bin/python"; else LYNEX_PYTHON=python3; fi
fi
export LYNEX_PYTHON
# With the server code in the repo, its integration tests must run (not skip).
if [[ -d "$repo/lynex" ]]; then export LYNEX_REQUIRE_SERVER="${LYNEX_REQUIRE_SERVER:-1}"; fi

node --version
npm ci --no-audit --no-fund --loglevel=error
npm run --silent build
node --test --test-concurrency=4 test/
