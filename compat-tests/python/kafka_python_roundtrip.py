"""kafka-python (a client that speaks the protocol itself, not through librdkafka) against
Neo: admin, produce with acks=all in every codec it ships without extras, a consumer group
that commits, and metadata. Exits non-zero with a message on the first mismatch."""

import sys
import time

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

bootstrap = sys.argv[1]

admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
admin.create_topics([NewTopic("py-topic", num_partitions=2, replication_factor=1)])
try:
    admin.create_topics([NewTopic("py-topic", num_partitions=2, replication_factor=1)])
    sys.exit("creating an existing topic did not fail")
except TopicAlreadyExistsError:
    pass
assert "py-topic" in admin.list_topics(), admin.list_topics()

for codec in [None, "gzip"]:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", compression_type=codec)
    futures = [
        producer.send("py-topic", key=b"k%d" % i, value=b"v%d" % i, partition=i % 2,
                      headers=[("h", b"x")])
        for i in range(100)
    ]
    producer.flush()
    for f in futures:
        f.get(timeout=10)
    producer.close()

consumer = KafkaConsumer(
    "py-topic",
    bootstrap_servers=bootstrap,
    group_id="py-group",
    auto_offset_reset="earliest",
    enable_auto_commit=False,
    consumer_timeout_ms=15000,
)
seen = []
deadline = time.time() + 30
while len(seen) < 200 and time.time() < deadline:
    for records in consumer.poll(timeout_ms=500).values():
        for r in records:
            assert r.headers == [("h", b"x")], r.headers
            seen.append((r.key, r.value))
assert len(seen) == 200, len(seen)
assert sorted(set(seen)) == sorted({(b"k%d" % i, b"v%d" % i) for i in range(100)}), seen[:5]
consumer.commit()
committed = consumer.committed(TopicPartition("py-topic", 0))
assert committed == 100, committed
consumer.close()

groups = admin.list_groups()
assert "py-group" in str(groups), groups
# Two groups in one OffsetFetch (v8+).
offsets = admin.list_group_offsets({"py-group": None, "nobody": None})
assert offsets["py-group"][TopicPartition("py-topic", 1)].offset == 100, offsets
assert not offsets["nobody"], offsets
admin.delete_topics(["py-topic"])
admin.close()
print("kafka-python ok")
