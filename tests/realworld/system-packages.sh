#!/usr/bin/env bash
# Installs the Debian packages the real-world tests (tests/realworld) drive: Chromium (a real browser for the
# login), gnome-keyring + D-Bus (a real Secret Service keyring) and secret-tool (a second, independent client
# of that keyring). Does nothing when they are all present; installs the missing ones with apt-get as root;
# otherwise says what to install and exits 1. Used by .ci/run and by the tests' own provisioning fixture.
set -euo pipefail

# command that must exist -> Debian package that provides it
declare -A needed=(
  [chromium]=chromium
  [gnome-keyring-daemon]=gnome-keyring
  [dbus-run-session]=dbus
  [dbus-daemon]=dbus
  [secret-tool]=libsecret-tools
)
missing=()
for command in "${!needed[@]}"; do
  if ! command -v "$command" >/dev/null 2>&1; then
    package=${needed[$command]}
    [[ " ${missing[*]} " == *" $package "* ]] || missing+=("$package")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$EUID" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "the real-world tests need these Debian packages: ${missing[*]}" >&2
  echo "install them first: sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi
echo "installing Debian packages for the real-world tests with apt-get (as root): ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq -o DPkg::Lock::Timeout=300
apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=300 "${missing[@]}" >/dev/null
