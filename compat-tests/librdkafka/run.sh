#!/usr/bin/env bash
# Builds librdkafka's own regression suite from the source bundled in the rdkafka-sys crate
# and runs the tests listed in tests.allow (or those given as arguments) against a Neo broker
# (or a cluster of them: NEO_RDKAFKA_BROKERS=3) started here, as its README describes for an
# existing cluster (test.conf).
#
#   compat-tests/librdkafka/run.sh            # the allowed tests
#   compat-tests/librdkafka/run.sh 0001 0002  # just these
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
work="$root/target/librdkafka-suite"

src="$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/rdkafka-sys-4.10.0+2.12.1/librdkafka 2>/dev/null | head -1)"
if [ -z "$src" ]; then
    (cd "$root" && cargo fetch --locked >/dev/null)
    src="$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/rdkafka-sys-4.10.0+2.12.1/librdkafka | head -1)"
fi

if [ ! -x "$work/tests/test-runner" ]; then
    rm -rf "$work"
    cp -r "$src" "$work"
    (cd "$work" && ./configure --disable-ssl --disable-gssapi --disable-curl --disable-zstd \
        --disable-lz4-ext >/dev/null && make -j2 libs >/dev/null)
    make -C "$work/tests" -j2 build >/dev/null
fi

(cd "$root" && cargo build --quiet --bin neo)
# NEO_RDKAFKA_BROKERS=3 runs the suite against a cluster of three brokers on 127.0.0.1/2/3
# (topics replicated 3 times unless a test asks otherwise); default one broker.
brokers="${NEO_RDKAFKA_BROKERS:-1}"
free_port() { python3 -c 'import socket,sys; s=socket.socket(); s.bind((sys.argv[1],0)); print(s.getsockname()[1])' "$1"; }
voters=""
if [ "$brokers" -gt 1 ]; then
    for n in $(seq 1 "$brokers"); do
        voters="${voters:+$voters,}$n@127.0.0.$n:$(free_port 127.0.0.$n)"
    done
fi
data="$(mktemp -d)"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; wait "${pids[@]}" 2>/dev/null || true; rm -rf "$data" || true' EXIT
for n in $(seq 1 "$brokers"); do
    ip="127.0.0.$n"
    cluster=(--cluster-listen "$ip:0")
    if [ -n "$voters" ]; then
        cluster=(--node-id "$n" --voters "$voters"
            --cluster-listen "$(tr ',' '\n' <<<"$voters" | sed -n "s/^$n@//p")")
    fi
    # The suite expects auto-created topics to have 4 partitions, like its own test clusters.
    NEO_BROKER__NUM_PARTITIONS=4 NEO_BROKER__DEFAULT_REPLICATION_FACTOR="$brokers" \
        "$root/target/debug/neo" serve --data-dir "$data/$n" --admin-listen "$ip:0" \
        --kafka-listen "$ip:0" --amqp-listen "$ip:0" --sqs-listen "$ip:0" \
        --native-listen "$ip:0" "${cluster[@]}" >"$work/neo-$n.log" 2>&1 &
    pids+=($!)
done
addrs=()
for n in $(seq 1 "$brokers"); do
    addr=""
    for _ in $(seq 1 600); do
        addr="$(sed -n 's/.*kafka listening on \([0-9.:]*\).*/\1/p' "$work/neo-$n.log" | head -1)"
        [ -n "$addr" ] && break
        sleep 0.1
    done
    [ -n "$addr" ] || { cat "$work/neo-$n.log"; echo "neo $n did not start"; exit 1; }
    addrs+=("$addr")
done
addr="$(IFS=,; echo "${addrs[*]}")"
printf 'bootstrap.servers=%s\n' "$addr" > "$work/tests/test.conf"
# Tests that shell out to the Kafka CLI to create topics get a stand-in (kafka-cli/).
venv="$root/target/compat-venv"
if ! "$venv/bin/python" -c "import kafka" >/dev/null 2>&1; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q kafka-python==3.0.12
fi
export KAFKA_PATH="$here/kafka-cli" BROKERS="$addr" NEO_KAFKA_CLI_PYTHON="$venv/bin/python"

# tests.allow: a test number, optionally the broker version the test is told (-V; default
# 3.7.0), then a comment.
# On a cluster, the allowed tests less those tests.cluster-skip names (with why they cannot
# pass there).
if [ $# -gt 0 ]; then
    tests=("$@")
else
    skip=()
    if [ "$brokers" -gt 1 ]; then
        mapfile -t skip < <(grep -v '^#' "$here/tests.cluster-skip" | awk '{print $1}' | grep .)
    fi
    mapfile -t tests < <(grep -v '^#' "$here/tests.allow" | awk '{print $1}' | grep . |
        grep -v -x -F -f <(printf '%s\n' "${skip[@]}" | grep . || true))
fi
version_of() {
    local v
    v="$(awk -v t="$1" '$1 == t && $2 ~ /^[0-9.]+$/ {print $2}' "$here/tests.allow")"
    echo "${v:-3.7.0}"
}
run_one() {
    local t=$1
    if (cd "$work/tests" && LD_LIBRARY_PATH="$work/src:$work/src-cpp" TESTS="$t" \
        timeout "${NEO_RDKAFKA_TEST_TIMEOUT:-300}" ./test-runner -Q -V "$(version_of "$t")" \
        >"$work/test-$t.log" 2>&1); then
        echo "PASS $t"
    else
        # One block per failure, so parallel output stays readable in CI logs.
        { echo "FAIL $t (log: $work/test-$t.log), its end:"; tail -n 25 "$work/test-$t.log"; } |
            sed "s/^/[$t] /"
        touch "$work/failed-$t"
    fi
}
# Several tests at once (each its own test-runner, topics and groups are per test).
rm -f "$work"/failed-*
jobs_max="${NEO_RDKAFKA_JOBS:-3}"
running=()
for t in "${tests[@]}"; do
    while [ ${#running[@]} -ge "$jobs_max" ]; do
        wait -n "${running[@]}" || true
        alive=()
        for pid in "${running[@]}"; do kill -0 "$pid" 2>/dev/null && alive+=("$pid"); done
        running=("${alive[@]}")
    done
    run_one "$t" &
    running+=($!)
done
[ ${#running[@]} -eq 0 ] || wait "${running[@]}" || true
failed=()
for f in "$work"/failed-*; do
    [ -e "$f" ] && failed+=("${f##*/failed-}")
done
[ ${#failed[@]} -eq 0 ] || { echo "failed: ${failed[*]}"; exit 1; }
