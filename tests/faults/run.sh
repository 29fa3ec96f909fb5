#!/usr/bin/env bash
# Runs the fault-injection suite (compat-tests/tests/faults) with a long random schedule:
#   tests/faults/run.sh --minutes N [--brokers 3|5] [--seed S]
# Needs root, iproute2, iptables and libfaketime (scripts/test installs them). The schedule is
# printed with its seed; --seed replays it. The report (faults injected, operations
# acknowledged, problems, failover times) is at the end of the output.
set -euo pipefail
cd "$(dirname "$0")/../.."
minutes=10 brokers=3 seed=""
while [ $# -gt 0 ]; do
    case "$1" in
        --minutes) minutes="$2"; shift 2 ;;
        --brokers) brokers="$2"; shift 2 ;;
        --seed) seed="$2"; shift 2 ;;
        *) echo "usage: $0 --minutes N [--brokers 3|5] [--seed S]" >&2; exit 2 ;;
    esac
done
export NEO_FAULT_MINUTES="$minutes" NEO_FAULT_BROKERS="$brokers"
if [ -n "$seed" ]; then export NEO_FAULT_SEED="$seed"; fi
exec cargo test -p neo-compat-tests --test faults -- --nocapture
