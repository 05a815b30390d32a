#!/usr/bin/env bash
# kernsync as a user meets it: a scratch project outside the repository that
# depends on `kernsync` by path and runs the README's example as its main,
# in a debug build (checks on), a release build (checks compiled out) and a
# release build with the `lockdep` feature (checks kept).
#
#   scripts/as-dependency.sh            # uses a temporary directory
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}/as-dependency"

make_project() { # $1 = name, $2 = extra dependency keys
  mkdir -p "$dir/$1/src"
  cat > "$dir/$1/Cargo.toml" <<TOML
[package]
name = "$1"
version = "0.1.0"
edition = "2021"
publish = false

[dependencies]
kernsync = { path = "$repo"$2 }

[workspace]
TOML
  {
    echo 'fn main() {'
    # The first rust block of the README, as a user would paste it.
    awk '/^```rust$/ {on = 1; next} on && /^```$/ {exit} on {print "    " $0}' "$repo/README.md"
    echo '    println!("README example ran: validation {}", if kernsync::lockdep::is_enabled() { "on" } else { "compiled out" });'
    echo '}'
  } > "$dir/$1/src/main.rs"
}

make_project plain ""
make_project with-lockdep ', features = ["lockdep"]'

(cd "$dir/plain" && cargo run --quiet && cargo run --quiet --release)
(cd "$dir/with-lockdep" && cargo run --quiet --release)
