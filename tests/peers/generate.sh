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

mkdir -p target/npm
(cd target/npm && { [ -f package.json ] || echo '{}' > package.json; } && npm install --silent dbmate@2.36.0)
rm -f "$out/dbmate.db"
./target/npm/node_modules/.bin/dbmate --url "sqlite:$out/dbmate.db" \
    --migrations-dir "$root/tests/fixtures/formats/dbmate" --no-dump-schema up
echo "wrote $out/sqlx.db and $out/dbmate.db"
