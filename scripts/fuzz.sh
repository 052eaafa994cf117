#!/usr/bin/env bash
# Runs every fuzz target in the module for the given time (default 5s).
set -euo pipefail
fuzztime=${1:-5s}
status=0
while IFS= read -r file; do
  pkg=./$(dirname "$file")
  while IFS= read -r target; do
    echo "fuzz: $pkg $target ($fuzztime)"
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg" || status=1
  done < <(grep -oE '^func (Fuzz[A-Za-z0-9_]+)' "$file" | awk '{print $2}')
done < <(git ls-files '*_test.go' | xargs grep -l '^func Fuzz' || true)
exit $status
