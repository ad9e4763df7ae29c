"""RDB snapshots: SAVE, BGSAVE, LASTSAVE, save points, SHUTDOWN and signals, loading at start,
interop with Redis 7.0.15 both ways (redis-check-rdb, DEBUG DIGEST, OBJECT ENCODING), point-in-
time BGSAVE under writes, corrupt files, full and read-only disks."""

import os
import pathlib
import shutil
import signal
import subprocess
import threading
import time

import pytest
import redis

from conftest import ServerProc, amber_bin, raw_command
from datasets import dump_all, fill

SMALL = ["--hash-max-listpack-entries", "4", "--zset-max-listpack-entries", "4",
         "--set-max-intset-entries", "4", "--list-max-listpack-size", "4"]


cmd = raw_command


def digest(c):
    return cmd(c, "DEBUG", "DIGEST")


def wait_bgsave(c, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        info = c.info("persistence")
        if not info["rdb_bgsave_in_progress"]:
            return info
        time.sleep(0.02)
    raise AssertionError("BGSAVE did not finish")


def check_rdb(path):
    p = subprocess.run(["redis-check-rdb", str(path)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and "RDB looks OK" in p.stdout, p.stdout + p.stderr
    return p.stdout


def start(kind, dir, *extra):
    return ServerProc(kind, dir, list(extra)).start()


# ---- commands --------------------------------------------------------------------------------

def test_save_bgsave_lastsave_replies_match_redis(tmp_path):
    for kind in ("redis", "amber"):
        s = start(kind, tmp_path / kind, "--save", "", "--rdb-key-save-delay", "2000")
        try:
            c = s.client()
            c.set("a", "1")
            before = c.lastsave()
            assert cmd(c, "SAVE") == b"OK"
            assert (s.dir / "dump.rdb").exists()
            assert c.lastsave() >= before
            with pytest.raises(redis.ResponseError, match="syntax error"):
                cmd(c, "BGSAVE", "now")
            for i in range(200):
                c.set(f"k{i}", i)
            assert cmd(c, "BGSAVE") == b"Background saving started"
            with pytest.raises(redis.ResponseError, match="^Background save already in progress$"):
                cmd(c, "BGSAVE")
            with pytest.raises(redis.ResponseError, match="^Background save already in progress$"):
                cmd(c, "BGSAVE", "SCHEDULE")
            with pytest.raises(redis.ResponseError, match="^Background save already in progress$"):
                cmd(c, "SAVE")
            info = c.info("persistence")
            assert info["rdb_bgsave_in_progress"] == 1
            c.config_set("rdb-key-save-delay", "0")
            info = wait_bgsave(c)
            assert info["rdb_last_bgsave_status"] == "ok"
            assert info["rdb_changes_since_last_save"] == 0
            assert info["rdb_saves"] == 2
            # Inside MULTI, BGSAVE is scheduled for after the transaction.
            conn = c.connection_pool.get_connection()
            try:
                for command in (("MULTI",), ("SET", "x", "y"), ("BGSAVE",), ("EXEC",)):
                    conn.send_command(*command)
                replies = [conn.read_response() for _ in range(4)]
            finally:
                c.connection_pool.release(conn)
            assert replies[3] == [b"OK", b"Background saving scheduled"]
            deadline = time.time() + 10
            while c.info("persistence")["rdb_saves"] < 3 and time.time() < deadline:
                time.sleep(0.05)
            assert c.info("persistence")["rdb_saves"] == 3
            wait_bgsave(c)
        finally:
            s.stop()


def test_info_persistence_has_every_redis_field(tmp_path):
    r = start("redis", tmp_path / "r")
    a = start("amber", tmp_path / "a")
    try:
        want = set(r.client().info("persistence"))
        got = set(a.client().info("persistence"))
        assert want <= got, want - got
    finally:
        r.stop()
        a.stop()


def test_save_config_directives(new_amber, tmp_path):
    s = new_amber("--save", "100 10", "--save", "5 1")
    c = s.client(decode_responses=True)
    assert c.config_get("save")["save"] == "100 10 5 1"
    c.config_set("save", "30 3")
    assert c.config_get("save")["save"] == "30 3"
    c.config_set("save", "")
    assert c.config_get("save")["save"] == ""
    with pytest.raises(redis.ResponseError, match="Invalid save parameters"):
        c.config_set("save", "10")
    with pytest.raises(redis.ResponseError, match="can't set protected config"):
        c.config_set("dbfilename", "x.rdb")
    d = new_amber("--enable-protected-configs", "yes")
    dc = d.client(decode_responses=True)
    with pytest.raises(redis.ResponseError, match="dbfilename can't be a path, just a filename"):
        dc.config_set("dbfilename", "a/b.rdb")
    dc.config_set("dbfilename", "other.rdb")
    dc.set("k", "v")
    dc.save()
    assert (d.dir / "other.rdb").exists()
    defaults = new_amber().client(decode_responses=True).config_get("*")
    for k, v in {"save": "3600 1 300 100 60 10000", "dbfilename": "dump.rdb", "rdbcompression": "yes",
                 "rdbchecksum": "yes", "stop-writes-on-bgsave-error": "yes",
                 "rdb-save-incremental-fsync": "yes"}.items():
        assert defaults[k] == v, k


def test_save_point_triggers_bgsave(new_amber):
    s = new_amber("--save", "1 3")
    c = s.client()
    for i in range(3):
        c.set(f"k{i}", i)
    deadline = time.time() + 10
    while c.info("persistence")["rdb_saves"] == 0 and time.time() < deadline:
        time.sleep(0.05)
    wait_bgsave(c)
    assert c.info("persistence")["rdb_changes_since_last_save"] == 0
    assert (s.dir / "dump.rdb").exists()
    assert "3 changes in 1 seconds. Saving..." in s.log_path.read_text()


# ---- restart ---------------------------------------------------------------------------------

def test_data_survives_shutdown_and_restart(tmp_path):
    d = tmp_path / "data"
    s = start("amber", d)
    c = s.client()
    fill(c)
    before = dump_all(c)
    dig = digest(c)
    c.shutdown()  # default save points: SHUTDOWN saves (redis-py swallows the disconnect)
    s.proc.wait(10)
    assert s.proc.returncode == 0
    s2 = start("amber", d)
    try:
        c2 = s2.client()
        assert digest(c2) == dig
        assert dump_all(c2) == before
        info = c2.info("persistence")
        assert info["rdb_last_load_keys_loaded"] == len(before)
        log = s2.log_path.read_text()
        assert "DB loaded from disk" in log
        # SHUTDOWN NOSAVE keeps the file as it was.
        c2.set("later", "x")
        c2.shutdown(nosave=True)
        s2.proc.wait(10)
    finally:
        s2.stop()
    s3 = start("amber", d)
    try:
        assert s3.client().exists("later") == 0
        assert digest(s3.client()) == dig
    finally:
        s3.stop()


def test_sigterm_saves_when_save_points_exist(tmp_path):
    s = start("amber", tmp_path / "d", "--save", "3600 1")
    c = s.client()
    c.set("sig", "term")
    s.stop(signal.SIGTERM)
    assert s.proc.returncode == 0
    assert "Saving the final RDB snapshot before exiting." in s.log_path.read_text()
    s2 = start("amber", tmp_path / "d")
    try:
        assert s2.client().get("sig") == b"term"
    finally:
        s2.stop()
    # Without save points nothing is written.
    s3 = start("amber", tmp_path / "e", "--save", "")
    s3.client().set("sig", "term")
    s3.stop(signal.SIGTERM)
    assert not (tmp_path / "e" / "dump.rdb").exists()


def test_flushall_saves_with_save_points(new_amber):
    s = new_amber("--save", "3600 1")
    c = s.client()
    c.set("a", "b")
    c.save()
    c.flushall()
    # The empty dataset is on disk at once, as in Redis.
    out = check_rdb(s.dir / "dump.rdb")
    assert "0 keys read" in out


# ---- interop ---------------------------------------------------------------------------------

@pytest.mark.parametrize("limits", ["default", "small"])
def test_amber_dump_loads_into_redis_with_same_digest(tmp_path, limits):
    extra = SMALL if limits == "small" else []
    a = start("amber", tmp_path / "a", *extra)
    try:
        ca = a.client()
        fill(ca)
        want = dump_all(ca)
        dig = digest(ca)
        ca.save()
    finally:
        a.stop()
    check_rdb(tmp_path / "a" / "dump.rdb")
    (tmp_path / "r").mkdir()
    shutil.copy(tmp_path / "a" / "dump.rdb", tmp_path / "r" / "dump.rdb")
    r = start("redis", tmp_path / "r", *extra)
    try:
        cr = r.client()
        assert digest(cr) == dig
        assert dump_all(cr) == want
    finally:
        r.stop()


@pytest.mark.parametrize("limits", ["default", "small"])
def test_redis_dump_loads_into_amber_with_same_digest_and_encodings(tmp_path, limits):
    extra = SMALL if limits == "small" else []
    r = start("redis", tmp_path / "r", *extra)
    try:
        cr = r.client()
        fill(cr)
        want = dump_all(cr)
        dig = digest(cr)
        cr.save()
    finally:
        r.stop()
    (tmp_path / "a").mkdir()
    shutil.copy(tmp_path / "r" / "dump.rdb", tmp_path / "a" / "dump.rdb")
    a = start("amber", tmp_path / "a", *extra)
    try:
        ca = a.client()
        assert digest(ca) == dig
        got = dump_all(ca)
        assert got.keys() == want.keys()
        for k in want:
            assert got[k] == want[k], k
    finally:
        a.stop()


def test_debug_reload_keeps_the_dataset(new_amber):
    s = new_amber()
    c = s.client()
    fill(c)
    before, dig = dump_all(c), digest(c)
    assert cmd(c, "DEBUG", "RELOAD") == b"OK"
    assert digest(c) == dig
    assert dump_all(c) == before


# ---- point in time ---------------------------------------------------------------------------

def test_bgsave_writes_the_dataset_as_it_was_when_it_started(tmp_path):
    """Writers change every key while BGSAVE runs; the file holds the values of the moment
    BGSAVE started, and nothing written later."""
    s = start("amber", tmp_path / "a", "--save", "", "--rdb-key-save-delay", "100")
    c = s.client()
    n = 20000
    p = c.pipeline(transaction=False)
    for i in range(n):
        p.set(f"key:{i}", f"old:{i}")
    p.rpush("list", *[f"o{i}" for i in range(100)])
    p.execute()
    before = digest(c)
    assert cmd(c, "BGSAVE") == b"Background saving started"
    stop = threading.Event()
    written = [0]

    def writer():
        w = s.client()
        i = 0
        while not stop.is_set():
            p = w.pipeline(transaction=False)
            for _ in range(200):
                p.set(f"key:{i % n}", f"new:{i}")
                p.set(f"extra:{i}", "x")
                p.delete(f"key:{(i * 7) % n}")
                i += 1
            p.lpush("list", "new")
            p.execute()
        written[0] = i

    t = threading.Thread(target=writer)
    t.start()
    try:
        deadline = time.time() + 30
        while time.time() < deadline and c.info("persistence")["rdb_bgsave_in_progress"]:
            time.sleep(0.05)
    finally:
        stop.set()
        t.join()
    assert written[0] > 1000, "the writers did not overlap the save"
    info = wait_bgsave(c)
    assert info["rdb_last_bgsave_status"] == "ok"
    assert digest(c) != before
    s.stop()
    check_rdb(tmp_path / "a" / "dump.rdb")
    (tmp_path / "r").mkdir()
    shutil.copy(tmp_path / "a" / "dump.rdb", tmp_path / "r" / "dump.rdb")
    r = start("redis", tmp_path / "r")
    try:
        cr = r.client()
        assert digest(cr) == before
        assert cr.dbsize() == n + 1
    finally:
        r.stop()


def test_snapshots_keep_their_moment_across_flushdb_swapdb_and_a_second_snapshot(tmp_path):
    """A BGSAVE is slowed down; while it runs, db 0 is flushed, dbs 1 and 2 are swapped, keys
    are rewritten, and a replica's SYNC (redis-cli --rdb) takes a second snapshot. Each file
    holds exactly the dataset of its own start (checked by loading it into Redis 7.0.15 and
    comparing DEBUG DIGEST)."""
    # No diskless-sync delay: the SYNC's snapshot must start while the slowed BGSAVE runs.
    s = start("amber", tmp_path / "a", "--save", "", "--rdb-key-save-delay", "150",
              "--repl-diskless-sync-delay", "0")
    c = s.client()
    n = 6000
    for db in range(3):
        p = c.pipeline(transaction=False)
        p.execute_command("SELECT", db)
        for i in range(n):
            p.set(f"k{db}:{i}", f"v{i}")
        p.hset(f"h{db}", mapping={f"f{i}": i for i in range(50)})
        p.execute()
    at_bgsave = digest(c)
    assert cmd(c, "BGSAVE") == b"Background saving started"
    w = s.client()
    w.execute_command("SELECT", 0)
    w.flushdb()
    w.execute_command("SWAPDB", 1, 2)
    w.execute_command("SELECT", 1)
    for i in range(0, n, 3):
        w.set(f"k2:{i}", "changed")
    w.hset("h2", "f0", "changed")
    at_sync = digest(c)
    out = tmp_path / "sync.rdb"
    cli = subprocess.Popen(["redis-cli", "-p", str(s.port), "--rdb", str(out)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 30
    while b"Starting BGSAVE for SYNC" not in s.log_path.read_bytes():
        assert time.time() < deadline, "SYNC did not start"
        time.sleep(0.01)
    # Both snapshots are running now: more writes that neither may see.
    p = w.pipeline(transaction=False)
    for i in range(n):
        p.set(f"k2:{i}", "later")
    p.execute()
    w.execute_command("SELECT", 2)
    w.delete(*[f"k1:{i}" for i in range(n)])
    assert c.info("persistence")["rdb_bgsave_in_progress"] == 1, "the save ended too early"
    assert cli.wait(timeout=120) == 0
    info = wait_bgsave(c, timeout=120)
    assert info["rdb_last_bgsave_status"] == "ok"
    assert int(c.info("stats")["latest_fork_usec"]) >= 0 and int(c.info("stats")["total_forks"]) == 0
    s.stop()
    for name, path, want in (("bgsave", tmp_path / "a" / "dump.rdb", at_bgsave),
                             ("sync", out, at_sync)):
        check_rdb(path)
        d = tmp_path / f"r-{name}"
        d.mkdir()
        shutil.copy(path, d / "dump.rdb")
        r = start("redis", d)
        try:
            assert digest(r.client()) == want, name
        finally:
            r.stop()


# ---- bad files -------------------------------------------------------------------------------

def make_dump(tmp_path):
    a = start("amber", tmp_path / "src", "--save", "")
    try:
        c = a.client()
        fill(c, scale=1)
        c.save()
    finally:
        a.stop()
    return (tmp_path / "src" / "dump.rdb").read_bytes()


def start_refused(dir):
    p = subprocess.run([amber_bin(), "--port", "0", "--unixsocket", str(dir / "s.sock"), "--dir", str(dir)],
                       capture_output=True, text=True, timeout=30, cwd=dir)
    assert p.returncode == 1, p.stdout[-2000:]
    return p.stdout + p.stderr


def test_corrupt_or_truncated_dump_refuses_to_start(tmp_path):
    data = make_dump(tmp_path)
    d = tmp_path / "bad"
    d.mkdir()
    # truncated in the middle
    (d / "dump.rdb").write_bytes(data[: len(data) // 2])
    out = start_refused(d)
    assert "P002 RDB_CORRUPT" in out and "offset" in out
    # a flipped byte in a value: the CRC or the structure catches it
    bad = bytearray(data)
    bad[len(bad) // 3] ^= 0xFF
    (d / "dump.rdb").write_bytes(bytes(bad))
    out = start_refused(d)
    assert "P002 RDB_CORRUPT" in out
    # not an RDB file at all
    (d / "dump.rdb").write_bytes(b"hello, this is not an RDB file")
    assert "P002 RDB_CORRUPT" in start_refused(d)
    # the file is left as it was
    assert (d / "dump.rdb").read_bytes() == b"hello, this is not an RDB file"


def test_missing_dump_starts_empty(new_amber):
    s = new_amber()
    assert s.client().dbsize() == 0
    assert s.client().info("persistence")["rdb_last_load_keys_loaded"] == 0


# ---- full and read-only disks ----------------------------------------------------------------

@pytest.fixture
def small_fs(tmp_path):
    """A 2 MiB tmpfs. Needs root: fails loudly otherwise."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_full_disk_fails_cleanly_sets_misconf_and_recovers(small_fs):
    replies = {}
    for kind in ("redis", "amber"):
        d = small_fs / kind
        d.mkdir()
        s = start(kind, d, "--save", "3600 1", "--rdbcompression", "no")
        try:
            c = s.client()
            c.set("small", "v")
            c.save()
            good = (d / "dump.rdb").read_bytes()
            filler = d / "filler"
            c.set("big", "x" * 1_500_000)
            # leave less room than the dump needs
            with open(filler, "wb") as f:
                try:
                    f.write(b"\0" * 1_000_000)
                except OSError:
                    pass
            with pytest.raises(redis.ResponseError) as e:
                cmd(c, "SAVE")
            replies[(kind, "save")] = str(e.value)
            assert cmd(c, "BGSAVE") == b"Background saving started"
            info = wait_bgsave(c)
            assert info["rdb_last_bgsave_status"] == "err"
            assert (d / "dump.rdb").read_bytes() == good
            assert not [p for p in os.listdir(d) if p.startswith("temp-")]
            with pytest.raises(redis.ResponseError) as e:
                c.set("k", "v")
            assert str(e.value).startswith("MISCONF Redis is configured to save RDB snapshots")
            replies[(kind, "misconf")] = str(e.value)
            if kind == "amber":
                assert info["amber_rdb_last_error"] == "P004 DISK_FULL"
                assert "P004 DISK_FULL" in s.log_path.read_text()
                assert replies[("amber", "misconf")] == replies[("redis", "misconf")]
                assert replies[("amber", "save")] == replies[("redis", "save")]
            with pytest.raises(redis.ResponseError, match="^MISCONF"):
                c.ping()
            assert c.get("small") == b"v"  # reads still work
            filler.unlink()
            assert cmd(c, "BGSAVE") == b"Background saving started"
            assert wait_bgsave(c)["rdb_last_bgsave_status"] == "ok"
            assert c.set("k", "v")
        finally:
            s.stop()
            for p in d.iterdir():
                p.unlink()


def test_read_only_dir_fails_with_write_error(tmp_path):
    """The save directory becomes read-only (a read-only bind mount of it): P005 WRITE_ERR,
    MISCONF, the old dump kept; back to a writable dir, saves and writes work again."""
    rw = tmp_path / "rw"
    ro = tmp_path / "ro"
    rw.mkdir()
    ro.mkdir()
    subprocess.run(["mount", "--bind", str(rw), str(ro)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(ro)], check=True)
        s = start("amber", tmp_path / "srv", "--save", "3600 1", "--enable-protected-configs", "yes")
        try:
            c = s.client()
            c.config_set("dir", str(rw))
            c.set("a", "1")
            cmd(c, "SAVE")
            good = (rw / "dump.rdb").read_bytes()
            c.config_set("dir", str(ro))
            c.set("b", "2")
            assert cmd(c, "BGSAVE") == b"Background saving started"
            info = wait_bgsave(c)
            assert info["rdb_last_bgsave_status"] == "err"
            assert info["amber_rdb_last_error"] == "P005 WRITE_ERR"
            assert "P005 WRITE_ERR" in s.log_path.read_text()
            with pytest.raises(redis.ResponseError, match="^MISCONF"):
                c.set("c", "3")
            assert (rw / "dump.rdb").read_bytes() == good
            c.config_set("dir", str(rw))
            assert cmd(c, "BGSAVE") == b"Background saving started"
            assert wait_bgsave(c)["rdb_last_bgsave_status"] == "ok"
            assert c.set("c", "3")
        finally:
            s.stop()
    finally:
        subprocess.run(["umount", str(ro)], check=False)


# ---- amber check-rdb -------------------------------------------------------------------------

def amber_tool():
    t = os.environ.get("AMBER_TOOL") or str(pathlib.Path(__file__).resolve().parent.parent / "target" / "release" / "amber")
    if not os.path.exists(t):
        raise RuntimeError(f"{t} is missing: build it with `cargo build --release` (scripts/test does)")
    return t


def test_amber_check_rdb_reports_contents_and_problems(tmp_path):
    import json
    data = make_dump(tmp_path)
    good = tmp_path / "good.rdb"
    good.write_bytes(data)
    p = subprocess.run([amber_tool(), "check-rdb", "--json", str(good)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    r = json.loads(p.stdout)
    assert r["ok"] and r["checksum"] == "ok" and r["rdb_version"] == 10
    assert r["aux"]["redis-ver"] == "7.0.15"
    by_db = {d["db"]: d for d in r["databases"]}
    assert set(by_db) == {0, 1, 9}
    assert by_db[1]["keys"] == 2 and by_db[1]["types"] == {"set": 1, "string": 1}
    assert by_db[0]["expires"] == 3 and r["keys"] == sum(d["keys"] for d in r["databases"])
    text = subprocess.run([amber_tool(), "check-rdb", str(good)], capture_output=True, text=True, timeout=60).stdout
    assert "RDB looks OK" in text and "Checksum OK" in text
    cut = tmp_path / "cut.rdb"
    cut.write_bytes(data[: len(data) * 2 // 3])
    p = subprocess.run([amber_tool(), "check-rdb", "--json", str(cut)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 1
    r = json.loads(p.stdout)
    assert not r["ok"] and r["problem"]["code"] == "P002 RDB_CORRUPT" and r["problem"]["offset"] > 0
    assert r["problem"]["after_key"]
    p = subprocess.run([amber_tool(), "check-rdb", str(tmp_path / "missing.rdb")], capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "can't open" in p.stderr
