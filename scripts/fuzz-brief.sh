#!/bin/sh
# Run every Go fuzz target in the module briefly: each for FUZZTIME (default
# 5000x: a count of inputs, not a duration, because a duration's deadline can
# expire while a loaded machine is still shutting the workers down, which go
# test reports as a failure), starting from its seed corpus under
# testdata/fuzz/. CI runs this after the tests; a crash fails it and leaves the
# failing input under testdata/fuzz/ of that package.
#
#   scripts/fuzz-brief.sh            # every target, 5000 inputs each
#   FUZZTIME=60s scripts/fuzz-brief.sh ./inventory
set -eu
cd "$(dirname "$0")/.."
FUZZTIME=${FUZZTIME:-5000x}
dirs=${*:-.}
n=0
for f in $(grep -rl --include='*_test.go' '^func Fuzz' $dirs | sort); do
	d=$(dirname "$f")
	pkg=./${d#./}
	for target in $(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$f"); do
		echo "fuzz: $pkg $target ($FUZZTIME)"
		go test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" "$pkg" >/tmp/fuzz.$$ 2>&1 || {
			cat /tmp/fuzz.$$
			rm -f /tmp/fuzz.$$
			echo "fuzz: $pkg $target FAILED" >&2
			exit 1
		}
		n=$((n + 1))
	done
done
rm -f /tmp/fuzz.$$
echo "fuzz: $n targets, $FUZZTIME each, no failures"
