"""Hash commands: replies, errors, encodings and conversions, HRANDFIELD shapes, HSCAN,
compared byte for byte with Redis 7.0 where the reply is deterministic."""

import socket

import pytest


class Raw:
    """A raw RESP connection that returns each reply's exact bytes."""

    def __init__(self, port, proto):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.f = self.s.makefile("rb")
        if proto == 3:
            self.cmd("HELLO", "3")

    def close(self):
        self.f.close()
        self.s.close()

    def cmd(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.s.sendall(out)
        return self._read()

    def _read(self):
        line = self.f.readline()
        t, rest = line[:1], line[1:-2]
        if t in b"$=!":
            n = int(rest)
            return line + (self.f.read(n + 2) if n >= 0 else b"")
        if t in b"*~>%":
            n = int(rest)
            if n < 0:
                return line
            n *= 2 if t == b"%" else 1
            return line + b"".join(self._read() for _ in range(n))
        return line


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def pair(request, amber_server, redis_server):
    """Raw connections to Amber and to Redis, same protocol, both flushed."""
    a = Raw(amber_server.port, request.param)
    b = Raw(redis_server.port, request.param)
    a.cmd("FLUSHALL")
    b.cmd("FLUSHALL")
    yield a, b
    a.close()
    b.close()


def same(pair, *args):
    a, b = pair
    ra, rb_ = a.cmd(*args), b.cmd(*args)
    assert ra == rb_, f"{args}: amber {ra!r} != redis {rb_!r}"
    return ra


def encoding(conn, key):
    """The encoding from DEBUG OBJECT (works on both servers)."""
    reply = conn.cmd("DEBUG", "OBJECT", key).decode()
    return reply.split("encoding:")[1].split()[0]


def test_basic_replies_match_redis(pair):
    for c in [
        ("HSET", "h", "b", "1", "a", "2", "c", "3"),
        ("HSET", "h", "a", "20", "d", "4"),
        ("HMSET", "h", "e", "5"),
        ("HGETALL", "h"),
        ("HKEYS", "h"),
        ("HVALS", "h"),
        ("HGET", "h", "a"),
        ("HGET", "h", "zz"),
        ("HGET", "nokey", "a"),
        ("HMGET", "h", "a", "zz", "b"),
        ("HMGET", "nokey", "a", "b"),
        ("HLEN", "h"),
        ("HLEN", "nokey"),
        ("HSTRLEN", "h", "a"),
        ("HSTRLEN", "h", "zz"),
        ("HSTRLEN", "nokey", "a"),
        ("HEXISTS", "h", "a"),
        ("HEXISTS", "h", "zz"),
        ("HEXISTS", "nokey", "a"),
        ("HSETNX", "h", "a", "x"),
        ("HSETNX", "h", "new", "x"),
        ("HSETNX", "h2", "f", "v"),
        ("HGETALL", "h"),
        ("HDEL", "h", "a", "a", "zz", "b"),
        ("HDEL", "nokey", "a"),
        ("HGETALL", "h"),
        ("HGETALL", "nokey"),
        ("HKEYS", "nokey"),
        ("HVALS", "nokey"),
        ("HDEL", "h2", "f"),
        ("EXISTS", "h2"),
    ]:
        same(pair, *c)


def test_errors_match_redis(pair):
    same(pair, "SET", "s", "v")
    for c in [
        ("HSET", "h", "f"),
        ("HSET", "h", "f", "v", "g"),
        ("HMSET", "h", "f"),
        ("HSET", "h"),
        ("HSETNX", "h", "f"),
        ("HGET", "h"),
        ("HSET", "s", "f", "v"),
        ("HMSET", "s", "f", "v"),
        ("HSETNX", "s", "f", "v"),
        ("HGET", "s", "f"),
        ("HMGET", "s", "f"),
        ("HDEL", "s", "f"),
        ("HLEN", "s"),
        ("HSTRLEN", "s", "f"),
        ("HEXISTS", "s", "f"),
        ("HKEYS", "s"),
        ("HVALS", "s"),
        ("HGETALL", "s"),
        ("HINCRBY", "s", "f", "1"),
        ("HINCRBY", "s", "f", "x"),
        ("HINCRBYFLOAT", "s", "f", "1"),
        ("HINCRBYFLOAT", "s", "f", "x"),
        ("HINCRBYFLOAT", "s", "f", "inf"),
        ("HRANDFIELD", "s"),
        ("HRANDFIELD", "s", "0"),
        ("HRANDFIELD", "s", "x"),
        ("HSCAN", "s", "0"),
        ("HSCAN", "s", "x"),
        ("EXISTS", "h"),
    ]:
        same(pair, *c)


def test_hincrby(pair):
    for c in [
        ("HINCRBY", "h", "f", "5"),
        ("HINCRBY", "h", "f", "-7"),
        ("HINCRBY", "h", "f", "x"),
        ("HINCRBY", "h", "f", "1.5"),
        ("HSET", "h", "big", "9223372036854775807", "small", "-9223372036854775808"),
        ("HINCRBY", "h", "big", "1"),
        ("HINCRBY", "h", "big", "0"),
        ("HINCRBY", "h", "small", "-1"),
        ("HINCRBY", "h", "small", "9223372036854775807"),
        ("HSET", "h", "t", "abc", "sp", " 1", "z", "007"),
        ("HINCRBY", "h", "t", "1"),
        ("HINCRBY", "h", "sp", "1"),
        ("HINCRBY", "h", "z", "1"),
        ("HINCRBY", "nokey", "f", "9223372036854775808"),
        ("EXISTS", "nokey"),
        ("HGETALL", "h"),
    ]:
        same(pair, *c)


def test_hincrbyfloat(pair):
    # Values where f64 and long double agree.
    for c in [
        ("HSET", "h", "f", "10.5"),
        ("HINCRBYFLOAT", "h", "f", "0.25"),
        ("HINCRBYFLOAT", "h", "f", "-10.75"),
        ("HINCRBYFLOAT", "h", "n", "3"),
        ("HINCRBYFLOAT", "h", "n", "1.0e1"),
        ("HINCRBYFLOAT", "h", "n", "-2.5"),
        ("HINCRBYFLOAT", "h", "f", "x"),
        ("HINCRBYFLOAT", "h", "f", " 1"),
        ("HINCRBYFLOAT", "h", "f", "inf"),
        ("HINCRBYFLOAT", "h", "f", "-inf"),
        ("HINCRBYFLOAT", "h", "f", "nan"),
        ("HSET", "h", "t", "abc", "i", "inf", "sp", " 1"),
        ("HINCRBYFLOAT", "h", "t", "1"),
        ("HINCRBYFLOAT", "h", "sp", "1"),
        ("HINCRBYFLOAT", "h", "i", "1"),
        ("HINCRBYFLOAT", "nokey", "f", "x"),
        ("EXISTS", "nokey"),
        ("HGETALL", "h"),
    ]:
        same(pair, *c)


def test_encodings_and_conversions(new_amber, redis_server):
    s = new_amber()
    a = Raw(s.port, 2)
    b = Raw(redis_server.port, 2)
    try:
        for conn in (a, b):
            conn.cmd("FLUSHALL")
            assert conn.cmd("CONFIG", "SET", "hash-max-listpack-entries", "3") == b"+OK\r\n"
            assert conn.cmd("CONFIG", "SET", "hash-max-listpack-value", "8") == b"+OK\r\n"
        long = "x" * 9
        steps = [
            (("HSET", "e", "a", "1", "b", "2", "c", "3"), "e"),
            (("HSET", "e", "a", "9"), "e"),
            (("HSET", "e", "d", "4"), "e"),
            (("HDEL", "e", "a", "b", "c"), "e"),
            (("HSET", "f", "a", "1", "b", "2", "c", "3", "d", "4"), "f"),
            (("HSET", "g", "a", "1", "b", "2", "a", "3", "c", "4"), "g"),
            (("HSET", "v", "a", "12345678"), "v"),
            (("HSET", "v", "b", long), "v"),
            (("HSET", "w", long, "1"), "w"),
            (("HSET", "x", "a", "1"), "x"),
            (("HSETNX", "x", "a", long), "x"),
            (("HSETNX", "x", long, "1"), "x"),
            (("HSET", "y", "a", "1", "b", "2", "c", "3"), "y"),
            (("HSETNX", "y", "d", "4"), "y"),
            (("HSET", "z", "a", "1"), "z"),
            (("HINCRBY", "z", long, "1"), "z"),
            (("HSET", "zz", "a", "1", "b", "2", "c", "3"), "zz"),
            (("HINCRBYFLOAT", "zz", "d", "1.5"), "zz"),
            (("HSET", "big", "a", "1"), "big"),
            (("HINCRBYFLOAT", "big", "a", "100000000"), "big"),
        ]
        for cmd, key in steps:
            ra, rb_ = a.cmd(*cmd), b.cmd(*cmd)
            assert ra == rb_, cmd
            assert encoding(a, key) == encoding(b, key), cmd
        # Listpack order is insertion order on both; table order is unspecified.
        for key in ("g",):
            assert encoding(a, key) == "listpack"
            assert a.cmd("HGETALL", key) == b.cmd("HGETALL", key)
        for key in ("e", "v", "w", "x", "big"):
            assert sorted(a.cmd("HGETALL", key).split(b"\r\n")) == sorted(
                b.cmd("HGETALL", key).split(b"\r\n")
            )
        # Zero entries allowed: every hash is a table from its first field.
        for conn in (a, b):
            conn.cmd("CONFIG", "SET", "hash-max-listpack-entries", "0")
            conn.cmd("HSET", "zero", "a", "1")
        assert encoding(a, "zero") == encoding(b, "zero") == "hashtable"
    finally:
        b.cmd("CONFIG", "SET", "hash-max-listpack-entries", "512")
        b.cmd("CONFIG", "SET", "hash-max-listpack-value", "64")
        a.close()
        b.close()


def test_default_thresholds(pair):
    a, b = pair
    fields = []
    for i in range(512):
        fields += [f"f{i}", str(i)]
    same(pair, "HSET", "h", *fields)
    assert encoding(a, "h") == encoding(b, "h") == "listpack"
    same(pair, "HGETALL", "h")
    same(pair, "HSET", "h", "one-more", "x")
    assert encoding(a, "h") == encoding(b, "h") == "hashtable"
    same(pair, "HSET", "v", "f", "x" * 64)
    assert encoding(a, "v") == encoding(b, "v") == "listpack"
    same(pair, "HSET", "v", "f", "x" * 65)
    assert encoding(a, "v") == encoding(b, "v") == "hashtable"


def test_hrandfield_errors_and_fixed_shapes(pair):
    same(pair, "HSET", "h", "a", "1", "b", "2", "c", "3")
    for c in [
        ("HRANDFIELD", "nokey"),
        ("HRANDFIELD", "nokey", "3"),
        ("HRANDFIELD", "nokey", "-3", "WITHVALUES"),
        ("HRANDFIELD", "nokey", "x"),
        ("HRANDFIELD", "nokey", "1", "foo"),
        ("HRANDFIELD", "h", "0"),
        ("HRANDFIELD", "h", "0", "withvalues"),
        ("HRANDFIELD", "h", "3"),
        ("HRANDFIELD", "h", "10", "WITHVALUES"),
        ("HRANDFIELD", "h", "1", "withvalue"),
        ("HRANDFIELD", "h", "1", "withvalues", "x"),
        ("HRANDFIELD", "h", "x", "foo"),
        ("HRANDFIELD", "h", "-9223372036854775808"),
        ("HRANDFIELD", "h", "9223372036854775808"),
        ("HRANDFIELD", "h", "-4611686018427387904", "WITHVALUES"),
        ("HRANDFIELD", "h", "4611686018427387904", "WITHVALUES"),
        ("HRANDFIELD", "h", "4611686018427387903", "WITHVALUES"),
    ]:
        same(pair, *c)


def test_hrandfield_random_shapes(r):
    proto3 = r.get_connection_kwargs().get("protocol") == 3
    fields = {f"f{i}": str(i) for i in range(20)}
    r.hset("h", mapping=fields)
    one = r.hrandfield("h")
    assert one in fields
    for count in (1, 5, 15, 19):
        got = r.hrandfield("h", count)
        assert len(got) == count and len(set(got)) == count and set(got) <= set(fields)
    got = r.hrandfield("h", -50)
    assert len(got) == 50 and set(got) <= set(fields)
    raw = r.execute_command("HRANDFIELD", "h", "-30", "WITHVALUES")
    if proto3:
        assert len(raw) == 30 and all(len(p) == 2 and fields[p[0]] == p[1] for p in raw)
    else:
        assert len(raw) == 60
        assert all(fields[raw[i]] == raw[i + 1] for i in range(0, 60, 2))
    raw = r.execute_command("HRANDFIELD", "h", "7", "WITHVALUES")
    pairs = raw if proto3 else [raw[i:i + 2] for i in range(0, len(raw), 2)]
    assert len(pairs) == 7 and len({p[0] for p in pairs}) == 7
    assert all(fields[f] == v for f, v in pairs)
    # Big hash (table encoding): still distinct and complete for count >= size.
    r.hset("big", mapping={f"k{i}": i for i in range(300)})
    got = r.hrandfield("big", 200)
    assert len(set(got)) == 200
    assert sorted(r.hrandfield("big", 1000)) == sorted(f"k{i}" for i in range(300))
    assert len(r.hrandfield("big", -1000)) == 1000
    # Every field shows up eventually: the choice is not stuck.
    seen = set()
    for _ in range(400):
        seen.add(r.hrandfield("h"))
    assert seen == set(fields)


def test_hscan_listpack_matches_redis(pair):
    same(pair, "HSET", "h", "b", "1", "a", "2", "c", "3", "ab", "4")
    for c in [
        ("HSCAN", "h", "0"),
        ("HSCAN", "h", "5"),
        ("HSCAN", "h", "0", "MATCH", "a*"),
        ("HSCAN", "h", "0", "COUNT", "1"),
        ("HSCAN", "h", "0", "COUNT", "0"),
        ("HSCAN", "h", "0", "COUNT", "x"),
        ("HSCAN", "h", "0", "MATCH"),
        ("HSCAN", "h", "0", "TYPE", "string"),
        ("HSCAN", "h", "0", "foo", "bar"),
        ("HSCAN", "h", "x"),
        ("HSCAN", "h", "18446744073709551616"),
        ("HSCAN", "h", "18446744073709551615"),
        ("HSCAN", "nokey", "0"),
        ("HSCAN", "nokey", "0", "COUNT", "0"),
    ]:
        same(pair, *c)


def test_hscan_table_iterates_everything_under_churn(r):
    n = 2000
    r.hset("h", mapping={f"f{i}": i for i in range(n)})
    seen = {}
    cursor, calls = 0, 0
    while True:
        cursor, items = r.hscan("h", cursor, count=25)
        calls += 1
        seen.update(items)
        # Churn: add and remove other fields while the scan runs.
        r.hset("h", f"tmp{calls}", 1)
        r.hdel("h", f"tmp{calls - 1}")
        for j in range(10):
            r.hset("h", f"x{calls}-{j}", 1)
            r.hdel("h", f"x{calls}-{j}")
        if cursor == 0:
            break
        assert calls < 2000
    assert calls > 10, "a hashtable scan should take several calls"
    for i in range(n):
        assert seen[f"f{i}"] == str(i)
    # MATCH filters what a step returns.
    cursor, keys = 0, set()
    while True:
        cursor, items = r.hscan("h", cursor, match="f1*", count=100)
        keys |= set(items)
        if cursor == 0:
            break
    assert keys == {f"f{i}" for i in range(n) if str(i).startswith("1")}


def test_hash_write_commands_fail_watch(r):
    r.hset("h", "a", 1)
    with r.pipeline() as p:
        p.watch("h")
        r.hincrby("h", "a", 1)
        p.multi()
        p.hget("h", "a")
        with pytest.raises(Exception):
            p.execute()
