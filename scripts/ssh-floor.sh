#!/bin/sh
# ssh-floor.sh: the benchmark floor for a netns fleet. One plain OpenSSH
# connection per host reading net.ipv4.ip_local_port_range, P at a time, for
# every host of the fleet; the wall time of a round is what any tool that
# needs a fresh connection per host cannot beat. Repeats R rounds and prints
# each round and the median.
#
#   go run ./cmd/netns-fleet up --hosts 50 --dir /tmp/fleet
#   scripts/ssh-floor.sh /tmp/fleet [P=64] [R=5]
#   go run ./cmd/netns-fleet down --dir /tmp/fleet
#
# Hosts are the names in DIR/known_hosts (node01..nodeNN). Every connection
# must succeed; a failure stops the script with exit 1.
#
# SSH_FLOOR_OPTS adds ssh options (split on blanks). OpenSSH 9.2 negotiates
# sntrup761x25519-sha512 by default, which costs ~70 ms of client CPU per
# connection; golang.org/x/crypto/ssh has no sntrup and ends up on
# curve25519-sha256 with this sshd, so for a like-for-like floor use
#   SSH_FLOOR_OPTS='-o KexAlgorithms=curve25519-sha256' scripts/ssh-floor.sh DIR
set -eu

usage() {
	echo "usage: $0 DIR [PARALLELISM=64] [ROUNDS=5]" >&2
	exit 2
}

[ $# -ge 1 ] && [ $# -le 3 ] || usage
dir=$1
par=${2:-64}
rounds=${3:-5}
case $par in '' | *[!0-9]* | 0) usage ;; esac
case $rounds in '' | *[!0-9]* | 0) usage ;; esac
for f in client_key known_hosts proxy.sh; do
	if [ ! -e "$dir/$f" ]; then
		echo "$0: $dir/$f is missing; is $dir a fleet made by netns-fleet up?" >&2
		exit 1
	fi
done
command -v ssh >/dev/null || {
	echo "$0: OpenSSH ssh is not installed" >&2
	exit 1
}

hosts=$(awk '{print $1}' "$dir/known_hosts" | sort -u)
nhosts=$(printf '%s\n' "$hosts" | grep -c .)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# One connection; xargs -P runs P of these at once. Output is checked to
# look like a port range, so a silently broken host cannot make it faster.
cat >"$tmp/one.sh" <<'EOF'
#!/bin/sh
dir=$1 host=$2
# shellcheck disable=SC2086 # SSH_FLOOR_OPTS is split on purpose
out=$(ssh ${SSH_FLOOR_OPTS-} -F /dev/null -i "$dir/client_key" \
	-o UserKnownHostsFile="$dir/known_hosts" -o StrictHostKeyChecking=yes \
	-o ProxyCommand="$dir/proxy.sh %h" -o BatchMode=yes \
	"root@$host" cat /proc/sys/net/ipv4/ip_local_port_range 2>&1) || {
	echo "ssh-floor: $host: $out" >&2
	exit 255 # makes xargs stop
}
case $out in
*[0-9]*[0-9]*) ;;
*) echo "ssh-floor: $host: unexpected output: $out" >&2; exit 255 ;;
esac
EOF
chmod +x "$tmp/one.sh"

now() { date +%s.%N; }

export SSH_FLOOR_OPTS
echo "ssh-floor: $nhosts hosts in $dir, parallelism $par, $rounds rounds${SSH_FLOOR_OPTS:+, ssh $SSH_FLOOR_OPTS}"
: >"$tmp/times"
i=1
while [ "$i" -le "$rounds" ]; do
	t0=$(now)
	if ! printf '%s\n' "$hosts" | xargs -P "$par" -n 1 "$tmp/one.sh" "$dir"; then
		echo "ssh-floor: round $i failed" >&2
		exit 1
	fi
	t1=$(now)
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
	echo "$secs" >>"$tmp/times"
	echo "round $i: ${secs}s for $nhosts hosts"
	i=$((i + 1))
done
sort -n "$tmp/times" | awk -v n="$nhosts" '
	{ t[NR] = $1 }
	END {
		m = (NR % 2) ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2
		printf "median: %.3fs for %d hosts (%.1f ms per host)\n", m, n, 1000 * m / n
	}'
