#!/usr/bin/env bash
# Stand-in for Apache Kafka's bin/kafka-topics.sh, which some librdkafka tests call to create
# a topic (`--create --topic T --partitions N --replication-factor R --config k=v`). The Kafka
# distribution needs Java and a download this machine does not reach; this does the same
# through the admin API with kafka-python. Anything else it is asked for fails loudly.
exec "${NEO_KAFKA_CLI_PYTHON:-python3}" "$(dirname "$0")/kafka_topics.py" "$@"
