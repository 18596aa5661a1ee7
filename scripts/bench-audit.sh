#!/bin/sh
# bench-audit.sh: `fleettune audit` against `fleettune plan` over the same N
# real hosts (network namespaces behind real OpenSSH sshd, see
# internal/netnsfleet), rounds alternating so both see the same machine
# load. The issue's budget: audit within 1.5x of plan. Needs root and
# openssh-server.
#
#   scripts/bench-audit.sh [HOSTS=50] [FORKS=64] [ROUNDS=5]
set -eu
cd "$(dirname "$0")/.."

hosts=${1:-50}
forks=${2:-64}
rounds=${3:-5}
case "$hosts$forks$rounds" in *[!0-9]*) echo "usage: $0 [HOSTS] [FORKS] [ROUNDS]" >&2; exit 2 ;; esac

tmp=$(mktemp -d)
fleet="$tmp/fleet"
cleanup() {
	[ -x "$tmp/netns-fleet" ] && "$tmp/netns-fleet" down --dir "$fleet" >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

go build -o "$tmp/fleettune" ./cmd/fleettune
go build -o "$tmp/netns-fleet" ./cmd/netns-fleet
"$tmp/netns-fleet" up --hosts "$hosts" --dir "$fleet" >/dev/null
printf 'name: bench\ntargets: {ephemeral_ports: 20000-60999, keepalive_time: 5m}\n' >"$tmp/playbook.yaml"

now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

: >"$tmp/plan.times"
: >"$tmp/audit.times"
echo "fleettune plan and audit: $hosts hosts, --forks $forks, $rounds rounds"
i=0
while [ $i -lt "$rounds" ]; do
	i=$((i + 1))
	t0=$(now)
	code=0
	"$tmp/fleettune" plan -i "$fleet/inventory.yaml" -p "$tmp/playbook.yaml" --forks "$forks" \
		--format json --log-level error >/dev/null || code=$?
	t1=$(now)
	[ "$code" -eq 2 ] || { echo "bench-audit: plan exited $code, want 2" >&2; exit 1; }
	code=0
	"$tmp/fleettune" audit -i "$fleet/inventory.yaml" --forks "$forks" \
		--format json --log-level error >"$tmp/audit.json" || code=$?
	t2=$(now)
	[ "$code" -eq 0 ] || { echo "bench-audit: audit exited $code, want 0 (quiet hosts)" >&2; exit 1; }
	p=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b - a}')
	a=$(awk -v a="$t1" -v b="$t2" 'BEGIN {printf "%.3f", b - a}')
	echo "$p" >>"$tmp/plan.times"
	echo "$a" >>"$tmp/audit.times"
	echo "  round $i: plan $p s, audit $a s"
done
pm=$(median <"$tmp/plan.times")
am=$(median <"$tmp/audit.times")
echo "  median: plan $pm s, audit $am s, audit/plan $(awk -v a="$am" -v p="$pm" 'BEGIN {printf "%.2f", a / p}')"
