"""Keyspace notifications (notify-keyspace-events) against Redis 7.0.15: the same command stream
sent to both servers makes a pattern subscriber receive the same messages in the same order,
for each class of events; the setting reads back as Redis writes it; expiries (lazy and
active) and the 'new' and 'keymiss' classes are announced as Redis does."""

import random
import time

import redis

from tests.diff.resp import Conn

FLAG_CASES = ["", "KEA", "AKE", "Ex", "K$lg", "KEAnm", "g$lshzxetd", "E$", "Kn", "m"]


def test_config_reads_back_as_redis(amber_and_redis):
    cs = [s.client(decode_responses=True) for s in amber_and_redis]
    for flags in FLAG_CASES + ["KEQ", "x y"]:
        got = []
        for c in cs:
            try:
                c.config_set("notify-keyspace-events", flags)
                got.append(c.config_get("notify-keyspace-events"))
            except redis.ResponseError as e:
                got.append(str(e))
        assert got[0] == got[1], (flags, got)


def collect(port, flags, commands):
    """Runs `commands` on one connection while another PSUBSCRIBEs to every keyspace and
    keyevent channel; returns the messages received, in order."""
    ctl = Conn(port, timeout=5)
    sub = Conn(port, timeout=5)
    try:
        ctl.call("FLUSHALL")
        ctl.call("CONFIG", "SET", "notify-keyspace-events", flags)
        sub.send(["PSUBSCRIBE", "__key*__:*"])
        sub.read()
        for cmd in commands:
            ctl.call(*cmd)
        ctl.call("PUBLISH", "__keyevent@0__:end", "end")  # a marker: everything before it came
        msgs = []
        while True:
            m = [f.val for f in sub.read().val]
            if m[2] == b"__keyevent@0__:end":
                return msgs
            msgs.append((m[2], m[3]))
    finally:
        ctl.call("CONFIG", "SET", "notify-keyspace-events", "")
        ctl.close()
        sub.close()


def stream(seed, n):
    """A seeded stream over every type (geo included), with expiries, deletions that empty
    collections, renames, moves and copies."""
    rng = random.Random(seed)
    keys = [f"k{i}" for i in range(6)]
    out = []
    for _ in range(n):
        k, k2 = rng.choice(keys), rng.choice(keys)
        v = str(rng.randrange(5))
        out.append(rng.choice([
            ["SET", k, v], ["SET", k, v, "EX", "100"], ["SETNX", k, v], ["GETSET", k, v],
            ["APPEND", k, v], ["INCR", k], ["INCRBYFLOAT", k, "1.5"], ["SETRANGE", k, "2", v],
            ["GETDEL", k], ["GETEX", k, "PX", "5000"], ["GETEX", k, "PERSIST"], ["MSET", k, v, k2, v],
            ["SETBIT", k, "3", "1"], ["BITOP", "OR", k, k2], ["BITFIELD", k, "INCRBY", "u8", "0", "1"],
            ["PFADD", k, v], ["PFMERGE", k, k2],
            ["LPUSH", k, v], ["RPUSH", k, v, v], ["LPOP", k], ["RPOP", k, "2"], ["LSET", k, "0", v],
            ["LTRIM", k, "0", "1"], ["LREM", k, "0", v], ["LINSERT", k, "BEFORE", v, "x"],
            ["LMOVE", k, k2, "LEFT", "RIGHT"], ["RPOPLPUSH", k, k2], ["LMPOP", "2", k, k2, "LEFT"],
            ["HSET", k, "f" + v, v], ["HSETNX", k, "g", v], ["HDEL", k, "f" + v, "g"],
            ["HINCRBY", k, "n", "2"], ["HINCRBYFLOAT", k, "m", "0.5"],
            ["SADD", k, v, "x"], ["SREM", k, v], ["SPOP", k], ["SPOP", k, "5"], ["SMOVE", k, k2, v],
            ["SINTERSTORE", k, k2, k], ["SUNIONSTORE", k, k2, k], ["SDIFFSTORE", k, k2, k],
            ["DEL", k, k2], ["UNLINK", k], ["EXPIRE", k, "100"], ["PEXPIREAT", k, "1"],
            ["PERSIST", k], ["RENAME", k, k2], ["RENAMENX", k, k2], ["MOVE", k, "1"],
            ["COPY", k, k2, "REPLACE"], ["COPY", k, k2, "DB", "2"],
            ["SORT", k, "ALPHA", "STORE", k2], ["GET", k], ["EXISTS", k],
            ["ZADD", k, v, "m" + v], ["ZADD", k, "INCR", "1", "m"], ["ZINCRBY", k, "2", "n"],
            ["ZADD", k, "NX", v, "m"], ["ZREM", k, "m", "m" + v], ["ZREMRANGEBYSCORE", k, "0", v],
            ["ZREMRANGEBYRANK", k, "0", "0"], ["ZREMRANGEBYLEX", k, "-", "[m"], ["ZPOPMIN", k],
            ["ZPOPMAX", k, "2"], ["ZMPOP", "2", k, k2, "MIN"], ["ZRANGESTORE", k2, k, "0", "-1"],
            ["ZUNIONSTORE", k, "2", k, k2], ["ZINTERSTORE", k2, "2", k, k2], ["ZDIFFSTORE", k, "1", k2],
            ["GEOADD", k, "13.36", "38.11", "p" + v], ["GEOSEARCHSTORE", k2, k, "FROMLONLAT", "13", "38",
                                                       "BYRADIUS", "500", "km"],
            ["GEORADIUS", k, "13", "38", "500", "km", "STORE", k2],
        ]))
    return out


def same_messages(amber_and_redis, flags, commands):
    a, r = amber_and_redis
    got = collect(a.port, flags, commands)
    want = collect(r.port, flags, commands)
    assert want, "Redis sent no event"
    assert got == want
    return want


def test_random_stream_all_classes(amber_and_redis):
    for seed in range(4):
        same_messages(amber_and_redis, "KEA", stream(seed, 300))


def test_keyspace_only_keyevent_only_and_one_class(amber_and_redis):
    cmds = stream(11, 200)
    same_messages(amber_and_redis, "Kg", cmds)
    same_messages(amber_and_redis, "E$l", cmds)
    same_messages(amber_and_redis, "Kh", cmds)


def test_new_and_keymiss(amber_and_redis):
    cmds = stream(12, 200)
    same_messages(amber_and_redis, "KEnm", cmds)


def test_expired_lazily_and_actively(amber_and_redis):
    a, r = amber_and_redis
    # Lazily: GET finds the key expired (hz 1 keeps the expire cycle out of the 50 ms).
    for s in (a, r):
        s.client().config_set("hz", 1)
    cmds = [["SET", "lazy", "1", "PX", "1"], ["DEBUG", "SLEEP", "0.05"], ["GET", "lazy"]]
    want = same_messages(amber_and_redis, "KEA", cmds)
    assert (b"__keyevent@0__:expired", b"lazy") in want
    # Actively: nobody touches the key; the expire cycle announces it.
    for s in (a, r):
        c = s.client()
        c.config_set("hz", 100)
        sub = c.pubsub()
        sub.psubscribe("__keyevent@0__:expired")
        c.config_set("notify-keyspace-events", "Ex")
        c.set("gone", "1", px=1)
        deadline = time.time() + 5
        seen = None
        while time.time() < deadline and seen is None:
            m = sub.get_message(timeout=0.2)
            if m and m["type"] == "pmessage":
                seen = m["data"]
        assert seen == b"gone", s.kind
        c.config_set("notify-keyspace-events", "")
        sub.close()
