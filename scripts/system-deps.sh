#!/bin/sh
# Install Debian packages the tests need, only when missing: ffmpeg, postgresql, chromium, nginx, npm.
set -eu
missing=""
for package in "$@"; do
  case "$package" in
    ffmpeg) command -v ffmpeg >/dev/null 2>&1 || missing="$missing ffmpeg" ;;
    postgresql) ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$missing postgresql" ;;
    chromium) [ -x /usr/bin/chromium ] || missing="$missing chromium" ;;
    nginx) [ -x /usr/sbin/nginx ] || missing="$missing nginx" ;;
    npm) command -v npm >/dev/null 2>&1 || missing="$missing npm" ;;
    *) dpkg -s "$package" >/dev/null 2>&1 || missing="$missing $package" ;;
  esac
done
[ -z "$missing" ] && exit 0
echo "Installing:$missing"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
# shellcheck disable=SC2086
$sudo apt-get install -y -q --no-install-recommends $missing || {
  $sudo apt-get update -q && $sudo apt-get install -y -q --no-install-recommends $missing
}
