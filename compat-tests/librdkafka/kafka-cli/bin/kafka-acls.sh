#!/usr/bin/env bash
# Stand-in for Apache Kafka's bin/kafka-acls.sh (see kafka-topics.sh): --add and --remove of
# allow/deny bindings on topics, groups and the cluster, through kafka-python's admin client.
exec "${NEO_KAFKA_CLI_PYTHON:-python3}" "$(dirname "$0")/kafka_acls.py" "$@"
