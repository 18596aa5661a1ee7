#!/bin/sh
# try-plan.sh: see fleettune plan work against real Linux hosts on this
# machine. Starts three network-namespace hosts behind real OpenSSH sshd
# (internal/netnsfleet), gives them different starting values, runs
#   fleettune plan -i FLEET/inventory.yaml -p examples/playbook.yaml
# and removes the hosts again. Needs root and openssh-server; changes nothing
# outside the namespaces it creates.
set -eu
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
	echo "try-plan.sh: run as root (the hosts are network namespaces)" >&2
	exit 1
fi
if [ ! -x /usr/sbin/sshd ]; then
	echo "try-plan.sh: /usr/sbin/sshd is missing: apt-get install -y openssh-server" >&2
	exit 1
fi

tmp=$(mktemp -d)
fleet="$tmp/fleet"
cleanup() {
	[ -x "$tmp/netns-fleet" ] && "$tmp/netns-fleet" down --dir "$fleet" >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

go build -o "$tmp/fleettune" ./cmd/fleettune
go build -o "$tmp/netns-fleet" ./cmd/netns-fleet
"$tmp/netns-fleet" up --hosts 3 --dir "$fleet" >/dev/null

ns() { sed -n "s/.*\"netns\": \"\\(.*-$1\\)\".*/\\1/p" "$fleet/fleet.json"; }
in_host() { h=$1; shift; ip netns exec "$(ns "$h")" "$@" >/dev/null; }

# node01: kernel defaults. node02: a range set by hand, a different one
# persisted by a local file. node03: already what the playbook asks for.
in_host node02 sysctl -w net.ipv4.ip_local_port_range="25000 50001"
printf 'net.ipv4.ip_local_port_range = 30000 40000\n' >"/etc/netns/$(ns node02)/sysctl.d/60-local.conf"
in_host node03 sysctl -w net.ipv4.ip_local_port_range="20000 60999" net.ipv4.tcp_keepalive_time=300
printf 'net.ipv4.ip_local_port_range = 20000 60999\nnet.ipv4.tcp_keepalive_time = 300\n' \
	>"/etc/netns/$(ns node03)/sysctl.d/90-fleettune.conf"

echo "\$ fleettune plan -i $fleet/inventory.yaml -p examples/playbook.yaml" >&2
code=0
"$tmp/fleettune" plan -i "$fleet/inventory.yaml" -p examples/playbook.yaml "$@" || code=$?
echo "(exit status $code: 0 nothing to change, 2 changes pending, 1 failures)" >&2
