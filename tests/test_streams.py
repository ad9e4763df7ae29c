"""Streams against Redis 7.0.15: seeded random command sequences (consumer groups included)
with replies compared frame by frame in RESP2 and RESP3 (error texts byte for byte; only the
clock-dependent numbers of XPENDING / XINFO are masked), blocking reads released by another
client, RDB files and DUMP payloads both ways (equal DEBUG DIGEST and XINFO STREAM FULL,
redis-check-rdb accepts Amber's file), AOF rewrite and restart, a Redis replica of an Amber
master under group traffic, and the keyspace events of the stream commands."""

import pathlib
import random
import shutil
import subprocess
import sys
import time

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
from tests.conftest import ServerProc, raw_command  # noqa: E402
from tests.diff.resp import Conn, ServerGone  # noqa: E402

KEYS = ["s1", "s2", "s3"]
GROUPS = ["g1", "g2"]
CONSUMERS = ["alice", "bob", "c"]


def plain(f, mask=()):
    """A frame as Python values; errors as ("ERR", text)."""
    if f.is_error():
        return ("ERR", f.val)
    if f.is_null():
        return None
    if f.is_agg():
        return [plain(x) for x in f.items()]
    return (f.kind, f.text())


def masked(cmd, value):
    """Clock-dependent numbers replaced: idle times, delivery and seen times."""
    name = cmd[0].upper()
    if name == "XPENDING" and len(cmd) > 3 and isinstance(value, list):
        return [[e[0], e[1], "t", e[3]] if isinstance(e, list) and len(e) == 4 else e for e in value]
    if name == "XINFO" and cmd[1].upper() == "CONSUMERS" and isinstance(value, list):
        return [[x if i != 5 else "t" for i, x in enumerate(c)] for c in value]
    if name == "XINFO" and cmd[1].upper() == "STREAM" and len(cmd) > 3 and isinstance(value, list):
        return mask_full(value)
    return value


def mask_full(v):
    if not isinstance(v, list):
        return v
    out = []
    skip_next = False
    for i, x in enumerate(v):
        if skip_next:
            out.append("t")
            skip_next = False
            continue
        if x in (("$", b"seen-time"),):
            skip_next = True
        out.append(mask_full(x))
    # PEL entries [id, consumer, delivery-time, count] and [id, delivery-time, count]
    if len(out) == 4 and all(isinstance(x, tuple) for x in out) and out[0][1].count(b"-") == 1:
        out[2] = "t"
    if len(out) == 3 and all(isinstance(x, tuple) for x in out) and out[0][1].count(b"-") == 1:
        out[1] = "t"
    return out


# The highest millisecond part handed out so far: IDs are drawn around it, so that most XADDs
# succeed and most reads and claims name IDs that exist.
TOP = [1]


def rid(rng):
    return f"{rng.randint(max(0, TOP[0] - 30), TOP[0] + 1)}-{rng.randint(0, 3)}"


def next_id(rng):
    TOP[0] += rng.choice([0, 1, 1, 2])
    return rng.choice([f"{TOP[0]}-{rng.randint(0, 3)}", f"{TOP[0]}-*", f"{TOP[0]}-*"])


def bound(rng):
    return rng.choice(["-", "+", rid(rng), "(" + rid(rng), str(rng.randint(0, 40)), "(0-0", "(+"])


def gen(rng):
    """One random stream command."""
    k = rng.choice(KEYS)
    g = rng.choice(GROUPS + ["nogroup"])
    c = rng.choice(CONSUMERS)
    fields = []
    for _ in range(rng.randint(1, 3)):
        fields += [rng.choice(["f", "g", "h", "12"]), rng.choice(["v", "1", "-5", "x" * rng.randint(0, 70)])]
    pick = rng.random()
    if pick < 0.40 or (pick < 0.5 and rng.random() < 0.5):
        opts = []
        if rng.random() < 0.2:
            opts += ["NOMKSTREAM"]
        if rng.random() < 0.3:
            opts += [rng.choice(["MAXLEN", "MINID"]), rng.choice(["~", "=", ""])]
            opts += [str(rng.randint(0, 20)) if opts[-2] == "MAXLEN" else rid(rng)]
            if rng.random() < 0.3:
                opts += ["LIMIT", str(rng.randint(0, 5))]
        idarg = rng.choice([next_id(rng)] * 8 + [rid(rng), "0-0", "bad"])
        return [a for a in ["XADD", k, *opts, idarg, *fields] if a != ""]
    if pick < 0.45:
        return ["XGROUP", "CREATE", k, g, rng.choice(["0", "$"]), "MKSTREAM"]
    if pick < 0.38:
        cmd = [rng.choice(["XRANGE", "XREVRANGE"]), k, bound(rng), bound(rng)]
        if rng.random() < 0.5:
            cmd += ["COUNT", str(rng.randint(-1, 4))]
        return cmd
    if pick < 0.42:
        return ["XDEL", k] + [rid(rng) for _ in range(rng.randint(1, 3))]
    if pick < 0.45:
        how = rng.choice(["MAXLEN", "MINID"])
        return ["XTRIM", k, how, rng.choice(["~", "="]), str(rng.randint(0, 15)) if how == "MAXLEN" else rid(rng)]
    if pick < 0.47:
        return ["XLEN", k]
    if pick < 0.53:
        sub = rng.choice(["CREATE", "CREATE", "SETID", "DESTROY", "CREATECONSUMER", "DELCONSUMER"])
        if sub == "CREATE":
            cmd = ["XGROUP", "CREATE", k, g, rng.choice(["$", "0", rid(rng)])]
            if rng.random() < 0.5:
                cmd.append("MKSTREAM")
            if rng.random() < 0.2:
                cmd += ["ENTRIESREAD", str(rng.randint(-2, 5))]
            return cmd
        if sub == "SETID":
            return ["XGROUP", "SETID", k, g, rng.choice(["$", "0", rid(rng)])]
        if sub == "DESTROY":
            return ["XGROUP", "DESTROY", k, g]
        return ["XGROUP", sub, k, g, c]
    if pick < 0.65:
        cmd = ["XREADGROUP", "GROUP", g, c]
        if rng.random() < 0.5:
            cmd += ["COUNT", str(rng.randint(0, 3))]
        if rng.random() < 0.2:
            cmd.append("NOACK")
        keys = rng.sample(KEYS, rng.randint(1, 2))
        ids = [rng.choice([">", ">", "0", rid(rng), "$"]) for _ in keys]
        return cmd + ["STREAMS", *keys, *ids]
    if pick < 0.70:
        keys = rng.sample(KEYS, rng.randint(1, 2))
        cmd = ["XREAD"]
        if rng.random() < 0.5:
            cmd += ["COUNT", str(rng.randint(0, 3))]
        return cmd + ["STREAMS", *keys, *[rng.choice(["0", "$", rid(rng), ">"]) for _ in keys]]
    if pick < 0.75:
        return ["XACK", k, g] + [rid(rng) for _ in range(rng.randint(1, 3))]
    if pick < 0.80:
        if rng.random() < 0.4:
            return ["XPENDING", k, g]
        cmd = ["XPENDING", k, g]
        if rng.random() < 0.3:
            cmd += ["IDLE", "0"]
        cmd += [bound(rng), bound(rng), str(rng.randint(-1, 5))]
        if rng.random() < 0.4:
            cmd.append(c)
        return cmd
    if pick < 0.86:
        cmd = ["XCLAIM", k, g, c, str(rng.choice([0, 0, 100000])), *[rid(rng) for _ in range(rng.randint(1, 3))]]
        for opt in rng.sample(["FORCE", "JUSTID", "RETRYCOUNT", "LASTID", "BOGUS"], rng.randint(0, 2)):
            if opt == "RETRYCOUNT":
                cmd += [opt, str(rng.randint(0, 5))]
            elif opt == "LASTID":
                cmd += [opt, rid(rng)]
            else:
                cmd.append(opt)
        return cmd
    if pick < 0.90:
        cmd = ["XAUTOCLAIM", k, g, c, "0", rng.choice(["0", "-", rid(rng), "(" + rid(rng)])]
        if rng.random() < 0.5:
            cmd += ["COUNT", str(rng.randint(0, 3))]
        if rng.random() < 0.3:
            cmd.append("JUSTID")
        return cmd
    if pick < 0.96:
        sub = rng.choice(["STREAM", "STREAM", "GROUPS", "CONSUMERS", "FULL"])
        if sub == "FULL":
            return ["XINFO", "STREAM", k, "FULL", "COUNT", str(rng.randint(0, 3))]
        if sub == "CONSUMERS":
            return ["XINFO", "CONSUMERS", k, g]
        return ["XINFO", sub, k]
    if pick < 0.98:
        return ["XSETID", k, rid(rng)] + (["ENTRIESADDED", str(rng.randint(0, 30))] if rng.random() < 0.4 else [])
    return rng.choice([["DEL", k], ["SET", "str", "x"], ["XADD", "str", "1-1", "a", "b"], ["XREAD", "STREAMS", "str", k, "0", "0"], ["TYPE", k], ["OBJECT", "ENCODING", k]] + [["XLEN", k]] * 4)


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    base = tmp_path_factory.mktemp("streams")
    servers = [ServerProc(kind, base / kind).start() for kind in ("redis", "amber")]
    yield servers
    for s in servers:
        s.stop()


@pytest.mark.parametrize("proto", [2, 3])
@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_random_stream_commands_match_redis(pair, seed, proto):
    rng = random.Random(seed * 10 + proto)
    TOP[0] = 1
    conns = [Conn(s.port, name=s.kind) for s in pair]
    # Small nodes on two seeds: node splits, whole-node (approximate) trimming and the radix
    # tree's shape are exercised with few entries.
    small = seed >= 3
    for c in conns:
        c.call("FLUSHALL")
        c.call("HELLO", str(proto))
        c.call("CONFIG", "SET", "stream-node-max-entries", "4" if small else "100")
        c.call("CONFIG", "SET", "stream-node-max-bytes", "200" if small else "4096")
    for n in range(1500):
        cmd = gen(rng)
        got = [plain(c.call(*cmd)) for c in conns]
        want, have = (masked(cmd, g) for g in got)
        assert want == have, f"seed {seed} op {n}: {cmd}\nredis: {got[0]}\namber: {got[1]}"
    digests = [c.call("DEBUG", "DIGEST").text() for c in conns]
    assert digests[0] == digests[1]
    for c in conns:
        c.close()


def test_blocking_reads_are_released_by_xadd(pair):
    for s in pair:
        admin = Conn(s.port)
        admin.call("FLUSHALL")
        admin.call("XGROUP", "CREATE", "bs", "g", "$", "MKSTREAM")
    replies = []
    for s in pair:
        reader, group_reader, writer = Conn(s.port), Conn(s.port), Conn(s.port)
        reader.send(["XREAD", "BLOCK", "0", "STREAMS", "bs", "$"])
        group_reader.send(["XREADGROUP", "GROUP", "g", "alice", "BLOCK", "0", "STREAMS", "bs", ">"])
        time.sleep(0.2)
        assert not reader.ready() and not group_reader.ready()
        assert writer.call("XADD", "bs", "7-1", "f", "v").text() == b"7-1"
        got = [plain(reader.read(timeout=5)), plain(group_reader.read(timeout=5))]
        # A timed-out read answers a null array.
        got.append(plain(reader.call("XREAD", "BLOCK", "50", "STREAMS", "bs", "$")))
        got.append(plain(writer.call("XPENDING", "bs", "g")))
        # XREADGROUP blocked on a stream that is deleted fails with UNBLOCKED.
        group_reader.send(["XREADGROUP", "GROUP", "g", "bob", "BLOCK", "0", "STREAMS", "bs", ">"])
        time.sleep(0.2)
        writer.call("DEL", "bs")
        got.append(plain(group_reader.read(timeout=5)))
        replies.append(got)
    assert replies[0] == replies[1], replies
    assert replies[1][0] == [[("$", b"bs"), [[("$", b"7-1"), [("$", b"f"), ("$", b"v")]]]]]
    assert replies[1][-1] == ("ERR", b"UNBLOCKED the stream key no longer exists")


def build_stream(c):
    """A stream with deleted and trimmed entries, two groups, pending entries, an empty
    consumer, and a second stream left empty with a group."""
    for i in range(1, 260):
        c.execute_command("XADD", "st", f"{i}-{i % 3}", "field", f"v{i}", "n", str(i))
    c.execute_command("XADD", "st", "300-0", "other", "x" * 80)
    c.execute_command("XDEL", "st", "5-2", "150-0", "151-1")
    c.execute_command("XTRIM", "st", "MAXLEN", "240")
    c.execute_command("XGROUP", "CREATE", "st", "g1", "0")
    c.execute_command("XGROUP", "CREATE", "st", "g2", "$")
    c.execute_command("XREADGROUP", "GROUP", "g1", "alice", "COUNT", "5", "STREAMS", "st", ">")
    c.execute_command("XREADGROUP", "GROUP", "g1", "bob", "COUNT", "3", "STREAMS", "st", ">")
    c.execute_command("XGROUP", "CREATECONSUMER", "st", "g2", "idle")
    c.execute_command("XGROUP", "CREATE", "empty", "g", "$", "MKSTREAM")
    c.execute_command("XADD", "gone", "1-1", "a", "b")
    c.execute_command("XDEL", "gone", "1-1")


def full(c, key):
    return raw_command(c, "XINFO", "STREAM", key, "FULL", "COUNT", "0")


def test_rdb_both_ways(tmp_path):
    check = shutil.which("redis-check-rdb")
    amber = ServerProc("amber", tmp_path / "a").start()
    try:
        a = amber.client()
        build_stream(a)
        want_digest = a.execute_command("DEBUG", "DIGEST")
        want = {k: full(a, k) for k in ("st", "empty", "gone")}
        assert a.execute_command("OBJECT", "ENCODING", "st") == b"stream"
        a.save()
    finally:
        amber.stop()
    dump = tmp_path / "a" / "dump.rdb"
    if check:
        out = subprocess.run([check, str(dump)], capture_output=True, text=True)
        assert out.returncode == 0, out.stdout + out.stderr
    (tmp_path / "r").mkdir()
    shutil.copy(dump, tmp_path / "r" / "dump.rdb")
    redis = ServerProc("redis", tmp_path / "r").start()
    try:
        r = redis.client()
        assert r.execute_command("DEBUG", "DIGEST") == want_digest
        for k, v in want.items():
            assert full(r, k) == v, k
        assert r.execute_command("OBJECT", "ENCODING", "st") == b"stream"
        r.execute_command("XADD", "st", "400-0", "late", "1")
        r.save()
        want_digest = r.execute_command("DEBUG", "DIGEST")
        want = {k: full(r, k) for k in ("st", "empty", "gone")}
    finally:
        redis.stop()
    (tmp_path / "b").mkdir()
    shutil.copy(tmp_path / "r" / "dump.rdb", tmp_path / "b" / "dump.rdb")
    amber = ServerProc("amber", tmp_path / "b").start()
    try:
        a = amber.client()
        assert a.execute_command("DEBUG", "DIGEST") == want_digest
        for k, v in want.items():
            assert full(a, k) == v, k
    finally:
        amber.stop()


def test_dump_restore_both_ways(amber_and_redis):
    amber, redis = (s.client() for s in amber_and_redis)
    for c in (amber, redis):
        c.flushall()
        build_stream(c)
    for src, dst in ((amber, redis), (redis, amber)):
        payload = src.dump("st")
        dst.delete("copy")
        dst.restore("copy", 0, payload)
        assert full(dst, "copy") == full(src, "st")
        assert dst.execute_command("DEBUG", "DIGEST-VALUE", "copy") == src.execute_command(
            "DEBUG", "DIGEST-VALUE", "st")
    # Amber's payload for the same stream is the one Redis makes, byte for byte: the nodes are
    # laid out alike, through deletions, exact and approximate trimming (LZF off: the two
    # compressors may pick different matches).
    for c in (amber, redis):
        c.config_set("rdbcompression", "no")
        for i in range(1, 230):
            c.execute_command("XADD", "bytes", f"{i}-1", "f", str(i), "g", "x" * (i % 70))
            if i % 7 == 0:
                c.execute_command("XADD", "bytes", f"{i}-2", "other", "-12", "more", "y")
        c.execute_command("XDEL", "bytes", "3-1", "150-1")
        c.execute_command("XTRIM", "bytes", "MAXLEN", "200")
        c.execute_command("XADD", "bytes", "MAXLEN", "~", "150", "300-1", "f", "v")
    assert amber.dump("bytes") == redis.dump("bytes")
    assert amber.dump("empty") == redis.dump("empty")
    for c in (amber, redis):
        c.config_set("rdbcompression", "yes")
    # A damaged payload is refused, never loaded.
    bad = bytearray(amber.dump("st"))
    bad[40] ^= 0xFF
    with pytest.raises(Exception) as e:
        amber.restore("bad", 0, bytes(bad))
    assert "payload" in str(e.value).lower() or "checksum" in str(e.value).lower()


def stable(info):
    """XINFO STREAM FULL without what a rebuild by commands changes in Redis too: the node
    layout (radix-tree-*) and consumers' seen-time (the time they were recreated)."""
    if isinstance(info, dict):
        return {k: (None if k == b"seen-time" else stable(v)) for k, v in info.items()
                if k not in (b"radix-tree-keys", b"radix-tree-nodes")}
    if isinstance(info, list):
        pairs = len(info) % 2 == 0 and all(isinstance(k, bytes) for k in info[::2])
        if pairs and b"seen-time" in info[::2] or b"radix-tree-keys" in info[::2]:
            return stable(dict(zip(info[::2], info[1::2])))
        return [stable(x) for x in info]
    return info


def test_aof_rewrite_and_restart(tmp_path):
    s = ServerProc("amber", tmp_path / "a", ["--appendonly", "yes", "--aof-use-rdb-preamble", "no"]).start()
    try:
        c = s.client()
        build_stream(c)
        c.execute_command("XADD", "st", "MAXLEN", "~", "200", "500-*", "a", "b")
        want = (c.execute_command("DEBUG", "DIGEST"), stable(full(c, "st")), stable(full(c, "empty")))
        c.execute_command("BGREWRITEAOF")
        deadline = time.time() + 20
        while c.info("persistence")["aof_rewrite_in_progress"] and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)
    finally:
        s.stop()
    s = ServerProc("amber", tmp_path / "a", ["--appendonly", "yes", "--aof-use-rdb-preamble", "no"]).start()
    try:
        c = s.client()
        got = (c.execute_command("DEBUG", "DIGEST"), stable(full(c, "st")), stable(full(c, "empty")))
        assert got == want
    finally:
        s.stop()


def test_redis_replica_of_amber_gets_the_group_state(tmp_path):
    master = ServerProc("amber", tmp_path / "m").start()
    replica = ServerProc("redis", tmp_path / "r").start()
    try:
        m, r = master.client(), replica.client()
        r.execute_command("REPLICAOF", "127.0.0.1", str(master.port))
        deadline = time.time() + 20
        while r.info("replication").get("master_link_status") != "up" and time.time() < deadline:
            time.sleep(0.05)
        build_stream(m)
        m.execute_command("XREADGROUP", "GROUP", "g1", "carol", "NOACK", "COUNT", "2", "STREAMS", "st", ">")
        m.execute_command("XCLAIM", "st", "g1", "dave", "0", "1-1", "2-2", "999-0", "LASTID", "100-0")
        m.execute_command("XDEL", "st", "3-0")
        m.execute_command("XAUTOCLAIM", "st", "g1", "erin", "0", "0", "COUNT", "3")
        m.execute_command("XADD", "st", "MAXLEN", "~", "100", "600-*", "a", "b")
        m.execute_command("XTRIM", "st", "MINID", "~", "120")
        want = m.execute_command("DEBUG", "DIGEST")
        deadline = time.time() + 20
        while r.execute_command("DEBUG", "DIGEST") != want and time.time() < deadline:
            time.sleep(0.05)
        assert r.execute_command("DEBUG", "DIGEST") == want
        for g in ("g1", "g2"):
            mine = [(e[0], e[1], e[3]) for e in raw_command(m, "XPENDING", "st", g, "-", "+", "100")]
            theirs = [(e[0], e[1], e[3]) for e in raw_command(r, "XPENDING", "st", g, "-", "+", "100")]
            assert mine == theirs
            if g == "g1":
                assert len(mine) >= 5
        assert raw_command(r, "XINFO", "GROUPS", "st") == raw_command(m, "XINFO", "GROUPS", "st")
    finally:
        replica.stop()
        master.stop()


def test_keyspace_events_match_redis(amber_and_redis):
    msgs = []
    for s in amber_and_redis:
        c = s.client()
        c.flushall()
        c.config_set("notify-keyspace-events", "KEA")
        sub = Conn(s.port)
        sub.call("PSUBSCRIBE", "__key*__:*")
        w = Conn(s.port)
        for cmd in (
            ["XADD", "e", "1-1", "a", "b"],
            ["XADD", "e", "MAXLEN", "1", "2-1", "a", "b"],
            ["XTRIM", "e", "MAXLEN", "0"],
            ["XADD", "e", "3-1", "a", "b"],
            ["XDEL", "e", "3-1"],
            ["XGROUP", "CREATE", "e", "g", "$"],
            ["XGROUP", "CREATE", "n", "g", "$", "MKSTREAM"],
            ["XGROUP", "CREATECONSUMER", "e", "g", "c1"],
            ["XGROUP", "SETID", "e", "g", "0"],
            ["XADD", "e", "4-1", "a", "b"],
            ["XREADGROUP", "GROUP", "g", "c2", "STREAMS", "e", ">"],
            ["XCLAIM", "e", "g", "c3", "0", "4-1"],
            ["XGROUP", "DELCONSUMER", "e", "g", "c1"],
            ["XSETID", "e", "9-9"],
            ["XGROUP", "DESTROY", "e", "g"],
        ):
            w.call(*cmd)
        got = []
        # Read until the events stop coming.
        while len(got) < 200:
            try:
                f = sub.read(timeout=0.5)
            except ServerGone:
                break
            got.append([x.text() for x in f.items()])
        w.call("CONFIG", "SET", "notify-keyspace-events", "")
        msgs.append(got)
        sub.close()
    assert len(msgs[0]) > 20
    assert msgs[0] == msgs[1]
    assert [b"pmessage", b"__key*__:*", b"__keyevent@0__:xgroup-createconsumer", b"e"] in msgs[1]


STREAM_COMMANDS = ["xack", "xadd", "xautoclaim", "xclaim", "xdel", "xgroup", "xinfo", "xlen", "xpending",
                   "xrange", "xread", "xreadgroup", "xrevrange", "xsetid", "xtrim"]


def unordered(v):
    """Replies with containers' subcommands in any order (Redis lists them in its dict's order)."""
    if isinstance(v, list):
        items = [unordered(x) for x in v]
        return sorted(items, key=repr)
    if isinstance(v, dict):
        return {k: unordered(x) for k, x in v.items()}
    return v


def test_command_info_docs_and_getkeys_match_redis(amber_and_redis):
    amber, redis = (s.client() for s in amber_and_redis)
    for name in STREAM_COMMANDS:
        for sub in ("INFO", "DOCS"):
            mine = unordered(raw_command(amber, "COMMAND", sub, name))
            theirs = unordered(raw_command(redis, "COMMAND", sub, name))
            assert mine == theirs, (sub, name)
    for cmd in (["XREAD", "COUNT", "2", "BLOCK", "0", "STREAMS", "a", "b", "0", "$"],
                ["XREADGROUP", "GROUP", "g", "c", "NOACK", "STREAMS", "streams", "0"],
                ["XGROUP", "CREATE", "k", "g", "$"], ["XINFO", "STREAM", "k"], ["XADD", "k", "*", "f", "v"]):
        assert raw_command(amber, "COMMAND", "GETKEYSANDFLAGS", *cmd) == raw_command(
            redis, "COMMAND", "GETKEYSANDFLAGS", *cmd), cmd
