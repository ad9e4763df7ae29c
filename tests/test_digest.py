"""DEBUG DIGEST and DEBUG DIGEST-VALUE: the same dataset built on Redis 7.0.15 and on Amber must
give the same digests, for every type and encoding, in several databases, with binary data and
with expiries; and a one-element change must make them differ."""

import pathlib
import sys
import time

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
from tests.diff.resp import Conn  # noqa: E402

ZERO = b"0" * 40
BIN_KEY = b"\x00\xff\r\nkey\x01"
BIN_VAL = bytes(range(256))
LONG = b"L" * 80  # over the 44-byte embstr limit and the 64-byte listpack value limit


LIMITS = {"hash-max-listpack-entries": 512, "hash-max-listpack-value": 64,
          "zset-max-listpack-entries": 128, "zset-max-listpack-value": 64,
          "set-max-intset-entries": 512}


def build(c):
    """Builds the dataset through client `c` (bytes replies). Returns {db: [keys]}."""
    keys = {}

    def on(db, *cmds):
        c.execute_command("SELECT", db)
        for cmd in cmds:
            c.execute_command(*cmd)
        keys[db] = sorted(c.keys("*"))

    on(0,
       # strings: int, embstr, raw, and strings that only look like numbers
       ("SET", "int", "12345"), ("SET", "intneg", "-9223372036854775808"),
       ("SET", "intbig", "9223372036854775808"), ("SET", "zeros", "007"),
       ("SET", "emb", "hello world"), ("SET", "raw", LONG), ("SET", "empty", ""),
       ("SET", "appended", "abc"), ("APPEND", "appended", "def"),
       ("SET", "ranged", "x"), ("SETRANGE", "ranged", 5, "y"),
       ("SET", "float", "1.5"), ("INCRBYFLOAT", "float", "0.1"),
       ("SET", "counter", "10"), ("INCRBY", "counter", 32),
       ("SET", BIN_KEY, BIN_VAL),
       # lists: small and large, integers, binary and long elements
       ("RPUSH", "lsmall", "a", "1", "-2", "3.0", BIN_VAL, ""),
       ("RPUSH", "llarge", *[str(i) if i % 3 else f"e{i}" for i in range(1000)]),
       ("RPUSH", "llarge", LONG, LONG + b"x"), ("LPUSH", "llarge", "head"),
       ("LINSERT", "lsmall", "BEFORE", "1", "ins"),
       # hashes: listpack (ints, binary) and hashtable (by size, by value length)
       ("HSET", "hsmall", "f1", "v1", "f2", "2", "f3", "", BIN_KEY, BIN_VAL),
       ("HSET", "hbig", *[x for i in range(600) for x in (f"f{i}", str(i * 7))]),
       ("HSET", "hlong", "f", LONG, "g", "1"),
       ("HINCRBY", "hsmall", "n", 5), ("HINCRBYFLOAT", "hsmall", "fl", "2.5"),
       # sets: intset, hashtable by size and by a string member, "01" next to "1"
       ("SADD", "sint", "1", "-5", "100", "9223372036854775807"),
       ("SADD", "sintbig", *[str(i) for i in range(600)]),
       ("SADD", "sstr", "a", "b", "1", "01", BIN_VAL, ""),
       # zsets: listpack and skiplist; integer, fractional, negative, inf, -inf, -0 scores
       ("ZADD", "zsmall", "1", "one", "0.1", "tenth", "-2.5", "neg", "inf", "top",
        "-inf", "bottom", "1e20", "huge", "1.5e-7", "tiny", "123456789012345678", "7",
        "-0", "negzero", "3", BIN_VAL),
       ("ZINCRBY", "zsmall", "0.2", "tenth"),
       ("ZADD", "zbig", *[x for i in range(200) for x in (str(i / 7 - 10), f"m{i}")]),
       ("ZADD", "zbig", "inf", "pinf", "-inf", "ninf", "-0", "nzero", "42", "int", "5", "500"),
       ("ZADD", "zlong", "1.25", LONG, "2", "short"),
       ("ZUNIONSTORE", "zunion", 2, "zsmall", "zlong", "WEIGHTS", "1", "0.5"),
       # expiries on every type
       ("SET", "sx", "v", "EX", 100000), ("EXPIRE", "lsmall", 100000),
       ("PEXPIREAT", "hsmall", 4102444800000), ("EXPIRE", "sint", 5000),
       ("EXPIRE", "zbig", 5000), ("EXPIRE", "persisted", 100),
       ("SET", "persisted", "p", "EX", 100), ("PERSIST", "persisted"))
    # The same key in several databases, and other contents elsewhere.
    on(1, ("SET", "int", "12345"), ("SET", "k1", "v"), ("RPUSH", "l", "x", "y"))
    on(5, ("SET", "int", "12345", "PX", 9000000), ("HSET", "h", "a", "b"),
       ("ZADD", "z", "-0", "m"), ("SADD", "s", "x"))
    on(15, ("SET", BIN_KEY, "v"))
    c.execute_command("SELECT", 0)
    return keys


@pytest.fixture
def pair(amber_server, redis_server):
    a = amber_server.client()
    b = redis_server.client()
    for c in (a, b):
        c.flushall()
        # Other tests change these on the shared servers: pin Redis 7.0.15's defaults.
        for name, value in LIMITS.items():
            c.config_set(name, value)
    yield a, b
    for c in (a, b):
        c.execute_command("SELECT", 0)
        c.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", 1)
        c.flushall()
        c.close()


def digest(c):
    return c.execute_command("DEBUG", "DIGEST")


def values(c, db, keys):
    c.execute_command("SELECT", db)
    try:
        return c.execute_command("DEBUG", "DIGEST-VALUE", *keys)
    finally:
        c.execute_command("SELECT", 0)


def run_in(c, db, cmds):
    c.execute_command("SELECT", db)
    try:
        for cmd in cmds:
            c.execute_command(*cmd)
    finally:
        c.execute_command("SELECT", 0)


def test_empty_dataset_is_zeros(pair):
    a, b = pair
    assert digest(a) == digest(b) == ZERO
    a.execute_command("SELECT", 3)
    a.set("k", "v")
    a.delete("k")
    assert digest(a) == ZERO  # an emptied database does not enter the digest


def test_same_dataset_same_digests(pair):
    a, b = pair
    ka, kb = build(a), build(b)
    assert ka == kb
    # The dataset really has every encoding, and both servers chose the same ones.
    seen = set()
    for db, keys in ka.items():
        for c in (a, b):
            c.execute_command("SELECT", db)
        for k in keys:
            ea, eb = a.object("encoding", k), b.object("encoding", k)
            assert ea == eb, (db, k)
            seen.add(ea)
    for c in (a, b):
        c.execute_command("SELECT", 0)
    assert seen >= {b"int", b"embstr", b"raw", b"quicklist", b"listpack", b"hashtable",
                    b"intset", b"skiplist"}, seen

    d = digest(b)
    assert d != ZERO and len(d) == 40
    assert digest(a) == d
    for db, keys in ka.items():
        va, vb = values(a, db, keys), values(b, db, keys)
        for k, x, y in zip(keys, va, vb):
            assert x == y, (db, k)
            assert x != ZERO, (db, k)
        # A missing key gives zeros, in place.
        assert values(a, db, [b"nosuchkey", keys[0]]) == [ZERO, va[0]] == \
            values(b, db, [b"nosuchkey", keys[0]])


def test_reply_shapes_are_redis(pair):
    a, b = pair
    build(a)
    build(b)
    ca, cb = Conn(a.connection_pool.connection_kwargs["port"]), \
        Conn(b.connection_pool.connection_kwargs["port"])
    try:
        for proto in (2, 3):
            if proto == 3:
                assert not ca.call("HELLO", "3").is_error()
                assert not cb.call("HELLO", "3").is_error()
            for cmd in (["DEBUG", "DIGEST"], ["debug", "digest"], ["DEBUG", "DIGEST-VALUE"],
                        ["DEBUG", "DIGEST-VALUE", "int", "nosuchkey", "int", BIN_KEY],
                        ["DEBUG", "DIGEST", "extra"]):
                fa, fb = ca.call(*cmd), cb.call(*cmd)
                assert fa.raw == fb.raw, (proto, cmd, fa, fb)
            assert ca.call("DEBUG", "DIGEST").kind == "+"
            assert ca.call("DEBUG", "DIGEST", "extra").kind == "-"
            assert ca.call("DEBUG", "DIGEST-VALUE").raw == b"*0\r\n"
    finally:
        ca.close()
        cb.close()


# Each change touches one element (or only the TTL, or only the position of one key).
CHANGES = [
    ("string value", 0, [("SET", "emb", "hello worle")]),
    ("int string value", 0, [("SET", "int", "12346")]),
    ("list order", 0, [("LSET", "lsmall", 0, "1"), ("LSET", "lsmall", 1, "ins")]),
    ("list element of a large list", 0, [("LSET", "llarge", 500, "changed")]),
    ("hash field value", 0, [("HSET", "hsmall", "f1", "v2")]),
    ("hash field value, hashtable", 0, [("HSET", "hbig", "f7", "0")]),
    ("set member", 0, [("SREM", "sint", "100"), ("SADD", "sint", "101")]),
    ("set member, hashtable", 0, [("SREM", "sstr", "01")]),
    ("zset score by one ulp (0.1+0.2 to 0.3)", 0, [("ZADD", "zsmall", "0.3", "tenth")]),
    # ZADD 0 would leave -0 in place (0 == -0, so no update, as in Redis).
    ("zset score -0 to 0, skiplist", 0, [("ZREM", "zbig", "nzero"), ("ZADD", "zbig", "0", "nzero")]),
    ("zset member, skiplist", 0, [("ZADD", "zbig", "1", "m1x")]),
    ("ttl added", 0, [("EXPIRE", "emb", 100000)]),
    ("ttl removed", 0, [("PERSIST", "sx")]),
    ("key in another database", 1, [("MOVE", "k1", 2)]),
    ("binary value byte", 0, [("SETRANGE", BIN_KEY, 255, b"\xfe")]),
]


@pytest.mark.parametrize("name,db,cmds", CHANGES, ids=[c[0] for c in CHANGES])
def test_one_change_changes_the_digest(pair, name, db, cmds):
    a, b = pair
    keys = build(a)[db]
    build(b)
    assert digest(a) == digest(b)
    run_in(a, db, cmds)
    assert digest(a) != digest(b), name
    key = cmds[0][1]
    key = key.encode() if isinstance(key, str) else key
    if key in keys:
        assert values(a, db, [key]) != values(b, db, [key]), name
    run_in(b, db, cmds)
    assert digest(a) == digest(b), name
    if key in keys:
        assert values(a, db, [key]) == values(b, db, [key]), name


def test_logically_expired_keys_still_stored_count_as_in_redis(pair):
    """Redis walks the keyspace as stored: a key past its TTL that no expiry has removed yet is
    in DEBUG DIGEST and in DEBUG DIGEST-VALUE; the first access deletes it."""
    a, b = pair
    for c in (a, b):
        c.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", 0)
        c.set("live", "v")
        c.set("gone", "v", px=1)
        c.rpush("lgone", "x")
        c.pexpire("lgone", 1)
    time.sleep(0.05)
    with_expired = digest(b)
    assert digest(a) == with_expired
    assert values(a, 0, ["gone", "lgone"]) == values(b, 0, ["gone", "lgone"])
    assert ZERO not in values(a, 0, ["gone", "lgone"])
    for c in (a, b):
        assert c.exists("gone", "lgone") == 0  # lazy expiry deletes them
    assert digest(a) == digest(b) != with_expired
    assert values(a, 0, ["gone"]) == values(b, 0, ["gone"]) == [ZERO]
