#!/usr/bin/env bash
# Debian's Emacs and eglot, for the headless eglot test (tests/test_emacs.py). Installed with
# apt-get when missing and this runs as root (12 s here, plus apt-get update); otherwise the command is printed.
# Emacs 29 and later have eglot built in, and the check accepts that too.
set -euo pipefail
check() {
  emacs --batch -Q --eval "(progn (require 'package)
    (add-to-list 'package-directory-list \"/usr/share/emacs/site-lisp/elpa\")
    (package-initialize) (require 'eglot))" >/dev/null 2>&1
}
if command -v emacs >/dev/null && check; then
  exit 0
fi
packages=(emacs-nox elpa-eglot)
if [ "$(id -u)" != 0 ]; then
  echo "missing: Emacs with eglot (sudo apt-get install -y ${packages[*]})" >&2
  exit 1
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
check
