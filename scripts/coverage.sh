#!/usr/bin/env bash
# Line coverage of the product crates, measured so that the `migrate` binaries the integration
# tests spawn count too: the whole workspace is built instrumented in one target directory
# (cargo-llvm-cov's show-env), the tests run as usual, and the report merges every profile.
# `cargo llvm-cov --workspace` alone passes --target-dir on its command line, so the CLI the
# test helper builds lands outside it and its profiles are dropped.
#
#   bash scripts/coverage.sh            # prints the table per file and the total
#   COVERAGE_FLOOR=88 bash scripts/coverage.sh   # also fails when the total is below 88%
#
# Needs the llvm-tools component and cargo-llvm-cov (installed here when missing).
set -euo pipefail
cd "$(dirname "$0")/.."

rustup component add llvm-tools >/dev/null 2>&1 || true
command -v cargo-llvm-cov >/dev/null || cargo install cargo-llvm-cov --locked --quiet

export CARGO_TARGET_DIR="$PWD/target/coverage"
# shellcheck disable=SC1090
source <(cargo llvm-cov show-env --sh)
cargo llvm-cov clean --workspace
# Some tests run `migrate` as an unprivileged user (setpriv, to be a reader that may not write
# the database): its profiles land here too, each process in a file of its own (%p), so the
# directory is writable by all, sticky as /tmp is.
mkdir -p "$CARGO_TARGET_DIR" && chmod 1777 "$CARGO_TARGET_DIR"
cargo test --workspace --quiet >&2
# The product crates only: tests/ and bench/ are not products (bench/ is left out: no test runs
# its binaries), nor are the peers' oracle crates.
# A process killed while it writes its profile at exit (the tests send signals at random
# moments) leaves a file llvm-profdata cannot read; by default one such file fails the whole
# merge. `--failure-mode all` merges the readable ones and warns about the others.
report=$(cargo llvm-cov report --failure-mode all --ignore-filename-regex '(^|/)(tests|bench|examples)/|/target/|/\.cargo/registry/' --summary-only)
echo "$report"
total=$(echo "$report" | awk '/^TOTAL/ { print $10 }' | tr -d '%')
echo "line coverage of the product crates: ${total}%"
if [ -n "${COVERAGE_FLOOR:-}" ] && awk -v t="$total" -v f="$COVERAGE_FLOOR" 'BEGIN { exit !(t < f) }'; then
    echo "line coverage ${total}% is below the floor of ${COVERAGE_FLOOR}%" >&2
    exit 1
fi
