"""The loaded-key counts after a restart with appendonly yes and an RDB base (issue 12 item 4),
side by side with Redis 7.0.15: the "Done loading RDB, keys loaded: N, keys expired: M." log
line and INFO's rdb_last_load_keys_loaded / rdb_last_load_keys_expired."""

import re
import time

from conftest import ServerProc


def wait_rewrite_done(c, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        info = c.info("persistence")
        if not info["aof_rewrite_in_progress"] and not info["aof_rewrite_scheduled"]:
            return
        time.sleep(0.02)
    raise AssertionError("BGREWRITEAOF did not finish")


def restart_counts(kind, dir, base_keys):
    """appendonly yes; `base_keys` keys and one that expires in 1 s; BGREWRITEAOF (an RDB
    base); one more SET into the incr file; stop before the key expires; restart after it
    has. Returns (the log of the second start, its INFO persistence, DBSIZE)."""
    s = ServerProc(kind, dir, ["--appendonly", "yes", "--aof-use-rdb-preamble", "yes"]).start()
    try:
        c = s.client()
        pipe = c.pipeline(transaction=False)
        for i in range(0, base_keys, 1000):
            pipe.mset({f"k{j}": j for j in range(i, min(i + 1000, base_keys))})
        pipe.execute()
        c.set("exp", "v", px=1000)
        c.bgrewriteaof()
        wait_rewrite_done(c)
        c.set("after", "1")
    finally:
        s.stop()
    assert any(p.name.endswith(".base.rdb") for p in (s.dir / "appendonlydir").iterdir())
    time.sleep(1.1)  # "exp" is past its time, still in the base
    s2 = ServerProc(kind, dir, ["--appendonly", "yes", "--aof-use-rdb-preamble", "yes"]).start()
    try:
        c = s2.client()
        info = c.info("persistence")
        time.sleep(0.5)  # let active expiry remove "exp" if it was loaded
        dbsize = c.dbsize()
    finally:
        s2.stop()
    return s2.log_path.read_text(errors="replace"), info, dbsize


DONE = re.compile(r"Done loading RDB, keys loaded: (\d+), keys expired: (\d+)\.")


def test_rdb_base_counts_match_redis(tmp_path):
    results = {}
    for kind in ("redis", "amber"):
        log, info, dbsize = restart_counts(kind, tmp_path / kind, 3)
        done = DONE.findall(log)
        assert len(done) == 1, (kind, log)
        results[kind] = (done[0], info["rdb_last_load_keys_loaded"], info["rdb_last_load_keys_expired"], dbsize)
    # Redis loads every key of an AOF base, the expired one too (RDBFLAGS_AOF_PREAMBLE):
    # 3 + "exp" from the base; "after" comes from the incr file, not counted.
    assert results["redis"] == (("4", "0"), 4, 0, 4), results
    assert results["amber"] == results["redis"]


def test_large_rdb_base_counted_once(tmp_path):
    log, info, dbsize = restart_counts("amber", tmp_path / "amber", 39_000)
    assert DONE.findall(log) == [("39001", "0")], log
    assert info["rdb_last_load_keys_loaded"] == 39_001
    assert dbsize == 39_001  # 39,000 + "after"; "exp" has expired by now
