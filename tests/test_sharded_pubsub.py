"""Sharded pub/sub (SSUBSCRIBE, SUNSUBSCRIBE, SPUBLISH, PUBSUB SHARDCHANNELS / SHARDNUMSUB) in
RESP2 and RESP3, compared byte for byte with Redis 7.0.15 (not in cluster mode: one shard).
Shard channels are counted apart from channels and patterns, patterns never match them, and
they keep a RESP2 client in the pub/sub context."""

import pytest

from test_pubsub import HELLO3, cmds, pair, raw_session  # noqa: F401  (pair is a fixture)
from tests.diff.resp import Conn

SCRIPTS = {
    "counts": ["SSUBSCRIBE a b a", "SUBSCRIBE a", "PSUBSCRIBE a*", "SSUBSCRIBE c",
               "SUNSUBSCRIBE b zz", "UNSUBSCRIBE a", "SUNSUBSCRIBE a", "PUNSUBSCRIBE",
               "SUNSUBSCRIBE c", "GET x"],
    "nothing": ["SUNSUBSCRIBE", "SUNSUBSCRIBE x y", "GET x"],
    "resp2_context": ["SSUBSCRIBE s1", "GET x", "PING", "SPUBLISH s1 m", "PUBLISH s1 m",
                      "SUNSUBSCRIBE", "GET x"],
    "self_resp3": [HELLO3, "SSUBSCRIBE s", "PSUBSCRIBE s*", "SUBSCRIBE s", "SPUBLISH s hi",
                   "PUBLISH s yo", "SPUBLISH nobody x", "PUBSUB SHARDNUMSUB s nobody",
                   "PUBSUB NUMSUB s", "PUBSUB SHARDCHANNELS", "PUBSUB SHARDCHANNELS s*",
                   "PUBSUB SHARDCHANNELS x*", "SUNSUBSCRIBE", "PUNSUBSCRIBE", "UNSUBSCRIBE"],
    "multi": ["MULTI", "SSUBSCRIBE a", "SPUBLISH a x", "EXEC", "GET x"],
    "resp3_multi": [HELLO3, "MULTI", "SSUBSCRIBE a", "EXEC", "SSUBSCRIBE b", "SPUBLISH b x",
                    "SUNSUBSCRIBE b"],
    "reset": ["SSUBSCRIBE a b", "RESET", "GET x", "PUBSUB SHARDNUMSUB a b", "SUNSUBSCRIBE"],
    "errors": ["SSUBSCRIBE", "SPUBLISH a", "SPUBLISH a b c", "PUBSUB SHARDCHANNELS a b",
               "PUBSUB SHARDNUMSUB"],
}


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_session_matches_redis(pair, name):  # noqa: F811
    amber, redis_ = pair
    script = cmds(*SCRIPTS[name])
    want = raw_session(redis_.port, script)
    got = raw_session(amber.port, script)
    assert want, "Redis sent nothing"
    assert got == want


def shard_deliveries(port, proto):
    sub = Conn(port, timeout=5)
    pub = Conn(port, timeout=5)
    try:
        if proto == 3:
            sub.call("HELLO", "3")
        sub.send(["SSUBSCRIBE", "orders", "stock"], ["PSUBSCRIBE", "*"])
        confirmations = [sub.read().raw for _ in range(3)]
        counts = [pub.call("SPUBLISH", c, m).val for c, m in
                  [("orders", "1"), ("stock", "2"), ("other", "3")]]
        plain = pub.call("PUBLISH", "orders", "4").val  # the pattern gets this one only
        numsub = pub.call("PUBSUB", "SHARDNUMSUB", "orders", "stock", "other").raw
        listed = pub.call("CLIENT", "LIST").raw
        msgs = [sub.read().raw for _ in range(sum(counts) + plain)]
        return confirmations, counts, plain, numsub, msgs, b" ssub=2 " in listed
    finally:
        sub.close()
        pub.close()


@pytest.mark.parametrize("proto", [2, 3])
def test_delivery_to_other_client(pair, proto):  # noqa: F811
    amber, redis_ = pair
    got = shard_deliveries(amber.port, proto)
    want = shard_deliveries(redis_.port, proto)
    assert want[1] == [1, 1, 0] and want[2] == 1
    assert got == want
