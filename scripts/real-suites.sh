#!/usr/bin/env bash
# kernsync::sync as a drop-in for std::sync, and the parking_lot shims as a
# [patch], proven on other people's code: each pinned crate below is copied
# from its published source; a std::sync crate's paths are rewritten to
# kernsync::sync by tools/swap-std-sync (which fails on anything it cannot
# rewrite), a parking_lot crate's project gets the [patch.crates-io] entry and
# nothing else; and its own test suite runs in a debug build,
# validation on, reports panicking. A suite passes only if every test passes,
# as many tests pass as on std, no report was printed (a panic in a pool's
# worker thread could otherwise be swallowed), and the rewrite left no
# std::sync path in code.
#
#   scripts/real-suites.sh                 # CI: the rewritten suites
#   scripts/real-suites.sh --unmodified    # development: the same suites on std, for comparison
#   scripts/real-suites.sh --update-locks  # re-resolve scripts/real-suites/*.lock
#   scripts/real-suites.sh [mode] threadpool  # only the named crates
#
# Everything happens under target/real-suites/ (scratch projects, each with an
# empty [workspace] so kernsync's workspace does not claim it, sharing one
# target dir); kernsync's own workspace gets no [patch]. Each suite's whole
# dependency graph (kernsync's dependencies included) is pinned by a committed
# lock file, scripts/real-suites/<crate>-<version>.lock: when kernsync's
# dependencies change, `--update-locks` refreshes them. A report that is a real
# inversion of the crate is written up in crates/sync/README.md ("Proven on")
# and allowed in scripts/real-suites/<crate>-<version>.allow
# (KERNSYNC_LOCKDEP_ALLOW format: `from -> to: reason`).
#
# Cost in CI (2 shared cores): 99 s with an empty target/real-suites, 73 s
# warm; about 60 s of it is threadpool's own tests, whose jobs sleep 23 s.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
pins=$repo/scripts/real-suites
root=$repo/target/real-suites
export CARGO_TARGET_DIR=$root/target
export CARGO_TERM_COLOR=never

# crate, version, tests that pass (unit + integration + doctests, as on std).
# crossbeam-utils' suite needs its allow file: its ShardedLock test `smoke`
# holds two reads of one shard (scripts/real-suites/crossbeam-utils-0.8.23.allow
# says why that is judged safe there).
suites=(
  "threadpool 1.8.1 40"
  "scoped_threadpool 0.1.9 10"
  "two-lock-queue 0.1.1 13"
  "crossbeam-utils 0.8.23 221"
)
# crate, version, tests that pass, for crates on parking_lot: nothing of
# theirs is rewritten; the scratch project gets [patch.crates-io] entries for
# compat/parking_lot-0.12 and -0.13 (the adoption chapter's recipe), and
# `cargo tree` must show a shim for every parking_lot in the tree.
patched=(
  "scheduled-thread-pool 0.2.7 13"
  "r2d2 0.8.10 17 test::events"
)
# A fourth field and on: tests skipped, each because it fails unmodified too.
# r2d2's test::events asserts the order of events its pool's worker thread
# records concurrently (Release before the second Acquire): it fails about
# one run in three on the registry's parking_lot and std as well.
# Not here either: crossbeam-channel 0.5.15 (462 tests, Mutex in its wakers
# and zero-capacity channels). It passed rewritten, with no report, but its
# tests assert timing windows of +-50 ms (select_macro::default_only,
# loop_try) that fail on a loaded 2-core machine, and it takes 3 minutes.

mode=rewritten
case "${1:-}" in
  --unmodified) mode=unmodified; shift ;;
  --update-locks) mode=update-locks; shift ;;
  -*) echo "usage: $0 [--unmodified | --update-locks] [crate..]" >&2; exit 2 ;;
esac
only=" $* " # crates to run; all when empty

mkdir -p "$root"
cargo build --quiet --manifest-path "$repo/tools/swap-std-sync/Cargo.toml"
swap=$CARGO_TARGET_DIR/debug/swap-std-sync

# The published sources, through cargo: a throwaway project depending on each
# pinned crate, fetched; cargo metadata says where each was extracted.
fetch=$root/fetch
mkdir -p "$fetch/src"
: > "$fetch/src/lib.rs"
{
  printf '[package]\nname = "real-suites-fetch"\nversion = "0.0.0"\nedition = "2021"\npublish = false\n\n[dependencies]\n'
  for s in "${suites[@]}" "${patched[@]}"; do
    read -r crate version _ <<< "$s"
    printf '%s = "=%s"\n' "$crate" "$version"
  done
  printf '\n[workspace]\n'
} > "$fetch/Cargo.toml"
(cd "$fetch" && cargo fetch --quiet)
metadata=$(cd "$fetch" && cargo metadata --quiet --format-version 1)

source_of() { # $1 = crate, $2 = version: the directory cargo extracted it to
  local manifest
  manifest=$(grep -o "\"manifest_path\":\"[^\"]*/$1-$2/Cargo.toml\"" <<< "$metadata" | head -1 | cut -d'"' -f4)
  if [ -z "$manifest" ]; then
    echo "real-suites: cargo metadata does not show $1-$2" >&2
    return 1
  fi
  dirname "$manifest"
}

# Edition-2015 crate roots of the scratch project (its build script excluded):
# 2015 resolves `use` paths from the crate root, which must name kernsync.
roots_2015() { # $1 = project dir
  local targets
  targets=$(cd "$1" && cargo metadata --quiet --no-deps --format-version 1 | tr '{' '\n')
  { grep '"src_path":' | grep '"edition":"2015"' | grep -v '"custom-build"' |
    grep -o '"src_path":"[^"]*"' | cut -d'"' -f4; } <<< "$targets" || true
}

failed=()
for s in "${suites[@]}" "${patched[@]}"; do
  read -r crate version expected skips <<< "$s"
  skip_args=()
  for t in ${skips:-}; do
    skip_args+=(--skip "$t")
  done
  how=rewrite
  [[ " ${patched[*]} " == *" $s "* ]] && how=patch
  if [ "$only" != "  " ] && [[ "$only" != *" $crate "* ]]; then
    continue
  fi
  printf '\n--- %s %s (%s) ---\n' "$crate" "$version" "$mode"
  src=$(source_of "$crate" "$version")
  dir=$root/$crate-$version
  [ "$mode" = unmodified ] && dir=$dir-std
  rm -rf "$dir"
  cp -R "$src" "$dir"
  chmod -R u+w "$dir"
  rm -f "$dir/Cargo.lock"
  if grep -q '^\[workspace\]' "$dir/Cargo.toml"; then
    echo "real-suites: $crate's manifest has a [workspace] table; this script adds its own" >&2
    exit 1
  fi
  printf '\n[workspace]\n' >> "$dir/Cargo.toml"
  lock=$pins/$crate-$version.lock
  locked=(--locked)
  if [ "$mode" = unmodified ]; then
    # Cargo keeps the pinned versions and drops kernsync's.
    cp "$lock" "$dir/Cargo.lock"
    locked=()
  else
    if [ "$how" = patch ]; then
      # Both shims, as the adoption chapter's two-version recipe: a tree may
      # hold parking_lot 0.12 and 0.13 (r2d2 0.8.10's does).
      printf '\n[patch.crates-io]\nparking_lot = { path = "%s/compat/parking_lot-0.12" }\nparking_lot_013 = { package = "parking_lot", path = "%s/compat/parking_lot-0.13" }\n' "$repo" "$repo" >> "$dir/Cargo.toml"
    else
      "$swap" "$dir"
      roots_found=$(roots_2015 "$dir")
      mapfile -t roots <<< "$roots_found"
      if [ -n "$roots_found" ]; then
        "$swap" --extern-crate "${roots[@]}"
      fi
      "$swap" --check "$dir"
      printf '\n[dependencies.kernsync]\npath = "%s"\n' "$repo" >> "$dir/Cargo.toml"
    fi
    if [ "$mode" = update-locks ]; then
      # Start from kernsync's own lock, so its dependencies keep the versions
      # kernsync is tested with; cargo resolves the rest and drops the unused.
      cp "$repo/Cargo.lock" "$dir/Cargo.lock"
      (cd "$dir" && cargo fetch --quiet)
      mkdir -p "$pins"
      cp "$dir/Cargo.lock" "$lock"
      echo "real-suites: wrote ${lock#"$repo"/}"
      continue
    fi
    if [ ! -f "$lock" ]; then
      echo "real-suites: no pinned lock ${lock#"$repo"/}; run $0 --update-locks" >&2
      exit 1
    fi
    cp "$lock" "$dir/Cargo.lock"
    if [ "$how" = patch ]; then
      # The recipe's check: every parking_lot in the tree is a shim.
      tree=$(cd "$dir" && cargo tree --locked --quiet --prefix none -e normal,dev 2>&1) || true
      if grep '^parking_lot v' <<< "$tree" | grep -v "($repo/compat/parking_lot-0.1[23])" | grep -q .; then
        grep '^parking_lot v' <<< "$tree" >&2 || true
        echo "real-suites: the [patch] did not apply to every parking_lot of $crate $version" >&2
        exit 1
      fi
      if ! grep -q "^parking_lot v.*($repo/compat/" <<< "$tree"; then
        echo "real-suites: $crate $version has no parking_lot shim in its tree" >&2
        exit 1
      fi
    fi
  fi

  allow=$pins/$crate-$version.allow
  if [ -f "$allow" ] && [ "$mode" = rewritten ]; then
    export KERNSYNC_LOCKDEP_ALLOW=$allow
  else
    unset KERNSYNC_LOCKDEP_ALLOW
  fi
  log=$dir.log
  # --nocapture: a report in a thread whose panic the crate catches (a pool
  # worker) must still be seen in the log.
  status=0
  (cd "$dir" && KERNSYNC_LOCKDEP=panic cargo test "${locked[@]}" -- --nocapture ${skip_args[@]+"${skip_args[@]}"}) > "$log" 2>&1 || status=$?
  if [ "$status" -ne 0 ] && grep -q -- '--locked was passed' "$log"; then
    grep -B2 -A4 -- '--locked' "$log" >&2 || true
    echo "real-suites: ${lock#"$repo"/} is stale (kernsync's dependencies changed?): run $0 --update-locks" >&2
    exit 1
  fi
  # A third-party suite's timing asserts (r2d2's sleep against its pool's
  # 1 s reaper) can fail on a loaded CI machine: a failure with no report
  # line runs once more; a report line is never retried.
  if [ "$status" -ne 0 ] && ! grep -qE '^WARNING: |kernsync-lockdep: ' "$log"; then
    echo "real-suites: $crate $version failed with no report line; running it once more (timing)" >&2
    status=0
    (cd "$dir" && KERNSYNC_LOCKDEP=panic cargo test "${locked[@]}" -- --nocapture ${skip_args[@]+"${skip_args[@]}"}) > "$log" 2>&1 || status=$?
  fi
  grep '^test result:' "$log" || true
  passed=$(sed -n 's/^test result: .*[^0-9]\([0-9][0-9]*\) passed.*/\1/p' "$log" | awk '{ n += $1 } END { print n + 0 }')
  # A report prints `WARNING: <title>` and panics with `kernsync-lockdep: ..`.
  reports=$(grep -c 'kernsync-lockdep: \|WARNING: ' "$log" || true)
  echo "$crate $version: exit $status, $passed tests passed (expected $expected), $reports report lines; log ${log#"$repo"/}"
  if [ "$status" -ne 0 ] || [ "$passed" -ne "$expected" ] || [ "$reports" -ne 0 ]; then
    grep -n -A30 'kernsync-lockdep: \|WARNING: \|^failures:\|^error' "$log" | head -120 >&2 || true
    failed+=("$crate-$version")
  fi
done

if [ "${#failed[@]}" -gt 0 ]; then
  echo "real-suites: failed: ${failed[*]}" >&2
  exit 1
fi
echo "real-suites: all suites passed ($mode)"
