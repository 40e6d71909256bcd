#!/bin/sh
# Make sure the Debian packages the test suite needs are installed (idempotent):
#   chromium            headless browser for the leaderboard HTML test (tests/test_leaderboard_html.py)
#   fonts-freefont-ttf  FreeSans, the font of PixelWorld's official renderer (tests/test_render_text_image.py)
#   bubblewrap          bwrap, the sandbox model-written code runs in (mmharness/sandbox.py, tests/test_sandbox*.py)
# Installs only as root with apt-get; otherwise says what to install and exits non-zero, and the
# tests that need a missing package then FAIL with a clear message (they are never skipped).
set -u
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
FREESANS=/usr/share/fonts/truetype/freefont/FreeSans.ttf
BWRAP="$(command -v bwrap 2>/dev/null || true)"

missing=""
[ -x "$CHROMIUM" ] || missing="$missing chromium"
[ -f "$FREESANS" ] || missing="$missing fonts-freefont-ttf"
[ -n "$BWRAP" ] || missing="$missing bubblewrap"
if [ -z "$missing" ]; then
    echo "ensure_system_packages: chromium ($("$CHROMIUM" --version 2>/dev/null || echo '?')), FreeSans and" \
         "bubblewrap ($("$BWRAP" --version 2>/dev/null || echo '?')) present"
    exit 0
fi
if [ "$(id -u)" != "0" ]; then
    echo "ensure_system_packages: missing:$missing; not root, so not installing. Install with: sudo apt-get install$missing" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure_system_packages: missing:$missing and apt-get is not available; install them with your package manager." >&2
    exit 1
fi
echo "ensure_system_packages: installing$missing (apt-get) ..."
export DEBIAN_FRONTEND=noninteractive
# shellcheck disable=SC2086
if apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing >/dev/null; then
    echo "ensure_system_packages: installed$missing"
    exit 0
fi
echo "ensure_system_packages: apt-get install$missing failed (no network to the Debian mirror?)." >&2
exit 1
