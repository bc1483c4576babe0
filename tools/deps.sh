#!/bin/sh
# SPDX-License-Identifier: MIT
# Installs the Debian packages Leveret needs to build, run and test; quick when
# everything is already present. Runs as root (apt-get) on Debian 12.
set -e
PKGS="build-essential pkg-config python3 libev-dev libjansson-dev libssl-dev libmicrohttpd-dev
      libcmocka-dev librabbitmq-dev amqp-tools amqp-specs python3-pika clang clang-format
      libclang-rt-14-dev"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing$missing"
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
