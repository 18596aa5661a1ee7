#!/bin/sh
# capture.sh: re-captures the gather-*.txt fixtures with the current
# platform.LinuxGatherScript, each in a fresh network namespace made by
# netns-fleet (so the machine's own sysctls and /etc/sysctl.d are never
# touched), set up as README.md's table says. Needs root. The persisted
# files are the ones the previous capture held (written below verbatim).
#
#   platform/testdata/linux/capture.sh
set -eu
cd "$(dirname "$0")/../../.."
out=platform/testdata/linux
tmp=$(mktemp -d)
trap 'go run ./cmd/netns-fleet down --dir "$tmp/fleet" >/dev/null 2>&1 || true; [ -z "${pids-}" ] || kill $pids 2>/dev/null || true; rm -rf "$tmp"' EXIT INT TERM
go run ./cmd/netns-fleet up --hosts 6 --dir "$tmp/fleet" >/dev/null
prefix=$(sed -n 's/.*"prefix": *"\([^"]*\)".*/\1/p' "$tmp/fleet/fleet.json")
ns() { echo "$prefix-node0$1"; }
inns() { n=$1; shift; ip netns exec "$(ns "$n")" "$@"; }
etc() { echo "/etc/netns/$(ns "$1")/sysctl.d"; }
capture() { # N FIXTURE [NATIVE...]
	n=$1 f=$2
	shift 2
	go run ./platform/testdata/linux/printscript "$@" >"$tmp/script"
	inns "$n" sh -c "$(cat "$tmp/script")" >"$out/$f"
	echo "captured $out/$f"
}

# 1: defaults.
capture 1 gather-default.txt

# 2: drift.
inns 2 sysctl -qw net.ipv4.ip_local_port_range="20000 50001"
printf '# local tuning\nnet.ipv4.ip_local_port_range = 20000 50001\nnet/ipv4/tcp_keepalive_time=600\n' >"$(etc 2)/60-local.conf"
capture 2 gather-drift.txt

# 3: listeners and reserved ports.
inns 3 sysctl -qw net.ipv4.ip_local_reserved_ports=30080,40000-40010
inns 3 python3 -c 'import socket,time
a=socket.socket(); a.bind(("127.0.0.1",22)); a.listen()
b=socket.socket(socket.AF_INET6); b.bind(("::1",30080)); b.listen()
c=socket.socket(); c.bind(("0.0.0.0",15000)); c.listen()
time.sleep(20)' &
pids=$!
sleep 1
capture 3 gather-listeners.txt
kill $pids; pids=

# 4: converged.
inns 4 sysctl -qw net.ipv4.ip_local_port_range="10240 65535" net.ipv4.tcp_keepalive_time=300
printf '# Managed by fleettune. Changes here are overwritten by fleettune apply.\nnet.ipv4.ip_local_port_range = 10240 65535\nnet.ipv4.tcp_keepalive_time = 300\n' >"$(etc 4)/90-fleettune.conf"
capture 4 gather-converged.txt

# 5: a later file overrides fleettune's.
inns 5 sysctl -qw net.ipv4.ip_local_port_range="10240 65535"
printf 'net.ipv4.ip_local_port_range = 10240 65535\n' >"$(etc 5)/90-fleettune.conf"
printf 'net.ipv4.ip_local_port_range = 32768 60999\n' >"$(etc 5)/99-local.conf"
capture 5 gather-later-override.txt

# 6: native knobs, tcp_tw_reuse=0.
inns 6 sysctl -qw net.ipv4.tcp_tw_reuse=0
capture 6 gather-native.txt net.ipv4.tcp_max_tw_buckets net.ipv4.tcp_tw_recycle
