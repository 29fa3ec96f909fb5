"""kafka-topics.sh --create through kafka-python's admin client (see kafka-topics.sh)."""

import argparse
import sys

from kafka.admin import KafkaAdminClient, NewTopic


def main() -> int:
    parser = argparse.ArgumentParser(prog="kafka-topics.sh")
    parser.add_argument("--bootstrap-server", required=True)
    parser.add_argument("--create", action="store_true")
    parser.add_argument("--topic", required=True)
    parser.add_argument("--partitions", type=int, default=1)
    parser.add_argument("--replication-factor", type=int, default=1)
    parser.add_argument("--config", action="append", default=[])
    args = parser.parse_args()
    if not args.create:
        print("kafka-topics.sh stand-in: only --create is supported", file=sys.stderr)
        return 1
    configs = dict(c.split("=", 1) for c in args.config)
    admin = KafkaAdminClient(bootstrap_servers=args.bootstrap_server)
    try:
        admin.create_topics(
            [NewTopic(args.topic, args.partitions, args.replication_factor, topic_configs=configs)]
        )
    finally:
        admin.close()
    print(f"Created topic {args.topic}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
