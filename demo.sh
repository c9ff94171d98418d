#!/usr/bin/env bash
# The README demo: migrate a fresh database with ./migrations through the `migrate` CLI.
set -euo pipefail
cd "$(dirname "$0")"

target="${CARGO_TARGET_DIR:-target}"
db=target/demo/app.db
rm -rf target/demo && mkdir -p target/demo
# Built once, with cargo's progress shown (the first build takes a few minutes). Two builds:
# naming `--example` makes cargo build only that example, not the CLI's binary.
echo "== building the migrate CLI and the demo's seeding example"
cargo build -p belay-cli --bin migrate
cargo build -p migrate-tests --example seed_demo
migrate() { "$target/debug/migrate" --db "$db" "$@"; }
seed() { "$target/debug/examples/seed_demo" "$db" "$@"; }

echo "== status of a new database";       migrate status
echo; echo "== plan up to version 2";      migrate plan --to 2
echo; echo "== up to version 4";           migrate up --to 4
echo; echo "== some app data, then the rest (5 rebuilds the users parent table)"
seed
migrate up
seed --count
echo; echo "== status";                     migrate status
echo; echo "== down two steps, and up again"; migrate down --steps 2; migrate up
echo; echo "== history";                    migrate history
echo; echo "== integrity check (quick, then full)"; migrate check; migrate check --full
echo; echo "== a backup, then a table restored from it"
migrate backup create
seed --count
migrate restore latest --table tasks --yes
migrate backup list
echo; echo "== an edited, already applied migration is refused (exit 4)"
cp -r migrations target/demo/migrations
echo "-- edited" >> target/demo/migrations/0002_create_projects.up.sql
set +e; migrate --migrations target/demo/migrations up; code=$?; set -e
echo "exit code: $code"
echo; echo "== a goose migration set is read as goose wrote it (and a database goose migrated is adopted: docs/adopting.md)"
"$target/debug/migrate" --db target/demo/goose.db --migrations tests/fixtures/formats/goose up
echo; echo "== where every setting came from"
migrate config
