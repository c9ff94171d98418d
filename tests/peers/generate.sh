#!/usr/bin/env bash
# Regenerates tests/fixtures/peers/*.db with the peers' own code, from the migration sets in
# tests/fixtures/formats: sqlx 0.9 (its Migrator, built here from crates.io) and dbmate (its
# release binary from npm). Needs network; the tests only read the databases it leaves.
set -euo pipefail
cd "$(dirname "$0")"
root=$(cd ../.. && pwd)
out="${PEER_FIXTURES_OUT:-$root/tests/fixtures/peers}"
mkdir -p "$out"

cargo build --release --quiet
rm -f "$out/sqlx.db"
./target/release/peer-fixtures sqlx "$root/tests/fixtures/formats/sqlx" "$out/sqlx.db"

dbmate=$(./install-dbmate.sh)
rm -f "$out/dbmate.db"
"$dbmate" --url "sqlite:$out/dbmate.db" \
    --migrations-dir "$root/tests/fixtures/formats/dbmate" --no-dump-schema up
echo "wrote $out/sqlx.db and $out/dbmate.db"
