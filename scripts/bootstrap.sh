#!/usr/bin/env bash
# Idempotent set-up for `make demo` / `make test` on a fresh machine.
#   scripts/bootstrap.sh --demo       venv + tap + simulator + meltano + duckdb (the `demo` extra)
#                                     + `meltano install tap-genesys-analytics target-duckdb`
#   scripts/bootstrap.sh              venv + tap (dev extra) + simulator + `meltano install` (all)
#   scripts/bootstrap.sh --postgres   ... and PostgreSQL server binaries (apt, when root)
# Each step is skipped when a stamp says it is already done for the current inputs (the full
# set-up also satisfies the demo one). Progress goes to stdout; pip's full log to .venv/.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
PYTHON=${PYTHON:-python3}
VENV=${VENV:-$ROOT/.venv}
MODE=dev
case "${1:-}" in
  "") ;;
  --demo) MODE=demo ;;
  --postgres) MODE=postgres ;;
  *) echo "[bootstrap] unknown option '$1' (use --demo, --postgres or nothing)" >&2; exit 2 ;;
esac
STARTED=$SECONDS

say() { printf '[bootstrap] %s\n' "$*"; }
hash_of() { cat "$@" | sha256sum | cut -c1-16; }

# pip, printing one line per package as it goes; the whole output is kept in
# $VENV/pip-install.log and its tail shown if pip fails.
pip_install() {
  local log="$VENV/pip-install.log"
  say "  pip install $*"
  if ! "$VENV/bin/python" -m pip install --progress-bar off --disable-pip-version-check "$@" \
    </dev/null 2>&1 | tee "$log" |
    sed -u -n -e 's/^Collecting \([^ ]*\).*/    collecting \1/p' -e 's/^Building wheel.*/    building/p' \
      -e 's/^Successfully installed \(.*\)/    installed \1/p'; then
    tail -n 30 "$log" >&2
    echo "[bootstrap] pip install $* failed (full log: $log)" >&2
    exit 1
  fi
}

# 1. virtual env
if [[ ! -x "$VENV/bin/python" ]]; then
  say "creating virtual env $VENV ($("$PYTHON" --version 2>&1))"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
fi

# 2. the project and the simulator, editable (keyed on both pyproject.toml). The demo needs the
#    `demo` extra (meltano, duckdb); the tests the `dev` extra, which includes it.
PIP_HASH=$(hash_of pyproject.toml simulator/pyproject.toml)
imports_ok() {
  "$VENV/bin/python" -c "import tap_genesys_analytics, genesys_sim, duckdb" 2>/dev/null &&
    [[ -x "$VENV/bin/genesys-sim" && -x "$VENV/bin/meltano" ]]
}
if [[ $MODE == demo ]]; then
  EXTRA=demo
  pip_done() { [[ -f "$VENV/.bootstrap-pip-dev-$PIP_HASH" || -f "$VENV/.bootstrap-pip-demo-$PIP_HASH" ]]; }
else
  EXTRA=dev
  pip_done() { [[ -f "$VENV/.bootstrap-pip-dev-$PIP_HASH" ]]; }
fi
if ! pip_done || ! imports_ok; then
  say "installing the tap, the simulator and the '$EXTRA' extra into $VENV (first time: a minute or two)"
  pip_install -e ".[$EXTRA]"
  # second, so that replacing an older tap install cannot remove the simulator's console script
  pip_install -e ./simulator
  imports_ok || { echo "[bootstrap] pip left tap_genesys_analytics, genesys_sim or duckdb missing" >&2; exit 1; }
  rm -f "$VENV"/.bootstrap-pip-*
  touch "$VENV/.bootstrap-pip-$EXTRA-$PIP_HASH"
else
  say "tap, simulator and '$EXTRA' extra already installed"
fi

# 3. Meltano plugins into .meltano/ (keyed on meltano.yml + pyproject.toml). The demo needs the
#    extractor and target-duckdb; the tests target-postgres too.
export MELTANO_SEND_ANONYMOUS_USAGE_STATS=false
MELTANO_HASH=$(hash_of meltano.yml pyproject.toml)
EXTRACTOR_BIN=.meltano/extractors/tap-genesys-analytics/venv/bin/tap-genesys-analytics
DUCKDB_BIN=.meltano/loaders/target-duckdb/venv/bin/target-duckdb
POSTGRES_BIN=.meltano/loaders/target-postgres/venv/bin/target-postgres
if [[ $MODE == demo ]]; then
  PLUGINS=(tap-genesys-analytics target-duckdb)
  plugins_present() { [[ -x $EXTRACTOR_BIN && -x $DUCKDB_BIN ]]; }
  meltano_done() { [[ -f ".meltano/.bootstrap-install-all-$MELTANO_HASH" || -f ".meltano/.bootstrap-install-demo-$MELTANO_HASH" ]]; }
  SET=demo
else
  PLUGINS=()
  plugins_present() { [[ -x $EXTRACTOR_BIN && -x $DUCKDB_BIN && -x $POSTGRES_BIN ]]; }
  meltano_done() { [[ -f ".meltano/.bootstrap-install-all-$MELTANO_HASH" ]]; }
  SET=all
fi
if ! meltano_done || ! plugins_present; then
  say "meltano install ${PLUGINS[*]:-(extractor and both loaders)} into .meltano/ (first time: a minute or two)"
  "$VENV/bin/meltano" install "${PLUGINS[@]}"
  plugins_present || { echo "[bootstrap] meltano install left a plugin missing" >&2; exit 1; }
  rm -f .meltano/.bootstrap-install-*
  touch ".meltano/.bootstrap-install-$SET-$MELTANO_HASH"
else
  say "Meltano plugins already installed"
fi

# 4. PostgreSQL server binaries (only the end-to-end tests need them)
if [[ $MODE == postgres ]]; then
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
say "ready ($MODE set-up, $((SECONDS - STARTED)) s)"
