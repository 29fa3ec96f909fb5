#!/usr/bin/env bash
# Same-run comparison of two `neo` builds on this machine: starts each build's `neo serve` in
# turn (fresh data directory, loopback ports), runs `neo-bench` against all its front-ends,
# and repeats ROUNDS times, alternating which build goes first, so both see the same noise.
#
#   benches/compare.sh OLD_NEO NEW_NEO [ROUNDS] [neo-bench options...]
#
# e.g. a build of the commit before a change against this one:
#   git worktree add /tmp/before <commit> && (cd /tmp/before && cargo build --release -p neo)
#   cargo build --release -p neo -p neo-bench
#   benches/compare.sh /tmp/before/target/release/neo target/release/neo 3 --records 500000
# Figures go to target/compare/<build>-<round>.json and a table at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
old="$1" new="$2" rounds="${3:-3}"
shift $(( $# < 3 ? $# : 3 ))
bench="${NEO_BENCH:-target/release/neo-bench}"
out=target/compare
mkdir -p "$out"

run() { # build-name binary round
    local name="$1" neo="$2" round="$3" dir
    shift 3
    dir="$(mktemp -d)"
    "$neo" serve --data-dir "$dir" --admin-listen 127.0.0.1:19644 --kafka-listen 127.0.0.1:19092 \
        --amqp-listen 127.0.0.1:15672 --sqs-listen 127.0.0.1:19324 --native-listen 127.0.0.1:17070 \
        >"$out/$name-$round.log" 2>&1 &
    local pid=$!
    for _ in $(seq 1 100); do
        curl -sf http://127.0.0.1:19644/ready >/dev/null 2>&1 && break
        sleep 0.1
    done
    sync
    "$bench" --protocol all --native-addr 127.0.0.1:17070 --kafka-addr 127.0.0.1:19092 \
        --amqp-uri amqp://guest:guest@127.0.0.1:15672/%2f --sqs-endpoint http://127.0.0.1:19324 \
        --json "$out/$name-$round.json" "$@" >"$out/$name-$round.bench.log" 2>&1 || echo "$name round $round failed (see $out/$name-$round.bench.log)"
    kill "$pid"; wait "$pid" 2>/dev/null || true
    rm -rf "$dir"
}

for round in $(seq 1 "$rounds"); do
    if (( round % 2 )); then
        run old "$old" "$round" "$@"; run new "$new" "$round" "$@"
    else
        run new "$new" "$round" "$@"; run old "$old" "$round" "$@"
    fi
done
python3 - "$out" "$rounds" <<'PY'
import json, sys, statistics
out, rounds = sys.argv[1], int(sys.argv[2])
def load(name, r):
    try:
        return json.load(open(f"{out}/{name}-{r}.json"))
    except (OSError, ValueError):
        return None
def figures(run):
    found = {}
    for result in run["results"]:
        for key, value in result.items():
            if isinstance(value, (int, float)) and key != "protocol":
                found[f"{result.get('protocol')} {key}"] = value
            elif isinstance(value, dict):
                for k, v in value.items():
                    if isinstance(v, (int, float)):
                        found[f"{result.get('protocol')} {key}.{k}"] = v
    return found
old = [figures(r) for r in (load("old", i) for i in range(1, rounds + 1)) if r]
new = [figures(r) for r in (load("new", i) for i in range(1, rounds + 1)) if r]
if not old or not new:
    sys.exit("no figures to compare")
print(f"| figure | old (median of {len(old)}) | new (median of {len(new)}) | new/old |")
print("|---|---|---|---|")
for key in sorted(old[0]):
    a = [f[key] for f in old if key in f]
    b = [f[key] for f in new if key in f]
    if not a or not b:
        continue
    ma, mb = statistics.median(a), statistics.median(b)
    ratio = f"{mb / ma:.2f}" if ma else "-"
    print(f"| {key} | {ma:.4g} | {mb:.4g} | {ratio} |")
PY
