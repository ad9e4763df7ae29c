"""RDB IDLE and FREQ opcodes (248, 249) are read on load, as Redis 7.0.15's objectSetLRUOrLFU: an
RDB that Redis saved under an LRU policy gives its keys their idle time back, one saved under an
LFU policy their access counters, so OBJECT IDLETIME / FREQ survive the move."""

import shutil
import time

from conftest import ServerProc


def save_under_lru_then_lfu(server):
    """Writes keys on `server` (started with allkeys-lru), saves, switches to allkeys-lfu,
    reads `hot` 300 times, saves again: (the LRU dump, the LFU dump, OBJECT FREQ of hot)."""
    c = server.client()
    c.set("old", "v")
    c.hset("h", "f", "v")
    time.sleep(2.2)
    c.set("new", "v")
    assert c.object("idletime", "old") >= 2
    c.save()
    lru = (server.dir / "dump.rdb").read_bytes()
    c.config_set("maxmemory-policy", "allkeys-lfu")
    c.set("hot", "v")
    for _ in range(300):
        c.get("hot")
    hot = c.object("freq", "hot")
    assert hot > 5
    c.save()
    return lru, (server.dir / "dump.rdb").read_bytes(), hot


def assert_carried_over(kind, d, policy, hot, idle_keys):
    """Starts `kind` on the dump.rdb in `d` under `policy`: under LRU the `idle_keys` are at
    least 2 s idle and `new` at most 1 s; under LFU `hot` has the saved counter."""
    s = ServerProc(kind, d, ["--maxmemory-policy", policy]).start()
    try:
        c = s.client()
        if policy == "allkeys-lru":
            for k in idle_keys:
                assert c.object("idletime", k) >= 2, k
            assert c.object("idletime", "new") <= 1
        else:
            assert c.object("freq", "hot") == hot
    finally:
        s.stop()


def test_idle_and_freq_survive_loading_a_redis_rdb(tmp_path):
    r = ServerProc("redis", tmp_path / "redis", ["--maxmemory-policy", "allkeys-lru"]).start()
    try:
        lru, lfu, hot = save_under_lru_then_lfu(r)
    finally:
        r.stop()
    (tmp_path / "lru.rdb").write_bytes(lru)
    (tmp_path / "lfu.rdb").write_bytes(lfu)

    for name, policy in [("lru.rdb", "allkeys-lru"), ("lfu.rdb", "allkeys-lfu")]:
        d = tmp_path / f"amber-{name}"
        d.mkdir()
        shutil.copy(tmp_path / name, d / "dump.rdb")
        assert_carried_over("amber", d, policy, hot, ["old"])


def test_amber_writes_idle_and_freq_as_redis(tmp_path):
    """rdbSaveKeyValuePair: under an LRU policy every key is saved with IDLE (seconds), under an
    LFU policy with FREQ (the decayed counter); Redis loads Amber's file and OBJECT IDLETIME /
    FREQ carry over, and redis-check-rdb accepts it."""
    import subprocess
    files = {}
    a = ServerProc("amber", tmp_path / "amber", ["--maxmemory-policy", "allkeys-lru"]).start()
    try:
        files["lru"], files["lfu"], hot = save_under_lru_then_lfu(a)
    finally:
        a.stop()
    for name, policy in [("lru", "allkeys-lru"), ("lfu", "allkeys-lfu")]:
        d = tmp_path / f"redis-{name}"
        d.mkdir()
        (d / "dump.rdb").write_bytes(files[name])
        check = subprocess.run(["redis-check-rdb", str(d / "dump.rdb")], capture_output=True,
                               text=True)
        assert check.returncode == 0, check.stdout
        assert_carried_over("redis", d, policy, hot, ["old", "h"])
