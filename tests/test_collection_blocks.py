"""Small hashes, sets and sorted sets held in one block with the value (issue 18): MEMORY USAGE
follows that layout, and a snapshot still sees every collection as it was when it began while
clients keep writing to them (the packed blocks are shared with the snapshot, never written in
place; tables and skiplists are copied on their first write)."""

import time

from conftest import ServerProc


def state(c, key):
    t = c.type(key)
    if t == b"set":
        return sorted(c.smembers(key))
    if t == b"hash":
        return sorted(c.hgetall(key).items())
    if t == b"zset":
        return c.zrange(key, 0, -1, withscores=True)
    raise AssertionError(f"{key}: unexpected type {t}")


def test_memory_usage_counts_one_block_per_small_collection(amber_server):
    c = amber_server.client()
    c.flushall()
    c.set("s", "abc")
    entry = c.memory_usage("s")
    # Ten 4-byte members: the 8-byte header (references, width) and 40 bytes; before, a
    # 40-byte Arc block came first.
    c.sadd("iset", *[100_000 + i for i in range(10)])
    assert c.object("encoding", "iset") == b"intset"
    assert c.memory_usage("iset") == entry + 8 + 40
    # A packed sorted set: per member its length byte, its bytes and a 1-byte integral score.
    c.zadd("z", {"a": 1, "bb": 2})
    assert c.object("encoding", "z") == b"listpack"
    assert c.memory_usage("z") == entry + 8 + (1 + 1 + 1) + (1 + 2 + 1)


def test_snapshot_sees_collections_as_they_were(tmp_path):
    # 1 ms per key written: the save lasts well beyond the writes below.
    src = ServerProc("amber", tmp_path / "src", ["--save", "", "--appendonly", "no",
                                               "--rdb-key-save-delay", "1000"]).start()
    try:
        c = src.client()
        keys = []
        p = c.pipeline(transaction=False)
        for i in range(200):
            p.sadd(f"iset:{i}", *range(i, i + 10))
            p.hset(f"hash:{i}", mapping={f"f{j}": f"v{i}:{j}" for j in range(5)})
            p.zadd(f"zset:{i}", {f"m{j}": j + i for j in range(5)})
            keys += [f"iset:{i}", f"hash:{i}", f"zset:{i}"]
        # General encodings too: a hashtable set and hash, a skiplist.
        p.sadd("bigset", *[f"m{j}" for j in range(600)])
        p.hset("bighash", mapping={f"f{j}": j for j in range(600)})
        p.zadd("bigzset", {f"m{j}": j for j in range(200)})
        p.execute()
        keys += ["bigset", "bighash", "bigzset"]
        encodings = {k: c.object("encoding", k) for k in keys}
        assert encodings["iset:0"] == b"intset" and encodings["hash:0"] == b"listpack"
        assert encodings["zset:0"] == b"listpack" and encodings["bigset"] == b"hashtable"
        assert encodings["bighash"] == b"hashtable" and encodings["bigzset"] == b"skiplist"
        before = {k: state(c, k) for k in keys}

        c.bgsave()
        p = c.pipeline(transaction=False)
        for i in reversed(range(200)):
            p.sadd(f"iset:{i}", 1_000_000 + i)
            p.srem(f"iset:{i}", i)
            p.hset(f"hash:{i}", "f0", "changed")
            p.hdel(f"hash:{i}", "f1")
            p.zadd(f"zset:{i}", {"m0": -1, "new": 99})
        p.sadd("bigset", "added")
        p.srem("bigset", "m0")
        p.hset("bighash", "f0", "changed")
        p.zrem("bigzset", "m0")
        p.zadd("bigzset", {"m1": 1000})
        p.execute()
        assert c.info("persistence")["rdb_bgsave_in_progress"] == 1, "writes raced the save"
        after = {k: state(c, k) for k in keys}
        assert all(after[k] != before[k] for k in keys)
        assert {k: c.object("encoding", k) for k in keys} == encodings
        deadline = time.time() + 60
        while c.info("persistence")["rdb_bgsave_in_progress"]:
            assert time.time() < deadline, "BGSAVE did not finish"
            time.sleep(0.05)
        assert c.info("persistence")["rdb_last_bgsave_status"] == "ok"
        dump = src.dir / "dump.rdb"
        assert {k: state(c, k) for k in keys} == after
    finally:
        src.stop()

    # The file holds the collections as they were when BGSAVE began, for Redis and Amber.
    for kind in ("amber", "redis"):
        d = tmp_path / f"load-{kind}"
        d.mkdir()
        (d / "dump.rdb").write_bytes(dump.read_bytes())
        s = ServerProc(kind, d, ["--dbfilename", "dump.rdb"]).start()
        try:
            c = s.client()
            assert {k: state(c, k) for k in keys} == before, kind
        finally:
            s.stop()
