"""kafka-acls.sh --add/--remove through kafka-python's admin client (see kafka-acls.sh)."""

import argparse
import sys

from kafka.admin import (
    ACL,
    ACLFilter,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    KafkaAdminClient,
    ResourcePattern,
    ResourcePatternFilter,
    ResourceType,
)


def main() -> int:
    p = argparse.ArgumentParser(prog="kafka-acls.sh")
    p.add_argument("--bootstrap-server", required=True)
    p.add_argument("--add", action="store_true")
    p.add_argument("--remove", action="store_true")
    p.add_argument("--force", action="store_true")
    p.add_argument("--allow-principal", action="append", default=[])
    p.add_argument("--deny-principal", action="append", default=[])
    p.add_argument("--allow-host", action="append", default=[])
    p.add_argument("--deny-host", action="append", default=[])
    p.add_argument("--operation", action="append", default=[])
    p.add_argument("--topic", action="append", default=[])
    p.add_argument("--group", action="append", default=[])
    p.add_argument("--cluster", action="store_true")
    p.add_argument("--resource-pattern-type", default="literal")
    args = p.parse_args()
    if args.add == args.remove:
        print("kafka-acls.sh stand-in: give exactly one of --add, --remove", file=sys.stderr)
        return 1
    pattern = ACLResourcePatternType[args.resource_pattern_type.upper()]
    resources = [(ResourceType.TOPIC, t) for t in args.topic]
    resources += [(ResourceType.GROUP, g) for g in args.group]
    if args.cluster:
        resources.append((ResourceType.CLUSTER, "kafka-cluster"))
    operations = [ACLOperation[o.upper().replace("-", "_")] for o in args.operation or ["All"]]
    grants = [(pr, ACLPermissionType.ALLOW, args.allow_host or ["*"]) for pr in args.allow_principal]
    grants += [(pr, ACLPermissionType.DENY, args.deny_host or ["*"]) for pr in args.deny_principal]
    admin = KafkaAdminClient(bootstrap_servers=args.bootstrap_server)
    try:
        for resource_type, name in resources:
            for principal, permission, hosts in grants:
                for host in hosts:
                    for operation in operations:
                        if args.add:
                            acl = ACL(principal, host, operation, permission,
                                      ResourcePattern(resource_type, name, pattern))
                            result = admin.create_acls([acl])
                            if result.get("failed"):
                                print(f"failed: {result['failed']}", file=sys.stderr)
                                return 1
                        else:
                            acl_filter = ACLFilter(principal, host, operation, permission,
                                                   ResourcePatternFilter(resource_type, name, pattern))
                            admin.delete_acls([acl_filter])
    finally:
        admin.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
