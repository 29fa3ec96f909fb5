"""ACLs through kafka-python (its own protocol code): create, describe, enforce, delete.

Usage: kafka_python_acls.py BOOTSTRAP. Prints "kafka-python acls ok" when every check holds.
"""

import sys

from kafka import KafkaProducer
from kafka.admin import (
    ACL,
    ACLFilter,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    KafkaAdminClient,
    NewTopic,
    ResourcePattern,
    ResourcePatternFilter,
    ResourceType,
)
from kafka.errors import TopicAuthorizationFailedError


def main(bootstrap: str) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic("secret", 1, 1), NewTopic("open", 1, 1)])
    deny_write = ACL(
        "User:*", "*", ACLOperation.WRITE, ACLPermissionType.DENY,
        ResourcePattern(ResourceType.TOPIC, "secret", ACLResourcePatternType.LITERAL),
    )
    result = admin.create_acls([deny_write])
    assert not result["failed"], result

    everything = ACLFilter(
        None, None, ACLOperation.ANY, ACLPermissionType.ANY,
        ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY),
    )
    acls, error = admin.describe_acls(everything)
    assert error.errno == 0, error
    assert [(a.resource_pattern.resource_name, a.operation) for a in acls] == [
        ("secret", ACLOperation.WRITE)
    ], acls

    producer = KafkaProducer(bootstrap_servers=bootstrap, retries=0)
    producer.send("open", b"fine").get(timeout=10)
    try:
        producer.send("secret", b"refused").get(timeout=10)
        raise AssertionError("a write to a topic with a deny ACL was accepted")
    except TopicAuthorizationFailedError:
        pass

    deleted = admin.delete_acls([everything])
    assert len(deleted[0][1]) == 1, deleted
    producer.send("secret", b"now allowed").get(timeout=10)
    producer.close()
    admin.close()
    print("kafka-python acls ok")


if __name__ == "__main__":
    main(sys.argv[1])
