#!/usr/bin/env bash
# Proves the package as a user meets it: a non-editable install of this checkout into a fresh
# virtualenv outside it, `tally init` in a folder outside it, then generate, load, rollup and
# verify there; and nothing written into the virtualenv after the install.
# Usage: ci/check-package.sh [PYTHON]   (make check-package)
set -euo pipefail
# as a new user's shell: none of the settings a caller (make exports TALLY_HOME) may have made
unset TALLY_HOME TALLY_PROJECT_DIR TALLY_TARGET TALLY_USER_PROFILES_DIR
checkout="$(cd "$(dirname "$0")/.." && pwd)"
python="${1:-$(command -v python3.11 || command -v python3)}"
work="$(mktemp -d /tmp/tally-package.XXXXXX)"
chmod 755 "$work"  # the embedded database's system user must reach its folder
trap '"$work/venv/bin/tally" db stop >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

step() { echo "check-package: $*"; }
step "installing $checkout into a fresh virtualenv ($work/venv)"
"$python" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet --upgrade pip
"$work/venv/bin/python" -m pip install --quiet "$checkout"
touch "$work/installed"
tally="$work/venv/bin/tally"

cd "$work"
if "$tally" rollup 2>"$work/no-project.err"; then
  step "FAIL: tally rollup ran outside any project"; exit 1
fi
grep -q "no tally project" "$work/no-project.err" || { cat "$work/no-project.err"; exit 1; }

"$tally" init acme
cd acme
"$tally" generate --events 5000 --out data --seed 3 >/dev/null
"$tally" load data || test $? -eq 3  # 3: the sample's bad records were quarantined
"$tally" rollup >rollup.log 2>&1 || { cat rollup.log; exit 1; }
"$tally" verify
test -d .tally/postgres || { step "FAIL: the state folder is not the project's .tally/"; exit 1; }
"$tally" db stop >/dev/null

written="$(find "$work/venv" -newer "$work/installed" -not -type d | head -20)"
if [ -n "$written" ]; then
  step "FAIL: files written into the virtualenv after the install:"; echo "$written"; exit 1
fi
step "ok: installed, initialised, loaded, rolled up and verified outside the checkout"
