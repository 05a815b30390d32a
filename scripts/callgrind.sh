#!/usr/bin/env bash
# Instructions per lock operation pair, by variant, under callgrind.
#
# Each variant runs twice (N = 1,000 and N = 101,000 pairs); the difference in
# callgrind's instruction count over 100,000 is the cost of one pair, with
# start-up, first-use validation and exit cancelled out. Repeatable to the
# instruction on any machine with the same compiler.
#
#   scripts/callgrind.sh              # nested A->B pairs, checks on (--features lockdep)
#   scripts/callgrind.sh off          # nested A->B pairs, checks compiled out
#   scripts/callgrind.sh locks        # kernsync (RwSem, Mutex, PercpuRwSem, kernsync::sync, the
#                                     # parking_lot 0.13 shim)/parking_lot/std/ShardedLock pairs,
#                                     # nested A->B Mutex pairs, notifies with no waiter, and calls of
#                                     # 8-callback notifier chains, checks compiled out
#   scripts/callgrind.sh locks on     # the same with checks on
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-target}

if [ "${1:-}" = locks ]; then
  example=callgrind_locks
  variants="ks_read pc_read pl_read std_read sl_read ks_write pc_write pl_write std_write sl_write ks_mutex pl_mutex std_mutex fu_mutex fu_mutex_task tk_mutex al_mutex fu_read tk_read al_read fu_write tk_write al_write ks_nested pl_nested std_nested sy_nested shim_mutex shim_nested sy_read sy_write sy_mutex sy_notify ks_notify pl_notify std_notify sy_notify_all ks_notify_all pl_notify_all std_notify_all sy_once_lock std_once_lock sy_lazy std_lazy sy_once std_once nf_call8 anf_call8 pl_vec8 vec8"
  features=()
  [ "${2:-}" = on ] && features=(--features lockdep)
else
  example=callgrind_pairs
  variants="bare checked parking_lot std"
  features=(--features lockdep)
  [ "${1:-}" = off ] && features=()
fi
cargo build --quiet --release --example "$example" ${features[@]+"${features[@]}"}
bin="$target/release/examples/$example"

count() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$1" "$2" 2>&1 |
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}

if [ "$example" = callgrind_locks ]; then
  # PercpuRwSem's read fast path needs membarrier; say which barrier the
  # process gets under valgrind (KERNSYNC_PERCPU_BARRIER=fence forces the
  # fallback).
  printf 'percpu barrier under valgrind: %s\n' \
    "$(valgrind --tool=none "$bin" pc_barrier 2>/dev/null)"
fi
printf '%-12s %s\n' variant instructions/pair
for v in $variants; do
  lo=$(count "$v" 1000)
  hi=$(count "$v" 101000)
  printf '%-12s %s\n' "$v" "$(( (hi - lo) / 100000 ))"
done
