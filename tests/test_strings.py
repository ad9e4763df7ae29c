"""String commands: GET SET (and its options) SETNX SETEX PSETEX MGET MSET MSETNX GETSET GETDEL
GETEX APPEND STRLEN INCR DECR INCRBY DECRBY INCRBYFLOAT GETRANGE SUBSTR SETRANGE LCS, their
errors and the encodings OBJECT ENCODING reports. Exact texts are checked against a real Redis."""

import random
import shlex
import time

import pytest
import redis


def run(c, cmd):
    try:
        return c.execute_command(*cmd)
    except redis.ResponseError as e:
        return ("error", str(e))


def same_as_redis(r, redis_server, script):
    """Runs `script` (a list of commands) on Amber and on Redis, from an empty keyspace, and
    asserts every reply is the same."""
    proto = r.connection_pool.connection_kwargs.get("protocol", 2)
    ref = redis_server.client(decode_responses=True, protocol=proto)
    try:
        ref.flushall()
        r.flushall()
        for cmd in script:
            cmd = shlex.split(cmd) if isinstance(cmd, str) else cmd
            assert run(r, cmd) == run(ref, cmd), cmd
    finally:
        ref.close()


def enc(r, key):
    return r.object("encoding", key)


def test_get_set_and_encodings(r):
    assert r.get("k") is None
    assert r.set("k", "v") is True
    assert r.get("k") == "v"
    assert r.set("k", "12345") and enc(r, "k") == "int"
    assert r.set("k", "-9223372036854775808") and enc(r, "k") == "int"
    assert r.set("k", "9223372036854775808") and enc(r, "k") == "embstr"
    assert r.set("k", "007") and enc(r, "k") == "embstr"
    assert r.set("k", "x" * 44) and enc(r, "k") == "embstr"
    assert r.set("k", "x" * 45) and enc(r, "k") == "raw"
    assert r.get("k") == "x" * 45
    assert r.set("k", "") and r.get("k") == "" and enc(r, "k") == "embstr"


def test_binary_values(rb):
    v = bytes(range(256)) * 3
    rb.set(b"\x00k\xff", v)
    assert rb.get(b"\x00k\xff") == v
    assert rb.strlen(b"\x00k\xff") == 768


def test_set_options_and_errors_match_redis(r, redis_server):
    same_as_redis(r, redis_server, [
        "set a 1", "set a 2 nx", "get a", "set a 3 xx", "get a", "set b 1 xx", "get b",
        "set a 1 nx xx", "set a 1 xx nx", "set a 1 ex 10 px 10", "set a 1 px 10 exat 10",
        "set a 1 ex 10 keepttl", "set a 1 keepttl pxat 10", "set a 1 persist", "set a 1 foo",
        "set a 1 ex", "set a 1 ex abc", "set a 1 ex 0", "set a 1 ex -1", "set a 1 px 0",
        "set a 1 exat 0", "set a 1 pxat -1", "set a 1 ex 9223372036854775",
        "set a 1 px 9223372036854775807", "set a 1 exat 9223372036854776",
        "set a 1 ex 1.5", "set a 1 ex 10 ex 20", "ttl a", "set a 1 nx nx",
        "set a v get", "set a w GET", "set nokey v get", "get nokey",
        "set nokey2 v nx get", "set a z nx get", "get a", "set other z xx get", "exists other",
        "set a 5 get ex 100", "ttl a", "set a 6 keepttl", "ttl a", "set a 7", "ttl a",
        ["set", "a", "8", "n\x00x"], ["set", "a", "9", "nx\x00junk"], "get a",
        "set", "set a",
    ])


def test_set_expiry_variants(r):
    now = int(time.time())
    assert r.set("k", "v", ex=100)
    assert 99 <= r.ttl("k") <= 100
    assert r.set("k", "v", px=100000)
    assert 99000 < r.pttl("k") <= 100000
    assert r.set("k", "v", exat=now + 200)
    assert r.expiretime("k") == now + 200
    assert r.set("k", "v", pxat=(now + 300) * 1000 + 7)
    assert r.pexpiretime("k") == (now + 300) * 1000 + 7
    assert r.set("k", "w", keepttl=True)
    assert r.pexpiretime("k") == (now + 300) * 1000 + 7
    assert r.set("k", "x")
    assert r.ttl("k") == -1
    # An absolute time in the past: the key is gone at once.
    assert r.set("k", "v", pxat=1)
    assert r.get("k") is None and r.exists("k") == 0
    # A short PX really expires.
    assert r.set("k", "v", px=50)
    time.sleep(0.1)
    assert r.get("k") is None


def test_setnx_setex_psetex(r, redis_server):
    assert r.setnx("k", "1") is True
    assert r.setnx("k", "2") is False
    assert r.get("k") == "1"
    assert r.execute_command("SETEX", "k", 100, "v") and 99 <= r.ttl("k") <= 100
    assert r.psetex("k", 100000, "v") and 99000 < r.pttl("k") <= 100000
    assert enc(r, "k") == "embstr"
    same_as_redis(r, redis_server, [
        "setnx a 1", "setnx a 2", "setex a 0 v", "setex a -5 v", "setex a abc v",
        "setex a 9223372036854775 v", "psetex a 0 v", "psetex a 9223372036854775807 v",
        "setex a 100 v", "ttl a", "setnx", "setex a 10", "psetex a",
    ])


def test_mget_mset_msetnx(r, redis_server):
    assert r.mset({"a": "1", "b": "x" * 50})
    assert r.mget("a", "b", "c") == ["1", "x" * 50, None]
    assert enc(r, "a") == "int" and enc(r, "b") == "raw"
    assert r.msetnx({"c": "1", "a": "2"}) is False
    assert r.get("c") is None and r.get("a") == "1"
    assert r.msetnx({"c": "3", "d": "4"}) is True
    assert r.mget("c", "d") == ["3", "4"]
    r.expire("a", 100)
    r.mset({"a": "9"})
    assert r.ttl("a") == -1
    same_as_redis(r, redis_server, [
        "mset a", "mset a 1 b", "msetnx a", "msetnx a 1 b", "msetnx q 1 q 2", "get q",
        "mset q 1 q 2", "get q", "mget q none q", "mget",
    ])


def test_getset_getdel_getex(r, redis_server):
    assert r.getset("k", "1") is None
    assert r.getset("k", "2") == "1"
    r.expire("k", 100)
    assert r.getset("k", "3") == "2" and r.ttl("k") == -1
    assert r.getdel("k") == "3" and r.exists("k") == 0
    assert r.getdel("k") is None
    r.set("k", "v")
    assert r.getex("k", ex=100) == "v" and 99 <= r.ttl("k") <= 100
    assert r.getex("k", px=200000) == "v" and r.ttl("k") > 150
    assert r.getex("k", persist=True) == "v" and r.ttl("k") == -1
    now = int(time.time())
    assert r.getex("k", exat=now + 500) == "v" and r.expiretime("k") == now + 500
    assert r.getex("k", pxat=(now + 600) * 1000) == "v" and r.expiretime("k") == now + 600
    assert r.getex("k") == "v" and r.expiretime("k") == now + 600
    assert r.getex("k", exat=1) == "v"
    assert r.exists("k") == 0
    assert r.getex("k", ex=10) is None
    same_as_redis(r, redis_server, [
        "set a 1", "getex a ex", "getex a foo", "getex a ex 10 persist", "getex a persist px 5",
        "getex a keepttl", "getex a nx", "getex a get", "getex a ex 0", "getex a ex -1",
        "getex a px abc", "getex a exat 9223372036854776", "getex none ex 0", "getex none foo",
        "getex a ex 10 ex 20", "ttl a", "getex a pxat 1", "exists a", "getex",
        "getdel", "getset a", "set n 12", "getex n", "getdel n", "getdel n",
    ])


def test_append_strlen(r, redis_server):
    assert r.append("k", "12") == 2
    assert enc(r, "k") == "int"  # APPEND to a missing key stores the argument as is
    assert r.append("k", "3") == 3
    assert r.get("k") == "123" and enc(r, "k") == "raw"
    assert r.strlen("k") == 3
    r.set("e", "abc")
    assert r.append("e", "") == 3 and enc(r, "e") == "raw"
    r.set("n", "-1234")
    assert r.strlen("n") == 5 and r.strlen("missing") == 0
    r.set("t", "v", ex=100)
    r.append("t", "w")
    assert r.ttl("t") > 0 and r.get("t") == "vw"
    same_as_redis(r, redis_server, [
        "append a x", "append a yz", "strlen a", "append", "strlen", "strlen a b",
        "set i 100", "append i 1", "object encoding i", "incr i", "object encoding i",
    ])


def test_incr_family(r, redis_server):
    assert r.incr("k") == 1 and enc(r, "k") == "int"
    assert r.incrby("k", 10) == 11
    assert r.decr("k") == 10
    assert r.decrby("k", 20) == -10
    r.set("t", "5", ex=100)
    assert r.incr("t") == 6 and r.ttl("t") > 0
    r.setrange("raw", 0, "41")
    assert enc(r, "raw") == "raw"
    assert r.incr("raw") == 42 and enc(r, "raw") == "int"
    same_as_redis(r, redis_server, [
        "set s abc", "incr s", "set s ' 1'", "incr s", "set s 01", "incr s", "set s 1.0",
        "incr s", "set m 9223372036854775807", "incr m", "incrby m 0", "decr m",
        "set m -9223372036854775808", "decr m", "incrby m -1", "incrby m 9223372036854775807",
        "decrby m -9223372036854775807", "decrby m -9223372036854775808",
        "decrby x -9223372036854775808", "decrby x 9223372036854775807", "incrby x abc",
        "incrby x 1.5", "incrby x 99999999999999999999", "incr", "incrby x", "decrby x 1 2",
        "set big 9223372036854775808", "incr big",
    ])


def test_incrbyfloat_basic(r):
    assert r.incrbyfloat("k", 0.1) == 0.1
    assert r.get("k") == "0.1" and enc(r, "k") == "embstr"
    r.set("k", "10.50")
    assert r.incrbyfloat("k", "0.1") == 10.6
    assert r.get("k") == "10.6"
    r.set("k", "5.0e3")
    r.execute_command("INCRBYFLOAT", "k", "2.0e2")
    assert r.get("k") == "5200"
    r.set("t", "1", px=100000)
    r.incrbyfloat("t", 1)
    assert r.pttl("t") > 0 and r.get("t") == "2"
    with pytest.raises(redis.ResponseError, match="^value is not a valid float$"):
        r.incrbyfloat("k", "abc")
    r.set("inf", "inf")
    with pytest.raises(redis.ResponseError, match="^increment would produce NaN or Infinity$"):
        r.incrbyfloat("inf", 1)
    assert r.get("inf") == "inf"


def random_float_text(rnd):
    k = rnd.randrange(9)
    if k == 0:
        return str(rnd.randint(-10**6, 10**6))
    if k == 1:
        return "%.*f" % (rnd.randrange(0, 20), rnd.uniform(-1000, 1000))
    if k == 2:
        return "%de%d" % (rnd.randint(-999, 999), rnd.randint(-4960, 4940))
    if k == 3:
        return rnd.choice([
            "0.1", "0.2", "0.3", "-0.1", "1e-17", "5e-18", "1.5", "0x1p-3", "0x1.8p4", "0X.8",
            "inf", "-inf", "1e4932", "1.18973149535723176502e+4932", "1e-4951", "3.6e-4951",
            "-0", "+.5", "5.", "1e", "abc", " 1", "1 ", "nan", "0x", "1e-5000", "infinity",
        ])
    if k == 4:
        return repr(rnd.uniform(-1e30, 1e30))
    if k == 5:
        return str(rnd.randint(-2**63, 2**63 - 1))
    if k == 6:
        return "0x%x.%xp%d" % (rnd.randrange(1 << 20), rnd.randrange(1 << 20), rnd.randint(-99, 99))
    if k == 7:
        return "%.25g" % rnd.uniform(-1, 1)
    return "%d.%0*d" % (rnd.randint(0, 10**20), rnd.randint(1, 30), rnd.randint(0, 10**15))


def test_incrbyfloat_matches_redis_on_random_inputs(r, redis_server):
    """Redis adds in x87 long double and prints with %.17Lf: every digit must agree."""
    proto = r.connection_pool.connection_kwargs.get("protocol", 2)
    ref = redis_server.client(decode_responses=True, protocol=proto)
    ref.flushall()
    rnd = random.Random(7 + proto)
    try:
        for i in range(400):
            key = "f%d" % (i % 5)
            if rnd.random() < 0.3:
                v = random_float_text(rnd)
                r.set(key, v)
                ref.set(key, v)
            inc = random_float_text(rnd)
            got, want = run(r, ["INCRBYFLOAT", key, inc]), run(ref, ["INCRBYFLOAT", key, inc])
            assert got == want, (key, inc, ref.get(key))
            assert run(r, ["GET", key]) == run(ref, ["GET", key])
            assert run(r, ["OBJECT", "ENCODING", key]) == run(ref, ["OBJECT", "ENCODING", key])
    finally:
        ref.close()


def test_getrange_setrange(r, redis_server):
    r.set("s", "Hello World")
    assert r.getrange("s", 0, 4) == "Hello"
    assert r.getrange("s", -5, -1) == "World"
    assert r.substr("s", 6, 100) == "World"
    assert r.setrange("s", 6, "Redis") == 11 and r.get("s") == "Hello Redis"
    assert enc(r, "s") == "raw"
    assert r.setrange("new", 3, "ab") == 5 and r.get("new") == "\x00\x00\x00ab"
    assert r.setrange("none", 5, "") == 0 and r.exists("none") == 0
    same_as_redis(r, redis_server, [
        "set s abcdef", "getrange s 0 -1", "getrange s -3 -1", "getrange s 4 1",
        "getrange s -1 -5", "getrange s 0 100", "getrange s -100 2", "getrange none 0 1",
        "getrange s a 1", "getrange s 0 b", "getrange s -9223372036854775808 9223372036854775807",
        "set e ''", "getrange e 0 -1", "getrange e 0 0", "set n 12345", "getrange n 1 2",
        "substr n 0 -2", "setrange s 10 x", "get s", "setrange s -1 x", "setrange s a x",
        "setrange s 0 ''", "setrange none 0 ''", "setrange none 2 ''", "exists none",
        "setrange s 536870911 x", "setrange s2 536870912 x", "setrange s2 9223372036854775807 x",
        "object encoding n", "setrange n 0 9", "object encoding n", "get n", "getrange",
        "setrange s 0",
    ])


def test_lcs_matches_redis(r, redis_server):
    same_as_redis(r, redis_server, [
        "set a ohmytext", "set b mynewtext", "lcs a b", "lcs a b len", "lcs a b idx",
        "lcs a b idx minmatchlen 4", "lcs a b idx withmatchlen", "lcs a b IDX WITHMATCHLEN",
        "lcs a b idx len", "lcs a b foo", "lcs a b minmatchlen", "lcs a b minmatchlen x",
        "lcs a b idx minmatchlen -3", "lcs a none", "lcs none none2 idx",
        "set x ABCBDAB", "set y BDCABA", "lcs x y", "lcs x y idx withmatchlen",
        "set i 12345", "set j 2345", "lcs i j idx", "lcs", "lcs a",
        # The DP table would exceed proto-max-bulk-len.
        ["set", "la", "a" * 12000], ["set", "lb", "b" * 12000], "lcs la lb len",
    ])


def test_writes_fail_watchers(r, amber_server):
    for cmd in (["SET", "w", "1"], ["APPEND", "w", "x"], ["INCRBYFLOAT", "w", "1"],
                ["SETRANGE", "w", "0", "1"], ["GETDEL", "w"], ["INCR", "w"], ["GETEX", "w", "EX", "9"]):
        r.set("w", "1")
        other = amber_server.client(decode_responses=True)
        try:
            p = r.pipeline()
            p.watch("w")
            other.execute_command(*cmd)
            p.multi()
            p.get("w")
            with pytest.raises(redis.WatchError):
                p.execute()
        finally:
            other.close()
