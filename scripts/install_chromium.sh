#!/usr/bin/env bash
# Headless Chromium for the report page's browser test (tests/test_report_browser.py), from
# Debian's own `chromium` package, the way the other test servers come from the project's
# files. Idempotent: does nothing when a chromium is already on PATH. Needs root (or sudo)
# for apt-get; without either it says so and exits 0, and the browser test skips with a reason.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
  SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  SUDO="sudo -n"
else
  echo "install_chromium: not root and no password-less sudo: the report browser test will skip" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
command -v chromium
