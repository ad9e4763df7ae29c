"""AOF: the multi-part layout written and read as Redis 7.0.15 does (interop both ways, with and
without the RDB preamble, after rewrites, with timestamps), exact replay of a randomized
workload across restarts and rewrites, truncated tails, durability under kill -9 with
appendfsync always, and injected fsync failures."""

import os
import pathlib
import random
import shutil
import signal
import subprocess
import threading
import time

import pytest
import redis

from conftest import ServerProc, amber_bin
from datasets import dump_all, fill
from test_rdb import cmd, digest

AOF = ["--appendonly", "yes", "--save", ""]


def start(kind, d, *extra):
    return ServerProc(kind, d, AOF + list(extra)).start()


def wait_rewrite(c, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        info = c.info("persistence")
        if not info["aof_rewrite_in_progress"] and not info["aof_rewrite_scheduled"]:
            return info
        time.sleep(0.02)
    raise AssertionError("the AOF rewrite did not finish")


def value_digests(c):
    """DEBUG DIGEST-VALUE of every key, to name the keys behind a digest mismatch."""
    out = {}
    for db in range(16):
        c.select(db)
        for key in c.scan_iter(count=1000):
            out[(db, key)] = cmd(c, "DEBUG", "DIGEST-VALUE", key)[0]
    c.select(0)
    return out


def same_digest(a, b):
    """Asserts two servers hold the same dataset by DEBUG DIGEST, naming differing keys."""
    da, db_ = digest(a), digest(b)
    if da != db_:
        va, vb = value_digests(a), value_digests(b)
        diff = sorted(k for k in set(va) | set(vb) if va.get(k) != vb.get(k))
        raise AssertionError(f"digests differ: {da} vs {db_}; keys: {diff[:20]}")


def check_aof(d):
    manifest = d / "appendonlydir" / "appendonly.aof.manifest"
    p = subprocess.run(["redis-check-aof", str(manifest)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and "All AOF files and manifest are valid" in p.stdout, p.stdout + p.stderr


def workload(c, seed, n=3000):
    """A seeded random mix of every family: relative expiries, SPOP, INCRBYFLOAT, blocking
    pops that find data, MULTI/EXEC, several databases."""
    rnd = random.Random(seed)
    keys = [f"k{i}" for i in range(40)]
    for i in range(n):
        k = rnd.choice(keys)
        op = rnd.randrange(24)
        try:
            if op == 0:
                c.set(k, rnd.randrange(1000))
            elif op == 1:
                c.set(k, "v" * rnd.randrange(1, 60), ex=rnd.randrange(100, 1000))
            elif op == 2:
                c.incrbyfloat("f:" + k, rnd.random() * 10)
            elif op == 3:
                c.rpush("l:" + k, *[rnd.randrange(100) for _ in range(rnd.randrange(1, 5))])
            elif op == 4:
                c.lpop("l:" + k)
            elif op == 5:
                c.blpop(["l:" + k, "l:k1"], timeout=0.01)
            elif op == 6:
                c.sadd("s:" + k, *[rnd.randrange(50) for _ in range(3)])
            elif op == 7:
                c.spop("s:" + k)
            elif op == 8:
                c.hset("h:" + k, f"f{rnd.randrange(10)}", rnd.randrange(100))
            elif op == 9:
                c.hincrbyfloat("h:" + k, "fl", 1.25)
            elif op == 10:
                c.zadd("z:" + k, {f"m{rnd.randrange(20)}": rnd.random() * 100})
            elif op == 11:
                c.zpopmin("z:" + k)
            elif op == 12:
                c.expire(k, rnd.randrange(100, 10000))
            elif op == 13:
                c.pexpire("l:" + k, rnd.randrange(1, 30))  # some expire during the run
            elif op == 14:
                c.delete(rnd.choice(keys))
            elif op == 15:
                p = c.pipeline(transaction=True)
                p.incr("tx:counter")
                p.lpush("tx:list", i)
                p.set(k, "in-tx")
                p.execute()
            elif op == 16:
                c.getex(k, px=rnd.randrange(100_000, 500_000))
            elif op == 17:
                c.persist(k)
            elif op == 18:
                c.srandmember("s:" + k)  # read only: nothing to replay
            elif op == 19:
                c.lmove("l:" + k, "l:k0", "LEFT", "RIGHT")
            elif op == 20:
                c.select(rnd.randrange(3))
            elif op == 21:
                c.append("a:" + k, "xy")
            elif op == 22:
                c.zincrby("z:" + k, 0.5, "m1")
            elif op == 23:
                c.setrange("a:" + k, rnd.randrange(5), "Z")
        except redis.ResponseError:
            pass  # wrong types are part of the mix
    c.select(0)


def expire_due(c):
    """After the workload's PEXPIREs of at most 30 ms are over: deletes those keys (SCAN
    expires what it meets, as in Redis), so that none is left for the active expire cycle to
    take between a digest and the next (DEBUG DIGEST counts a key until it is deleted)."""
    time.sleep(0.05)
    for db in range(3):
        c.select(db)
        list(c.scan_iter(count=1000))
    c.select(0)


# ---- interop ---------------------------------------------------------------------------------

@pytest.mark.parametrize("preamble", ["yes", "no"])
def test_redis_appendonlydir_loads_into_amber(tmp_path, preamble):
    extra = ["--aof-use-rdb-preamble", preamble, "--aof-timestamp-enabled", "yes"]
    r = start("redis", tmp_path / "r", *extra)
    try:
        c = r.client()
        fill(c)
        assert cmd(c, "BGREWRITEAOF") == b"Background append only file rewriting started"
        wait_rewrite(c)
        workload(c, 1, 800)
        time.sleep(0.05)  # the shortest expiries pass; dump_all's SCAN deletes them
        want, dig = dump_all(c, string_encodings=False), digest(c)
    finally:
        r.stop()
    (tmp_path / "a").mkdir()
    shutil.copytree(tmp_path / "r" / "appendonlydir", tmp_path / "a" / "appendonlydir")
    a = start("amber", tmp_path / "a", *extra)
    try:
        ca = a.client()
        got = dump_all(ca, string_encodings=False)
        diff = {k: (want.get(k), got.get(k)) for k in set(want) | set(got) if want.get(k) != got.get(k)}
        assert not diff
        assert digest(ca) == dig, value_digests(ca)
    finally:
        a.stop()


@pytest.mark.parametrize("preamble", ["yes", "no"])
def test_amber_appendonlydir_passes_check_aof_and_loads_into_redis(tmp_path, preamble):
    extra = ["--aof-use-rdb-preamble", preamble, "--aof-timestamp-enabled", "yes"]
    a = start("amber", tmp_path / "a", *extra)
    try:
        c = a.client()
        fill(c)
        workload(c, 2, 800)
        assert cmd(c, "BGREWRITEAOF") == b"Background append only file rewriting started"
        wait_rewrite(c)
        workload(c, 3, 800)
        time.sleep(0.05)
        want, dig = dump_all(c, string_encodings=False), digest(c)
    finally:
        a.stop()
    check_aof(tmp_path / "a")
    names = os.listdir(tmp_path / "a" / "appendonlydir")
    assert any(n.endswith(".base.rdb" if preamble == "yes" else ".base.aof") for n in names), names
    (tmp_path / "r").mkdir()
    shutil.copytree(tmp_path / "a" / "appendonlydir", tmp_path / "r" / "appendonlydir")
    r = start("redis", tmp_path / "r", *extra)
    try:
        cr = r.client()
        got = dump_all(cr, string_encodings=False)
        assert digest(cr) == dig
        assert got == want
    finally:
        r.stop()


# ---- exact replay ----------------------------------------------------------------------------

def test_replay_is_exact_across_restarts_and_rewrites(tmp_path):
    d = tmp_path / "a"
    s = start("amber", d)
    c = s.client()
    workload(c, 11, 3000)
    expire_due(c)
    dig = digest(c)
    s.stop()
    s = start("amber", d)
    c = s.client()
    assert digest(c) == dig
    workload(c, 12, 1500)
    assert cmd(c, "BGREWRITEAOF") == b"Background append only file rewriting started"
    workload(c, 13, 1500)  # during and after the rewrite
    wait_rewrite(c)
    workload(c, 14, 500)
    expire_due(c)
    dig = digest(c)
    s.stop(signal.SIGKILL)  # no shutdown work: what is on disk must be enough
    s.proc.wait(5)
    s = start("amber", d)
    try:
        assert digest(s.client()) == dig
        assert cmd(s.client(), "DEBUG", "LOADAOF") == b"OK"
        assert digest(s.client()) == dig
    finally:
        s.stop()
    check_aof(d)


def test_appendonly_turned_on_at_runtime_writes_base_first(tmp_path):
    d = tmp_path / "a"
    s = ServerProc("amber", d, ["--save", ""]).start()
    try:
        c = s.client()
        fill(c)
        dig = digest(c)
        c.config_set("appendonly", "yes")
        wait_rewrite(c)
        c.set("after", "on")
        dig2 = digest(c)
        assert c.info("persistence")["aof_enabled"] == 1
    finally:
        s.stop()
    check_aof(d)
    s = start("amber", d)
    try:
        assert digest(s.client()) == dig2 != dig
    finally:
        s.stop()


def test_appendonly_yes_ignores_dump_rdb_and_says_so(tmp_path):
    d = tmp_path / "a"
    s = ServerProc("amber", d, ["--save", "3600 1"]).start()
    s.client().set("only", "in rdb")
    s.stop()
    assert (d / "dump.rdb").exists()
    s = start("amber", d)
    try:
        assert s.client().exists("only") == 0  # Redis's rule: the AOF is the source of truth
        assert "is not read" in s.log_path.read_text()
    finally:
        s.stop()


def test_old_single_file_aof_is_upgraded_as_redis_does(tmp_path):
    """An appendonly.aof of Redis 6 (one file of commands, in dir) is moved into
    appendonlydir as the base, with a manifest and a new incr file, exactly the files Redis
    7.0.15 makes of it; both load the same dataset, and the upgraded dir keeps working."""
    old = b"".join(
        b"*%d\r\n" % len(a) + b"".join(b"$%d\r\n%s\r\n" % (len(x), x) for x in a)
        for a in ([b"SELECT", b"0"], [b"SET", b"k", b"v"], [b"RPUSH", b"l", b"a", b"b"],
                  [b"SELECT", b"3"], [b"HSET", b"h", b"f", b"1"], [b"PEXPIREAT", b"h", b"4102444800000"]))
    servers = {}
    for kind in ("redis", "amber"):
        d = tmp_path / kind
        d.mkdir()
        (d / "appendonly.aof").write_bytes(old)
        servers[kind] = start(kind, d)
    try:
        same_digest(servers["redis"].client(), servers["amber"].client())
        listing = {k: sorted(os.listdir(tmp_path / k / "appendonlydir")) for k in servers}
        assert listing["amber"] == listing["redis"] == [
            "appendonly.aof", "appendonly.aof.1.incr.aof", "appendonly.aof.manifest"]
        manifests = {k: (tmp_path / k / "appendonlydir" / "appendonly.aof.manifest").read_bytes()
                     for k in servers}
        assert manifests["amber"] == manifests["redis"]
        assert not (tmp_path / "amber" / "appendonly.aof").exists()
        servers["amber"].client().set("after", "upgrade")
        want = digest(servers["amber"].client())
    finally:
        for s in servers.values():
            s.stop()
    s = start("amber", tmp_path / "amber")
    try:
        assert digest(s.client()) == want
    finally:
        s.stop()
    check_aof(tmp_path / "amber")


# ---- truncated and corrupt files -------------------------------------------------------------

def incr_file(d):
    names = sorted(n for n in os.listdir(d / "appendonlydir") if n.endswith(".incr.aof"))
    return d / "appendonlydir" / names[-1]


def test_truncated_tail_loads_prefix_or_refuses(tmp_path):
    d = tmp_path / "a"
    s = start("amber", d, "--appendfsync", "always")
    c = s.client()
    for i in range(50):
        c.set(f"k{i}", i)
    p = c.pipeline(transaction=True)
    p.set("tx1", "a")
    p.set("tx2", "b")
    p.execute()
    s.stop(signal.SIGKILL)
    s.proc.wait(5)
    path = incr_file(d)
    data = path.read_bytes()
    multi = data.rindex(b"*1\r\n$5\r\nMULTI\r\n")
    # cut in the middle of the transaction: the whole transaction goes, the rest stays
    path.write_bytes(data[: multi + 30])
    s = start("amber", d)
    try:
        c = s.client()
        assert c.get("k49") == b"49" and c.exists("tx1") == 0
        assert "aof-load-truncated is enabled" in s.log_path.read_text()
    finally:
        s.stop()
    assert path.read_bytes() == data[:multi]
    # with aof-load-truncated no, a cut tail refuses the start with P003 and the fix command
    path.write_bytes(data[: multi - 5])
    p = subprocess.run([amber_bin(), "--port", "0", "--unixsocket", str(d / "s.sock"), "--dir", str(d),
                        "--appendonly", "yes", "--aof-load-truncated", "no"],
                       capture_output=True, text=True, timeout=30, cwd=d)
    assert p.returncode == 1
    assert "P003 AOF_CORRUPT" in p.stdout and "amber check-aof --fix" in p.stdout
    # garbage in the middle is corruption whatever aof-load-truncated says
    bad = bytearray(data[:multi])
    bad[data.index(b"*3\r\n$3\r\nSET")] = ord("?")  # a command that does not start with "*"
    path.write_bytes(bytes(bad))
    p = subprocess.run([amber_bin(), "--port", "0", "--unixsocket", str(d / "s.sock"), "--dir", str(d),
                        "--appendonly", "yes"], capture_output=True, text=True, timeout=30, cwd=d)
    assert p.returncode == 1 and "P003 AOF_CORRUPT" in p.stdout
    assert path.read_bytes() == bytes(bad)  # never cut by the server


# ---- durability ------------------------------------------------------------------------------

def reader_load(s, stop):
    """A client that reads while others write: under `always` it keeps the fsyncs on the
    writer thread (with writes only, they run on the main thread)."""

    def run():
        r = s.client(socket_timeout=5)
        while not stop.is_set():
            try:
                r.get("w0")
            except (redis.ConnectionError, redis.TimeoutError):
                return

    t = threading.Thread(target=run)
    t.start()
    return t


@pytest.mark.parametrize("with_reads", [False, True], ids=["writes-only", "with-reads"])
def test_kill_9_under_always_loses_no_acknowledged_write(tmp_path, with_reads):
    d = tmp_path / "a"
    rnd = random.Random(5)
    acked = {}
    for cycle in range(6):
        s = start("amber", d, "--appendfsync", "always")
        # everything acknowledged before is there
        c = s.client()
        for k, v in acked.items():
            got = c.get(k)
            assert got is not None and int(got) >= v, (cycle, k, got, v)
        stop = threading.Event()
        lock = threading.Lock()

        def writer(wid):
            w = s.client(socket_timeout=5)
            i = 0
            while not stop.is_set():
                k = f"w{wid}"
                try:
                    v = w.incr(k)
                except (redis.ConnectionError, redis.TimeoutError):
                    return
                with lock:
                    acked[k] = max(acked.get(k, 0), v)
                i += 1

        threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        if with_reads:
            threads.append(reader_load(s, stop))
        time.sleep(0.2 + rnd.random() * 0.6)
        os.kill(s.pid, signal.SIGKILL)
        s.proc.wait(5)
        stop.set()
        for t in threads:
            t.join()
    assert sum(acked.values()) > 100
    s = start("amber", d)
    try:
        c = s.client()
        for k, v in acked.items():
            assert int(c.get(k)) >= v
    finally:
        s.stop()


def test_always_fsyncs_on_either_thread_keep_the_file_whole(tmp_path):
    """Under `always`, batches are fsynced on the main thread while only writes run and on the
    writer thread while reads run too: phases of both, with pipelined writers, then restart
    and compare the digest; redis-check-aof must accept the file."""
    d = tmp_path / "a"
    s = start("amber", d, "--appendfsync", "always")
    try:
        c = s.client()
        errors = []

        def writer(wid, until):
            w = s.client(socket_timeout=10)
            i = 0
            try:
                while time.time() < until:
                    p = w.pipeline(transaction=False)
                    for _ in range(8):
                        p.rpush(f"list{wid}", i)
                        p.incr(f"n{wid}")
                        i += 1
                    p.execute()
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)

        for phase in range(6):
            until = time.time() + 0.4
            threads = [threading.Thread(target=writer, args=(w, until)) for w in range(4)]
            stop = threading.Event()
            for t in threads:
                t.start()
            reader = reader_load(s, stop) if phase % 2 else None
            for t in threads:
                t.join()
            stop.set()
            if reader is not None:
                reader.join()
            # writes only for longer than the 100 ms window: the next phase starts inline
            time.sleep(0.15)
        assert not errors, errors
        for w in range(4):
            assert c.llen(f"list{w}") == int(c.get(f"n{w}")) > 0
        before = digest(c)
        s.stop()
        check_aof(d)
        s = start("amber", d)
        assert digest(s.client()) == before
    finally:
        s.stop()


class StracedServer(ServerProc):
    """amber-server under strace with an injected fault. `pid` is the server's own (strace
    detaches when stopped, so the server is stopped by its PID first)."""

    def __init__(self, d, extra, inject):
        super().__init__("amber", d, AOF + list(extra))
        self.inject = inject
        self.server_pid = None

    def argv(self):
        return ["strace", "-f", "-qq", "-o", "/dev/null", "-e", "trace=fdatasync", "-e", self.inject] + super().argv()

    def start(self, timeout=15):
        super().start(timeout)
        self.server_pid = int(self.client().info("server")["process_id"])
        return self

    def stop(self, sig=signal.SIGTERM, timeout=15):
        if self.server_pid is not None:
            try:
                os.kill(self.server_pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        super().stop(sig, timeout)


def strace_server(d, *extra, inject):
    return StracedServer(d, extra, inject).start()


@pytest.mark.parametrize("with_reads", [False, True], ids=["writes-only", "with-reads"])
def test_fdatasync_eio_under_always_exits_without_acknowledging(tmp_path, with_reads):
    assert shutil.which("strace"), "strace is needed (apt-get install strace)"
    d = tmp_path / "a"
    # the first fdatasync calls succeed, later ones fail
    s = strace_server(d, "--appendfsync", "always", inject="inject=fdatasync:error=EIO:when=20+")
    c = s.client(socket_timeout=5)
    acked = 0
    stop = threading.Event()
    reader = reader_load(s, stop) if with_reads else None
    try:
        with pytest.raises((redis.ConnectionError, redis.TimeoutError)):
            for i in range(1000):
                c.set(f"k{i}", i)
                acked = i + 1
        s.proc.wait(10)
        assert s.proc.returncode != 0
    finally:
        stop.set()
        if reader is not None:
            reader.join()
        s.stop()
    assert "Can't recover from AOF write error" in s.log_path.read_text()
    assert 0 < acked < 1000
    s = start("amber", d)
    try:
        c = s.client()
        for i in range(acked):
            assert c.get(f"k{i}") == str(i).encode(), i
    finally:
        s.stop()


def test_fdatasync_eio_under_everysec_refuses_writes_until_rewrite(tmp_path):
    assert shutil.which("strace"), "strace is needed (apt-get install strace)"
    d = tmp_path / "a"
    s = strace_server(d, "--appendfsync", "everysec", inject="inject=fdatasync:error=EIO:when=2..3")
    try:
        c = s.client()
        deadline = time.time() + 15
        refused = None
        i = 0
        while time.time() < deadline and refused is None:
            try:
                c.set(f"k{i}", "v")
                i += 1
            except redis.ResponseError as e:
                refused = str(e)
        assert refused is not None and refused.startswith("MISCONF Errors writing to the AOF file:")
        # the server rewrites the AOF from memory, then accepts writes again
        deadline = time.time() + 20
        ok = False
        while time.time() < deadline and not ok:
            try:
                ok = c.set("k2", "v2")
            except redis.ResponseError:
                time.sleep(0.1)
        assert ok
        assert c.info("persistence")["aof_rewrites"] >= 1
    finally:
        s.stop()


def test_differential_streams_replay_exactly_from_the_aof(tmp_path):
    """The differential harness's seeded streams (every command family, expiries,
    transactions, blocking pops, wrong types) run against Redis and against Amber with
    appendonly yes; Amber is killed -9 and restarted from its AOF: the dataset is the same
    (DEBUG DIGEST), and still equal to Redis's."""
    import sys
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
    from tests.diff.runner import SERVER_ARGS
    from tests.diff.servers import run_seed

    a = ServerProc("redis", tmp_path / "ref", SERVER_ARGS).start()
    args = SERVER_ARGS + AOF + ["--appendfsync", "always"]
    b = ServerProc("amber", tmp_path / "amber", args).start()
    try:
        for seed in (3, 4):
            run_seed(seed, 1500, a.port, b.port)
            assert cmd(b.client(), "BGREWRITEAOF")
            wait_rewrite(b.client())
        run_seed(5, 1500, a.port, b.port)
        want = digest(b.client())
        assert digest(a.client()) == want
        b.stop(signal.SIGKILL)
        b.proc.wait(5)
        b = ServerProc("amber", tmp_path / "amber", args, port=b.port).start()
        assert digest(b.client()) == want
    finally:
        a.stop()
        b.stop()
