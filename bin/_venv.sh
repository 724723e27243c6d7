# shellcheck shell=bash
# Sourced by bin/setup-and-run and bin/test: the project's virtualenv, installed once and again
# only when a requirements file changes, and a timer for the slow steps.
#
# facenet-pytorch is installed last with --no-deps: its metadata pins torch<2.3, numpy<2 and
# Pillow<10.3, which requirements.txt deliberately overrides (README, "Dependencies").

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$ROOT/.venv"
# One line per requirements file installed: "<sha256>  <file>", as sha256sum prints it.
VENV_STAMP="$VENV/.requirements.sha256"

# step LABEL COMMAND...: run COMMAND, then print how long it took.
step() {
  local label=$1 start=$SECONDS status=0
  shift
  printf '==> %s\n' "$label"
  "$@" || status=$?
  printf '==> %s: %ss%s\n' "$label" "$((SECONDS - start))" "$([ "$status" -eq 0 ] || echo " (failed, exit $status)")"
  return "$status"
}

_venv_python_ok() {
  [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null
}

_venv_create() {
  local python=${PYTHON:-python3.11}
  if ! command -v "$python" >/dev/null; then
    echo "error: $python not found; install Python 3.11 or set PYTHON to its path." >&2
    return 1
  fi
  rm -rf "$VENV" && "$python" -m venv "$VENV"
}

# _venv_install FILE...: pip install -r each FILE, then facenet-pytorch without its pins.
# (Functions run by `step` are outside `set -e`, hence the explicit &&.)
_venv_install() {
  local args=() file
  for file in "$@"; do args+=(-r "$file"); done
  "$VENV/bin/python" -m pip install "${args[@]}" &&
    "$VENV/bin/python" -m pip install --no-deps -r requirements-facenet.txt
}

# venv_ensure [EXTRA_REQUIREMENTS...]: .venv with requirements.txt, requirements-facenet.txt and
# the extra files installed. Skips everything whose file has not changed since it was installed.
venv_ensure() {
  local files=(requirements.txt requirements-facenet.txt "$@") want
  cd "$ROOT" || return 1
  if ! _venv_python_ok; then
    step "Create .venv (Python 3.11)" _venv_create || return 1
  fi
  want=$(sha256sum "${files[@]}") || return 1
  # Up to date when every wanted line is already in the stamp.
  if [ -f "$VENV_STAMP" ] && ! grep -qvxF -f "$VENV_STAMP" <<<"$want"; then
    echo "==> .venv is up to date with ${files[*]}"
    return 0
  fi
  local pip_files=(requirements.txt "$@")
  step "Install ${files[*]} into .venv" _venv_install "${pip_files[@]}" || return 1
  # Keep the lines of files installed earlier and not asked for now (e.g. requirements-dev.txt).
  { printf '%s\n' "$want"; if [ -f "$VENV_STAMP" ]; then cat "$VENV_STAMP"; fi; } |
    awk '!seen[$2]++' >"$VENV_STAMP.new" &&
    mv "$VENV_STAMP.new" "$VENV_STAMP"
}

# Run the project's tools (python, daphne, celery, pytest, ruff, mypy) from .venv.
venv_activate() {
  export VIRTUAL_ENV="$VENV"
  export PATH="$VENV/bin:$PATH"
}
