#!/usr/bin/env python3
"""Checks that every series a Grafana dashboard queries is exported by a broker.

usage: check-dashboard-metrics.py DASHBOARD.json METRICS.txt

METRICS.txt is a scrape of a broker's /metrics (Prometheus text format) taken after a
workload. Each metric name in the dashboard's PromQL (panel targets and template variable
queries) must be the name of a sample in it; `up` is Prometheus's own and always allowed.
"""

import json
import re
import sys

KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or",
    "unless", "offset", "inf", "nan",
}
# Series Prometheus adds to every target itself.
PROMETHEUS_OWN = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}


def expressions(dashboard):
    """Every PromQL expression of the dashboard."""
    def walk(panels):
        for panel in panels:
            for target in panel.get("targets", []):
                if target.get("expr"):
                    yield f"panel {panel.get('title')!r}", target["expr"]
            yield from walk(panel.get("panels", []))

    yield from walk(dashboard.get("panels", []))
    for variable in dashboard.get("templating", {}).get("list", []):
        query = variable.get("query")
        if isinstance(query, dict):
            query = query.get("query")
        if variable.get("type") == "query" and query:
            inner = re.fullmatch(r"\s*label_values\((.*),\s*\w+\)\s*", query)
            yield f"variable {variable['name']!r}", inner.group(1) if inner else query


def metric_names(expr):
    """The metric names an expression selects."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)        # label values
    text = re.sub(r"\{[^}]*\}", " ", text)                  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)                 # range durations
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\$\{?\w+\}?", " ", text)                # dashboard variables
    names = set()
    for match in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", text):
        rest = text[match.end():].lstrip()
        name = match.group(0)
        if rest.startswith("(") or name in KEYWORDS:
            continue                                       # a function or a keyword
        if re.fullmatch(r"\d+[smhdwy]|e\d+", name):
            continue
        names.add(name)
    return names


def exported(scrape):
    """Names of the samples in a Prometheus text scrape."""
    names = set()
    for line in scrape.splitlines():
        if line and not line.startswith("#"):
            names.add(re.split(r"[{\s]", line, maxsplit=1)[0])
    return names


def main():
    dashboard_path, metrics_path = sys.argv[1:3]
    with open(dashboard_path) as f:
        dashboard = json.load(f)
    with open(metrics_path) as f:
        available = exported(f.read())
    missing = []
    checked = set()
    for where, expr in expressions(dashboard):
        for name in metric_names(expr):
            checked.add(name)
            if name not in available and name not in PROMETHEUS_OWN:
                missing.append(f"{where}: {name} (in {expr})")
    ids = [p["id"] for p in dashboard.get("panels", [])]
    if len(ids) != len(set(ids)):
        missing.append("panel ids are not unique")
    if missing or not checked:
        print("dashboard queries series the broker does not export:", file=sys.stderr)
        for line in missing or ["(no expression found)"]:
            print(f"  {line}", file=sys.stderr)
        sys.exit(1)
    print(f"dashboard: {len(checked)} series queried, each exported: {', '.join(sorted(checked))}")


if __name__ == "__main__":
    main()
