#!/bin/sh
# Make sure headless Chromium (Debian package `chromium`) is installed for the leaderboard HTML test
# (tests/test_leaderboard_html.py). Idempotent: does nothing when the browser is already there.
# Installs only as root (apt-get); otherwise says why not and exits non-zero, and the test then
# FAILS with a clear message (it is never skipped).
set -u
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"

if [ -x "$CHROMIUM" ]; then
    echo "ensure_chromium: $CHROMIUM present ($("$CHROMIUM" --version 2>/dev/null || echo 'version unknown'))"
    exit 0
fi
if [ "$(id -u)" != "0" ]; then
    echo "ensure_chromium: $CHROMIUM is missing and this is not root, so it cannot be installed here." >&2
    echo "ensure_chromium: install it with: sudo apt-get install chromium  (Debian/Ubuntu)" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure_chromium: $CHROMIUM is missing and apt-get is not available; install Chromium with your" \
         "system's package manager and set CHROMIUM=/path/to/chromium." >&2
    exit 1
fi
echo "ensure_chromium: installing the Debian package chromium (apt-get) ..."
export DEBIAN_FRONTEND=noninteractive
if apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium >/dev/null; then
    echo "ensure_chromium: installed $("$CHROMIUM" --version 2>/dev/null)"
    exit 0
fi
echo "ensure_chromium: apt-get install chromium failed (no network to the Debian mirror?)." >&2
exit 1
