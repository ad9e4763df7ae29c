"""rdbchecksum no and `amber check-rdb --salvage` on an RDB written by Redis 7.0.15 with one
byte changed (issue 12 item 6): Redis and Amber with rdbchecksum no load the same keys with
the same DEBUG DIGEST, Amber with rdbchecksum yes refuses (P002), and the salvaged file passes
redis-check-rdb and loads into Redis. A CRC of 0 (saved with rdbchecksum no) loads unchecked
both ways."""

import json
import shutil
import subprocess

from conftest import ServerProc
from test_load_counts import wait_rewrite_done
from test_rdb import amber_tool, check_rdb, digest, start, start_refused

MARKER = b"marker-value-that-is-findable-in-the-file"


def redis_dump(dir):
    """A dump.rdb written by Redis: 2,000 strings, collections of every type (listpack and
    hashtable encodings, an intset, a quicklist), a marker string, a key with a TTL."""
    s = start("redis", dir, "--rdbcompression", "no")
    try:
        c = s.client()
        c.execute_command("DEBUG", "POPULATE", 2000, "key", 30)
        c.set("marker", MARKER)
        c.set("ttl", "v", ex=3600)
        c.hset("h:small", mapping={"a": "1", "b": "2"})
        c.hset("h:big", mapping={f"f{i}": f"v{i}" * 20 for i in range(300)})
        c.rpush("list", *[f"item{i}" for i in range(500)])
        c.sadd("s:ints", *range(50))
        c.sadd("s:strs", *[f"m{i}" for i in range(200)])
        c.zadd("z:small", {"a": 1, "b": 2.5})
        c.zadd("z:big", {f"m{i}": i / 3 for i in range(300)})
        c.save()
        n, d = c.dbsize(), digest(c)
    finally:
        s.stop()
    return (dir / "dump.rdb").read_bytes(), n, d


def loads(kind, dir, data, *extra):
    """Starts `kind` on `data` as dump.rdb; returns (DBSIZE, DEBUG DIGEST, log)."""
    dir.mkdir(parents=True, exist_ok=True)
    (dir / "dump.rdb").write_bytes(data)
    s = start(kind, dir, *extra)
    try:
        c = s.client()
        return c.dbsize(), digest(c), s.log_path.read_text(errors="replace")
    finally:
        s.stop()


def redis_refuses(dir, data):
    dir.mkdir(parents=True, exist_ok=True)
    (dir / "dump.rdb").write_bytes(data)
    s = ServerProc("redis", dir)
    p = subprocess.run(s.argv(), capture_output=True, text=True, timeout=30, cwd=dir)
    assert p.returncode != 0
    return p.stdout + p.stderr


def check(path, *extra):
    p = subprocess.run([amber_tool(), "check-rdb", "--json", str(path), *extra],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode in (0, 1), p.stdout + p.stderr
    return p.returncode, json.loads(p.stdout)


def changed_in_value(data):
    at = data.index(MARKER) + 7
    bad = bytearray(data)
    bad[at] ^= 0x20
    return bytes(bad), at


def test_rdbchecksum_no_loads_a_changed_value_as_redis_does(tmp_path):
    data, n, _ = redis_dump(tmp_path / "src")
    bad, _ = changed_in_value(data)
    assert "RDB CRC error" in redis_refuses(tmp_path / "r-yes", bad)
    rn, rd, _ = loads("redis", tmp_path / "r-no", bad, "--rdbchecksum", "no")
    an, ad, log = loads("amber", tmp_path / "a-no", bad, "--rdbchecksum", "no")
    assert rn == n and (an, ad) == (rn, rd)
    assert "checksum mismatch ignored because rdbchecksum is no" in log
    (tmp_path / "a-yes").mkdir()
    (tmp_path / "a-yes" / "dump.rdb").write_bytes(bad)
    out = start_refused(tmp_path / "a-yes")
    assert "P002 RDB_CORRUPT" in out and "checksum mismatch" in out


def test_salvage_names_the_altered_key_and_writes_a_file_redis_loads(tmp_path):
    data, n, _ = redis_dump(tmp_path / "src")
    bad, at = changed_in_value(data)
    (tmp_path / "bad.rdb").write_bytes(bad)
    code, r = check(tmp_path / "bad.rdb")
    assert code == 1 and r["checksum"] == "mismatch" and r["problem"]["code"] == "P002 RDB_CORRUPT"
    cb = r["changed_byte"]
    assert (cb["offset"], cb["key"], cb["db"], cb["in_trailer"]) == (at, "marker", 0, False)
    assert cb["original"] == data[at] and cb["current"] == bad[at]
    out = tmp_path / "salvaged.rdb"
    code, r = check(tmp_path / "bad.rdb", "--salvage", str(out))
    s = r["salvage"]
    assert code == 1 and s["kept"] == n and s["stopped_at"] is None and s["altered_key"] == "marker"
    assert "altered" in s["note"]
    check_rdb(out)
    # Redis loads the salvaged file (CRC checked) as it loads the damaged one unchecked.
    _, want, _ = loads("redis", tmp_path / "r-bad", bad, "--rdbchecksum", "no")
    assert loads("redis", tmp_path / "r-out", out.read_bytes())[:2] == (n, want)
    assert check(out)[1]["checksum"] == "ok"
    text = subprocess.run([amber_tool(), "check-rdb", str(tmp_path / "bad.rdb")], capture_output=True,
                          text=True, timeout=60).stdout
    assert "inside key 'marker' (DB 0): that value is altered" in text, text
    # The output is never overwritten.
    p = subprocess.run([amber_tool(), "check-rdb", str(tmp_path / "bad.rdb"), "--salvage", str(out)],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "exists" in p.stderr + p.stdout


def test_salvage_after_a_structural_error_keeps_the_keys_before_it(tmp_path):
    data, n, _ = redis_dump(tmp_path / "src")
    # Cut the file in the middle of a value: everything after is lost, the rest is kept.
    cut = data[: len(data) * 2 // 3]
    (tmp_path / "cut.rdb").write_bytes(cut)
    out = tmp_path / "salvaged.rdb"
    code, r = check(tmp_path / "cut.rdb", "--salvage", str(out))
    s = r["salvage"]
    assert code == 1 and r["problem"]["code"] == "P002 RDB_CORRUPT"
    assert 0 < s["kept"] < n and s["stopped_at"] is not None and s["bytes_not_read"] >= 0
    assert s["announced_not_kept"] == n - s["kept"]  # Redis writes RESIZEDB
    assert "lost" in s["note"]
    check_rdb(out)
    assert loads("redis", tmp_path / "r-out", out.read_bytes())[0] == s["kept"]


def test_a_file_saved_without_checksum_loads_unchecked_both_ways(tmp_path):
    # Redis with rdbchecksum no writes a zero CRC: Amber (rdbchecksum yes) loads it, says so.
    s = start("redis", tmp_path / "r", "--rdbchecksum", "no")
    try:
        c = s.client()
        c.execute_command("DEBUG", "POPULATE", 500, "key", 10)
        c.save()
        want = digest(c)
    finally:
        s.stop()
    data = (tmp_path / "r" / "dump.rdb").read_bytes()
    assert data[-8:] == bytes(8)
    an, ad, log = loads("amber", tmp_path / "a", data)
    assert (an, ad) == (500, want)
    assert "RDB file was saved with checksum disabled: no check performed." in log
    # Amber with rdbchecksum no writes a zero CRC too: Redis (rdbchecksum yes) loads it.
    s = start("amber", tmp_path / "a2", "--rdbchecksum", "no")
    try:
        c = s.client()
        c.execute_command("DEBUG", "POPULATE", 500, "key", 10)
        c.save()
    finally:
        s.stop()
    data = (tmp_path / "a2" / "dump.rdb").read_bytes()
    assert data[-8:] == bytes(8)
    rn, rd, log = loads("redis", tmp_path / "r2", data)
    assert (rn, rd) == (500, want)
    assert "RDB file was saved with checksum disabled: no check performed." in log


def test_rdbchecksum_no_loads_an_aof_base_with_a_changed_value(tmp_path):
    s = start("redis", tmp_path / "r", "--appendonly", "yes", "--rdbcompression", "no")
    try:
        c = s.client()
        c.execute_command("DEBUG", "POPULATE", 300, "key", 10)
        c.set("marker", MARKER)
        c.bgrewriteaof()
        wait_rewrite_done(c)
        c.set("after", "1")
    finally:
        s.stop()
    base = next((tmp_path / "r" / "appendonlydir").glob("*.base.rdb"))
    bad, _ = changed_in_value(base.read_bytes())
    base.write_bytes(bad)
    results = []
    for kind in ("redis", "amber"):
        d = tmp_path / f"{kind}-no"
        shutil.copytree(tmp_path / "r" / "appendonlydir", d / "appendonlydir")
        s = start(kind, d, "--appendonly", "yes", "--rdbchecksum", "no")
        try:
            c = s.client()
            results.append((c.dbsize(), digest(c), c.get("marker")))
        finally:
            s.stop()
    assert results[0] == results[1] and results[0][0] == 302
    d = tmp_path / "amber-yes"
    shutil.copytree(tmp_path / "r" / "appendonlydir", d / "appendonlydir")
    p = subprocess.run(ServerProc("amber", d, ["--appendonly", "yes"]).argv(), capture_output=True,
                       text=True, timeout=30, cwd=d)
    assert p.returncode == 1 and "checksum mismatch" in p.stdout + p.stderr
