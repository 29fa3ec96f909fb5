#!/usr/bin/env bash
# Builds librdkafka's own regression suite from the source bundled in the rdkafka-sys crate
# and runs the tests listed in tests.allow (or those given as arguments) against a Neo broker
# started here, as its README describes for an existing cluster (test.conf).
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
data="$(mktemp -d)"
log="$work/neo.log"
# The suite expects auto-created topics to have 4 partitions, like its own test clusters.
NEO_BROKER__NUM_PARTITIONS=4 "$root/target/debug/neo" serve --data-dir "$data" --admin-listen 127.0.0.1:0 \
    --kafka-listen 127.0.0.1:0 >"$log" 2>&1 &
neo=$!
trap 'kill $neo 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 1 100); do
    addr="$(sed -n 's/.*kafka listening on \([0-9.:]*\).*/\1/p' "$log" | head -1)"
    [ -n "$addr" ] && break
    sleep 0.1
done
[ -n "$addr" ] || { cat "$log"; echo "neo did not start"; exit 1; }
printf 'bootstrap.servers=%s\n' "$addr" > "$work/tests/test.conf"

if [ $# -gt 0 ]; then
    tests=("$@")
else
    mapfile -t tests < <(grep -v '^#' "$here/tests.allow" | awk '{print $1}' | grep .)
fi
failed=()
for t in "${tests[@]}"; do
    if (cd "$work/tests" && LD_LIBRARY_PATH="$work/src:$work/src-cpp" TESTS="$t" timeout "${NEO_RDKAFKA_TEST_TIMEOUT:-300}" ./test-runner -Q -V 3.7.0 \
        >"$work/test-$t.log" 2>&1); then
        echo "PASS $t"
    else
        echo "FAIL $t (log: $work/test-$t.log)"
        failed+=("$t")
    fi
done
[ ${#failed[@]} -eq 0 ] || { echo "failed: ${failed[*]}"; exit 1; }
