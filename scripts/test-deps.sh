#!/usr/bin/env bash
# What the tests need from Debian: Prometheus (promtool), Alertmanager (amtool), nginx, and
# chromium for the console's browser tests (Playwright drives it; it never downloads a browser).
# Installs them when run as root; otherwise prints the one command to run, and fails.
set -euo pipefail
PACKAGES="prometheus prometheus-alertmanager nginx chromium"
missing=""
for tool in promtool prometheus-alertmanager nginx chromium; do
  command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "the tests need$missing: run  sudo apt-get install -y $PACKAGES  (then make test again)" >&2
  exit 1
fi
echo "installing $PACKAGES from Debian (missing:$missing)..."
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq $PACKAGES >/dev/null \
  || { apt-get update -qq && apt-get install -y -qq $PACKAGES >/dev/null; }
