"""`amber archive` (continuous archiving as a replica) and `amber restore --to-time/--to-offset`
(point-in-time recovery), end to end against Redis 7.0.15 and Amber as the source, on a local
directory and on S3 (moto_server, as test_backup_s3.py).

The oracle: a seeded random write load (strings, hashes, lists, sets, zsets, streams, expiries,
MULTI/EXEC, FLUSHDB) is sent to the source one operation at a time; after each the test records
when it was acknowledged and the source's master_repl_offset. A restore reports the replication
offset it restored to; the dataset there must equal (DEBUG DIGEST) a fresh reference
redis-server into which the operations up to that offset were replayed.

Issue 19's items 1 and 2 in full: AMBER_ARCHIVE_LONG=1 (60 s of load, and the object store
stopped for 30 s instead of 8: about 3 minutes more). Separately: AMBER_ARCHIVE_SECONDS sets the
load's length (default 10), AMBER_ARCHIVE_INSTANTS how many random instants are restored
(default 10), AMBER_ARCHIVE_OUTAGE the outage in seconds (default 8)."""

import json
import os
import random
import signal
import subprocess
import time

import pytest

from conftest import ServerProc
from test_backup import addr, digest, redis, servers, start, tool  # noqa: F401
from test_backup_s3 import moto, bucket  # noqa: F401

LONG = os.environ.get("AMBER_ARCHIVE_LONG") == "1"
SECONDS = float(os.environ.get("AMBER_ARCHIVE_SECONDS", "60" if LONG else "10"))
INSTANTS = int(os.environ.get("AMBER_ARCHIVE_INSTANTS", "10"))
OUTAGE = float(os.environ.get("AMBER_ARCHIVE_OUTAGE", "30" if LONG else "8"))


def source(tmp_path, kind, port=None):
    if kind == "redis":
        return ServerProc("redis", tmp_path, ["--repl-diskless-sync-delay", "0"], port=port).start()
    return ServerProc("amber", tmp_path, ["--repl-diskless-sync-delay", "0", "--save", ""], port=port).start()


def run(env, *args, check=None, timeout=180):
    p = subprocess.run([tool(), *map(str, args)], capture_output=True, text=True, timeout=timeout, env=env)
    if check is not None:
        assert p.returncode == check, f"exit {p.returncode}, wanted {check}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}"
    return p


def run_json(env, *args, check=0):
    return json.loads(run(env, *args, "--json", check=check).stdout)


class Archiver:
    """`amber archive` in the background, stopped (or killed) by PID."""

    def __init__(self, tmp, env, src, repo, flush_ms=100):
        self.env, self.src, self.repo, self.flush_ms = env, src, repo, flush_ms
        self.spool = tmp / "spool"
        self.logs = tmp
        self.n = 0
        self.proc = None
        self.extra = []  # more `amber archive` arguments

    def start(self):
        self.n += 1
        self.log = open(self.logs / f"archiver-{self.n}.log", "wb")
        self.proc = subprocess.Popen(
            [tool(), "archive", "--from", addr(self.src), "--repo", str(self.repo), "--spool", str(self.spool),
             "--flush-ms", str(self.flush_ms), "-q", *self.extra], stdout=self.log, stderr=subprocess.STDOUT, env=self.env)
        return self

    def status(self):
        return run_json(self.env, "archive", "status", "--repo", self.repo, "--spool", self.spool)

    def wait_caught_up(self, timeout=60):
        """Until everything the source has written is stored in the repository."""
        want = self.src.client().info("replication")["master_repl_offset"]
        deadline = time.time() + timeout
        while time.time() < deadline:
            assert self.proc.poll() is None, f"the archiver exited: {self.log_text()}"
            try:
                st = self.status()
                a = st["archiver"] or {}
                newest = st["timelines"][-1]["id"] if st["timelines"] else None
            except (json.JSONDecodeError, AssertionError):
                a, newest = {}, None
            caught_up = (a.get("archived_offset") or 0) >= want and a.get("lag_bytes") == 0
            if caught_up and a.get("archived_timeline") == newest:
                return a
            time.sleep(0.1)
        raise AssertionError(f"the archive did not reach offset {want} within {timeout}s: {a}\n{self.log_text()}")

    def log_text(self):
        return (self.logs / f"archiver-{self.n}.log").read_text()[-3000:]

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(40)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
            assert self.proc.returncode == 0, self.log_text()
        self.log.close()

    def kill9(self):
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(5)
        self.log.close()


@pytest.fixture
def archivers():
    started = []
    yield started
    for a in started:
        if a.proc and a.proc.poll() is None:
            a.kill9()


class Load:
    """The seeded random write load and what the source acknowledged: per operation its
    commands, the send and acknowledgement times and the source's offset after it."""

    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.stream_ids = 0
        self.ops = []  # (commands, sent, acked, offset)

    def op(self):
        r = self.rng
        n = r.randrange(40)
        v = str(r.randrange(10 ** 6))
        k = r.random()
        if k < 0.15:
            return [["SET", f"s:{n}", v] + (["EX", "100000"] if r.random() < 0.3 else [])]
        if k < 0.20:
            return [["APPEND", f"s:{n}", v]]
        if k < 0.25:
            return [["INCRBY", f"n:{n}", str(r.randrange(-50, 50))]]
        if k < 0.35:
            return [["HSET", f"h:{n}", f"f{r.randrange(20)}", v]]
        if k < 0.38:
            return [["HDEL", f"h:{n}", f"f{r.randrange(20)}"]]
        if k < 0.46:
            return [[r.choice(["LPUSH", "RPUSH"]), f"l:{n}", v]]
        if k < 0.50:
            return [[r.choice(["LPOP", "RPOP"]), f"l:{n}"]]
        if k < 0.58:
            return [["SADD", f"t:{n}", str(r.randrange(100))]]
        if k < 0.61:
            return [["SREM", f"t:{n}", str(r.randrange(100))]]
        if k < 0.70:
            return [["ZADD", f"z:{n}", str(r.randrange(1000)), f"m{r.randrange(50)}"]]
        if k < 0.73:
            return [["ZINCRBY", f"z:{n}", "2.5", f"m{r.randrange(50)}"]]
        if k < 0.76:
            return [["ZREM", f"z:{n}", f"m{r.randrange(50)}"]]
        if k < 0.78:
            # Explicit, growing ids: the reference gets the same entries as the source.
            self.stream_ids += 1
            return [["XADD", f"x:{n % 8}", f"{self.stream_ids}-1", "f", v]]
        if k < 0.80:
            return [["EXPIRE", f"{r.choice('shltz')}:{n}", "100000"]]
        if k < 0.82:
            return [["PERSIST", f"{r.choice('shltz')}:{n}"]]
        if k < 0.85:
            return [["DEL", f"{r.choice('shltzn')}:{n}"]]
        if k < 0.997:
            # MULTI/EXEC of 2 to 4 of the above.
            out = []
            while len(out) < r.randrange(2, 5):
                c = self.op()
                if len(c) == 1 and c[0][0] != "FLUSHDB":
                    out += c
            return [["MULTI"]] + out + [["EXEC"]]
        return [["FLUSHDB"]]

    def send(self, c, ops):
        """Sends `ops` operations, one at a time."""
        for _ in range(ops):
            self.one(c)

    def one(self, c):
        cmds = self.op()
        sent = time.time()
        execute(c, cmds)
        acked = time.time()
        off = c.info("replication")["master_repl_offset"]
        self.ops.append((cmds, sent, acked, off))

    def run_for(self, c, seconds):
        end = time.time() + seconds
        while time.time() < end:
            self.one(c)
            time.sleep(0.002)

    def upto(self, offset):
        """How many operations the source had propagated by `offset` (the restored point)."""
        return sum(1 for op in self.ops if op[3] <= offset)


def execute(c, cmds):
    if cmds[0] == ["MULTI"]:
        p = c.pipeline(transaction=True)
        for x in cmds[1:-1]:
            p.execute_command(*x)
        p.execute()
    else:
        c.execute_command(*cmds[0])


def reference_digest(tmp_path, servers, ops):
    ref = start(servers, ServerProc("redis", tmp_path / f"ref-{time.time_ns()}").start())
    c = ref.client()
    for cmds, *_ in ops:
        execute(c, cmds)
    d = digest(ref)
    ref.stop()
    return d


def restored_digest(tmp_path, servers, d):
    s = start(servers, ServerProc("amber", d, ["--appendonly", "yes"]).start(timeout=60))
    out = digest(s)
    s.stop()
    return out


def restore(env, repo, d, *args, check=0):
    return run_json(env, "restore", "--repo", repo, "--data-dir", d, *args, check=check)


def check_instant(tmp_path, servers, env, repo, load, t, name):
    """restore --to-time t: the point reported is at or before t, holds every operation
    acknowledged well before t and none sent after it, and its digest is the reference's."""
    d = tmp_path / name
    r = restore(env, repo, d, "--to-time", f"{t:.6f}")
    assert r["ok"] and not r["partial"], r
    at = r["restored_to"]
    assert at["time_ms"] <= int(t * 1000), (at, t)
    n = load.upto(at["offset"])
    ops = load.ops
    # Arrival follows the acknowledgement by far less than 300 ms on loopback.
    before = [i for i, op in enumerate(ops) if op[2] < t - 0.3]
    if before:
        assert n > before[-1], f"operation {before[-1]}, acknowledged at {ops[before[-1]][2]}, is missing at {t}"
    # Times are kept to the millisecond: what arrived within the millisecond of t counts as at t.
    after = [i for i, op in enumerate(ops) if op[1] > t + 0.001 and (i == 0 or op[3] > ops[i - 1][3])]
    if after:
        assert n <= after[0], f"operation {after[0]}, sent at {ops[after[0]][1]} after {t}, was restored"
    assert restored_digest(tmp_path, servers, d) == reference_digest(tmp_path, servers, ops[:n])
    return r


@pytest.mark.parametrize("kind,where", [("redis", "s3"), ("amber", "local")])
def test_point_in_time_restores_match_the_reference(tmp_path, servers, archivers, moto, bucket, kind, where):
    env = moto.env()
    src = start(servers, source(tmp_path / "src", kind))
    c = src.client()
    load = Load(seed=1234 if kind == "redis" else 4321)
    load.send(c, 200)  # in the base
    repo = f"s3://{bucket}/arch" if where == "s3" else tmp_path / "repo"
    arch = Archiver(tmp_path, env, src, repo).start()
    archivers.append(arch)
    time.sleep(1)
    began = time.time()
    load.run_for(c, SECONDS)
    ended = time.time()
    live = arch.wait_caught_up()
    assert live["running"] and live["link"] == "up" and live["last_error"] is None, live
    status = arch.status()
    [tl] = status["timelines"]
    assert tl["problem"] is None and tl["segments"] > 1
    assert tl["restorable_from_ms"] <= began * 1000 and tl["restorable_to_ms"] >= ended * 1000 - 1000
    assert run_json(env, "archive", "verify", "--repo", repo)["ok"]
    rng = random.Random(99)
    for i in range(INSTANTS):
        check_instant(tmp_path, servers, env, repo, load, rng.uniform(began, ended), f"at{i}")
    # latest: everything the source holds now.
    r = restore(env, repo, tmp_path / "latest", "--to-time", "latest")
    assert restored_digest(tmp_path, servers, tmp_path / "latest") == digest(src)
    # --to-offset: exactly the operations up to an offset, a transaction never split.
    mid = load.ops[len(load.ops) // 2][3]
    r = restore(env, repo, tmp_path / "off", "--to-offset", mid)
    assert r["restored_to"]["offset"] <= mid
    assert load.upto(r["restored_to"]["offset"]) == load.upto(mid)
    assert restored_digest(tmp_path, servers, tmp_path / "off") == reference_digest(
        tmp_path, servers, load.ops[:load.upto(mid)])
    arch.stop()
    assert arch.status()["archiver"]["running"] is False


def test_kill9_mid_upload_then_restart_resumes_the_timeline(tmp_path, servers, archivers, moto, bucket):
    env = moto.env()
    src = start(servers, source(tmp_path / "src", "redis"))
    c = src.client()
    load = Load(seed=7)
    repo = f"s3://{bucket}/k9"
    arch = Archiver(tmp_path, env, src, repo, flush_ms=20).start()
    archivers.append(arch)
    time.sleep(1)
    s3 = moto.client()
    # Segments close every 20 ms under a continuous load: uploads are always under way.
    load.run_for(c, 2)
    arch.kill9()
    load.run_for(c, 1)  # written while no archiver runs
    listed = run_json(env, "archive", "status", "--repo", repo)
    [tl] = listed["timelines"]
    assert tl["problem"] is None
    assert run_json(env, "archive", "verify", "--repo", repo)["ok"]
    # Every listed timeline restores, to a point the reference agrees with.
    r = restore(env, repo, tmp_path / "after-kill", "--to-time", "latest")
    n = load.upto(r["restored_to"]["offset"])
    assert r["restored_to"]["offset"] == tl["end_offset"] and n > 0
    assert restored_digest(tmp_path, servers, tmp_path / "after-kill") == reference_digest(
        tmp_path, servers, load.ops[:n])
    # Restarted: the same timeline continues (PSYNC from the last archived offset), no gap.
    arch.start()
    load.run_for(c, 1)
    arch.wait_caught_up()
    arch.stop()
    again = run_json(env, "archive", "status", "--repo", repo)
    assert [t["id"] for t in again["timelines"]] == [tl["id"]]
    assert again["timelines"][0]["problem"] is None
    restore(env, repo, tmp_path / "final", "--to-time", "latest")
    assert restored_digest(tmp_path, servers, tmp_path / "final") == digest(src)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert all(k.startswith("k9/archive/") for k in keys), keys


def test_source_restart_starts_a_new_timeline(tmp_path, servers, archivers):
    env = dict(os.environ)
    src = start(servers, source(tmp_path / "src", "redis"))
    c = src.client()
    load = Load(seed=11)
    repo = tmp_path / "repo"
    arch = Archiver(tmp_path, env, src, repo).start()
    archivers.append(arch)
    time.sleep(1)
    load.run_for(c, 2)
    arch.wait_caught_up()
    before_restart = time.time()
    first_digest = digest(src)
    src.stop()
    time.sleep(0.5)
    src2 = start(servers, source(tmp_path / "src", "redis", port=src.port))
    arch.src = src2
    c2 = src2.client()
    c2.set("after-restart", "1")
    load2 = Load(seed=12)
    load2.run_for(c2, 1)
    deadline = time.time() + 60
    while len(arch.status()["timelines"]) < 2:
        assert time.time() < deadline, arch.log_text()
        time.sleep(0.2)
    arch.wait_caught_up()
    arch.stop()
    tls = arch.status()["timelines"]
    assert len(tls) == 2 and tls[0]["replid"] != tls[1]["replid"]
    assert all(t["problem"] is None for t in tls)
    # Before the restart: the first timeline, the source's data then.
    r = restore(env, repo, tmp_path / "old", "--to-time", f"{before_restart:.6f}")
    assert r["timeline"] == tls[0]["id"]
    assert restored_digest(tmp_path, servers, tmp_path / "old") == first_digest
    # Latest: the new timeline, the restarted source's data.
    r = restore(env, repo, tmp_path / "new", "--to-time", "latest")
    assert r["timeline"] == tls[1]["id"]
    assert restored_digest(tmp_path, servers, tmp_path / "new") == digest(src2)


def test_object_store_outage_is_caught_up_without_a_gap(tmp_path, servers, archivers, moto, bucket):
    env = moto.env()
    src = start(servers, source(tmp_path / "src", "amber"))
    c = src.client()
    load = Load(seed=21)
    repo = f"s3://{bucket}/outage"
    arch = Archiver(tmp_path, env, src, repo).start()
    archivers.append(arch)
    time.sleep(1)
    load.run_for(c, 1)
    arch.wait_caught_up()
    outage = OUTAGE
    os.kill(moto.proc.pid, signal.SIGSTOP)
    try:
        load.run_for(c, outage)
        spool = json.loads((arch.spool / "status.json").read_text())
        assert spool["spooled_segments"] > 0 and spool["received_offset"] > spool["archived_offset"], spool
    finally:
        os.kill(moto.proc.pid, signal.SIGCONT)
    load.run_for(c, 1)
    arch.wait_caught_up(timeout=120)
    arch.stop()
    [tl] = arch.status()["timelines"]
    assert tl["problem"] is None
    assert tl["end_offset"] == c.info("replication")["master_repl_offset"]
    restore(env, repo, tmp_path / "r", "--to-time", "latest")
    assert restored_digest(tmp_path, servers, tmp_path / "r") == digest(src)


def test_corrupt_segment_caught_by_verify_and_restore_stops_before_it(tmp_path, servers, archivers):
    env = dict(os.environ)
    src = start(servers, source(tmp_path / "src", "redis"))
    c = src.client()
    load = Load(seed=31)
    repo = tmp_path / "repo"
    arch = Archiver(tmp_path, env, src, repo).start()
    archivers.append(arch)
    time.sleep(1)
    load.run_for(c, 3)
    arch.wait_caught_up()
    arch.stop()
    [tl] = run_json(env, "archive", "status", "--repo", repo)["timelines"]
    segs = sorted((repo / "archive" / tl["id"] / "seg").glob("*.json"))
    assert len(segs) >= 4
    bad = json.loads(segs[len(segs) // 2].read_text())
    obj = repo / bad["object"]
    data = bytearray(obj.read_bytes())
    data[len(data) // 2] ^= 0x40
    obj.write_bytes(bytes(data))
    v = run_json(env, "archive", "verify", "--repo", repo, check=1)
    assert not v["ok"]
    [t] = v["timelines"]
    assert t["restorable_to_offset"] == bad["start_offset"]
    assert any(bad["object"] in p for p in t["problems"]), t
    # Without --allow-partial: restored to the last good point, exit 3, and said.
    r = restore(env, repo, tmp_path / "p", "--to-time", "latest", check=3)
    assert r["ok"] and r["partial"] and bad["object"] in r["stopped"]
    assert r["restored_to"]["offset"] == bad["start_offset"]
    n = load.upto(bad["start_offset"])
    assert restored_digest(tmp_path, servers, tmp_path / "p") == reference_digest(tmp_path, servers, load.ops[:n])
    text = run(env, "restore", "--repo", repo, "--data-dir", tmp_path / "q", "--to-time", "latest", check=3).stdout
    assert "PARTIALLY RESTORED" in text and "stopped at the last good point" in text
    r = restore(env, repo, tmp_path / "a", "--to-time", "latest", "--allow-partial", check=0)
    assert r["partial"]
    # A point before the damage restores in full.
    before = json.loads(segs[0].read_text())
    r = restore(env, repo, tmp_path / "b", "--to-offset", before["end_offset"], check=0)
    assert not r["partial"] and r["restored_to"]["offset"] == before["end_offset"]
