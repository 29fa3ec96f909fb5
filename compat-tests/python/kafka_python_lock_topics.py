"""Creates topics and ACLs through kafka-python's admin client (CreateTopics, CreateAcls,
DescribeAcls): for each topic named, User:* may do everything but WRITE.

Usage: kafka_python_lock_topics.py BOOTSTRAP CREATE_TOPICS LOCK_TOPICS, each a comma-separated
list. Prints "topics locked" when the broker describes exactly the bindings created.
"""

import sys

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


def main(bootstrap: str, create: list[str], lock: list[str]) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(name, 1, 1) for name in create])
    bindings = []
    for topic in lock:
        pattern = ResourcePattern(ResourceType.TOPIC, topic, ACLResourcePatternType.LITERAL)
        bindings.append(ACL("User:*", "*", ACLOperation.ALL, ACLPermissionType.ALLOW, pattern))
        bindings.append(ACL("User:*", "*", ACLOperation.WRITE, ACLPermissionType.DENY, pattern))
    result = admin.create_acls(bindings)
    assert not result["failed"], result

    everything = ACLFilter(
        None, None, ACLOperation.ANY, ACLPermissionType.ANY,
        ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY),
    )
    acls, error = admin.describe_acls(everything)
    assert error.errno == 0, error
    described = sorted((a.resource_pattern.resource_name, a.operation, a.permission_type) for a in acls)
    expected = sorted(
        (topic, op, permission)
        for topic in lock
        for op, permission in [
            (ACLOperation.ALL, ACLPermissionType.ALLOW),
            (ACLOperation.WRITE, ACLPermissionType.DENY),
        ]
    )
    assert described == expected, described
    admin.close()
    print("topics locked")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2].split(","), sys.argv[3].split(","))
