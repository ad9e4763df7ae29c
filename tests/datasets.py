"""Datasets of every type and encoding, built with the same commands on any server, and ways to
read a whole dataset back for comparison. Used by the RDB, AOF and backup tests."""

import random


def fill(c, seed=7, scale=1):
    """Fills databases 0, 1 and 9 of the server behind client `c` (bytes replies) with strings
    (int, embstr, raw, long compressible, binary), lists, hashes, sets and sorted sets in their
    compact and general encodings, and keys with expiries. Returns the number of keys written."""
    rnd = random.Random(seed)
    n = 0
    p = c.pipeline(transaction=False)
    p.select(0)
    # strings
    p.set(b"int:small", b"12")
    p.set(b"int:neg", b"-9000")
    p.set(b"int:big", b"9223372036854775807")
    p.set(b"int:32", b"2147483647")
    p.set(b"str:emb", b"hello world")
    p.set(b"str:raw", b"x" * 45)
    p.set(b"str:long", (b"abcdefgh" * 2000) + b"tail")
    p.set(b"str:random", bytes(rnd.getrandbits(8) for _ in range(300)))
    p.set(b"str:empty", b"")
    p.set(b"str:leading0", b"007")
    p.set(b"\x00bin\xffkey\r\n", b"\x00\x01\x02value\xff")
    p.append(b"str:appended", b"12")  # raw-encoded digits
    n += 12
    for i in range(200 * scale):
        p.set(f"k:{i}".encode(), f"v:{i}".encode() * (1 + i % 7))
        n += 1
    # lists: small, large (several quicklist nodes), with integers and long elements
    p.rpush(b"list:small", b"a", b"b", b"1", b"-2", b"300000")
    p.rpush(b"list:large", *[f"element-{i}".encode() for i in range(3000 * scale)])
    p.rpush(b"list:ints", *[str(i * 7919).encode() for i in range(1000)])
    p.rpush(b"list:bigel", b"y" * 10000, b"z" * 70000, b"small")
    n += 4
    # hashes: listpack and hashtable
    p.hset(b"hash:small", mapping={b"f1": b"v1", b"f2": b"2", b"num": b"-17"})
    p.hset(b"hash:large", mapping={f"field:{i}".encode(): f"value:{i}".encode() for i in range(600 * scale)})
    p.hset(b"hash:longval", mapping={b"a": b"q" * 100, b"b": b"1"})
    n += 3
    # sets: intset, hashtable (large or non-integer)
    p.sadd(b"set:ints", 1, 2, 3, -5, 1 << 40)
    p.sadd(b"set:bigints", *range(0, 2000 * scale, 3))
    p.sadd(b"set:strs", b"a", b"b", b"c")
    p.sadd(b"set:mixed", *[f"m{i}".encode() for i in range(700)])
    n += 4
    # sorted sets: listpack and skiplist, integer, fractional, negative and infinite scores
    p.zadd(b"zset:small", {b"a": 1, b"b": 2.5, b"c": -3, b"d": float("inf"), b"e": float("-inf")})
    p.zadd(b"zset:large", {f"member:{i}".encode(): i * 1.25 - 1000 for i in range(1000 * scale)})
    p.zadd(b"zset:longmember", {b"w" * 100: 1, b"v": 0.1})
    p.zadd(b"zset:ints", {str(i).encode(): i for i in range(50)})
    n += 4
    # expiries (far in the future, so every server keeps them)
    p.set(b"ttl:str", b"v", px=10_000_000)
    p.rpush(b"ttl:list", b"a", b"b")
    p.pexpireat(b"ttl:list", 4102444800000)
    p.hset(b"ttl:hash", b"f", b"v")
    p.expire(b"ttl:hash", 100000)
    n += 3
    p.select(1)
    p.set(b"db1:key", b"in db 1")
    p.sadd(b"db1:set", b"x", b"y")
    n += 2
    p.select(9)
    p.zadd(b"db9:zset", {b"m": 3})
    p.set(b"db9:int", b"42")
    n += 2
    p.select(0)
    p.execute()
    return n


def dump_all(c, dbs=range(16), string_encodings=True):
    """Every key of every database with its type, value, encoding and whether it has an
    expiry: {(db, key): (type, value, encoding, has_ttl)}. Order-insensitive values.
    Without `string_encodings`, a string's encoding is left out: a reload re-encodes strings
    (a raw string of a few bytes comes back embstr, in Redis too)."""
    out = {}
    for db in dbs:
        c.select(db)
        for key in c.scan_iter(count=1000):
            t = c.type(key).decode()
            if t == "string":
                v = c.get(key)
            elif t == "list":
                v = tuple(c.lrange(key, 0, -1))
            elif t == "hash":
                v = frozenset(c.hgetall(key).items())
            elif t == "set":
                v = frozenset(c.smembers(key))
            elif t == "zset":
                v = tuple(c.zrange(key, 0, -1, withscores=True))
            else:
                v = t
            enc = c.object("encoding", key)
            if t == "string" and not string_encodings:
                enc = None
            out[(db, key)] = (t, v, enc, c.pttl(key) > 0)
    c.select(0)
    return out
