#!/usr/bin/env bash
# Runs every Go fuzz target of the module, one after the other, each for
# FUZZTIME (default 3s: the smoke run of `make test`; `make fuzz` gives 60s).
#
#   scripts/fuzz.sh [FUZZTIME]       e.g. scripts/fuzz.sh 10m
#   FUZZ='Digest|MJPEG' scripts/fuzz.sh 60s   only targets matching a regexp
#
# Each package with fuzz targets is built once, instrumented (go test -c
# -fuzz); the binary lists its targets (-test.list '^Fuzz', what go test
# -list does, without building every other package's tests) and runs each
# from its package folder, so that the committed corpus
# (testdata/fuzz/<Target>/) is its seed and a crasher lands there, ready to
# commit. Inputs found interesting are kept in Go's fuzz cache between runs.
# Two workers (-parallel 2): these machines have two cores.
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
FUZZTIME=${1:-${FUZZTIME:-3s}}
PARALLEL=${FUZZ_PARALLEL:-2}
# How long new coverage is minimized: 0s (off) by default, since Go's 60s
# would stall short runs; make fuzz asks for 10s.
MINIMIZE=${FUZZ_MINIMIZE:-0s}
MATCH=${FUZZ:-.}
TAGS=${FUZZ_TAGS:-}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cache="$($GO env GOCACHE)/fuzz"

# Folders whose tests define fuzz targets (the binary's own list decides).
mapfile -t dirs < <(grep -rlE --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*\(f \*testing\.F\)' . \
	| xargs -n1 dirname | sort -u)

# count is how many inputs a corpus folder holds (0 when there is none yet:
# a target may have only f.Add seeds, and git keeps no empty folder).
count() { if [ -d "$1" ]; then find "$1" -type f | wc -l; else echo 0; fi; }

start=$SECONDS
ran=0
failed=()
for dir in "${dirs[@]}"; do
	pkg=$($GO list ${TAGS:+-tags "$TAGS"} "$dir")
	bin="$work/$(echo "$pkg" | tr '/' '_').test"
	$GO test ${TAGS:+-tags "$TAGS"} -c -fuzz=. -o "$bin" "$dir"
	mapfile -t targets < <("$bin" -test.list '^Fuzz' | grep -E '^Fuzz' | grep -E "$MATCH" || true)
	for t in "${targets[@]}"; do
		t0=$SECONDS
		corpus="$dir/testdata/fuzz/$t"
		before=$(count "$corpus")
		ok=0
		if (cd "$dir" && "$bin" -test.run='^$' -test.fuzz="^$t\$" -test.fuzztime="$FUZZTIME" \
			-test.parallel="$PARALLEL" -test.fuzzminimizetime="$MINIMIZE" \
			-test.fuzzcachedir="$cache/$pkg/$t" >"$work/out" 2>&1); then
			ok=1
		elif grep -q 'context deadline exceeded' "$work/out" && ! grep -q 'Failing input written' "$work/out" &&
			[ "$(count "$corpus")" = "$before" ] &&
			(cd "$dir" && "$bin" -test.run="^$t\$" >>"$work/out" 2>&1); then
			# Go 1.26's fuzz coordinator can fail a run at the -fuzztime
			# deadline when a loaded machine delays a worker (go.dev/issue/
			# 75804, fixed in Go 1.27): no input was written, and the corpus
			# replays clean, so nothing was found.
			ok=2
		fi
		if [ $ok != 0 ]; then
			execs=$(grep -oE 'execs: [0-9]+' "$work/out" | tail -1 | cut -d' ' -f2 || true) # a short run may print none
			note=""
			[ $ok = 2 ] && note=" (ended by Go's fuzztime deadline race, go.dev/issue/75804; corpus replays clean)"
			printf 'fuzz: ok   %-28s %-40s %3ds %s execs%s\n' "$t" "$pkg" $((SECONDS - t0)) "${execs:-?}" "$note"
		else
			printf 'fuzz: FAIL %-28s %s\n' "$t" "$pkg"
			sed 's/^/    /' "$work/out" | tail -40
			failed+=("$pkg.$t")
		fi
		ran=$((ran + 1))
	done
done
echo "fuzz: $ran targets, ${FUZZTIME} each, $((SECONDS - start))s in all"
if [ ${#failed[@]} -gt 0 ]; then
	echo "fuzz: failed: ${failed[*]} (the crashing input is under the package's testdata/fuzz/<Target>/)"
	exit 1
fi
