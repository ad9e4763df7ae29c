"""Pub/sub: SUBSCRIBE UNSUBSCRIBE PSUBSCRIBE PUNSUBSCRIBE PUBLISH PUBSUB, in RESP2 and RESP3,
checked against the real Redis 7.0.15 byte for byte where the reply order is specified."""

import select
import socket
import time

import pytest

from conftest import ServerProc

import sys
import pathlib

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
from tests.diff.resp import Conn, Parser, encode  # noqa: E402


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """A private Amber and a private Redis, so no other test's subscribers are visible."""
    a = ServerProc("amber", tmp_path_factory.mktemp("ps-amber")).start()
    r = ServerProc("redis", tmp_path_factory.mktemp("ps-redis")).start()
    yield a, r
    a.stop()
    r.stop()


def raw_session(port, script, quiet=0.15):
    """Sends `script` (bytes) on a new connection and returns every byte received until the
    connection stays quiet for `quiet` seconds."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        s.sendall(script)
        out = b""
        deadline = time.time() + 5
        while time.time() < deadline:
            r, _, _ = select.select([s], [], [], quiet)
            if not r:
                break
            d = s.recv(65536)
            if not d:
                break
            out += d
        if script.startswith(encode(["HELLO", "3"])):
            # HELLO's reply carries the client id, which differs between servers: drop it.
            parser = Parser()
            parser.feed(out)
            hello = parser.next()
            out = out[len(hello.raw):] if hello is not None else out
        return out
    finally:
        s.close()


def cmds(*commands):
    return b"".join(encode(c.split(" ") if isinstance(c, str) else c) for c in commands)


HELLO3 = "HELLO 3"

# Sessions whose replies Redis orders deterministically: compared byte for byte.
SCRIPTS = {
    "unsubscribe_nothing": ["UNSUBSCRIBE", "PUNSUBSCRIBE", "UNSUBSCRIBE a b", "PUNSUBSCRIBE x*"],
    "subscribe_counts": ["SUBSCRIBE a b a", "PSUBSCRIBE p* p* q?", "UNSUBSCRIBE b zz",
                         "PUNSUBSCRIBE q? p*", "UNSUBSCRIBE a", "GET x"],
    "resp2_context": ["SUBSCRIBE c1", "GET x", "PUBSUB NUMPAT", "PUBLISH c1 m", "PING", "PING hello",
                      "MULTI", "SET a b", "PSUBSCRIBE z", "PUNSUBSCRIBE", "UNSUBSCRIBE", "GET x"],
    "punsubscribe_all_in_order": ["PSUBSCRIBE z* a* m* b* q* c*", "PUNSUBSCRIBE", "PUNSUBSCRIBE"],
    "unsubscribe_all_one": ["SUBSCRIBE only", "PSUBSCRIBE pat", "UNSUBSCRIBE", "PUNSUBSCRIBE"],
    "reset_leaves_pubsub": ["SUBSCRIBE a", "PSUBSCRIBE b*", "RESET", "GET x", "PUBSUB NUMPAT",
                            "PUBSUB NUMSUB a", "UNSUBSCRIBE"],
    "errors": ["SUBSCRIBE", "PSUBSCRIBE", "PUBLISH a", "PUBLISH a b c", "PUBSUB", "PUBSUB foo",
               "PUBSUB CHANNELS a b", "PUBSUB NUMPAT x", "PUBSUB HELP x", "PUBSUB SHARDCHANNELS a b",
               "pubsub help", "PUBSUB NUMSUB", "PUBSUB SHARDNUMSUB x y", "PUBSUB SHARDCHANNELS"],
    "multi_subscribe": ["MULTI", "SUBSCRIBE a b", "PUBLISH a x", "EXEC", "GET x", "UNSUBSCRIBE a",
                        "UNSUBSCRIBE b", "GET x"],
    "publish_to_self_resp3": [HELLO3, "SUBSCRIBE a", "PSUBSCRIBE a*", "PUBLISH a hi", "PUBLISH ab x",
                              "PUBLISH zz x", "GET x", "PING", "PUBSUB NUMSUB a ab", "UNSUBSCRIBE",
                              "PUNSUBSCRIBE", "UNSUBSCRIBE", "PUNSUBSCRIBE a* b*"],
    "resp3_multi": [HELLO3, "MULTI", "SUBSCRIBE a b", "PUBLISH a x", "EXEC", "PUNSUBSCRIBE"],
    "glob_patterns": [HELLO3, "PSUBSCRIBE h[ae]llo", "PUBLISH hello 1", "PUBLISH hallo 2", "PUBLISH hillo 3",
                      "PUNSUBSCRIBE", "PSUBSCRIBE h\\*", "PUBLISH h* 4", "PUBLISH hx 5", "PUNSUBSCRIBE"],
}


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_session_matches_redis(pair, name):
    amber, redis_ = pair
    script = cmds(*SCRIPTS[name])
    want = raw_session(redis_.port, script)
    got = raw_session(amber.port, script)
    assert want, "Redis sent nothing"
    assert got == want


def test_binary_channel_and_message(pair):
    amber, redis_ = pair
    ch = b"ch\x00\xff\r\n"
    msg = b"\x00\x01binary\r\n"
    script = encode([b"HELLO", b"3"]) + encode([b"SUBSCRIBE", ch]) + encode([b"PUBLISH", ch, msg]) + \
        encode([b"PUBSUB", b"NUMSUB", ch]) + encode([b"UNSUBSCRIBE", ch])
    assert raw_session(amber.port, script) == raw_session(redis_.port, script)


def deliveries(port, proto):
    """Subscribes one connection, publishes from another, returns (publish counts, messages)."""
    sub = Conn(port, timeout=5)
    pub = Conn(port, timeout=5)
    try:
        if proto == 3:
            sub.call("HELLO", "3")
        sub.send(["SUBSCRIBE", "news", "sport"], ["PSUBSCRIBE", "n*", "*s*"])
        confirmations = [sub.read().raw for _ in range(4)]
        counts = [pub.call("PUBLISH", c, m).val for c, m in
                  [("news", "one"), ("sport", "two"), ("none", "three"), ("boss", "four"), ("x", "five")]]
        numsub = pub.call("PUBSUB", "NUMSUB", "news", "sport", "nope").raw
        numpat = pub.call("PUBSUB", "NUMPAT").raw
        msgs = [sub.read().raw for _ in range(sum(counts))]
        return confirmations, counts, numsub, numpat, msgs
    finally:
        sub.close()
        pub.close()


@pytest.mark.parametrize("proto", [2, 3])
def test_delivery_to_other_client(pair, proto):
    amber, redis_ = pair
    got = deliveries(amber.port, proto)
    want = deliveries(redis_.port, proto)
    assert got[1] == want[1] == [3, 2, 1, 1, 0]
    assert got[0] == want[0]
    assert got[2] == want[2]
    assert got[3] == want[3]
    # For one publish, a client matching several patterns gets them in Redis's hash order.
    assert sorted(got[4]) == sorted(want[4])
    # Channel messages come first, before pattern messages, for each publish.
    kinds = [m.split(b"\r\n")[2] for m in got[4]]
    assert kinds[0] == b"message"


def wait_for(pred, timeout=3.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(0.01)
    return False


def test_many_subscribers_and_cleanup_on_close(pair):
    amber, _ = pair
    ctl = Conn(amber.port)
    subs = []
    for i in range(5):
        c = Conn(amber.port)
        c.call("SUBSCRIBE", "fan")
        if i % 2:
            c.call("PSUBSCRIBE", "f*")
        subs.append(c)
    assert ctl.call("PUBLISH", "fan", "m").val == 7
    for i, c in enumerate(subs):
        assert c.read().raw == b"*3\r\n$7\r\nmessage\r\n$3\r\nfan\r\n$1\r\nm\r\n"
        if i % 2:
            assert c.read().raw == b"*4\r\n$8\r\npmessage\r\n$2\r\nf*\r\n$3\r\nfan\r\n$1\r\nm\r\n"
    assert ctl.call("PUBSUB", "NUMPAT").val == 1
    for c in subs:
        c.close()
    assert wait_for(lambda: ctl.call("PUBSUB", "NUMSUB", "fan").items()[1].val == 0)
    assert ctl.call("PUBSUB", "NUMPAT").val == 0
    assert ctl.call("PUBLISH", "fan", "m").val == 0
    assert ctl.call("PUBSUB", "CHANNELS").items() == []
    ctl.close()


def channel_names(port, pattern):
    c = Conn(port)
    subs = []
    for names in (["alpha", "beta"], ["beta", "gamma", "delta"], ["a1"]):
        s = Conn(port)
        s.send(["SUBSCRIBE", *names])
        for _ in names:
            s.read()
        subs.append(s)
    args = ["PUBSUB", "CHANNELS"] + ([pattern] if pattern else [])
    r = c.call(*args)
    out = sorted(f.val for f in r.items()), r.kind
    for s in subs:
        s.close()
    c.close()
    return out


@pytest.mark.parametrize("pattern", [None, "a*", "?eta", "[bg]*", "nomatch"])
def test_pubsub_channels_as_set(pair, pattern):
    amber, redis_ = pair
    got = channel_names(amber.port, pattern)
    want = channel_names(redis_.port, pattern)
    assert got == want


def unsubscribe_all(port, proto):
    c = Conn(port)
    if proto == 3:
        c.call("HELLO", "3")
    names = [f"ch{i}" for i in range(6)]
    c.send(["SUBSCRIBE", *names], ["PSUBSCRIBE", "p1"])
    for _ in range(7):
        c.read()
    c.send(["UNSUBSCRIBE"])
    frames = [c.read() for _ in range(6)]
    c.close()
    return frames


@pytest.mark.parametrize("proto", [2, 3])
def test_unsubscribe_all_channels(pair, proto):
    amber, redis_ = pair
    got = unsubscribe_all(amber.port, proto)
    want = unsubscribe_all(redis_.port, proto)
    # Redis answers in its hash order: the channels as a set, the counts in sequence.
    assert sorted(f.items()[1].val for f in got) == sorted(f.items()[1].val for f in want)
    assert [f.items()[2].val for f in got] == [f.items()[2].val for f in want] == [6, 5, 4, 3, 2, 1]
    assert {f.kind for f in got} == {f.kind for f in want} == {">" if proto == 3 else "*"}


def test_redis_py_pubsub(r):
    p = r.pubsub()
    p.subscribe("chan")
    p.psubscribe("pat*")
    msg = p.get_message(timeout=2)
    assert msg["type"] == "subscribe" and msg["channel"] == "chan" and msg["data"] == 1
    msg = p.get_message(timeout=2)
    assert msg["type"] == "psubscribe" and msg["channel"] == "pat*" and msg["data"] == 2
    assert r.publish("chan", "hello") == 1
    assert r.publish("pattern", "world") == 1
    assert r.publish("nobody", "x") == 0
    msg = p.get_message(timeout=2)
    assert msg["type"] == "message" and msg["channel"] == "chan" and msg["data"] == "hello"
    msg = p.get_message(timeout=2)
    assert msg == {"type": "pmessage", "pattern": "pat*", "channel": "pattern", "data": "world"}
    assert r.pubsub_numsub("chan", "x") == [("chan", 1), ("x", 0)]
    assert r.pubsub_numpat() == 1
    assert r.pubsub_channels() == ["chan"]
    assert r.pubsub_channels("c*") == ["chan"]
    assert r.pubsub_channels("x*") == []
    p.unsubscribe("chan")
    msg = p.get_message(timeout=2)
    assert msg["type"] == "unsubscribe" and msg["data"] == 1
    p.punsubscribe()
    msg = p.get_message(timeout=2)
    assert msg["type"] == "punsubscribe" and msg["data"] == 0
    p.close()
    assert wait_for(lambda: r.pubsub_numpat() == 0)


def test_redis_py_pubsub_binary(rb):
    p = rb.pubsub(ignore_subscribe_messages=True)
    p.subscribe(b"\xff\x00")
    assert p.get_message(timeout=1) is None  # the confirmation is consumed
    assert rb.publish(b"\xff\x00", b"\x00\x01") == 1
    msg = p.get_message(timeout=2)
    assert msg["data"] == b"\x00\x01" and msg["channel"] == b"\xff\x00"
    p.close()


def test_message_ordering_between_publishes(pair):
    """Messages for one subscriber keep the order of the publishes."""
    amber, _ = pair
    sub = Conn(amber.port)
    pub = Conn(amber.port)
    sub.call("SUBSCRIBE", "seq")
    pub.send(*[["PUBLISH", "seq", str(i)] for i in range(200)])
    assert [pub.read().val for _ in range(200)] == [1] * 200
    got = [sub.read().items()[2].val for _ in range(200)]
    assert got == [str(i).encode() for i in range(200)]
    sub.close()
    pub.close()


def test_subscribe_with_other_commands_after_unsubscribe(pair):
    amber, redis_ = pair
    script = cmds("SUBSCRIBE a", "PSUBSCRIBE b", "UNSUBSCRIBE a", "SET k v", "PUNSUBSCRIBE b",
                  "SET k v", "GET k", "DEL k")
    assert raw_session(amber.port, script) == raw_session(redis_.port, script)
