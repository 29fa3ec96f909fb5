"""The common RabbitMQ patterns with pika (the Python client, its own protocol code): a work
queue with prefetch and manual acks, pub/sub through a fanout exchange, topic routing, RPC
with reply_to and correlation_id, dead-lettering with a TTL, and publisher confirms.

Usage: pika_patterns.py HOST PORT. Prints "pika ok" when every check holds.
"""

import sys
import time
import uuid

import pika


def connect(host: str, port: int) -> pika.BlockingConnection:
    return pika.BlockingConnection(pika.ConnectionParameters(host=host, port=port))


def drain(ch, queue: str, want: int, timeout: float = 10.0) -> list:
    got = []
    deadline = time.time() + timeout
    while len(got) < want and time.time() < deadline:
        method, props, body = ch.basic_get(queue, auto_ack=True)
        if method is None:
            time.sleep(0.02)
            continue
        got.append((method, props, body))
    return got


def main(host: str, port: int) -> None:
    conn = connect(host, port)
    ch = conn.channel()
    ch.confirm_delivery()

    # Work queue: prefetch 2, manual acks, nothing lost.
    ch.queue_declare("tasks", durable=True)
    for i in range(6):
        ch.basic_publish("", "tasks", f"task {i}".encode(),
                         pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent))
    worker = conn.channel()
    worker.basic_qos(prefetch_count=2)
    done = []
    for method, _props, body in worker.consume("tasks", inactivity_timeout=5):
        if method is None:
            break
        done.append(body.decode())
        worker.basic_ack(method.delivery_tag)
        if len(done) == 6:
            break
    worker.cancel()
    assert done == [f"task {i}" for i in range(6)], done

    # Pub/sub: every bound queue gets each message.
    ch.exchange_declare("news", exchange_type="fanout")
    subscribers = []
    for _ in range(2):
        q = ch.queue_declare("", exclusive=True).method.queue
        ch.queue_bind(q, "news")
        subscribers.append(q)
    ch.basic_publish("news", "", b"extra")
    for q in subscribers:
        assert [b for _, _, b in drain(ch, q, 1)] == [b"extra"], q

    # Topic routing.
    ch.exchange_declare("events", exchange_type="topic")
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.queue_bind(q, "events", routing_key="order.*.created")
    for key in ["order.eu.created", "order.eu.paid", "order.us.created"]:
        ch.basic_publish("events", key, key.encode())
    assert [m.routing_key for m, _, _ in drain(ch, q, 2)] == ["order.eu.created", "order.us.created"]

    # RPC: a server answers on reply_to with the request's correlation_id.
    ch.queue_declare("rpc")
    server = conn.channel()
    callback = ch.queue_declare("", exclusive=True).method.queue
    corr = str(uuid.uuid4())
    ch.basic_publish("", "rpc", b"21", pika.BasicProperties(reply_to=callback, correlation_id=corr))
    for method, props, body in server.consume("rpc", inactivity_timeout=5):
        assert method is not None, "the rpc request arrived"
        server.basic_publish("", props.reply_to, str(int(body) * 2).encode(),
                             pika.BasicProperties(correlation_id=props.correlation_id))
        server.basic_ack(method.delivery_tag)
        break
    server.cancel()
    [(_, props, body)] = drain(ch, callback, 1)
    assert (props.correlation_id, body) == (corr, b"42")

    # Dead-lettering with a TTL: a retry queue hands messages back after 200 ms.
    ch.exchange_declare("retry-dlx", exchange_type="direct")
    ch.queue_declare("work-again", durable=True)
    ch.queue_bind("work-again", "retry-dlx", routing_key="again")
    ch.queue_declare("retry-later", durable=True, arguments={
        "x-message-ttl": 200,
        "x-dead-letter-exchange": "retry-dlx",
        "x-dead-letter-routing-key": "again",
    })
    ch.basic_publish("", "retry-later", b"try again")
    [(_, props, body)] = drain(ch, "work-again", 1)
    assert body == b"try again"
    assert props.headers["x-death"][0]["reason"] == "expired", props.headers

    # Publisher confirms: an unroutable mandatory message is returned, not confirmed away.
    try:
        ch.basic_publish("", "no-such-queue", b"lost?", mandatory=True)
        raise AssertionError("an unroutable mandatory publish was not returned")
    except pika.exceptions.UnroutableError:
        pass

    conn.close()
    print("pika ok")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
