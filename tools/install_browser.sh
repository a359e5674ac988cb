#!/usr/bin/env bash
# Install Debian's Chromium and chromedriver for the browser test (tests/test_browser_sketch_pad.py),
# plus the python side (requirements-browser.txt). Never downloads a browser build of its own.
# Always exits 0: when something cannot be installed it says why, and the browser test is then
# skipped with that reason printed.
cd "$(dirname "$0")/.." || exit 0

have() { [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; }

if have; then
    echo "install_browser: chromium and chromedriver already installed ($(/usr/bin/chromium --version 2>/dev/null | tail -n 1))"
elif ! command -v apt-get >/dev/null 2>&1; then
    echo "install_browser: no apt-get on this machine; the browser test will be skipped"
else
    SUDO=""
    if [ "$(id -u)" != "0" ]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
            echo "install_browser: not root and no password-less sudo; the browser test will be skipped"; SUDO=skip; fi
    fi
    if [ "$SUDO" != "skip" ]; then
        export DEBIAN_FRONTEND=noninteractive
        if ! $SUDO apt-get update -qq >/tmp/install_browser_apt.log 2>&1; then
            echo "install_browser: apt-get update failed (see /tmp/install_browser_apt.log):"; tail -n 5 /tmp/install_browser_apt.log
        fi
        if $SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver >>/tmp/install_browser_apt.log 2>&1; then
            echo "install_browser: installed $(/usr/bin/chromium --version 2>/dev/null | tail -n 1)"
        else
            echo "install_browser: apt-get install chromium chromium-driver failed (see /tmp/install_browser_apt.log):"
            tail -n 5 /tmp/install_browser_apt.log
        fi
    fi
fi

if [ -f requirements-browser.txt ]; then
    PIP_ROOT_USER_ACTION=ignore python -m pip install -q -r requirements-browser.txt \
        || echo "install_browser: pip install -r requirements-browser.txt failed; the browser test will be skipped"
fi
have || echo "install_browser: chromium/chromedriver missing after install; the browser test will be skipped"
exit 0
