#!/bin/sh
# bench-plan.sh: how long `fleettune plan` takes over N real hosts (network
# namespaces behind real OpenSSH sshd, see internal/netnsfleet), beside the
# floor of one plain OpenSSH `ssh host cat ...` per host at the same
# parallelism (scripts/ssh-floor.sh). Needs root and openssh-server.
#
#   scripts/bench-plan.sh [HOSTS=50] [FORKS=64] [ROUNDS=5]
#
# Prints each round and the median for fleettune plan, for the OpenSSH floor
# with its default key exchange, and for the floor with curve25519-sha256
# (the exchange x/crypto/ssh negotiates with this sshd: the like-for-like one).
#
# Then what one host pays on its side: with strace installed, the sessions
# (login shells, one per exec request) and the programs a plan of one host
# starts there; with perf installed, the CPU the host's sshd and everything
# it starts spend per connection, for fleettune plan and for the curve25519
# floor (one more round of each, every sshd under perf stat).
set -eu
cd "$(dirname "$0")/.."

hosts=${1:-50}
forks=${2:-64}
rounds=${3:-5}
case "$hosts$forks$rounds" in *[!0-9]*) echo "usage: $0 [HOSTS] [FORKS] [ROUNDS]" >&2; exit 2 ;; esac

tmp=$(mktemp -d)
fleet="$tmp/fleet"
cleanup() {
	go run ./cmd/netns-fleet down --dir "$fleet" >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

go build -o "$tmp/fleettune" ./cmd/fleettune
go build -o "$tmp/netns-fleet" ./cmd/netns-fleet
"$tmp/netns-fleet" up --hosts "$hosts" --dir "$fleet" >/dev/null
printf 'name: bench\ntargets: {ephemeral_ports: 20000-60999, keepalive_time: 5m}\n' >"$tmp/playbook.yaml"

now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

echo "fleettune plan: $hosts hosts, --forks $forks, $rounds rounds"
: >"$tmp/plan.times"
i=0
while [ $i -lt "$rounds" ]; do
	i=$((i + 1))
	t0=$(now)
	code=0
	"$tmp/fleettune" plan -i "$fleet/inventory.yaml" -p "$tmp/playbook.yaml" --forks "$forks" \
		--format json --log-level error >"$tmp/plan.json" || code=$?
	t1=$(now)
	if [ "$code" -ne 2 ]; then
		echo "bench-plan: fleettune plan exited $code (want 2, changes pending on every host)" >&2
		exit 1
	fi
	awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f\n", b - a}' | tee -a "$tmp/plan.times" | sed 's/^/  round: /;s/$/ s/'
done
echo "  median: $(median <"$tmp/plan.times") s"

echo
echo "OpenSSH floor (default key exchange):"
scripts/ssh-floor.sh "$fleet" "$forks" "$rounds"
echo
echo "OpenSSH floor (KexAlgorithms=curve25519-sha256, as x/crypto/ssh negotiates):"
SSH_FLOOR_OPTS='-o KexAlgorithms=curve25519-sha256' scripts/ssh-floor.sh "$fleet" "$forks" "$rounds"

# wrapped DIR PREFIX...: a copy of the fleet's files in DIR whose proxy.sh
# runs sshd under PREFIX (ssh sends its proxy command SIGHUP at the end:
# ignore it, so the tracer can write its report).
wrapped() {
	d=$1
	shift
	mkdir -p "$d"
	for f in client_key known_hosts; do ln -sf "$fleet/$f" "$d/$f"; done
	sed "s#^exec ip netns exec#trap '' HUP TERM\nexec $* ip netns exec#" "$fleet/proxy.sh" >"$d/proxy.sh"
	chmod +x "$d/proxy.sh"
	sed "s#proxy_command: .*#proxy_command: $d/proxy.sh %h#" "$fleet/inventory.yaml" >"$d/inventory.yaml"
}
first=$(awk '{print $1; exit}' "$fleet/known_hosts")

echo
if command -v strace >/dev/null 2>&1; then
	wrapped "$tmp/trace" strace -f -qq -e trace=execve -o "$tmp/trace/execs"
	"$tmp/fleettune" plan -i "$tmp/trace/inventory.yaml" -p "$tmp/playbook.yaml" --limit "$first" \
		--format json --log-level error >/dev/null || true
	sleep 0.2
	# ip netns exec and sshd come first; a shell run with -c is one exec
	# request; the rest is what the commands started.
	shells=$(grep -c 'execve("[^"]*", \["[^"]*", "-c"' "$tmp/trace/execs" || true)
	progs=$(grep 'execve(' "$tmp/trace/execs" | grep -v 'execve("[^"]*", \["[^"]*", "-c"' |
		sed 's#.*execve("\([^"]*\)".*#\1#;s#.*/##' | grep -vx -e ip -e sshd | tr '\n' ' ')
	echo "on $first, one plan: $shells exec request(s) (login shells), programs they ran: ${progs:-none}"
else
	echo "(strace is not installed: no per-host trace)"
fi

if command -v perf >/dev/null 2>&1; then
	wrapped "$tmp/perf" 'perf stat -x, -e task-clock -o '"$tmp/perf/cpu."'$$'
	percpu() { awk -F, '/task-clock/ {c += $1; n++} END {if (n) printf "%.1f ms of host CPU per connection (%d connections)\n", c / n, n}' "$tmp"/perf/cpu.*; }
	"$tmp/fleettune" plan -i "$tmp/perf/inventory.yaml" -p "$tmp/playbook.yaml" --forks "$forks" \
		--format json --log-level error >/dev/null || true
	sleep 0.5
	echo "fleettune plan, on the hosts: $(percpu)"
	rm -f "$tmp"/perf/cpu.*
	SSH_FLOOR_OPTS='-o KexAlgorithms=curve25519-sha256' scripts/ssh-floor.sh "$tmp/perf" "$forks" 1 >/dev/null
	sleep 0.5
	echo "OpenSSH ssh host cat (curve25519), on the hosts: $(percpu)"
else
	echo "(perf is not installed: no host CPU figures)"
fi
