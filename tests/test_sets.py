"""Set commands: replies, errors, encodings (intset/hashtable) and the encodings of computed
sets, SPOP/SRANDMEMBER rules, SSCAN, compared byte for byte with Redis 7.0 where the reply is
deterministic."""

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


def sorted_reply(conn, *args):
    """A multi-bulk reply's elements, sorted (for replies whose order is unspecified)."""
    raw = conn.cmd(*args)
    lines = raw.split(b"\r\n")
    return lines[0][:1], sorted(lines[1:])


def test_basic_replies_match_redis(pair):
    for c in [
        ("SADD", "s", "3", "1", "2", "1"),
        ("SADD", "s", "10", "-5"),
        ("SMEMBERS", "s"),
        ("SCARD", "s"),
        ("SCARD", "nokey"),
        ("SISMEMBER", "s", "1"),
        ("SISMEMBER", "s", "01"),
        ("SISMEMBER", "s", "x"),
        ("SISMEMBER", "nokey", "1"),
        ("SMISMEMBER", "s", "1", "x", "10"),
        ("SMISMEMBER", "nokey", "1", "2"),
        ("SREM", "s", "1", "1", "x", "99"),
        ("SREM", "nokey", "1"),
        ("SMEMBERS", "s"),
        ("SMEMBERS", "nokey"),
        ("SADD", "one", "x"),
        ("SMEMBERS", "one"),
        ("SREM", "one", "x"),
        ("EXISTS", "one"),
        ("SADD", "t", "-9223372036854775808", "9223372036854775807", "0"),
        ("SMEMBERS", "t"),
    ]:
        same(pair, *c)


def test_errors_match_redis(pair):
    same(pair, "SET", "str", "v")
    same(pair, "SADD", "s", "1", "2", "3")
    for c in [
        ("SADD", "s"),
        ("SADD", "str", "a"),
        ("SREM", "str", "a"),
        ("SMEMBERS", "str"),
        ("SISMEMBER", "str", "a"),
        ("SMISMEMBER", "str", "a"),
        ("SMISMEMBER", "s"),
        ("SCARD", "str"),
        ("SPOP", "str"),
        ("SPOP", "str", "0"),
        ("SPOP", "str", "x"),
        ("SPOP", "s", "-1"),
        ("SPOP", "s", "x"),
        ("SPOP", "s", "1", "2"),
        ("SPOP", "nokey", "-1"),
        ("SPOP", "nokey"),
        ("SPOP", "nokey", "2"),
        ("SPOP", "s", "0"),
        ("SRANDMEMBER", "str"),
        ("SRANDMEMBER", "str", "0"),
        ("SRANDMEMBER", "str", "x"),
        ("SRANDMEMBER", "nokey"),
        ("SRANDMEMBER", "nokey", "2"),
        ("SRANDMEMBER", "nokey", "x"),
        ("SRANDMEMBER", "s", "1", "2"),
        ("SRANDMEMBER", "s", "x", "2"),
        ("SRANDMEMBER", "s", "0"),
        ("SRANDMEMBER", "s", "-9223372036854775808"),
        ("SRANDMEMBER", "s", "9223372036854775808"),
        ("SRANDMEMBER", "s", "3"),
        ("SRANDMEMBER", "s", "100"),
        ("SMOVE", "nokey", "str", "1"),
        ("SMOVE", "s", "str", "1"),
        ("SMOVE", "str", "s", "1"),
        ("SMOVE", "str", "str", "1"),
        ("SINTER", "nokey", "str"),
        ("SINTER", "str", "nokey"),
        ("SUNION", "nokey", "str"),
        ("SDIFF", "nokey", "str"),
        ("SINTERSTORE", "d", "nokey", "str"),
        ("SUNIONSTORE", "d", "s", "str"),
        ("SDIFFSTORE", "d", "s", "str"),
        ("SINTERCARD", "2", "nokey", "str"),
        ("SSCAN", "str", "0"),
        ("SSCAN", "str", "x"),
        ("SSCAN", "str", "0", "COUNT", "0"),
        ("EXISTS", "d"),
    ]:
        same(pair, *c)


def test_sintercard(pair):
    same(pair, "SADD", "a", "1", "2", "3", "x")
    same(pair, "SADD", "b", "2", "3", "4", "x")
    for c in [
        ("SINTERCARD", "0", "a"),
        ("SINTERCARD", "-1", "a"),
        ("SINTERCARD", "x", "a"),
        ("SINTERCARD", "9223372036854775808", "a"),
        ("SINTERCARD", "3", "a", "b"),
        ("SINTERCARD", "2", "a", "b"),
        ("SINTERCARD", "1", "a"),
        ("SINTERCARD", "2", "a", "nokey"),
        ("SINTERCARD", "2", "a", "b", "LIMIT", "1"),
        ("SINTERCARD", "2", "a", "b", "limit", "0"),
        ("SINTERCARD", "2", "a", "b", "LIMIT", "100"),
        ("SINTERCARD", "2", "a", "b", "LIMIT", "-1"),
        ("SINTERCARD", "2", "a", "b", "LIMIT", "x"),
        ("SINTERCARD", "2", "a", "b", "LIMIT"),
        ("SINTERCARD", "2", "a", "b", "foo"),
        ("SINTERCARD", "1", "a", "b"),
        ("SINTERCARD", "2", "a", "b", "LIMIT", "1", "LIMIT", "5"),
    ]:
        same(pair, *c)


def test_smove(pair):
    a, b = pair
    for c in [
        ("SADD", "src", "1", "2", "x"),
        ("SMOVE", "src", "src", "1"),
        ("SMOVE", "src", "src", "9"),
        ("SMOVE", "src", "dst", "9"),
        ("EXISTS", "dst"),
        ("SMOVE", "src", "dst", "1"),
        ("SMEMBERS", "dst"),
        ("SMOVE", "src", "dst", "1"),
        ("SADD", "src", "1"),
        ("SMOVE", "src", "dst", "1"),
        ("SMOVE", "src", "dst2", "x"),
        ("SMOVE", "src", "dst", "2"),
        ("EXISTS", "src"),
        ("SMEMBERS", "dst"),
        ("SCARD", "dst2"),
    ]:
        same(pair, *c)
    assert encoding(a, "dst") == encoding(b, "dst") == "intset"
    assert encoding(a, "dst2") == encoding(b, "dst2") == "hashtable"


def test_set_operations_and_store_encodings(new_amber, redis_server):
    s = new_amber()
    a = Raw(s.port, 2)
    b = Raw(redis_server.port, 2)
    try:
        for conn in (a, b):
            conn.cmd("FLUSHALL")
            assert conn.cmd("CONFIG", "SET", "set-max-intset-entries", "3") == b"+OK\r\n"
        steps = [
            ("SADD", "a", "5", "4", "3", "2", "1"),
            ("SADD", "b", "2", "1", "x"),
            ("SADD", "c", "3", "2"),
            ("SINTERSTORE", "d1", "a", "b"),
            ("SUNIONSTORE", "d2", "b", "b"),
            ("SUNIONSTORE", "d3", "c", "c"),
            ("SDIFFSTORE", "d4", "a", "c"),
            ("SDIFFSTORE", "d5", "b", "a"),
            ("SUNIONSTORE", "d6", "a", "c"),
            ("SINTERSTORE", "d7", "a", "nokey"),
            ("SET", "d8", "string"),
            ("SINTERSTORE", "d8", "a", "c"),
            ("SDIFFSTORE", "d9", "nokey", "a"),
            ("SADD", "e", "1", "2", "3"),
            ("SADD", "e", "4"),
            ("SREM", "e", "4", "3"),
            ("SADD", "g", "x"),
            ("SREM", "g", "x"),
            ("SADD", "g2", "1", "y"),
            ("SREM", "g2", "y"),
        ]
        for cmd in steps:
            assert a.cmd(*cmd) == b.cmd(*cmd), cmd
        for key in ("a", "b", "c", "d1", "d2", "d3", "d4", "d5", "d6", "d8", "e", "g2"):
            assert encoding(a, key) == encoding(b, key), key
        for key in ("d7", "d9", "g"):
            assert a.cmd("EXISTS", key) == b.cmd("EXISTS", key) == b":0\r\n"
        # Intset results come back sorted on both servers.
        for cmd in [
            ("SMEMBERS", "d1"),
            ("SMEMBERS", "d3"),
            ("SMEMBERS", "d4"),
            ("SDIFF", "a", "c"),
            ("SUNION", "c", "c"),
            ("SUNION", "c", "d1"),
        ]:
            assert a.cmd(*cmd) == b.cmd(*cmd), cmd
        # Unordered results: same elements.
        for cmd in [
            ("SINTER", "a", "b"),
            ("SUNION", "a", "b"),
            ("SDIFF", "b", "a"),
            ("SMEMBERS", "d6"),
            ("SMEMBERS", "e"),
            ("SINTER", "a"),
            ("SINTER", "a", "nokey"),
            ("SUNION", "nokey", "b"),
            ("SDIFF", "nokey", "b"),
        ]:
            assert sorted_reply(a, *cmd) == sorted_reply(b, *cmd), cmd
        # Zero intset entries: every set is a table.
        for conn in (a, b):
            conn.cmd("CONFIG", "SET", "set-max-intset-entries", "0")
            conn.cmd("SADD", "z", "1")
            conn.cmd("SINTERSTORE", "z2", "c", "c")
        assert encoding(a, "z") == encoding(b, "z") == "hashtable"
        assert encoding(a, "z2") == encoding(b, "z2") == "hashtable"
    finally:
        b.cmd("CONFIG", "SET", "set-max-intset-entries", "512")
        a.close()
        b.close()


def test_default_intset_threshold(pair):
    a, b = pair
    same(pair, "SADD", "s", *range(512))
    assert encoding(a, "s") == encoding(b, "s") == "intset"
    same(pair, "SMEMBERS", "s")
    same(pair, "SADD", "s", "512")
    assert encoding(a, "s") == encoding(b, "s") == "hashtable"
    same(pair, "SADD", "t", "1", "2")
    same(pair, "SUNIONSTORE", "t", "t", "t")
    assert encoding(a, "t") == encoding(b, "t") == "intset"


def test_result_replies_resp3_types(pair):
    same(pair, "SADD", "a", "1", "2")
    same(pair, "SADD", "b", "x")
    for c in [
        ("SINTER", "a", "a"),
        ("SUNION", "a", "a"),
        ("SDIFF", "a", "b"),
        ("SINTER", "nokey"),
        ("SUNION", "nokey"),
        ("SDIFF", "nokey"),
        ("SMEMBERS", "a"),
        ("SPOP", "a", "10"),
        ("EXISTS", "a"),
    ]:
        same(pair, *c)


def test_spop(pair):
    a, b = pair
    same(pair, "SADD", "s", *range(20))
    single = a.cmd("SPOP", "s")
    assert single.startswith(b"$")
    got = a.cmd("SPOP", "s", "5")
    lines = got.split(b"\r\n")
    assert lines[0] in (b"*5", b"~5")
    popped = {lines[i] for i in range(2, len(lines), 2)}
    assert len(popped) == 5
    assert a.cmd("SCARD", "s") == b":14\r\n"
    for m in popped:
        assert a.cmd("SISMEMBER", "s", m) == b":0\r\n"
    # Popping everything deletes the key and returns the set in order (intset).
    same(pair, "SADD", "t", "3", "1", "2")
    same(pair, "SPOP", "t", "3")
    same(pair, "EXISTS", "t")
    same(pair, "SADD", "t", "1")
    same(pair, "SPOP", "t")
    same(pair, "EXISTS", "t")


def test_spop_remainder_encoding(new_amber, redis_server):
    """Popping most of a set rebuilds the remainder, which can turn back into an intset."""
    s = new_amber()
    a = Raw(s.port, 2)
    b = Raw(redis_server.port, 2)
    try:
        for conn in (a, b):
            conn.cmd("FLUSHALL")
            conn.cmd("CONFIG", "SET", "set-max-intset-entries", "5")
        for n, count in [(10, 9), (10, 8), (12, 10), (12, 9), (6, 5), (7, 5)]:
            for conn in (a, b):
                conn.cmd("DEL", "s")
                conn.cmd("SADD", "s", *range(n))
                conn.cmd("SPOP", "s", count)
            assert encoding(a, "s") == encoding(b, "s"), (n, count)
            assert a.cmd("SCARD", "s") == b.cmd("SCARD", "s")
    finally:
        b.cmd("CONFIG", "SET", "set-max-intset-entries", "512")
        a.close()
        b.close()


def test_spop_and_srandmember_rules(r):
    members = {str(i) for i in range(50)} | {"x", "y"}
    r.sadd("s", *members)
    for count in (1, 10, 30, 51):
        got = r.srandmember("s", count)
        assert len(got) == count and len(set(got)) == count and set(got) <= members
    assert sorted(r.srandmember("s", 100)) == sorted(members)
    got = r.srandmember("s", -200)
    assert len(got) == 200 and set(got) <= members
    assert r.srandmember("s") in members
    seen = {r.srandmember("s") for _ in range(600)}
    assert len(seen) > 40
    # SPOP with counts hitting each strategy: small share, large share, everything.
    total = set()
    for count in (3, 40):
        got = r.spop("s", count)
        assert len(got) == count and len(set(got)) == count
        assert not (set(got) & total)
        total |= set(got)
    rest = r.smembers("s")
    assert rest | total == members and not (rest & total)
    assert set(r.spop("s", 100)) == rest
    assert r.exists("s") == 0
    # Intset sets too.
    r.sadd("i", *range(30))
    got = r.spop("i", 25)
    assert len(set(got)) == 25 and r.scard("i") == 5
    assert set(r.smembers("i")) | set(got) == {str(i) for i in range(30)}


def test_sscan(pair):
    same(pair, "SADD", "s", "3", "1", "2", "10")
    same(pair, "SADD", "h", "b", "a", "c")
    for c in [
        ("SSCAN", "s", "0"),
        ("SSCAN", "s", "99", "COUNT", "1"),
        ("SSCAN", "s", "0", "MATCH", "1*"),
        ("SSCAN", "s", "0", "COUNT", "0"),
        ("SSCAN", "s", "0", "COUNT", "x"),
        ("SSCAN", "s", "0", "MATCH"),
        ("SSCAN", "s", "0", "TYPE", "set"),
        ("SSCAN", "s", "x"),
        ("SSCAN", "nokey", "0"),
        ("SSCAN", "nokey", "0", "COUNT", "0"),
    ]:
        same(pair, *c)
    a, b = pair
    assert sorted_reply(a, "SSCAN", "h", "0", "COUNT", "100") == sorted_reply(
        b, "SSCAN", "h", "0", "COUNT", "100"
    )


def test_sscan_table_under_churn(r):
    n = 3000
    r.sadd("s", *[f"m{i}" for i in range(n)])
    seen = set()
    cursor, calls = 0, 0
    while True:
        cursor, items = r.sscan("s", cursor, count=30)
        calls += 1
        seen |= set(items)
        r.sadd("s", *[f"t{calls}-{j}" for j in range(20)])
        r.srem("s", *[f"t{calls}-{j}" for j in range(20)])
        r.sadd("s", f"new{calls}")
        if cursor == 0:
            break
        assert calls < 3000
    assert calls > 10
    assert {f"m{i}" for i in range(n)} <= seen


def test_set_write_commands_fail_watch(r):
    r.sadd("s", 1, 2)
    with r.pipeline() as p:
        p.watch("s")
        r.spop("s")
        p.multi()
        p.scard("s")
        with pytest.raises(Exception):
            p.execute()
