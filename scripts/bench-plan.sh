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
