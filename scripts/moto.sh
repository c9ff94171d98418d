#!/usr/bin/env bash
# Installs moto's S3 server (from PyPI) into target/moto, once: the real S3 API on loopback
# that tests/tests/remote_s3.rs runs against. Prints the server's path.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/target/moto"
server="$venv/bin/moto_server"
if [ ! -x "$server" ]; then
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'moto[server]==5.2.6' >&2
fi
echo "$server"
