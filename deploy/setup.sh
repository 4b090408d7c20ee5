#!/usr/bin/env bash
# Install what skiff needs on a Debian 12 host and build it (release).
# Idempotent. Usage: deploy/setup.sh [--with-docker-client] [--packages-only]
# (--with-docker-client: also the test-only packages: the docker client,
# docker-compose and rsyslog with its TLS driver, which the log-driver tests
# start with their own config, and schemathesis, which fuzzes the agent
# against api/openapi.yaml, in its own venv; --packages-only: install, do not build). Debian's
# docker-registry is always installed: the demo builds a registry image
# from it, and the tests run it.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
need=()
with_client=false packages_only=false
for arg in "$@"; do
  case "$arg" in
    --with-docker-client) with_client=true ;;
    --packages-only) packages_only=true ;;
    *) echo "setup: unknown argument $arg" >&2; exit 2 ;;
  esac
done
# libseccomp-dev: the agent links libseccomp (libcontainer applies each
# container's seccomp filter through it). docker-registry: see above.
# xfsprogs: mkfs.xfs and xfs_quota, for data roots on xfs with project
# quotas (--storage-opt size=) and the test that makes one. btrfs-progs:
# mkfs.btrfs and the qgroup commands of the btrfs storage driver.
for pkg in busybox-static tini iproute2 util-linux bsdutils procps curl nftables bind9-dnsutils socat libseccomp-dev docker-registry xfsprogs btrfs-progs; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if $with_client; then
  # For the tests: the docker client (interop) and a real registry.
  [ -x /usr/bin/docker ] || need+=(docker.io)
  dpkg -s docker-compose >/dev/null 2>&1 || need+=(docker-compose)
  dpkg -s rsyslog >/dev/null 2>&1 || need+=(rsyslog)
  # rsyslog's gtls netstream driver: the syslog tcp+tls test's listener.
  dpkg -s rsyslog-gnutls >/dev/null 2>&1 || need+=(rsyslog-gnutls)
  # Python's venv, for schemathesis (below).
  python3 -c 'import ensurepip, venv' 2>/dev/null || need+=(python3 python3-venv)
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}" >&2
  # Never let a package start daemons here (docker.io ships dockerd,
  # docker-registry a registry service, rsyslog a syslog daemon; tests
  # start their own).
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# schemathesis (PyPI) for tests/tests/openapi.rs, pinned with its
# hypothesis so a derandomized run sends the same requests everywhere; in
# a venv of its own, apart from the system's Python packages.
st_venv=/opt/skiff-schemathesis
if $with_client && ! "$st_venv/bin/st" --version 2>/dev/null | grep -q ' 3.39.16$'; then
  echo "setup: installing schemathesis into $st_venv" >&2
  python3 -m venv "$st_venv"
  "$st_venv/bin/pip" install -q schemathesis==3.39.16 hypothesis==6.131.0
fi
$packages_only && exit 0
echo "setup: building skiff (release)" >&2
deploy/build.sh
# Shell completions and man pages, generated from the CLI's own definition.
skiff=target/release/skiff
install -d /usr/share/bash-completion/completions /usr/share/zsh/vendor-completions \
  /usr/share/fish/vendor_completions.d /usr/local/share/man/man1
"$skiff" completion bash > /usr/share/bash-completion/completions/skiff
"$skiff" completion zsh > /usr/share/zsh/vendor-completions/_skiff
"$skiff" completion fish > /usr/share/fish/vendor_completions.d/skiff.fish
"$skiff" man /usr/local/share/man/man1
