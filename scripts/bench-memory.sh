#!/bin/sh
# bench-memory.sh: controller memory and CPU per host for `fleettune plan` and
# `fleettune apply` over N lab hosts (lab/: Solaris, HP-UX, AIX and Tru64
# emulators, each behind its own real SSH server on loopback, served by a
# separate `fleettune lab` process so that its memory is not counted).
#
#   scripts/bench-memory.sh [SIZES="50 500"] [FORKS=64] [BATCH=10%]
#
# For each size a fresh lab is started; plan runs, then apply (--yes, the
# playbook's canary batches, watch 0s, probe health, rollback auto) on the
# same hosts. /usr/bin/time gives each run's peak RSS and CPU. Reported:
#   peak RSS, CPU (user+sys), CPU per host, and for every size after the
#   first the marginal memory per host: (RSS(N) - RSS(first)) / (N - first).
# The targets (issue 14): under 100 KB per host for plan, under 150 KB per
# host for apply, plan CPU per host flat from 50 to 500 hosts.
set -eu
cd "$(dirname "$0")/.."

sizes=${1:-50 500}
forks=${2:-64}
batch=${3:-10%}

tmp=$(mktemp -d)
labpid=""
cleanup() {
	if [ -n "$labpid" ]; then kill "$labpid" 2>/dev/null || true; wait "$labpid" 2>/dev/null || true; fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

go build -o "$tmp/fleettune" ./cmd/fleettune
cat >"$tmp/playbook.yaml" <<YAML
name: bench-memory
targets:
  ephemeral_ports: 10240-65535
  keepalive_time: 5m
guardrails:
  protect_listening_ports: false
rollout:
  batch: "$batch"
  max_failures: 100000
health:
  watch: 0s
  counters: false
  unchecked: allow
YAML

export FLEETTUNE_STATE_DIR="$tmp/state"
mkdir -m 0700 "$FLEETTUNE_STATE_DIR"

# measure NAME MAX-EXIT CMD...: runs CMD under /usr/bin/time, prints
# "NAME rss_kb cpu_s wall_s". An exit above MAX-EXIT (2 for plan: changes
# pending; 1 for apply: some lab host failed or was unreachable, as the
# lab's load profiles make some) stops the script.
measure() {
	name=$1 want=$2
	shift 2
	code=0
	/usr/bin/time -f '%M %U %S %e' -o "$tmp/time" "$@" >"$tmp/out" 2>"$tmp/err" || code=$?
	if [ "$code" -gt "$want" ]; then
		echo "bench-memory: $name exited $code, want at most $want" >&2
		tail -5 "$tmp/err" >&2
		exit 1
	fi
	tail -1 "$tmp/time" | awk -v n="$name" '{printf "%s %d %.2f %.2f\n", n, $1, $2 + $3, $4}'
}

: >"$tmp/results"
for n in $sizes; do
	dir="$tmp/lab$n"
	mkdir "$dir"
	"$tmp/fleettune" lab --hosts "$n" --seed 1 --write-inventory "$dir/inventory.yaml" >"$dir/table" 2>"$dir/lab.err" &
	labpid=$!
	i=0
	until grep -q 'lab serving' "$dir/lab.err" 2>/dev/null; do
		i=$((i + 1))
		if [ $i -gt 1200 ] || ! kill -0 "$labpid" 2>/dev/null; then echo "bench-memory: the lab did not start" >&2; cat "$dir/lab.err" >&2; exit 1; fi
		sleep 0.05
	done
	# The Windows hosts' WinRM password.
	set -a
	. "$dir/lab.env"
	set +a
	measure "plan-$n" 2 "$tmp/fleettune" plan -i "$dir/inventory.yaml" -p "$tmp/playbook.yaml" --forks "$forks" --format json --log-level error | tee -a "$tmp/results"
	measure "apply-$n" 1 "$tmp/fleettune" apply -i "$dir/inventory.yaml" -p "$tmp/playbook.yaml" --forks "$forks" --yes --format json --log-level error | tee -a "$tmp/results"
	kill "$labpid"
	wait "$labpid" 2>/dev/null || true
	labpid=""
done

echo
awk '
{ split($1, a, "-"); kind = a[1]; n = a[2] + 0
  printf "%-6s %4d hosts: peak RSS %7.1f MB, CPU %6.2f s (%5.2f ms/host), wall %6.2f s\n", kind, n, $2 / 1024, $3, 1000 * $3 / n, $4
  if (kind in first) printf "       marginal memory per host from %d to %d hosts: %.0f KB\n", firstn[kind], n, ($2 - first[kind]) / (n - firstn[kind])
  else { first[kind] = $2; firstn[kind] = n }
}' "$tmp/results"
