#!/usr/bin/env bash
# Idempotent set-up for `make demo` / `make test` on a fresh machine.
#   scripts/bootstrap.sh              venv + project (dev extra) + `meltano install`
#   scripts/bootstrap.sh --postgres   ... and PostgreSQL server binaries (apt, when root)
# Each step is skipped when a stamp says it is already done for the current inputs.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
PYTHON=${PYTHON:-python3}
VENV=${VENV:-$ROOT/.venv}
WANT_POSTGRES=0
[[ "${1:-}" == "--postgres" ]] && WANT_POSTGRES=1

say() { printf '[bootstrap] %s\n' "$*"; }
hash_of() { cat "$@" | sha256sum | cut -c1-16; }

# 1. virtual env
if [[ ! -x "$VENV/bin/python" ]]; then
  say "creating virtual env $VENV ($("$PYTHON" --version 2>&1))"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
fi

# 2. the simulator and the project, editable, with the dev extra (keyed on both pyproject.toml)
PIP_STAMP="$VENV/.bootstrap-pip-$(hash_of pyproject.toml simulator/pyproject.toml)"
if [[ ! -f "$PIP_STAMP" ]] || ! "$VENV/bin/python" -c "import tap_genesys_analytics, genesys_sim" 2>/dev/null ||
  [[ ! -x "$VENV/bin/genesys-sim" ]]; then
  say "pip install -e simulator -e .[dev] (the simulator is its own distribution)"
  "$VENV/bin/python" -m pip install --quiet -e ".[dev]"
  # second, so that replacing an older tap install cannot remove the simulator's console script
  "$VENV/bin/python" -m pip install --quiet -e ./simulator
  rm -f "$VENV"/.bootstrap-pip-*
  touch "$PIP_STAMP"
fi

# 3. Meltano plugins into .meltano/ (keyed on meltano.yml + pyproject.toml)
export MELTANO_SEND_ANONYMOUS_USAGE_STATS=false
MELTANO_STAMP=".meltano/.bootstrap-install-$(hash_of meltano.yml pyproject.toml)"
plugins_present() {
  [[ -x .meltano/extractors/tap-genesys-analytics/venv/bin/tap-genesys-analytics ]] &&
    [[ -x .meltano/loaders/target-postgres/venv/bin/target-postgres ]] &&
    [[ -x .meltano/loaders/target-duckdb/venv/bin/target-duckdb ]]
}
if [[ ! -f "$MELTANO_STAMP" ]] || ! plugins_present; then
  say "meltano install (extractor + loaders into .meltano/)"
  "$VENV/bin/meltano" install
  plugins_present || { echo "[bootstrap] meltano install left a plugin missing" >&2; exit 1; }
  rm -f .meltano/.bootstrap-install-*
  touch "$MELTANO_STAMP"
fi

# 4. PostgreSQL server binaries (only the end-to-end tests need them)
if [[ $WANT_POSTGRES == 1 ]]; then
  if [[ -n "${PG_BIN_DIR:-}" && -x "${PG_BIN_DIR}/initdb" ]] || compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
    :
  elif [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    say "installing PostgreSQL server (apt-get install -y postgresql)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null ||
      { echo "[bootstrap] postgresql installed but no initdb under /usr/lib/postgresql/*/bin" >&2; exit 1; }
  else
    echo "[bootstrap] PostgreSQL server binaries missing (no /usr/lib/postgresql/*/bin/initdb)" \
      "and not root: install the 'postgresql' package or set PG_BIN_DIR" >&2
    exit 1
  fi
fi
say "ready"
