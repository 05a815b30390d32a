#!/usr/bin/env bash
# Instructions per nested A→B lock pair, by variant, under callgrind.
#
# Each variant runs twice (N = 1,000 and N = 101,000 pairs); the difference in
# callgrind's instruction count over 100,000 is the cost of one pair, with
# start-up, first-use validation and exit cancelled out. Repeatable to the
# instruction on any machine with the same compiler.
#
#   scripts/callgrind.sh            # checks on  (--features lockdep)
#   scripts/callgrind.sh off        # checks compiled out
set -euo pipefail
cd "$(dirname "$0")/.."
features=(--features lockdep)
[ "${1:-}" = off ] && features=()
cargo build --quiet --release --example callgrind_pairs "${features[@]}"
bin=target/release/examples/callgrind_pairs
[ -n "${CARGO_TARGET_DIR:-}" ] && bin="$CARGO_TARGET_DIR/release/examples/callgrind_pairs"

count() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$1" "$2" 2>&1 |
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}

printf '%-12s %s\n' variant instructions/pair
for v in bare checked parking_lot std; do
  lo=$(count "$v" 1000)
  hi=$(count "$v" 101000)
  printf '%-12s %s\n' "$v" "$(( (hi - lo) / 100000 ))"
done
