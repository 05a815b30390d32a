#!/usr/bin/env bash
# CI for the parking_lot 0.12 shim, run by .ci/run (it lives outside the
# workspace). Shares the repository's target dir (under compat/), so a warm
# run rebuilds nothing.
set -euo pipefail
cd "$(dirname "$0")"
shim=$(pwd)
repo=$(cd ../.. && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$repo/target}/compat
export CARGO_TERM_COLOR=never
start=$SECONDS
step() { printf '\n=== parking_lot-0.12: %s (%ss) ===\n' "$*" "$((SECONDS - start))"; }

step "fmt"
cargo fmt --check
cargo fmt --check --manifest-path upstream-tests/Cargo.toml

step "clippy -D warnings (default; every feature but send_guard, which excludes deadlock_detection; send_guard)"
cargo clippy --all-targets -- -D warnings
cargo clippy --all-targets --features arc_lock,serde,owning_ref,nightly,deadlock_detection,hardware-lock-elision,lockdep -- -D warnings
cargo clippy --all-targets --features send_guard -- -D warnings
cargo clippy --manifest-path upstream-tests/Cargo.toml --all-targets --features arc_lock,serde -- -D warnings

step "doc (missing docs, broken links)"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --features arc_lock,serde,deadlock_detection

step "shim tests: default features"
cargo test
step "shim tests: arc_lock,serde,deadlock_detection"
cargo test --features arc_lock,serde,deadlock_detection
step "shim tests: send_guard"
cargo test --features send_guard

# parking_lot 0.12.5's own tests (extracted at build time from the pinned
# registry source; exclusions in README.md).
step "upstream tests: default features"
cargo test --manifest-path upstream-tests/Cargo.toml
# The feature runs skip condvar.rs's `webkit_queue_test` stress tests only
# (over a million messages through a Condvar, half a minute on two cores,
# and no `cfg(feature)` in them): every other test runs in each.
step "upstream tests: arc_lock"
cargo test --manifest-path upstream-tests/Cargo.toml --features arc_lock -- --skip webkit_queue_test
step "upstream tests: serde"
cargo test --manifest-path upstream-tests/Cargo.toml --features serde -- --skip webkit_queue_test
step "upstream tests: release, validator kept on (lockdep)"
cargo test --manifest-path upstream-tests/Cargo.toml --release --features lockdep

# The recipe in README.md, end to end: a project on registry parking_lot
# 0.12 gets the shim through [patch.crates-io] + `cargo update -p`, and an
# ABBA on two parking_lot::Mutexes is then reported.
step "patched scratch project"
scratch=$CARGO_TARGET_DIR/pl012-scratch
rm -rf "$scratch"
mkdir -p "$scratch/src"
cat >"$scratch/Cargo.toml" <<TOML
[package]
name = "pl012-scratch"
version = "0.0.0"
edition = "2021"
publish = false

# Its own workspace: it sits under the repository's target/.
[workspace]

[dependencies]
parking_lot = "0.12"
TOML
cat >"$scratch/src/main.rs" <<'RS'
fn main() {
    let a = parking_lot::Mutex::new(0u32);
    let b = parking_lot::Mutex::new(0u32);
    {
        let _a = a.lock();
        let _b = b.lock();
    }
    let _b = b.lock();
    let _a = a.lock(); // b -> a closes the cycle a -> b -> a
    println!("no report: the shim is not in use");
}
RS
cd "$scratch"
# A project locked to an older 0.12 release, as most are.
cargo generate-lockfile --quiet
cargo update --quiet -p parking_lot --precise 0.12.3
cat >>Cargo.toml <<TOML

[patch.crates-io]
parking_lot = { path = "$shim" }
TOML
# Before `cargo update -p`: the lock keeps 0.12.3 and cargo says the patch
# was not used.
cargo tree -i parking_lot@0.12.3 -e normal 2>"$scratch/unused.txt" >/dev/null || true
grep -F 'was not used in the crate graph' "$scratch/unused.txt" ||
  { echo "expected cargo's 'patch was not used' warning" >&2; cat "$scratch/unused.txt" >&2; exit 1; }
cargo update -p parking_lot@0.12.3
tree=$(cargo tree -i parking_lot --prefix none | head -1)
echo "cargo tree -i parking_lot: $tree"
case "$tree" in
  "parking_lot v0.12.5 ($shim)") ;;
  *) echo "the patch did not apply: $tree" >&2; exit 1 ;;
esac
set +e
cargo run --quiet >"$scratch/out.txt" 2>"$scratch/err.txt"
code=$?
set -e
if [ "$code" -eq 0 ] || ! grep -q 'possible circular locking dependency detected' "$scratch/err.txt"; then
  echo "the ABBA was not reported (exit $code)" >&2
  cat "$scratch/out.txt" "$scratch/err.txt" >&2
  exit 1
fi
echo "ABBA reported through the patch (exit $code):"
grep -m1 -A3 'possible circular locking dependency detected' "$scratch/err.txt"
cd "$shim"

printf "\n=== parking_lot-0.12: ci.sh passed in %ss ===\n" "$((SECONDS - start))"
