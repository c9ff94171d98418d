#!/usr/bin/env bash
# Installs dbmate's release binary from npm (once) under tests/peers/target/npm and prints its
# path. Needs network the first time.
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p target/npm
bin="$PWD/target/npm/node_modules/.bin/dbmate"
if [ ! -x "$bin" ]; then
    (cd target/npm && { [ -f package.json ] || echo '{}' > package.json; } && npm install --silent dbmate@2.36.0) >&2
fi
echo "$bin"
