"""PUBLISH and SPUBLISH reach replicas, as in Redis 7.0.15 (forceCommandPropagation with
PROPAGATE_REPL): a subscriber of a replica gets what is published on the master, through a
chain too, while the master's AOF logs no message (a replay must not send them again)."""

import time

import pytest

from conftest import ServerProc
from replstream import settle


def start(kind, d, *extra):
    extra = ["--repl-diskless-sync-delay", "0", *extra]
    return ServerProc(kind, d, extra).start()


def next_message(p, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        m = p.get_message(timeout=0.2)
        if m and m["type"] in ("message", "smessage"):
            return m["type"], m["channel"], m["data"]
    return None


def subscribed(c, channel, shard=False):
    """A subscription on its own connection (which lives as long as the PubSub: it keeps the
    client, whose pool would close the connection when collected)."""
    p = c.pubsub(ignore_subscribe_messages=True)
    p.owner = c
    if shard:
        p.ssubscribe(channel)
    else:
        p.subscribe(channel)
    # The subscription is in place once the server counts it.
    deadline = time.time() + 10
    while True:
        n = (c.execute_command("PUBSUB", "SHARDNUMSUB", channel) if shard
             else c.execute_command("PUBSUB", "NUMSUB", channel))[1]
        if n == 1:
            return p
        assert time.time() < deadline, "the subscription did not register"
        p.get_message(timeout=0.05)


@pytest.mark.parametrize("master_kind", ["amber", "redis"])
def test_messages_reach_subscribers_of_replicas_and_not_the_aof(tmp_path, master_kind):
    m = start(master_kind, tmp_path / "m", "--appendonly", "yes", "--save", "")
    r1 = start("amber", tmp_path / "r1", "--replicaof", "127.0.0.1", str(m.port))
    r2 = start("redis", tmp_path / "r2", "--replicaof", "127.0.0.1", str(r1.port))
    try:
        mc = m.client()
        mc.set("k", "v")
        settle(mc, r1.client())
        settle(r1.client(), r2.client())
        subs = [subscribed(s.client(), "news") for s in (r1, r2)]
        ssubs = [subscribed(s.client(), "shardnews", shard=True) for s in (r1, r2)]
        assert mc.publish("news", "hello") == 0  # no subscriber on the master itself
        assert mc.execute_command("SPUBLISH", "shardnews", "sharded") == 0
        for p in subs:
            assert next_message(p) == ("message", b"news", b"hello")
        for p in ssubs:
            assert next_message(p) == ("smessage", b"shardnews", b"sharded")
        # In a transaction, beside a write.
        tx = mc.pipeline(transaction=True)
        tx.set("k", "in-tx")
        tx.publish("news", "from-tx")
        tx.execute()
        for p in subs:
            assert next_message(p) == ("message", b"news", b"from-tx")
        settle(mc, r1.client())
        settle(r1.client(), r2.client())
        assert r2.client().get("k") == b"in-tx"
        logged = b"".join(f.read_bytes() for f in (m.dir / "appendonlydir").glob("*.incr.aof"))
        assert b"in-tx" in logged
        assert b"hello" not in logged and b"sharded" not in logged and b"from-tx" not in logged
        for p in subs + ssubs:
            p.close()
    finally:
        for s in (r2, r1, m):
            s.stop()
