#!/usr/bin/env bash
# Installs what `make test-integration` and `make test-schema` need besides
# PostgreSQL and Redis themselves: redis-server (the outage tests run a private
# one), openssl (a throwaway CA) and headless Chromium with its WebDriver
# (the link pages in a real browser), jq (the README walk-through) and
# clamav-daemon (each scanner test starts its own clamd) from Debian's packages; aiosmtpd (a real
# SMTP server per test) and schemathesis from PyPI; s3s-fs (an S3 server that
# checks SigV4 signatures; each object-store test starts its own) from
# crates.io. Idempotent.
set -euo pipefail
missing=()
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v psql >/dev/null 2>&1 || missing+=(postgresql-client)
{ [ -x /usr/sbin/clamd ] || command -v clamd >/dev/null 2>&1; } || missing+=(clamav-daemon)
command -v jq >/dev/null 2>&1 || missing+=(jq)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq && $sudo apt-get install -y -qq "${missing[@]}"
fi
pip=(python3 -m pip install --quiet --disable-pip-version-check)
[ "$(id -u)" -eq 0 ] && pip+=(--root-user-action=ignore)
python3 -c "import aiosmtpd" >/dev/null 2>&1 || "${pip[@]}" aiosmtpd
command -v st >/dev/null 2>&1 || "${pip[@]}" 'schemathesis>=4.32,<5'
# Built once into ~/.cargo/bin (about two minutes on two cores), then reused.
# 0.14.1: the newest release that builds with rustc 1.95 (0.15+ want 1.96).
command -v s3s-fs >/dev/null 2>&1 || cargo install --locked --quiet s3s-fs --version 0.14.1 --features binary
echo "test dependencies: openssl, redis-server, psql, jq, clamd, chromium, chromedriver, aiosmtpd, schemathesis, s3s-fs — present"
