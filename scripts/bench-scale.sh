#!/bin/sh
# bench-scale.sh: fleettune at fleet scale. For each fleet size, starts
# `fleettune lab --hosts N` (all six families, the default mix and loads)
# and runs plan, audit (when the binary has it) and apply against it,
# measuring fleettune's own process alone with /usr/bin/time: wall time,
# CPU (user + system) per host, peak memory (max RSS) per host, and TCP
# connections per host from the lab's own accept counter (SIGUSR1 makes the
# lab write lab-stats.json). Then, on a fleet of network-namespace hosts
# behind real OpenSSH sshd, fleettune plan beside one OpenSSH `ssh host cat`
# per host with the default key exchange and with curve25519-sha256, at the
# same parallelism (scripts/bench-plan.sh).
#
#   scripts/bench-scale.sh [SIZES="1000 5000 10000"]
#
# Environment: FORKS (64), SEED (1), NETNS_HOSTS (50; 0 skips the
# namespace part, which needs root and openssh-server), NETNS_ROUNDS (3),
# HKC_OFF (1: also plan with host_key_checking off, which isolates what
# reading known_hosts costs; 0 skips it), MAX_RSS_MB (8192: a fleettune
# process that grows past this is interrupted, as Ctrl-C would, so that it
# finishes the hosts in flight and starts no more; its row then says
# "stopped"; the machine is shared).
# Prints a markdown table; the lab's start-up time and memory go with it.
set -eu
cd "$(dirname "$0")/.."

sizes=${1:-1000 5000 10000}
forks=${FORKS:-64}
seed=${SEED:-1}
netns_hosts=${NETNS_HOSTS:-50}
netns_rounds=${NETNS_ROUNDS:-3}
hkc_off=${HKC_OFF:-1}
max_rss_mb=${MAX_RSS_MB:-8192}
for n in $sizes $forks $seed $netns_hosts $netns_rounds $max_rss_mb; do
	case $n in '' | *[!0-9]*) echo "usage: $0 [\"SIZES...\"] (numbers only; FORKS, SEED, NETNS_HOSTS, NETNS_ROUNDS too)" >&2; exit 2 ;; esac
done
[ -x /usr/bin/time ] || { echo "$0: needs /usr/bin/time (apt-get install time)" >&2; exit 1; }

tmp=$(mktemp -d)
lab_pid=
cleanup() {
	if [ -n "$lab_pid" ]; then
		kill "$lab_pid" 2>/dev/null || true
		wait "$lab_pid" 2>/dev/null || true
	fi
	[ -n "${KEEP:-}" ] && echo "kept $tmp" >&2 && return; rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

go build -o "$tmp/fleettune" ./cmd/fleettune
ft=$tmp/fleettune
has_audit=no
if "$ft" audit --help >/dev/null 2>&1; then has_audit=yes; fi

cat >"$tmp/playbook.yaml" <<'YAML'
name: bench-scale
targets:
  ephemeral_ports: 10240-65535
  keepalive_time: 5m
guardrails:
  protect_listening_ports: false
rollout:
  batch: "100%"
  max_failures: 100000
health:
  watch: 0s
  counters: false
  unchecked: allow
YAML

# stats prints the lab's total accepted connections.
stats() {
	rm -f "$dir/lab-stats.json"
	kill -USR1 "$lab_pid"
	i=0
	while [ ! -s "$dir/lab-stats.json" ]; do
		i=$((i + 1))
		[ $i -lt 200 ] || { echo "$0: the lab wrote no stats" >&2; exit 1; }
		sleep 0.05
	done
	sed 's/.*"connections":\([0-9]*\).*/\1/' "$dir/lab-stats.json"
}

# measure NAME CMD...: runs CMD under /usr/bin/time and prints a table row.
measure() {
	name=$1
	shift
	c0=$(stats)
	code=0
	out=$tmp/$(echo "$name" | tr -c 'a-z0-9\n' '-')
	/usr/bin/time -f '%e %U %S %M' -o "$tmp/time" "$@" >"$out.json" 2>"$out.err" &
	tpid=$!
	stopped=
	while kill -0 "$tpid" 2>/dev/null; do
		child=$(ps -o pid= --ppid "$tpid" | head -1 | tr -d ' ')
		rss=$(ps -o rss= -p "${child:-0}" 2>/dev/null | tr -d ' ')
		if [ -z "$stopped" ] && [ "${rss:-0}" -gt $((max_rss_mb * 1024)) ]; then
			kill -INT "$child"
			stopped=" (stopped at $((rss / 1024)) MB: MAX_RSS_MB)"
		fi
		sleep 0.2
	done
	wait "$tpid" || code=$?
	code="$code$stopped"
	c1=$(stats)
	summary=$(tr -d ' \n' <"$out.json" | grep -o '"summary":{[^}]*}' | tail -1 | sed 's/"summary"://; s/"//g; s/[{}]//g; s/,/ /g; s/:/ /g')
	tail -1 "$tmp/time" | awk -v n="$hosts" -v name="$name" -v c0="$c0" -v c1="$c1" -v code="$code" -v sum="$summary" '{
		printf "| %d | %s | %.2f | %.2f | %.1f | %.2f | %s | %s |\n", n, name, $1, 1000 * ($2 + $3) / n, $4 / n, (c1 - c0) / n, code, sum
	}'
}

echo "fleettune $(git describe --always --dirty 2>/dev/null), forks $forks, seed $seed, $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| hosts | command | wall s | CPU ms/host | peak KB/host | connections/host | exit | summary |"
echo "|---:|---|---:|---:|---:|---:|---:|---|"
labinfo=
for hosts in $sizes; do
	dir=$tmp/lab$hosts
	mkdir -p "$dir"
	"$ft" lab --hosts "$hosts" --seed "$seed" --write-inventory "$dir/inventory.yaml" >"$dir/lab.out" 2>"$dir/lab.err" &
	lab_pid=$!
	i=0
	until grep -q 'lab serving' "$dir/lab.err" 2>/dev/null; do
		i=$((i + 1))
		if [ $i -gt 600 ] || ! kill -0 "$lab_pid" 2>/dev/null; then
			echo "$0: the lab of $hosts hosts did not start:" >&2
			cat "$dir/lab.err" >&2
			exit 1
		fi
		sleep 0.05
	done
	started=$(sed -n 's/.*started_in=\([^ ]*\).*/\1/p' "$dir/lab.err")
	rss=$(ps -o rss= -p "$lab_pid")
	labinfo="$labinfo
- $hosts hosts: lab started in $started, $((rss / 1024)) MB resident"
	set -a
	. "$dir/lab.env"
	set +a
	# health.unchecked (allow hosts whose health cannot be read) is newer
	# than some fleettune builds: drop it where it is not known.
	if "$ft" plan -i "$dir/inventory.yaml" -p "$tmp/playbook.yaml" --limit no-such-host 2>&1 | grep -q 'unknown key "unchecked"'; then
		sed -i '/unchecked:/d' "$tmp/playbook.yaml"
	fi
	state=$tmp/state$hosts
	measure plan "$ft" plan -i "$dir/inventory.yaml" -p "$tmp/playbook.yaml" --forks "$forks" --state-dir "$state" --format json --log-level error
	if [ "$hkc_off" = 1 ]; then
		sed 's/host_key_checking: strict/host_key_checking: off/' "$dir/inventory.yaml" >"$dir/inventory-hkc-off.yaml"
		measure "plan, host_key_checking off" "$ft" plan -i "$dir/inventory-hkc-off.yaml" -p "$tmp/playbook.yaml" --forks "$forks" --state-dir "$state" --format json --log-level error
	fi
	if [ $has_audit = yes ]; then
		measure audit "$ft" audit -i "$dir/inventory.yaml" --forks "$forks" --state-dir "$state" --format json --log-level error
	fi
	measure apply "$ft" apply -i "$dir/inventory.yaml" -p "$tmp/playbook.yaml" --forks "$forks" --state-dir "$state" --yes --format json --log-level error
	kill "$lab_pid"
	wait "$lab_pid" 2>/dev/null || true
	lab_pid=
done
[ $has_audit = yes ] || echo "(this fleettune has no audit command: audit not measured)"
echo "$labinfo"

if [ "$netns_hosts" -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ] || ! command -v sshd >/dev/null && [ ! -x /usr/sbin/sshd ]; then
		echo
		echo "netns fleet skipped: needs root and openssh-server"
		exit 0
	fi
	echo
	echo "netns fleet: $netns_hosts namespace hosts behind OpenSSH sshd, parallelism $forks"
	scripts/bench-plan.sh "$netns_hosts" "$forks" "$netns_rounds"
fi
