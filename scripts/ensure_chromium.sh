#!/bin/sh
# Find chromium for the browser tests, or install Debian's; print its path on stdout.
#
#   CHROMIUM_PATH="$(scripts/ensure_chromium.sh)"
#
# Order: $CHROMIUM_PATH (must be executable), then `chromium`, then `chromium-browser` on PATH;
# else, as root with apt-get, `apt-get install -y chromium` (after `apt-get update` when the
# package lists do not know it). Anything else exits non-zero with what to do: `make test`
# never runs the browser tests without a browser, and never skips them silently.
set -eu

say() { printf '%s\n' "ensure_chromium: $*" >&2; }

found() {
    if [ -n "${CHROMIUM_PATH:-}" ]; then
        if [ -x "$CHROMIUM_PATH" ] && [ ! -d "$CHROMIUM_PATH" ]; then
            printf '%s\n' "$CHROMIUM_PATH"
            return 0
        fi
        say "CHROMIUM_PATH=$CHROMIUM_PATH is not an executable file"
        exit 1
    fi
    for name in chromium chromium-browser; do
        if path="$(command -v "$name" 2>/dev/null)" && [ -x "$path" ]; then
            printf '%s\n' "$path"
            return 0
        fi
    done
    return 1
}

found && exit 0

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    say "chromium not found (looked at \$CHROMIUM_PATH, chromium, chromium-browser)."
    say "Install it (Debian/Ubuntu: sudo apt-get install -y chromium) or set CHROMIUM_PATH"
    say "to a chromium/chrome executable, then run make test again."
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
if ! apt-cache show chromium >/dev/null 2>&1; then
    say "apt-get update (the package lists do not know chromium yet)"
    apt-get update >&2
fi
say "apt-get install -y chromium"
if ! apt-get install -y chromium >&2; then
    say "apt-get install -y chromium failed; install chromium or set CHROMIUM_PATH."
    exit 1
fi

found && exit 0
say "chromium was installed but is not on PATH; set CHROMIUM_PATH."
exit 1
