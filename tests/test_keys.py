"""Keyspace commands: DEL UNLINK EXISTS TYPE RENAME RENAMENX KEYS SCAN RANDOMKEY MOVE SWAPDB COPY
TOUCH OBJECT, and expiry: EXPIRE PEXPIRE EXPIREAT PEXPIREAT TTL PTTL EXPIRETIME PEXPIRETIME
PERSIST. Exact texts are checked against a real Redis."""

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
    """Runs `script` on Amber and on Redis from empty keyspaces and compares every reply."""
    proto = r.connection_pool.connection_kwargs.get("protocol", 2)
    ref = redis_server.client(decode_responses=True, protocol=proto)
    try:
        ref.flushall()
        r.flushall()
        for cmd in script:
            cmd = shlex.split(cmd) if isinstance(cmd, str) else cmd
            assert run(r, cmd) == run(ref, cmd), cmd
    finally:
        ref.execute_command("SELECT", 0)
        ref.close()


def test_del_unlink_exists_type(r, redis_server):
    r.mset({"a": "1", "b": "2", "c": "3"})
    assert r.exists("a", "a", "x") == 2
    assert r.delete("a", "a", "x") == 1
    assert r.unlink("b", "c", "b") == 2
    assert r.exists("a", "b", "c") == 0
    r.set("s", "v")
    assert r.type("s") == "string" and r.type("nope") == "none"
    same_as_redis(r, redis_server, [
        "set a 1", "del", "unlink", "exists", "type", "type a b", "type a", "type x",
        "del a a", "exists a",
    ])


def test_rename_renamenx(r, redis_server):
    r.set("a", "1", ex=100)
    assert r.rename("a", "b") is True
    assert r.exists("a") == 0 and r.get("b") == "1" and r.ttl("b") > 0
    r.set("c", "x")
    assert r.renamenx("b", "c") is False
    assert r.renamenx("b", "d") is True and r.get("d") == "1"
    r.rename("d", "c")
    assert r.get("c") == "1" and r.ttl("c") > 0
    same_as_redis(r, redis_server, [
        "rename a b", "renamenx a b", "set a 1", "rename a a", "renamenx a a", "get a",
        "set b 2", "renamenx a b", "rename a b", "get b", "exists a", "rename", "rename a",
        "set e 1 px 100000", "rename e f", "exists e",
    ])


def test_keys_and_scan(r, redis_server):
    names = {f"key:{i}" for i in range(300)} | {"other", "k?x"}
    r.mset({n: "v" for n in names})
    assert set(r.keys("*")) == names
    assert set(r.keys("key:1?")) == {f"key:1{i}" for i in range(10)}
    assert r.keys("k\\?x") == ["k?x"]
    seen = set()
    cursor = 0
    while True:
        cursor, batch = r.scan(cursor, count=25)
        seen.update(batch)
        if cursor == 0:
            break
    assert seen == names
    seen = set()
    cursor = 0
    while True:
        cursor, batch = r.scan(cursor, match="key:2*", count=50)
        seen.update(batch)
        if cursor == 0:
            break
    assert seen == {n for n in names if n.startswith("key:2")}
    all_strings = set(r.scan_iter(_type="STRING", count=1000))
    assert all_strings == names
    assert list(r.scan_iter(_type="list", count=1000)) == []
    same_as_redis(r, redis_server, [
        "scan", "scan abc", "scan 0 count 0", "scan 0 count -1", "scan 0 count x",
        "scan 0 match", "scan 0 foo bar", "scan 0 type", "keys", "keys a b",
    ])


def test_scan_and_keys_skip_expired(r):
    r.set("live", "1")
    r.set("gone", "1", px=30)
    time.sleep(0.08)
    assert r.keys("*") == ["live"]
    cursor, batch = r.scan(0, count=1000)
    assert batch == ["live"]
    assert r.dbsize() == 1  # SCAN deleted what it met expired


def test_randomkey(r):
    assert r.randomkey() is None
    r.mset({"a": "1", "b": "2"})
    got = {r.randomkey() for _ in range(50)}
    assert got == {"a", "b"}
    r.delete("a", "b")
    r.set("t", "1", px=20)
    time.sleep(0.05)
    assert r.randomkey() is None


def test_move_copy(r, redis_server):
    r.set("k", "v", ex=100)
    assert r.move("k", 1) is True
    assert r.exists("k") == 0
    r.execute_command("SELECT", 1)
    try:
        assert r.get("k") == "v" and r.ttl("k") > 0
        r.set("k2", "x")
    finally:
        r.execute_command("SELECT", 0)
    r.set("k2", "y")
    assert r.move("k2", 1) is False and r.get("k2") == "y"
    assert r.copy("k2", "k3") is True and r.get("k3") == "y"
    r.set("n", "x" * 50)
    assert r.copy("n", "n2") and r.object("encoding", "n2") == "raw"
    r.set("i", "123")
    assert r.copy("i", "i2") and r.object("encoding", "i2") == "int"
    assert r.copy("k2", "k3") is False
    r.set("k2", "z", px=100000)
    assert r.copy("k2", "k3", replace=True) is True and r.get("k3") == "z" and r.ttl("k3") > 0
    assert r.copy("k2", "k", destination_db=1) is False
    assert r.copy("k2", "k", destination_db=1, replace=True) is True
    same_as_redis(r, redis_server, [
        "set a 1", "move a 0", "move a 99", "move a -1", "move a abc", "move a 2147483648",
        "move none 1", "move a 1", "move a 1", "select 1", "get a", "select 0",
        "copy a b", "copy a a", "copy a a db 0", "copy none b", "set a 2", "copy a b db 99",
        "copy a b db x", "copy a b db", "copy a b foo", "copy a b replace replace", "get b",
        "copy a a db 1", "copy a a db 1", "copy a a db 1 replace", "copy", "move a",
    ])


def test_swapdb(r, redis_server, amber_server):
    r.set("a", "0")
    r.execute_command("SELECT", 1)
    r.set("b", "1")
    r.execute_command("SELECT", 0)
    assert r.swapdb(0, 1) is True
    assert r.get("b") == "1" and r.get("a") is None
    assert r.swapdb(1, 1) is True
    same_as_redis(r, redis_server, [
        "swapdb 0 99", "swapdb -1 0", "swapdb a 1", "swapdb 0 b", "swapdb 0 2147483648",
        "swapdb 0 0", "swapdb 0", "swapdb 0 1 2",
    ])


def test_swapdb_fails_watchers_of_keys_present_on_either_side(r, redis_server, amber_server):
    """WATCH then SWAPDB from another client: EXEC fails only for keys that exist in one of
    the two databases (as Redis's touchAllWatchedKeysInDb)."""
    for server in (amber_server, redis_server):
        c = server.client(decode_responses=True)
        other = server.client(decode_responses=True)
        try:
            c.flushall()
            other.execute_command("SELECT", 1)
            other.set("inone", "x")
            results = {}
            for key in ("inone", "nowhere"):
                p = c.pipeline()
                p.watch(key)
                other.swapdb(0, 1)
                p.multi()
                p.set("z", "1")
                try:
                    results[key] = p.execute()
                except redis.WatchError:
                    results[key] = "aborted"
            assert results == {"inone": "aborted", "nowhere": [True]}, server.kind
        finally:
            c.flushall()
            c.close()
            other.close()


def test_touch_and_object(r, redis_server):
    r.mset({"a": "1", "b": "x"})
    assert r.touch("a", "b", "c", "a") == 3
    assert r.object("encoding", "a") == "int"
    assert r.object("refcount", "a") == 2147483647
    r.set("big", "123456")
    assert r.object("refcount", "big") == 1
    assert r.object("refcount", "b") == 1
    assert r.object("idletime", "a") == 0
    same_as_redis(r, redis_server, [
        "set a 5", "set b -1", "set c 9999", "set d 10000", "set e abc", "incr f",
        "object refcount a", "object refcount b", "object refcount c", "object refcount d",
        "object refcount e", "object refcount f", "object refcount none",
        "object encoding a", "object encoding e", "object encoding none", "object idletime e",
        "object idletime none", "object freq e", "object freq none", "object help",
        "object HELP extra", "object foo", "object", "object encoding", "object encoding a b",
        "object refcount", "object idletime", "object freq", "touch", "touch a none",
    ])


def test_expire_family(r, redis_server):
    r.set("k", "v")
    assert r.expire("k", 100) is True
    assert 99 <= r.ttl("k") <= 100
    assert 99000 < r.pttl("k") <= 100000
    assert r.pexpire("k", 200000) is True and 199 <= r.ttl("k") <= 200
    now = int(time.time())
    assert r.expireat("k", now + 300) is True and r.expiretime("k") == now + 300
    assert r.pexpireat("k", (now + 400) * 1000 + 499) is True
    assert r.pexpiretime("k") == (now + 400) * 1000 + 499
    assert r.expiretime("k") == now + 400
    assert r.persist("k") is True and r.ttl("k") == -1 and r.persist("k") is False
    assert r.ttl("none") == -2 and r.pttl("none") == -2 and r.expiretime("none") == -2
    assert r.expiretime("k") == -1 and r.pexpiretime("k") == -1
    # A time in the past deletes the key.
    assert r.expire("k", -1) is True and r.exists("k") == 0
    r.set("k", "v")
    assert r.pexpireat("k", 1) is True and r.exists("k") == 0
    r.set("k", "v")
    assert r.pexpire("k", 40)
    time.sleep(0.08)
    assert r.exists("k") == 0 and r.ttl("k") == -2


def test_expire_options_match_redis(r, redis_server):
    same_as_redis(r, redis_server, [
        "set k v", "expire k 100 xx", "expire k 100 gt", "expire k 100 lt", "ttl k",
        "persist k", "expire k 100 nx", "expire k 100 nx", "expire k 200 gt", "ttl k",
        "expire k 100 gt", "expire k 50 lt", "ttl k", "expire k 500 lt", "expire k 60 xx",
        "ttl k", "expire k 100 nx xx", "expire k 100 nx gt", "expire k 100 nx lt",
        "expire k 100 gt lt", "expire k 100 foo", "expire k 100 xx foo", "expire k abc",
        "expire k 100 gt xx", "ttl k", "expire k 1.5", "expire none 100", "expire none 100 foo",
        "expire k 9223372036854775807", "expire k 9223372036854775", "expire k 9223372036854776",
        "expire k -9223372036854776", "pexpire k 9223372036854775807",
        "expireat k 9223372036854775807", "pexpireat k 9223372036854775807",
        "pexpiretime k", "expiretime k", "ttl k", "persist k", "persist none",
        "expire k 100 XX", "pexpire k -1 lt", "exists k", "expire", "expire k", "ttl",
        "persist", "expiretime", "pttl k v", ["expire", "k", "10", "n\x00x"],
        "set k2 v", "expireat k2 1 nx", "exists k2",
    ])


def test_expire_writes_fail_watchers(r, amber_server):
    for cmd in (["EXPIRE", "w", "100"], ["PERSIST", "w"], ["DEL", "w"], ["RENAME", "w", "w2"],
                ["PEXPIREAT", "w", "1"], ["MOVE", "w", "3"]):
        r.delete("w", "w2")
        r.execute_command("SELECT", 3)
        r.delete("w")
        r.execute_command("SELECT", 0)
        r.set("w", "1", ex=50)
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
    r.execute_command("SELECT", 3)
    r.flushdb()
    r.execute_command("SELECT", 0)
