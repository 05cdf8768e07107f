#!/usr/bin/env bash
# Lists the longest source files and functions of lorafarm's libraries and CLI
# (tests, benchmarks and fuzzers excluded), longest first. Function extents
# come from universal-ctags (`--fields=+ne`: start and end line), so a lambda
# counts as part of the function that holds it.
#   scripts/code-size.sh [N]   # N rows of each list (default 10)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-10}
folders=(engine search schema coordinator report dashboard process worker cli)
existing=()
for f in "${folders[@]}"; do [ -d "$f" ] && existing+=("$f"); done
echo "longest files (lines):"
find "${existing[@]}" -name '*.cpp' -o -name '*.h' | xargs wc -l | grep -v ' total$' | sort -rn | head -n "$n"
echo "longest functions (lines, file:line, name):"
ctags -x --languages=C++ --kinds-c++=f --fields=+ne --_xformat="%{end} %n %F %N" -R "${existing[@]}" |
  awk '$1 != "-" { printf "%5d %s:%s %s\n", $1 - $2 + 1, $3, $2, $4 }' | sort -rn | head -n "$n"
