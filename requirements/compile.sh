#!/bin/sh
# `make lock`: resolve the hashed lock files, with pip-compile
# (pip-tools) from the scratch venv in $LOCK_VENV; pip-tools is not a project dependency.
#
#   requirements/lock.txt     runtime + dev + bootstrap.in: make venv/run/test/bench, CI
#   requirements/runtime.txt  runtime + bootstrap.in: the Docker image
#   requirements/bench-peers.txt  bench-peers.in: .bench-peers-venv of `make bench-peers` only
#   requirements/phoenix.txt  phoenix.in: .phoenix-venv of `make phoenix` only
#
# Versions already pinned are kept (pip-compile prefers the pins in its output file); only
# what pyproject.toml no longer allows moves. UPGRADE=1 re-resolves everything to the newest
# allowed releases; UPGRADE_PACKAGE=name moves that one package. runtime.txt starts from
# lock.txt's pins, so both files pin the same version of every package they share, and the
# script fails if they do not.
set -eu
cd "$(dirname "$0")/.."
compile="${LOCK_VENV:-.lock-venv}/bin/pip-compile"
flags="--quiet --generate-hashes --allow-unsafe --strip-extras \
  --no-emit-index-url --no-emit-find-links --no-emit-trusted-host"
upgrade=""
if [ -n "${UPGRADE:-}" ]; then upgrade="--upgrade"; fi
if [ -n "${UPGRADE_PACKAGE:-}" ]; then upgrade="--upgrade-package ${UPGRADE_PACKAGE}"; fi

# A file whose content does not change keeps its time, so `make` does not rebuild .venv.
before=$(mktemp -d)
trap 'rm -rf "$before"' EXIT
for file in lock.txt runtime.txt bench-peers.txt phoenix.txt; do
  if [ -f "requirements/$file" ]; then cp -p "requirements/$file" "$before/"; fi
done

# shellcheck disable=SC2086
"$compile" $flags $upgrade --extra dev -o requirements/lock.txt \
  pyproject.toml requirements/bootstrap.in
cp requirements/lock.txt requirements/runtime.txt
# shellcheck disable=SC2086
"$compile" $flags -o requirements/runtime.txt pyproject.toml requirements/bootstrap.in

# shellcheck disable=SC2086
"$compile" $flags $upgrade -o requirements/bench-peers.txt requirements/bench-peers.in
# shellcheck disable=SC2086
"$compile" $flags $upgrade -o requirements/phoenix.txt requirements/phoenix.in

for file in lock.txt runtime.txt bench-peers.txt phoenix.txt; do
  if cmp -s "$before/$file" "requirements/$file"; then
    touch -r "$before/$file" "requirements/$file"
  fi
done

pins() { grep -E '^[A-Za-z0-9]' "$1" | sed 's/ .*//' | sort; }
locked=$(mktemp)
pins requirements/lock.txt >"$locked"
differ=$(pins requirements/runtime.txt | comm -23 - "$locked")
rm -f "$locked"
if [ -n "$differ" ]; then
  echo "lock: runtime.txt pins versions that lock.txt does not: $differ" >&2
  exit 1
fi
for file in requirements/lock.txt requirements/runtime.txt requirements/bench-peers.txt \
  requirements/phoenix.txt; do
  echo "lock: $(pins "$file" | wc -l) packages in $file"
done
