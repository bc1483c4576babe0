#!/bin/sh
# SPDX-License-Identifier: MIT
# Installs the Debian packages Leveret needs to build, run and test; quick when
# everything is already present. Runs as root (apt-get) on Debian 12.
set -e
# build and run
PKGS="build-essential pkg-config python3 libev-dev libjansson-dev libssl-dev libmicrohttpd-dev
      libgnutls28-dev"
# tests: codec spec, unit tests, fuzzing, real clients
PKGS="$PKGS amqp-specs libcmocka-dev clang clang-format libclang-rt-14-dev
      librabbitmq-dev amqp-tools python3-pika python3-kombu python3-prometheus-client
      librabbitmq-client-java openssl curl"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
# Toolchains the black-box tests drive (Java and amqplib clients): any JDK and
# any Node.js will do, so only install Debian's when none is on the PATH.
command -v javac >/dev/null 2>&1 || missing="$missing default-jdk-headless"
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
command -v npm >/dev/null 2>&1 || missing="$missing npm"
[ -z "$missing" ] && exit 0
echo "deps: installing$missing"
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
