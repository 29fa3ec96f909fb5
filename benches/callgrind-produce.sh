#!/usr/bin/env bash
# The broker's instruction count per 1 MiB Kafka produce request, repeatable whatever else the
# machine is doing: callgrind counts instructions of the whole process for 1 and for 11
# requests, and the difference over the 10 extra requests is the cost of one (decode,
# validate, append, encode the answer, and the client's few socket calls).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install valgrind)" >&2; exit 1; }
cargo bench -p neo-benches --bench produce_instructions --no-run
binary=$(cargo bench -p neo-benches --bench produce_instructions --no-run --message-format=json 2>/dev/null |
    python3 -c 'import json,sys; print([m["executable"] for m in map(json.loads, sys.stdin) if m.get("executable") and "produce_instructions" in m["executable"]][0])')
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
total() {
    NEO_PRODUCE_REQUESTS=$1 valgrind --tool=callgrind --callgrind-out-file="$out/cg.$1" "$binary" --bench >/dev/null 2>"$out/log.$1"
    grep -m1 '^summary:' "$out/cg.$1" | awk '{print $2}'
}
one=$(total 1)
eleven=$(total 11)
echo "instructions: $one for 1 request, $eleven for 11"
echo "per 1 MiB produce request: $(( (eleven - one) / 10 )) instructions"
