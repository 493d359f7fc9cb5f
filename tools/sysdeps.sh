#!/usr/bin/env bash
# The system programs some tests use: Chromium (browser tests of the docs site) and PostgreSQL (the distributed HPO test).
# Installed with apt only where this account may (root, or passwordless sudo); otherwise one line says what will skip
# and how to install it, and `make test` goes on. PostgreSQL also comes without root from the pgserver wheel in the venv.
set -u
venv_python=${1:-.venv/bin/python}

# What counts as installed (the test of this script points these at names that do not exist).
chromium_names=${SYSDEPS_CHROMIUM:-chromium chromium-browser google-chrome}
initdb_paths=${SYSDEPS_INITDB:-$(echo /usr/lib/postgresql/*/bin/initdb) initdb}

have() { command -v "$1" >/dev/null 2>&1; }
have_any() { for c in $1; do have "$c" && return 0; done; return 1; }
have_chromium() { have_any "$chromium_names"; }
have_postgres() { have_any "$initdb_paths" || "$venv_python" -c "import importlib.util as u, sys; sys.exit(u.find_spec('pgserver') is None)" >/dev/null 2>&1; }

missing=()
have_chromium || missing+=(chromium)
have_postgres || missing+=(postgresql)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  apt=(apt-get)
elif have sudo && sudo -n true >/dev/null 2>&1; then
  apt=(sudo -n apt-get)
else
  apt=()
fi
if [ ${#apt[@]} -gt 0 ] && have apt-get; then
  echo "installing ${missing[*]} (apt)"
  "${apt[@]}" update -qq && DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y -qq "${missing[@]}" >/dev/null && exit 0
  echo "sysdeps: apt could not install ${missing[*]}; the tests that need them will skip"
  exit 0
fi
skips=() brew=()
for m in "${missing[@]}"; do
  case $m in
    chromium) skips+=("the browser tests"); brew+=("brew install --cask chromium") ;;
    postgresql) skips+=("the PostgreSQL HPO test"); brew+=("brew install postgresql") ;;
  esac
done
join() { local sep=$1 out=$2; shift 2; for x in "$@"; do out+="$sep$x"; done; echo "$out"; }
if [ "$(uname -s)" = Darwin ]; then how=$(join " && " "${brew[@]}"); else how="sudo apt-get install ${missing[*]}"; fi
echo "sysdeps: $(join " and " "${missing[@]}") missing, and this account cannot install system packages: $(join " and " "${skips[@]}") will skip (to run them: $how)"
exit 0
