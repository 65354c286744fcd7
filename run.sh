#!/usr/bin/env bash
# Set up cryoray in ./.venv (only when pyproject.toml or constraints.txt changed) and run it.
#   bash run.sh sample [-o DIR]   set up, then run the main job on the bundled sample
#   bash run.sh test [PYTEST ARGS] set up, then run the test suite (what .ci/run calls)
#   bash run.sh lint               set up, then ruff check + ruff format --check (what .ci/run also calls)
#   bash run.sh setup              only set up
# Needs only Python >= 3.11 (python3, or $PYTHON); as root it apt-installs dssp and mmseqs2. torch==2.13.0 is installed first so that no
# CUDA build is pulled on CPU machines; every later pip call is held to constraints.txt.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
VENV=${CRYORAY_VENV:-.venv}

system_tools() {
    # Debian's dssp (secondary structure) and mmseqs2 (sequence clustering for splits).
    command -v mkdssp >/dev/null && command -v mmseqs >/dev/null && return
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "run.sh: installing dssp and mmseqs2 (apt-get)" >&2
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dssp mmseqs2 >/dev/null
    else
        echo "run.sh: please install Debian's dssp and mmseqs2 packages (needs root)" >&2
        return 1
    fi
}

setup() {
    system_tools
    local stamp="$VENV/.cryoray-setup" want
    want=$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        return
    fi
    echo "run.sh: setting up $VENV (a few minutes the first time)" >&2
    "$PY" -m venv "$VENV"
    "$VENV/bin/pip" install -q --upgrade pip
    "$VENV/bin/pip" install -q torch==2.13.0
    "$VENV/bin/pip" install -q -c constraints.txt -e ".[dev]"
    "$VENV/bin/pip" check
    echo "$want" > "$stamp"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
    sample) setup; exec "$VENV/bin/cryoray" demo "$@" ;;
    test) setup; exec "$VENV/bin/python" -m pytest "$@" ;;
    lint) setup; "$VENV/bin/ruff" check . && exec "$VENV/bin/ruff" format --check . ;;
    setup) setup ;;
    *) sed -n '2,9p' "$0" >&2; exit 2 ;;
esac
