"""boto3 against Neo's SQS gateway: queues, attributes, tags, messages with typed attributes
(MD5s checked against an independent implementation of AWS's algorithm), batches, long
polling, visibility, FIFO, and the errors boto3 maps to its exception classes.

Usage: boto3_sqs.py ENDPOINT PROTOCOL   (PROTOCOL: json or query, the one boto3 must speak)
"""

import hashlib
import sys
import time

import boto3
from botocore.exceptions import ClientError

endpoint, protocol = sys.argv[1], sys.argv[2]
sqs = boto3.client(
    "sqs",
    endpoint_url=endpoint,
    region_name="us-east-1",
    aws_access_key_id="test",
    aws_secret_access_key="test",
)
assert sqs.meta.service_model.protocol == protocol, sqs.meta.service_model.protocol


def md5_of_attributes(attributes):
    digest = hashlib.md5()

    def field(data):
        digest.update(len(data).to_bytes(4, "big"))
        digest.update(data)

    for name in sorted(attributes):
        value = attributes[name]
        field(name.encode())
        field(value["DataType"].encode())
        if "StringValue" in value:
            digest.update(b"\x01")
            field(value["StringValue"].encode())
        else:
            digest.update(b"\x02")
            field(value["BinaryValue"])
    return digest.hexdigest()


def error_code(call, **kwargs):
    try:
        call(**kwargs)
    except ClientError as e:
        return e.response["Error"]["Code"]
    raise AssertionError("no error")


name = f"boto3-{protocol}"
url = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "5"}, tags={"env": "test"})[
    "QueueUrl"
]
assert url.endswith(f"/000000000000/{name}"), url
assert sqs.get_queue_url(QueueName=name)["QueueUrl"] == url
assert url in sqs.list_queues(QueueNamePrefix="boto3-")["QueueUrls"]
assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"env": "test"}
sqs.set_queue_attributes(QueueUrl=url, Attributes={"MaximumMessageSize": "2048"})
attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
assert attrs["MaximumMessageSize"] == "2048", attrs
assert attrs["VisibilityTimeout"] == "5", attrs
assert attrs["QueueArn"] == f"arn:aws:sqs:us-east-1:000000000000:{name}", attrs

attributes = {
    "text": {"DataType": "String", "StringValue": "héllo <&>"},
    "count": {"DataType": "Number", "StringValue": "12.5"},
    "blob": {"DataType": "Binary", "BinaryValue": bytes([0, 1, 2, 250])},
    "custom": {"DataType": "String.json", "StringValue": '{"a": 1}'},
}
body = "body with ünïcode & <xml> characters"
sent = sqs.send_message(QueueUrl=url, MessageBody=body, MessageAttributes=attributes)
assert sent["MD5OfMessageBody"] == hashlib.md5(body.encode()).hexdigest()
assert sent["MD5OfMessageAttributes"] == md5_of_attributes(attributes), sent

batch = sqs.send_message_batch(
    QueueUrl=url,
    Entries=[{"Id": f"b{i}", "MessageBody": f"batch {i}"} for i in range(5)],
)
assert len(batch["Successful"]) == 5, batch

received = []
deadline = time.time() + 10
while len(received) < 6 and time.time() < deadline:
    got = sqs.receive_message(
        QueueUrl=url,
        MaxNumberOfMessages=10,
        WaitTimeSeconds=1,
        MessageAttributeNames=["All"],
        AttributeNames=["All"],
    )
    received.extend(got.get("Messages", []))
assert len(received) == 6, received
first = next(m for m in received if m["MessageId"] == sent["MessageId"])
assert first["Body"] == body
assert first["MD5OfBody"] == hashlib.md5(body.encode()).hexdigest()
assert first["MessageAttributes"] == attributes, first["MessageAttributes"]
assert first["MD5OfMessageAttributes"] == md5_of_attributes(first["MessageAttributes"])
assert first["Attributes"]["ApproximateReceiveCount"] == "1"
assert int(first["Attributes"]["SentTimestamp"]) > 1_600_000_000_000

sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"], VisibilityTimeout=0)
again = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5, AttributeNames=["ApproximateReceiveCount"])
assert again["Messages"][0]["MessageId"] == sent["MessageId"]
assert again["Messages"][0]["Attributes"]["ApproximateReceiveCount"] == "2"
received = [m for m in received if m["MessageId"] != sent["MessageId"]] + again["Messages"]
deleted = sqs.delete_message_batch(
    QueueUrl=url,
    Entries=[{"Id": f"d{i}", "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(received)],
)
assert len(deleted["Successful"]) == 6, deleted
assert "Messages" not in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)

# Long polling returns when a message arrives, not at the end of the wait.
start = time.time()
sqs.send_message(QueueUrl=url, MessageBody="late")
got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=20)
assert got["Messages"][0]["Body"] == "late"
assert time.time() - start < 5

# Errors boto3 maps to its exception classes.
try:
    sqs.get_queue_url(QueueName="does-not-exist")
    raise AssertionError("no error")
except sqs.exceptions.QueueDoesNotExist as e:
    assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 400
assert error_code(sqs.send_message, QueueUrl=url, MessageBody="x" * 2049) == "InvalidParameterValue"
assert error_code(sqs.receive_message, QueueUrl=url, MaxNumberOfMessages=11) == "InvalidParameterValue"
assert error_code(sqs.delete_message, QueueUrl=url, ReceiptHandle="nope") == "ReceiptHandleIsInvalid"
try:
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "a", "MessageBody": "1"}, {"Id": "a", "MessageBody": "2"}])
    raise AssertionError("no error")
except sqs.exceptions.BatchEntryIdsNotDistinct:
    pass
sqs.purge_queue(QueueUrl=url)
try:
    sqs.purge_queue(QueueUrl=url)
    raise AssertionError("no error")
except sqs.exceptions.PurgeQueueInProgress:
    pass

# FIFO.
fifo = sqs.create_queue(
    QueueName=f"{name}.fifo",
    Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"},
)["QueueUrl"]
one = sqs.send_message(QueueUrl=fifo, MessageBody="a", MessageGroupId="g")
dup = sqs.send_message(QueueUrl=fifo, MessageBody="a", MessageGroupId="g")
assert dup["MessageId"] == one["MessageId"]
sqs.send_message(QueueUrl=fifo, MessageBody="b", MessageGroupId="g")
got = sqs.receive_message(QueueUrl=fifo, AttributeNames=["All"])["Messages"][0]
assert got["Body"] == "a"
assert got["Attributes"]["SequenceNumber"] == one["SequenceNumber"]
assert got["Attributes"]["MessageGroupId"] == "g"
sqs.delete_message(QueueUrl=fifo, ReceiptHandle=got["ReceiptHandle"])
assert sqs.receive_message(QueueUrl=fifo)["Messages"][0]["Body"] == "b"

sqs.delete_queue(QueueUrl=fifo)
sqs.delete_queue(QueueUrl=url)
print("boto3 ok")
