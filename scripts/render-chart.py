#!/usr/bin/env python3
"""Lints the Helm chart and renders it offline, once per set of values below.

usage: render-chart.py CHART_DIR OUT_DIR

Uses helm-python-sdk (Helm's own Go SDK as a C library: no helm binary, no cluster). Each
case is written to OUT_DIR/<case>.yaml as one multi-document stream, ready for yamllint and
kubernetes-validate.
"""

import os
import sys

import helm_python as helm

CASES = {
    "default": {},
    "single-broker": {"replicaCount": 1, "persistence": {"enabled": False}},
    "nodeport": {
        "replicaCount": 5,
        "external": {"enabled": True, "type": "NodePort", "advertisedHost": "kafka.example.com"},
        "serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}},
        "native": {"authToken": "secret"},
        "podDisruptionBudget": {"enabled": False},
        "extraEnv": [{"name": "RUST_LOG", "value": "info"}],
        "persistence": {"storageClass": "fast-ssd"},
    },
    "loadbalancer": {
        "external": {"enabled": True, "type": "LoadBalancer",
                     "hosts": ["a.example.com", "b.example.com", "c.example.com"]},
        "service": {"type": "LoadBalancer", "loadBalancerSourceRanges": ["10.0.0.0/8"]},
        "amqp": {"existingSecret": "neo-amqp-login"},
        "native": {"existingSecret": "neo-native-token"},
    },
}


def main():
    chart_dir, out_dir = sys.argv[1:3]
    os.makedirs(out_dir, exist_ok=True)
    chart = helm.Chart.load(chart_dir)
    failed = False
    for case, values in CASES.items():
        report = helm.lint(chart_dir, values, strict=True, namespace="messaging")
        problems = [m for m in report.get("messages", []) if m.get("severity", 0) >= 2]
        problems += [{"error": e} for e in report.get("errors", []) or []]
        for problem in problems:
            print(f"helm lint ({case}): {problem}", file=sys.stderr)
            failed = True
        manifests = chart.render(values, name="neo", namespace="messaging", is_install=True)
        documents = []
        for path in sorted(manifests):
            text = manifests[path].strip()
            if path.endswith(".yaml") and text:
                documents.append(f"# Source: {path}\n{text}\n")
        with open(os.path.join(out_dir, f"{case}.yaml"), "w") as f:
            f.write("---\n".join(documents))
        print(f"chart: {case}: {len(documents)} templates rendered")
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
