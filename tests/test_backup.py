"""`amber backup` and `amber restore` end to end against Redis 7.0.15 (and Amber for the
--local form): snapshots over the replication handshake, BGSAVE-and-copy, verify catching
corruption, kill -9 in the middle of a backup, retention, offline restore (RDB and AOF base)
and online restore, every time compared with DEBUG DIGEST of the source at backup time.

The tool is target/release/amber, or $AMBER_TOOL."""

import json
import os
import pathlib
import shutil
import signal
import subprocess
import time

import pytest

from conftest import ROOT, ServerProc, redis_bin
from datasets import fill


def tool():
    b = os.environ.get("AMBER_TOOL")
    if b:
        return b
    path = ROOT / "target" / "release" / "amber"
    if not path.exists():
        raise RuntimeError(f"{path} is missing: build it with `cargo build --release` (scripts/test does)")
    return str(path)


def amber(*args, check=None, timeout=120, env=None):
    """Runs the tool; `check` is the exit code expected (None: don't check)."""
    p = subprocess.run([tool(), *map(str, args)], capture_output=True, text=True, timeout=timeout,
                       env={**os.environ, **(env or {})})
    if check is not None:
        assert p.returncode == check, f"exit {p.returncode}, wanted {check}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}"
    return p


def amber_json(*args, check=0):
    p = amber(*args, "--json", check=check)
    return json.loads(p.stdout)


def redis(dir, *extra):
    return ServerProc("redis", dir, ["--repl-diskless-sync-delay", "0", *extra]).start()


class ConfServer(ServerProc):
    """Redis started with a configuration file (it must come first on the command line)."""

    def __init__(self, dir, conf):
        super().__init__("redis", dir)
        self.conf = conf

    def argv(self):
        return [redis_bin(), str(self.conf), "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir),
                "--save", "", "--enable-debug-command", "yes", "--daemonize", "no"]


def digest(s):
    return s.client().execute_command("DEBUG", "DIGEST")


def expiretimes(s):
    """Absolute expiry (ms) of the dataset's keys with a TTL: DEBUG DIGEST only records that a
    key has one, not when."""
    c = s.client()
    return {k: c.execute_command("PEXPIRETIME", k) for k in (b"ttl:str", b"ttl:list", b"ttl:hash")}


def addr(s):
    return f"127.0.0.1:{s.port}"


@pytest.fixture
def servers():
    started = []
    yield started
    for s in started:
        s.stop()


def start(servers, s):
    servers.append(s)
    return s


def total_keys(c):
    return sum(v["keys"] for k, v in c.info("keyspace").items())


@pytest.mark.parametrize("mode", ["diskless", "disk"])
def test_end_to_end_against_redis(tmp_path, servers, mode):
    src = start(servers, redis(tmp_path / "src"))
    c = src.client()
    fill(c)
    want = digest(src)
    want_ttl = expiretimes(src)
    assert all(t > 0 for t in want_ttl.values())
    nkeys = total_keys(c)
    repo = tmp_path / "repo"
    extra = ["--disk-sync"] if mode == "disk" else []
    out = amber_json("backup", "create", "--from", addr(src), "--repo", repo, *extra)
    e = out["entry"]
    assert out["ok"] and e["verified"]
    assert e["keys"] == nkeys
    assert {d["db"] for d in e["databases"]} == {0, 1, 9}
    assert e["expires"] == 3
    assert e["source"]["redis_version"] == "7.0.15"
    assert e["source"]["run_id"] == c.info("server")["run_id"]
    assert e["source"]["replid"] and e["rdb_version"] == 10
    assert (repo / e["object"]).exists() and (repo / "catalog" / f"{e['id']}.json").exists()
    assert e["stored_size"] < e["raw_size"]
    # The source moves on; the backup stays what it was.
    c.set(b"after-backup", b"1")
    c.delete(b"str:long")
    assert digest(src) != want
    v = amber_json("backup", "verify", e["id"], "--repo", repo)
    assert v["ok"] and v["results"][0]["ok"]

    # Offline, appendonly no.
    d1 = tmp_path / "restored-rdb"
    r = amber_json("restore", e["id"], "--repo", repo, "--data-dir", d1)
    assert r["ok"] and not r["appendonly"]
    assert (d1 / "dump.rdb").exists()
    s1 = start(servers, ServerProc("redis", d1).start())
    assert digest(s1) == want and expiretimes(s1) == want_ttl
    assert total_keys(s1.client()) == nkeys

    # Offline, appendonly yes: the AOF wins at start, so the data must be its base.
    d2 = tmp_path / "restored-aof"
    conf = tmp_path / "aof.conf"
    conf.write_text('appendonly yes\nappendfilename "data.aof"\n')
    r = amber_json("restore", e["id"], "--repo", repo, "--data-dir", d2, "--config", conf)
    assert r["ok"] and r["appendonly"]
    man = (d2 / "appendonlydir" / "data.aof.manifest").read_text()
    assert man == "file data.aof.1.base.rdb seq 1 type b\nfile data.aof.1.incr.aof seq 1 type i\n"
    assert (d2 / "appendonlydir" / "data.aof.1.incr.aof").stat().st_size == 0
    # dump.rdb alone would restore nothing under appendonly yes: prove the AOF is what loads.
    (d2 / "dump.rdb").unlink()
    s2 = start(servers, ConfServer(d2, conf).start())
    assert s2.client().config_get("appendonly")["appendonly"] == "yes"
    assert digest(s2) == want and expiretimes(s2) == want_ttl
    assert "DB loaded from base file data.aof.1.base.rdb" in s2.log_path.read_text()

    # Online, into a second running Redis.
    dst = start(servers, redis(tmp_path / "dst"))
    r = amber_json("restore", e["id"], "--repo", repo, "--into", addr(dst))
    assert r["ok"] and r["tally"]["restored"] == nkeys
    assert r["payloads_cut"] == nkeys and r["payloads_reencoded"] == 0
    assert digest(dst) == want and expiretimes(dst) == want_ttl
    # OBJECT ENCODING too: the payloads are the source's own bytes.
    for k in (b"list:large", b"hash:small", b"set:ints", b"zset:large", b"str:raw"):
        assert dst.client().object("encoding", k) == c.object("encoding", k)
    # Again: every key exists now, refused without --replace, nothing touched.
    dst.client().set(b"k:1", b"changed")
    changed = digest(dst)
    r = amber_json("restore", e["id"], "--repo", repo, "--into", addr(dst), check=1)
    assert r["refused"] and r["tally"]["existing"] == nkeys
    assert digest(dst) == changed
    r = amber_json("restore", e["id"], "--repo", repo, "--into", addr(dst), "--replace")
    assert r["ok"] and digest(dst) == want and expiretimes(dst) == want_ttl


def test_auth_and_text_output(tmp_path, servers):
    src = start(servers, redis(tmp_path / "src", "--requirepass", "s3cret"))
    c = src.client(password="s3cret")
    c.set(b"a", b"1")
    repo = tmp_path / "repo"
    p = amber("backup", "create", "--from", addr(src), "--repo", repo, check=2)
    assert "NOAUTH" in p.stderr or "Authentication" in p.stderr
    p = amber("backup", "create", "--from", addr(src), "--repo", repo, check=0, env={"REDISCLI_AUTH": "s3cret"})
    assert "1 keys" in p.stdout and "verified:  yes" in p.stdout
    p = amber("backup", "create", "--from", addr(src), "--repo", repo, "--pass", "wrong", check=2)
    assert "refused AUTH" in p.stderr
    p = amber("backup", "list", "--repo", repo, check=0)
    assert "1 backups in" in p.stdout


def test_verify_catches_flipped_and_truncated_backups(tmp_path, servers):
    src = start(servers, redis(tmp_path / "src"))
    fill(src.client())
    repo = tmp_path / "repo"
    ids = [amber_json("backup", "create", "--from", addr(src), "--repo", repo)["entry"]["id"] for _ in range(3)]
    assert amber_json("backup", "verify", "--all", "--repo", repo)["ok"]
    flipped = repo / "data" / f"{ids[0]}.rdb.zst"
    b = bytearray(flipped.read_bytes())
    b[len(b) // 2] ^= 0x01
    flipped.write_bytes(bytes(b))
    cut = repo / "data" / f"{ids[1]}.rdb.zst"
    cut.write_bytes(cut.read_bytes()[:-200])
    out = amber_json("backup", "verify", "--all", "--repo", repo, check=1)
    by_id = {r["id"]: r for r in out["results"]}
    assert not by_id[ids[0]]["ok"] and not by_id[ids[1]]["ok"] and by_id[ids[2]]["ok"]
    assert any("catalog says" in p for p in by_id[ids[1]]["problems"])
    amber("backup", "verify", ids[0], "--repo", repo, check=1)
    amber("backup", "verify", ids[2], "--repo", repo, check=0)
    listed = {e["id"]: e for e in amber_json("backup", "list", "--repo", repo)["backups"]}
    assert listed[ids[0]]["verified"] is False and listed[ids[0]]["verify_error"]
    assert listed[ids[2]]["verified"] is True
    # A backup that failed verification is not restored unless forced.
    p = amber("restore", ids[0], "--repo", repo, "--data-dir", tmp_path / "x", check=1)
    assert "verification failed" in p.stdout
    # A missing data object is a problem found, not a crash.
    (repo / "data" / f"{ids[2]}.rdb.zst").unlink()
    out = amber_json("backup", "verify", ids[2], "--repo", repo, check=1)
    assert "missing" in out["results"][0]["problems"][0]


def test_restore_refuses_a_directory_in_use(tmp_path, servers):
    src = start(servers, redis(tmp_path / "src"))
    fill(src.client())
    repo = tmp_path / "repo"
    bid = amber_json("backup", "create", "--from", addr(src), "--repo", repo)["entry"]["id"]
    busy = start(servers, ServerProc("redis", tmp_path / "busy").start())
    busy.client().set(b"mine", b"1")
    busy.client().save()
    before = (tmp_path / "busy" / "dump.rdb").read_bytes()
    out = amber_json("restore", bid, "--repo", repo, "--data-dir", tmp_path / "busy", check=1)
    assert not out["ok"] and any(str(busy.pid) in r for r in out["refused"])
    assert (tmp_path / "busy" / "dump.rdb").read_bytes() == before
    assert not list((tmp_path / "busy").glob("amber-restore-*"))
    # A pidfile naming a live process refuses too (here: the running Redis, other dir).
    conf = tmp_path / "pid.conf"
    conf.write_text(f"pidfile {tmp_path / 'server.pid'}\n")
    (tmp_path / "server.pid").write_text(f"{busy.pid}\n")
    out = amber_json("restore", bid, "--repo", repo, "--data-dir", tmp_path / "other", "--config", conf, check=1)
    assert any("pidfile" in r or "server.pid" in r for r in out["refused"])
    # Stopped: the restore goes through and keeps the old data aside.
    busy.stop()
    out = amber_json("restore", bid, "--repo", repo, "--data-dir", tmp_path / "busy")
    assert out["ok"]
    aside = list((tmp_path / "busy").glob("amber-restore-*/dump.rdb"))
    assert len(aside) == 1 and aside[0].read_bytes() == before
    # Twice in the same second: the second restore keeps the first one's dump aside too.
    first = (tmp_path / "busy" / "dump.rdb").read_bytes()
    assert amber_json("restore", bid, "--repo", repo, "--data-dir", tmp_path / "busy")["ok"]
    kept = sorted(p.read_bytes() for p in (tmp_path / "busy").glob("amber-restore-*/dump.rdb"))
    assert kept == sorted([before, first])
    s = start(servers, ServerProc("redis", tmp_path / "busy").start())
    assert digest(s) == digest(src)


def test_kill9_during_create_leaves_the_repository_consistent(tmp_path, servers):
    # 100 µs per key: ~3 s for 30,000 keys, time enough to kill the tool mid-transfer.
    src = start(servers, redis(tmp_path / "src", "--rdb-key-save-delay", "100"))
    c = src.client()
    p = c.pipeline(transaction=False)
    for i in range(30000):
        p.set(f"key:{i}".encode(), os.urandom(64))
    p.execute()
    repo = tmp_path / "repo"
    c.config_set("rdb-key-save-delay", 0)
    good = amber_json("backup", "create", "--from", addr(src), "--repo", repo)["entry"]["id"]
    c.config_set("rdb-key-save-delay", 100)
    proc = subprocess.Popen([tool(), "backup", "create", "--from", addr(src), "--repo", str(repo), "-q"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 20
    while time.time() < deadline and not [f for f in (repo / "data").iterdir() if "#" in f.name]:
        time.sleep(0.05)
    time.sleep(0.5)
    assert proc.poll() is None, "the backup finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    c.config_set("rdb-key-save-delay", 0)
    listed = amber_json("backup", "list", "--repo", repo)
    assert [e["id"] for e in listed["backups"]] == [good]
    assert listed["partial_uploads"] + len(listed["orphan_objects"]) >= 1
    assert amber_json("backup", "verify", "--all", "--repo", repo)["ok"]
    # Young leftovers may belong to a backup in progress: kept by default.
    out = amber_json("backup", "prune", "--repo", repo, "--keep-last", "5", "--apply")
    assert out["orphans_kept_young"] and not out["orphans_removed"]
    out = amber_json("backup", "prune", "--repo", repo, "--keep-last", "5", "--orphan-grace", "0s", "--apply")
    assert out["orphans_removed"] and out["removed"] == []
    listed = amber_json("backup", "list", "--repo", repo)
    assert listed["partial_uploads"] == 0 and listed["orphan_objects"] == []
    assert [e["id"] for e in listed["backups"]] == [good]
    assert sorted(f.name for f in (repo / "data").iterdir()) == [f"{good}.rdb.zst"]


def test_prune_dry_run_then_apply(tmp_path, servers):
    src = start(servers, redis(tmp_path / "src"))
    src.client().set(b"a", b"1")
    repo = tmp_path / "repo"
    ids = [amber_json("backup", "create", "--from", addr(src), "--repo", repo)["entry"]["id"] for _ in range(4)]
    amber("backup", "prune", "--repo", repo, check=2)  # no rule: refused
    p = amber("backup", "prune", "--repo", repo, "--keep-last", "2", check=0)
    assert "would remove" in p.stdout.lower() and p.stdout.count("remove ") == 2
    assert len(amber_json("backup", "list", "--repo", repo)["backups"]) == 4
    out = amber_json("backup", "prune", "--repo", repo, "--keep-last", "2", "--apply")
    assert sorted(out["removed"]) == sorted(ids[:2])
    left = [e["id"] for e in amber_json("backup", "list", "--repo", repo)["backups"]]
    assert left == ids[2:]
    assert sorted(f.name for f in (repo / "data").iterdir()) == sorted(f"{i}.rdb.zst" for i in ids[2:])
    # max-age 0 would remove everything: the newest verified stays.
    out = amber_json("backup", "prune", "--repo", repo, "--max-age", "0s", "--apply")
    assert out["removed"] == [ids[2]]
    assert [e["id"] for e in amber_json("backup", "list", "--repo", repo)["backups"]] == [ids[3]]


def local_backup_roundtrip(tmp_path, servers, src):
    c = src.client()
    fill(c)
    want = digest(src)
    saves = c.info("persistence")["rdb_saves"]
    repo = tmp_path / "repo"
    out = amber_json("backup", "create", "--local", "--dir", src.dir, "--from", addr(src), "--repo", repo)
    e = out["entry"]
    assert out["ok"] and e["verified"] and e["source"]["method"] == "local"
    assert e["keys"] == total_keys(c)
    assert c.info("persistence")["rdb_saves"] == saves + 1
    import hashlib
    assert hashlib.sha256((src.dir / "dump.rdb").read_bytes()).hexdigest() == e["raw_sha256"]
    d = tmp_path / "restored"
    amber_json("restore", e["id"], "--repo", repo, "--data-dir", d)
    s = start(servers, ServerProc("redis", d).start())
    assert digest(s) == want
    return e


def test_local_against_redis(tmp_path, servers):
    src = start(servers, redis(tmp_path / "src"))
    e = local_backup_roundtrip(tmp_path, servers, src)
    assert e["source"]["amber_version"] is None
    # A wrong --dir is caught (the server saves elsewhere).
    (tmp_path / "elsewhere").mkdir()
    p = amber("backup", "create", "--local", "--dir", tmp_path / "elsewhere", "--from", addr(src),
              "--repo", tmp_path / "repo", check=2)
    assert "saves into" in p.stderr


def test_local_against_amber(tmp_path, servers):
    src = start(servers, ServerProc("amber", tmp_path / "src").start())
    local_backup_roundtrip(tmp_path, servers, src)


@pytest.mark.parametrize("kind", ["redis", "amber"])
def test_local_save_failure_is_reported(tmp_path, servers, kind):
    """A BGSAVE that fails for lack of space is P004 (from amber_rdb_last_error on Amber, from
    the free space on Redis), not a backup of the stale dump.rdb that is still there."""
    d = tmp_path / "small"
    d.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(d)], capture_output=True, text=True)
    assert r.returncode == 0, f"this test needs to mount a small tmpfs (root): {r.stderr}"
    try:
        src = start(servers, redis(d) if kind == "redis" else ServerProc("amber", d).start())
        c = src.client()
        c.set(b"small", b"1")
        c.save()  # a good, older dump.rdb is there
        p = c.pipeline(transaction=False)
        for i in range(64):
            p.set(f"big:{i}".encode(), os.urandom(64 * 1024))
        p.execute()
        out = amber_json("backup", "create", "--local", "--dir", d, "--from", addr(src),
                         "--repo", tmp_path / "repo", check=1)
        assert not out["ok"] and out["problem"].startswith("P004"), out
        if kind == "amber":
            assert c.info("persistence")["amber_rdb_last_error"].startswith("P004")
        assert amber_json("backup", "list", "--repo", tmp_path / "repo")["backups"] == []
        src.kill9()  # Amber would try (and fail) to save at shutdown on the full disk
    finally:
        subprocess.run(["umount", str(d)])


def test_network_backup_of_amber(tmp_path, servers):
    """End to end with Amber as the source: backup over SYNC (REPLCONF rdb-only), writes go on,
    verify, restore with appendonly no (into Redis) and yes (into Amber, from the AOF base):
    both hold the dataset of backup time."""
    src = start(servers, ServerProc("amber", tmp_path / "src").start())
    c = src.client()
    fill(c)
    want = digest(src)
    repo = tmp_path / "repo"
    e = amber_json("backup", "create", "--from", addr(src), "--repo", repo)["entry"]
    assert e["verified"] and e["source"]["amber_version"]
    c.set("written-after-the-backup", "x")
    assert amber_json("backup", "verify", e["id"], "--repo", repo)["ok"]
    d = tmp_path / "restored"
    amber_json("restore", e["id"], "--repo", repo, "--data-dir", d)
    s = start(servers, ServerProc("redis", d).start())
    assert digest(s) == want
    d2 = tmp_path / "restored-aof"
    conf = tmp_path / "aof.conf"
    conf.write_text("appendonly yes\n")
    r = amber_json("restore", e["id"], "--repo", repo, "--data-dir", d2, "--config", conf)
    assert r["ok"] and r["appendonly"]
    (d2 / "dump.rdb").unlink()
    s2 = start(servers, ServerProc("amber", d2, ["--appendonly", "yes"]).start())
    assert digest(s2) == want


def test_restored_files_belong_to_the_directory_owner(tmp_path, servers):
    src = start(servers, redis(tmp_path / "src"))
    src.client().set(b"a", b"1")
    repo = tmp_path / "repo"
    bid = amber_json("backup", "create", "--from", addr(src), "--repo", repo)["entry"]["id"]
    d = tmp_path / "owned"
    d.mkdir()
    os.chown(d, 65534, 65534)
    conf = tmp_path / "aof.conf"
    conf.write_text("appendonly yes\n")
    out = amber_json("restore", bid, "--repo", repo, "--data-dir", d, "--config", conf)
    assert out["ok"] and len(out["written"]) == 4
    for f in [d / "dump.rdb", d / "appendonlydir", *(d / "appendonlydir").iterdir()]:
        st = f.stat()
        assert (st.st_uid, st.st_gid) == (65534, 65534), f


def test_usage_errors_exit_2(tmp_path):
    amber("backup", "list", "--repo", tmp_path / "nothing", check=2)
    amber("backup", "create", "--repo", tmp_path / "r", check=2)
    assert not (tmp_path / "r").exists()
    amber("backup", "show", "../../etc/passwd", "--repo", tmp_path / "r", check=2)
    amber("backup", "verify", "--repo", tmp_path / "r", check=2)
    amber("backup", "prune", "--repo", tmp_path / "r", "--max-age", "3x", check=2)
    amber("restore", "latest", "--repo", tmp_path / "r", "--data-dir", tmp_path / "d", check=2)


def test_content_amber_cannot_decode_is_stored_checksummed_and_restorable_offline(tmp_path, servers):
    src = start(servers, redis(tmp_path / "src"))
    c = src.client()
    fill(c)
    c.function_load("#!lua name=mylib\nredis.register_function('f1', function() return 1 end)")
    want = digest(src)
    repo = tmp_path / "repo"
    out = amber_json("backup", "create", "--from", addr(src), "--repo", repo, check=1)
    e = out["entry"]
    assert not e["verified"] and "FUNCTION" in e["unsupported"] and e["verify_error"] is None
    v = amber_json("backup", "verify", e["id"], "--repo", repo, check=1)
    assert "checksums match" in v["results"][0]["problems"][0]
    d = tmp_path / "restored"
    assert amber_json("restore", e["id"], "--repo", repo, "--data-dir", d)["ok"]
    s = start(servers, ServerProc("redis", d).start())
    assert digest(s) == want
    assert s.client().fcall("f1", 0) == 1
    dst = start(servers, redis(tmp_path / "dst"))
    p = amber("restore", e["id"], "--repo", repo, "--into", addr(dst), check=1)
    assert "offline" in p.stdout


def test_writes_during_the_backup_are_not_in_it(tmp_path, servers):
    """The snapshot is the dataset at the moment the server forked for it: writes made while
    the transfer runs (slowed down to ~1 s) are not in the backup."""
    src = start(servers, redis(tmp_path / "src", "--rdb-key-save-delay", "4000"))
    c = src.client()
    fill(c)
    want = digest(src)
    repo = tmp_path / "repo"
    proc = subprocess.Popen([tool(), "backup", "create", "--from", addr(src), "--repo", str(repo), "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 10
    while c.info("persistence")["rdb_bgsave_in_progress"] != 1:
        assert time.time() < deadline and proc.poll() is None, "the snapshot never started"
        time.sleep(0.01)
    writes = 0
    while proc.poll() is None:
        c.set(f"during:{writes}".encode(), b"x")
        c.incr(b"int:small")
        writes += 1
    out, err = proc.communicate()
    assert proc.returncode == 0, err
    assert writes > 10
    assert digest(src) != want
    e = json.loads(out)["entry"]
    dst = start(servers, redis(tmp_path / "dst"))
    amber_json("restore", e["id"], "--repo", repo, "--into", addr(dst))
    assert digest(dst) == want


def test_restore_without_config_into_an_aof_server_directory(tmp_path, servers):
    """The guide's trap: dump.rdb copied into the directory of a server running with
    appendonly yes restores nothing (the AOF wins). Without --config, an existing
    appendonlydir is taken as that sign: the AOF base is written too, the old AOF set aside."""
    src = start(servers, redis(tmp_path / "src"))
    fill(src.client())
    want = digest(src)
    bid = amber_json("backup", "create", "--from", addr(src), "--repo", tmp_path / "repo")["entry"]["id"]
    d = tmp_path / "aofserver"
    old = start(servers, ServerProc("redis", d, ["--appendonly", "yes"]).start())
    old.client().set(b"stale", b"data")
    old.stop()
    assert (d / "appendonlydir").is_dir()
    out = amber_json("restore", bid, "--repo", tmp_path / "repo", "--data-dir", d)
    assert out["ok"] and out["appendonly"] and any("appendonly yes" in n for n in out["notes"])
    assert any(to.endswith("appendonlydir") for _, to in out["moved_aside"])
    s = start(servers, ServerProc("redis", d, ["--appendonly", "yes"]).start())
    assert digest(s) == want and s.client().get(b"stale") is None


def test_local_save_that_cannot_start_is_p001(tmp_path, servers):
    src = start(servers, redis(tmp_path / "src"))
    c = src.client()
    c.execute_command("ACL", "SETUSER", "nosave", "on", ">pw", "~*", "+@all", "-bgsave")
    out = amber_json("backup", "create", "--local", "--dir", src.dir, "--from", addr(src), "--user", "nosave",
                     "--pass", "pw", "--repo", tmp_path / "repo", check=1)
    assert out["problem"].startswith("P001") and "NOPERM" in out["problem"]
