"""Introspection and client commands against Redis 7.0.15: the same commands go to both servers and
the replies are compared byte for byte (unless a test says what differs by nature and why).

COMMAND GETKEYS / GETKEYSANDFLAGS over every command Amber has; DEBUG's test aids; CLIENT REPLY,
UNBLOCK, NO-EVICT, GETREDIR, TRACKINGINFO; MEMORY STATS / DOCTOR; LATENCY DOCTOR / GRAPH /
HISTOGRAM; LOLWUT; MODULE; Redis's hidden test-aid directives."""

import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
from tests.diff.resp import Conn  # noqa: E402

# Key-bearing invocations: at least one for every command of Amber's with keys, several where
# the keys depend on the arguments (numkeys, STORE, GET, ranges with steps).
GETKEYS_SAMPLES = [
    # BITFIELD, HyperLogLog, geo and sharded pub/sub.
    "bitfield k GET u8 0", "bitfield k SET u8 0 1", "bitfield k OVERFLOW SAT GET u8 0", "bitfield k FOO",
    "bitfield_ro k GET u8 0", "pfadd k a b", "pfcount a b c", "pfmerge d a b", "pfdebug GETREG k",
    "xack k g 1-1", "xadd k * f v", "xautoclaim k g c 0 0", "xclaim k g c 0 1-1", "xdel k 1-1",
    "xgroup create k g $", "xgroup createconsumer k g c", "xgroup delconsumer k g c", "xgroup destroy k g",
    "xgroup setid k g $", "xinfo consumers k g", "xinfo groups k", "xinfo stream k", "xlen k",
    "xpending k g", "xrange k - +", "xread COUNT 1 STREAMS a b 0 0", "xreadgroup GROUP g c STREAMS a 0",
    "xrevrange k + -", "xsetid k 1-1", "xtrim k MAXLEN 1",
    "geoadd k 1 2 m", "geodist k a b", "geohash k a", "geopos k a b",
    "georadius k 1 2 3 m", "georadius k 1 2 3 m STORE d", "georadius k 1 2 3 m STOREDIST d STORE e",
    "georadius k 1 2 3 m STORE", "georadius_ro k 1 2 3 m", "georadiusbymember k a 3 m STORE d",
    "georadiusbymember_ro k a 3 m", "geosearch k FROMMEMBER a BYRADIUS 1 m",
    "geosearchstore d k FROMMEMBER a BYRADIUS 1 m", "spublish ch m", "ssubscribe a b", "sunsubscribe a",
    "append k v", "bitcount k", "bitcount k 0 1", "bitop AND d a b c", "bitpos k 1", "blmove a b LEFT RIGHT 0",
    "blmpop 0 2 a b LEFT", "blmpop 0 5 a b LEFT", "blmpop 0 x a LEFT", "blpop a b c 0", "brpop a 0",
    "brpoplpush a b 0", "bzmpop 0 1 a MIN", "bzmpop 0 -1 a MIN", "bzpopmax a b 0", "bzpopmin a 0",
    "copy a b", "copy a b DB 1 REPLACE", "decr k", "decrby k 1", "del a", "del a b c", "dump k", "exists a b",
    "expire k 1", "expireat k 1", "expiretime k", "get k", "getbit k 1", "getdel k", "getex k EX 1",
    "getrange k 0 1", "getset k v", "hdel k f g", "hexists k f", "hget k f", "hgetall k", "hincrby k f 1",
    "hincrbyfloat k f 1", "hkeys k", "hlen k", "hmget k f g", "hmset k f v", "hrandfield k", "hscan k 0",
    "hset k f v", "hsetnx k f v", "hstrlen k f", "hvals k", "incr k", "incrby k 1", "incrbyfloat k 1",
    "lcs a b", "lindex k 0", "linsert k BEFORE p v", "llen k", "lmove a b LEFT RIGHT", "lmpop 2 a b LEFT",
    "lmpop 1 a RIGHT COUNT 2", "lmpop 3 a b LEFT", "lmpop 0 a LEFT", "lpop k", "lpos k v", "lpush k a b",
    "lpushx k a", "lrange k 0 1", "lrem k 0 v", "lset k 0 v", "ltrim k 0 1", "memory usage k",
    "memory usage k SAMPLES 5", "mget a b c", "move k 1", "mset a 1 b 2", "mset a 1 b", "msetnx a 1 b 2",
    "object encoding k", "object freq k", "object idletime k", "object refcount k", "persist k",
    "pexpire k 1", "pexpireat k 1", "pexpiretime k", "psetex k 1 v", "pttl k", "rename a b", "renamenx a b",
    "restore k 0 payload", "rpop k", "rpoplpush a b", "rpush k v", "rpushx k v", "sadd k m", "scard k",
    "sdiff a b", "sdiffstore d a b", "set k v", "set k v GET", "set k v get EX 1", "set k v NX", "set k v XX getx",
    "setbit k 1 1", "setex k 1 v", "setnx k v", "setrange k 0 v", "sinter a b", "sintercard 2 a b",
    "sintercard 2 a b LIMIT 1", "sintercard 9 a", "sinterstore d a b", "sismember k m", "smembers k",
    "smismember k a b", "smove a b m", "sort k", "sort k STORE d", "sort k BY w GET g STORE d",
    "sort k LIMIT 0 1 store d store e", "sort k GET store", "sort k store", "sort_ro k", "sort_ro k BY w GET g",
    "spop k", "srandmember k", "srem k m", "sscan k 0", "strlen k", "substr k 0 1", "sunion a b",
    "sunionstore d a b", "touch a b", "ttl k", "type k", "unlink a b", "watch a b", "zadd k 1 m", "zcard k",
    "zcount k 0 1", "zdiff 2 a b", "zdiff 2 a", "zdiffstore d 2 a b", "zdiffstore d 0 a", "zincrby k 1 m",
    "zinter 2 a b WEIGHTS 1 2", "zinter x a b", "zintercard 2 a b", "zintercard 1 a LIMIT 3",
    "zinterstore d 2 a b", "zinterstore d 3 a b", "zlexcount k - +", "zmpop 1 a MIN", "zmpop 2 a b MAX COUNT 3",
    "zmscore k a b", "zpopmax k", "zpopmin k 2", "zrandmember k", "zrange k 0 1", "zrangebylex k - +",
    "zrangebyscore k 0 1", "zrangestore d s 0 1", "zrank k m", "zrem k a b", "zremrangebylex k - +",
    "zremrangebyrank k 0 1", "zremrangebyscore k 0 1", "zrevrange k 0 1", "zrevrangebylex k + -",
    "zrevrangebyscore k 1 0", "zrevrank k m", "zscan k 0", "zscore k m", "zunion 2 a b", "zunion 2 a b AGGREGATE MIN",
    "zunionstore d 2 a b", "zunionstore d 2 a b WEIGHTS 1",
    # Scripting and functions.
    "eval s 2 a b c", "eval s 0", "eval s 5 a", "evalsha x 1 a", "eval_ro s 1 a", "evalsha_ro x 1 a",
    "fcall f 2 a b x", "fcall_ro f 1 a", "fcall f 0",
]

# Errors and edge cases of the lookup and arity checks.
GETKEYS_ERRORS = [
    "nosuchcommand k", "get", "get a b", "ping", "client list", "object nosuch k", "memory usage",
    "command getkeys get", "set k", "object", "config get x",
]


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    from tests.conftest import ServerProc
    servers = [ServerProc(kind, tmp_path_factory.mktemp(kind)).start() for kind in ("amber", "redis")]
    yield servers
    for s in servers:
        s.stop()


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def conns(request, pair):
    cs = [Conn(s.port, name=s.kind) for s in pair]
    if request.param == 3:
        for c in cs:
            assert not c.call("HELLO", "3").is_error()
    yield cs
    for c in cs:
        c.close()


def same(conns, *args):
    """Sends `args` to Amber and Redis and asserts the replies are equal byte for byte."""
    a, r = (c.call(*args) for c in conns)
    assert a.raw == r.raw, f"{args}: amber {a.raw!r} redis {r.raw!r}"
    return r


def test_getkeys_every_command(conns):
    amber = conns[0]
    names = [f.text().decode() for f in amber.call("COMMAND", "LIST").items()]
    sampled = {s.split(" ")[0] for s in GETKEYS_SAMPLES} | {" ".join(s.split(" ")[:2]) for s in GETKEYS_SAMPLES}
    for name in names:
        words = name.split("|")
        for sub in ("GETKEYS", "GETKEYSANDFLAGS"):
            same(conns, "COMMAND", sub, *words)
            r = same(conns, "COMMAND", sub, *words, "x")
            # A command Redis finds keys in (or wants arguments for) must have a sample below.
            if not (r.is_error() and (b"has no key arguments" in r.raw or b"Invalid command" in r.raw)):
                assert " ".join(words) in sampled, f"{name}: add a GETKEYS sample"
    for s in GETKEYS_SAMPLES + GETKEYS_ERRORS:
        for sub in ("GETKEYS", "GETKEYSANDFLAGS"):
            same(conns, "COMMAND", sub, *s.split(" "))


def test_getkeys_finds_keys(conns):
    r = same(conns, "COMMAND", "GETKEYSANDFLAGS", "zunionstore", "d", "2", "a", "b")
    assert [k.items()[0].text() for k in r.items()] == [b"d", b"a", b"b"]
    r = same(conns, "COMMAND", "GETKEYS", "sort", "k", "STORE", "d")
    assert [k.text() for k in r.items()] == [b"k", b"d"]


# ---- DEBUG ---------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["LOADING Redis is loading the dataset in memory", "READONLY x",
                                  "OOM command not allowed", "ERR plain", "", "two\nlines\rhere", "nocode"])
def test_debug_error(conns, text):
    r = same(conns, "DEBUG", "ERROR", text)
    assert r.is_error()


@pytest.mark.parametrize("kind", ["string", "integer", "double", "bignum", "null", "array", "set", "map",
                                  "attrib", "push", "verbatim", "true", "false", "STRING", "nosuch"])
def test_debug_protocol(conns, kind):
    a, r = (c.call("DEBUG", "PROTOCOL", kind) for c in conns)
    assert a.raw == r.raw, (kind, a.raw, r.raw)
    if kind in ("attrib", "push") and not r.is_error():
        # The attribute / push comes first; the real reply follows.
        a2, r2 = (c.read() for c in conns) if kind == "push" else (None, None)
        if kind == "push":
            assert a2.raw == r2.raw
    assert same(conns, "PING").raw == b"+PONG\r\n"


def test_debug_wrong_arity_and_unknown(conns):
    for args in (["ERROR"], ["ERROR", "a", "b"], ["PROTOCOL"], ["CHANGE-REPL-ID", "x"], ["ZIPLIST", "k"],
                 ["HTSTATS"], ["QUICKLIST-PACKED-THRESHOLD"], ["NOSUCH"]):
        assert same(conns, "DEBUG", *args).is_error()


def test_debug_change_repl_id(pair, conns):
    a = conns[0]
    before = a.call("INFO", "replication").text()
    same(conns, "DEBUG", "CHANGE-REPL-ID")
    after = a.call("INFO", "replication").text()
    replid = lambda info: [l for l in info.split(b"\r\n") if l.startswith(b"master_replid:")][0]  # noqa: E731
    assert replid(before) != replid(after)
    assert b"master_replid2:0000000000000000000000000000000000000000" in after
    assert "Changing replication IDs after receiving DEBUG change-repl-id" in pair[0].log_path.read_text()


def test_debug_quicklist_packed_threshold(conns):
    for v in ("-1", "5gb", "abc", "4gb", "1.5", "4294967296"):
        assert same(conns, "DEBUG", "QUICKLIST-PACKED-THRESHOLD", v).is_error(), v
    try:
        assert same(conns, "DEBUG", "QUICKLIST-PACKED-THRESHOLD", "100").raw == b"+OK\r\n"
        same(conns, "DEL", "ql")
        # (LZF output is not compared: any valid compression is fine.)
        same(conns, "CONFIG", "SET", "rdbcompression", "no")
        same(conns, "RPUSH", "ql", "a", "x" * 150, "b", "y" * 99, "z" * 100)
        # Elements of 100 bytes and more are plain nodes in what Redis saves: the DUMP payloads
        # (quicklist 2 with plain nodes) are equal.
        same(conns, "DUMP", "ql")
        # (Redis applies the threshold as elements are inserted and keeps the nodes it made;
        # Amber applies it as it saves: after a change, a list made before differs.)
    finally:
        same(conns, "DEBUG", "QUICKLIST-PACKED-THRESHOLD", "0")
        same(conns, "CONFIG", "SET", "rdbcompression", "yes")
    same(conns, "DEL", "ql")


def test_debug_stringmatch_test(pair):
    # Ten million random matches: Redis takes several seconds.
    for s in pair:
        c = Conn(s.port, timeout=120, name=s.kind)
        assert c.call("DEBUG", "STRINGMATCH-TEST").raw == b"+Apparently Redis did not crash: test passed\r\n"
        c.close()


def listpack_dump(server, conn):
    """What the server printed for its last DEBUG LISTPACK, addresses left out."""
    conn.call("DEBUG", "LOG", "flush")  # Redis's log line flushes its stdout
    text = server.log_path.read_text(errors="replace")
    block = text[text.rindex("{total bytes"):]
    block = block[:block.index("{end}")]
    return [l for l in block.splitlines() if "addr:" not in l]


def test_debug_listpack(pair, conns):
    same(conns, "DEL", "h", "z", "s", "big")
    same(conns, "HSET", "h", "a", "1", "b", "hello", "n", "-70000", "long", "v" * 60)
    same(conns, "ZADD", "z", "1.5", "m", "2", "n")
    same(conns, "SADD", "s", "1", "2")
    same(conns, "HSET", "big", *[f"f{i}" for i in range(1200)])
    for key in ("h", "z"):
        assert same(conns, "DEBUG", "LISTPACK", key).raw == b"+Listpack structure printed on stdout\r\n"
        amber, redis = (listpack_dump(s, c) for s, c in zip(pair, conns))
        assert amber == redis
    for key in ("s", "big", "nokey"):
        assert same(conns, "DEBUG", "LISTPACK", key).is_error()
    same(conns, "DEL", "h", "z", "s", "big")


def test_debug_htstats(conns):
    same(conns, "SELECT", "9")
    same(conns, "FLUSHDB")
    # An empty database: Redis's text exactly.
    same(conns, "DEBUG", "HTSTATS", "9")
    for bad in ("99", "-1", "x"):
        same(conns, "DEBUG", "HTSTATS", bad)
    same(conns, "SET", "k", "v")
    same(conns, "SET", "s", "v", "EX", "100")
    a, r = (c.call("DEBUG", "HTSTATS", "9") for c in conns)
    for reply in (a, r):
        text = reply.text().removeprefix(b"txt:")
        assert text.startswith(b"[Dictionary HT]\nHash table 0 stats (main hash table):\n table size: ")
        assert b" number of elements: 2\n" in text and b"[Expires HT]\n" in text
        assert b" number of elements: 1\n" in text.split(b"[Expires HT]")[1]
    same(conns, "HSET", "h", "f", "v")
    same(conns, "DEBUG", "HTSTATS-KEY", "h")  # a listpack: not a hash table
    same(conns, "DEBUG", "HTSTATS-KEY", "nokey")
    same(conns, "SADD", "big", *range(600))
    a, r = (c.call("DEBUG", "HTSTATS-KEY", "big") for c in conns)
    assert b" number of elements: 600\n" in a.text() and b" number of elements: 600\n" in r.text()
    same(conns, "FLUSHDB")
    same(conns, "SELECT", "0")


# ---- CLIENT --------------------------------------------------------------------------------

def stream(conns, *requests):
    """Pipelines `requests` then ECHO end, and returns each server's replies up to that end."""
    got = []
    for c in conns:
        c.send(*requests, ("ECHO", "end"))
        frames = []
        while True:
            f = c.read()
            frames.append(f.raw)
            if f.raw.endswith(b"end\r\n") and f.kind == "$":
                break
        got.append(frames)
    assert got[0] == got[1], got
    return got[1]


def test_client_reply(conns):
    replies = stream(conns, ("CLIENT", "REPLY", "OFF"), ("SET", "cr", "1"), ("GET", "cr"), ("NOSUCHCMD",),
                     ("CLIENT", "REPLY", "SKIP"), ("CLIENT", "REPLY", "ON"), ("GET", "cr"),
                     ("CLIENT", "REPLY", "SKIP"), ("SET", "cr", "2"), ("GET", "cr"),
                     ("CLIENT", "REPLY", "SKIP"), ("MULTI",), ("INCR", "cr"), ("EXEC",), ("GET", "cr"),
                     ("CLIENT", "REPLY", "MAYBE"), ("CLIENT", "REPLY"), ("DEL", "cr"))
    # OFF and SKIP answer nothing; ON answers +OK; SKIP drops exactly one command's reply.
    assert replies[:3] == [b"+OK\r\n", b"$1\r\n1\r\n", b"$1\r\n2\r\n"]
    assert replies[3:7] == [b"+QUEUED\r\n", b"*1\r\n:3\r\n", b"$1\r\n3\r\n", b"-ERR syntax error\r\n"]
    assert len(replies) == 10


def test_client_unblock(pair, conns):
    for (s, c) in zip(pair, conns):
        b = Conn(s.port, name=s.kind)
        bid = b.call("CLIENT", "ID").val
        for reason, expect in ((None, (b"*-1\r\n",)), ("TIMEOUT", (b"*-1\r\n",)),
                               ("ERROR", (b"-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n",))):
            b.send(("BLPOP", "nokey", "0"))
            args = ["CLIENT", "UNBLOCK", str(bid)] + ([reason] if reason else [])
            for _ in range(100):  # until B is blocked
                r = c.call(*args)
                if r.raw == b":1\r\n":
                    break
                import time
                time.sleep(0.01)
            assert r.raw == b":1\r\n", s.kind
            assert b.read().raw in expect, s.kind
        assert c.call("CLIENT", "UNBLOCK", str(bid)).raw == b":0\r\n"
        b.close()
    for args in (["999999"], ["x"], ["1", "MAYBE"], ["1", "TIMEOUT", "x"], ["-5"]):
        same(conns, "CLIENT", "UNBLOCK", *args)


def test_client_tracking_queries_and_no_evict(conns):
    same(conns, "CLIENT", "GETREDIR")
    same(conns, "CLIENT", "TRACKINGINFO")
    for args in (["ON"], ["off"], ["maybe"]):
        same(conns, "CLIENT", "NO-EVICT", *args)
    same(conns, "CLIENT", "NO-EVICT", "on")
    flags = [[w for w in c.call("CLIENT", "INFO").text().split() if w.startswith(b"flags=")] for c in conns]
    assert flags[0] == flags[1] == [[b"flags=e"]][0]
    same(conns, "CLIENT", "NO-EVICT", "off")


# ---- MODULE and LOLWUT ---------------------------------------------------------------------

def test_module_and_lolwut(conns):
    for args in (["LIST"], ["HELP"], ["LOAD", "/nonexistent/m.so"], ["LOADEX", "/x.so", "CONFIG", "a", "b"],
                 ["UNLOAD", "m"], ["NOSUCH"], ["LOAD"], ["LIST", "x"]):
        same(conns, "MODULE", *args)
    for args in ([], ["VERSION", "7"], ["VERSION", "8", "extra"], ["VERSION", "x"], ["VERSION"], ["foo"],
                 ["VERSION", "5", "x"], ["VERSION", "4294967301", "20", "4", "2"]):
        same(conns, "LOLWUT", *args)
    # Schotter's first two rows of squares are straight: with at most two rows, exactly Redis's.
    for args in (["20", "4", "2"], ["66", "8", "1"], ["1", "1", "1"], ["5000", "300", "2"], ["-3", "0", "0"],
                 ["33", "5", "2"]):
        same(conns, "LOLWUT", "VERSION", "5", *args)
    # Further rows are random in both: the drawing's size and the text after it are the same.
    a, r = (verbatim_text(c.call("LOLWUT", "VERSION", "5")) for c in conns)
    assert [len(line) for line in a.split("\n")] == [len(line) for line in r.split("\n")]
    assert a.endswith("\nGeorg Nees - schotter, plotter on paper, 1968. Redis ver. 7.0.15\n")


def test_module_load_when_allowed(tmp_path):
    from tests.conftest import ServerProc
    servers = [ServerProc(k, tmp_path / k, ["--enable-module-command", "yes"]).start() for k in ("amber", "redis")]
    try:
        cs = [Conn(s.port, name=s.kind) for s in servers]
        for args in (["LOAD", "/nonexistent/m.so"], ["LOAD", "/nonexistent/m.so", "arg"], ["UNLOAD", "m"],
                     ["LIST"]):
            same(cs, "MODULE", *args)
        assert "Module /nonexistent/m.so failed to load" in servers[0].log_path.read_text()
    finally:
        for s in servers:
            s.stop()


def test_help_texts(conns):
    # Containers whose subcommands Amber has all of reply Redis's help exactly.
    for c in ("COMMAND", "MODULE", "MEMORY", "LATENCY"):
        same(conns, c, "HELP")
    # CLIENT: all but the tracking lines (CACHING, TRACKING) are Redis's, in its order.
    a, r = (c.call("CLIENT", "HELP") for c in conns)
    lines = [f.text() for f in r.items()]
    for t in (b"CACHING (YES|NO)", b"TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]"):
        i = lines.index(t)
        del lines[i:i + (2 if t.startswith(b"CACHING") else 3)]
    assert [f.text() for f in a.items()] == lines


# ---- MEMORY --------------------------------------------------------------------------------

def shape(frame):
    """A reply's structure: map keys and the wire type of every value, values left out."""
    if frame.kind in "%*" and frame.val is not None:
        items = frame.items()
        if frame.kind == "%" or (len(items) % 2 == 0 and all(i.kind == "$" for i in items[::2])):
            return [(k.text(), shape(v)) for k, v in zip(items[::2], items[1::2])]
        return [shape(i) for i in items]
    return frame.kind


def test_memory_stats(conns):
    for c in conns:
        c.call("FLUSHALL")
        c.call("DEBUG", "POPULATE", "1000", "k", "10")
        c.call("SELECT", "3")
        c.call("SET", "x", "y", "EX", "100")
        c.call("SELECT", "0")
    a, r = (c.call("MEMORY", "STATS") for c in conns)
    # Redis's field names, order and value types.
    assert shape(a) == shape(r)
    m = {k.text().decode(): v for k, v in zip(a.items()[::2], a.items()[1::2])}
    num = lambda k: int(m[k].text()) if m[k].kind == ":" else float(m[k].text())  # noqa: E731
    assert num("keys.count") == 1001
    assert [k for k in m if k.startswith("db.")] == ["db.0", "db.3"]
    parts = ["startup.allocated", "replication.backlog", "clients.slaves", "clients.normal", "aof.buffer"]
    tables = sum(int(dict((k.text(), v) for k, v in zip(m[d].items()[::2], m[d].items()[1::2]))
                     [b"overhead.hashtable.main"].text()) for d in ("db.0", "db.3"))
    assert tables > 1000 * 48
    assert num("overhead.total") == sum(num(p) for p in parts) + tables
    assert num("dataset.bytes") == num("total.allocated") - num("overhead.total")
    assert num("clients.normal") > 0
    assert num("peak.allocated") >= num("total.allocated")
    info = conns[0].call("INFO", "memory").text().decode()
    assert "used_memory_overhead:" in info and "mem_clients_normal:" in info
    for c in conns:
        c.call("FLUSHALL")


def test_memory_doctor_and_errors(conns):
    for c in conns:
        c.call("FLUSHALL")
    same(conns, "MEMORY", "DOCTOR")  # little memory used: Redis's "Hi Sam, this instance is empty" report
    same(conns, "MEMORY", "STATS", "x")
    same(conns, "MEMORY", "NOSUCH")


# ---- LATENCY -------------------------------------------------------------------------------

def verbatim_text(frame):
    return frame.text().removeprefix(b"txt:").decode()


THP_ADVICE = ("- I detected a non zero amount of anonymous huge pages used by your process. This creates very "
              "serious latency events in different conditions, especially when Redis is persisting on disk. To "
              "disable THP support use the command 'echo never > /sys/kernel/mm/transparent_hugepage/enabled', make "
              "sure to also add it into /etc/rc.local so that the command will be executed again after a reboot. Note "
              "that even if you have already disabled THP, you still need to restart the Redis process to get rid of "
              "the huge pages already created.\n")


def doctor_as_amber_sees_it(redis_report, amber_report):
    """Redis (disable-thp yes) holds no transparent huge pages; Amber's allocator may. Then both
    reports carry Redis's advice about them, as the last one."""
    if THP_ADVICE not in amber_report:
        return redis_report
    if redis_report.startswith("Dave, no latency spike"):
        return "\nI have a few advices for you:\n\n" + THP_ADVICE
    return redis_report + THP_ADVICE


def test_latency_doctor_graph_histogram(conns):
    import re
    import time
    for c in conns:
        c.call("LATENCY", "RESET")
        c.call("CONFIG", "SET", "latency-monitor-threshold", "0")
    same(conns, "LATENCY", "DOCTOR")  # monitoring disabled
    same(conns, "LATENCY", "GRAPH", "command")  # no samples
    same(conns, "LATENCY", "GRAPH")
    for c in conns:
        # High enough that no other command of a loaded machine reaches it.
        c.call("CONFIG", "SET", "latency-monitor-threshold", "40")
    a, r = (verbatim_text(c.call("LATENCY", "DOCTOR")) for c in conns)  # enabled, nothing seen yet
    assert r.startswith("Dave, no latency spike")
    assert a == doctor_as_amber_sees_it(r, a)
    for c in conns:
        c.call("DEBUG", "SLEEP", "0.1")
    time.sleep(1.1)  # the samples are a second old in both
    mask = lambda t: re.sub(r"period [\d.]+ sec", "period N sec", re.sub(r"\d+ms", "Nms", t))  # noqa: E731
    a, r = (verbatim_text(c.call("LATENCY", "DOCTOR")) for c in conns)
    assert "1. command: 1 latency spikes" in r
    assert mask(a) == mask(doctor_as_amber_sees_it(r, a))
    a, r = (verbatim_text(c.call("LATENCY", "GRAPH", "command")) for c in conns)
    mask = lambda t: re.sub(r"\d", "N", t)  # noqa: E731  (milliseconds, and seconds-ago labels)
    assert mask(a) == mask(r), (a, r)
    for c in conns:
        c.call("CONFIG", "SET", "latency-monitor-threshold", "0")
        c.call("LATENCY", "RESET")
        c.call("CONFIG", "RESETSTAT")
        for _ in range(3):
            c.call("SET", "lh", "1")
        c.call("CONFIG", "GET", "maxmemory")
    same(conns, "LATENCY", "HISTOGRAM", "nosuch")
    for args in (["set"], ["config"], ["config|get"], ["set", "config|get", "get"]):
        a, r = (c.call("LATENCY", "HISTOGRAM", *args) for c in conns)
        # The same commands (Redis lists a container's subcommands in its dict's order).
        assert sorted(k for k, _ in shape(a)) == sorted(k for k, _ in shape(r)), (a.raw, r.raw)
        for reply in (a, r):
            items = reply.items()
            for name, h in zip(items[::2], items[1::2]):
                calls, hist = h.items()[1], h.items()[3]
                steps = hist.items()
                cum = [int(x.text()) for x in steps[1::2]]
                assert cum == sorted(cum) and cum[-1] == int(calls.text())
                assert all(int(x.text()) in (1, 2, 4, 8, 16, 33, 66, 132, 264, 528, 1056, 2113) for x in steps[::2])
    a, r = (c.call("LATENCY", "HISTOGRAM", "set") for c in conns)
    assert a.items()[1].items()[1].raw == r.items()[1].items()[1].raw == b":3\r\n"
    same(conns, "CONFIG", "SET", "latency-tracking", "no")
    for c in conns:
        c.call("CONFIG", "RESETSTAT")
        c.call("GET", "lh")
    same(conns, "LATENCY", "HISTOGRAM", "get")  # no histogram while tracking is off
    same(conns, "CONFIG", "SET", "latency-tracking", "yes")
    same(conns, "DEL", "lh")


# ---- Redis's hidden test-aid directives ------------------------------------------------------

HIDDEN = ["key-load-delay", "loading-process-events-interval-bytes", "use-exit-on-panic", "watchdog-period",
          "rdb-key-save-delay"]


def test_hidden_directives_get_set(conns):
    for c in conns:
        listed = {f.text().decode() for f in c.call("CONFIG", "GET", "*").items()[::2]}
        assert not listed & set(HIDDEN), listed & set(HIDDEN)
    for name in HIDDEN + ["crash-memcheck-enabled", "crash-log-enabled"]:
        same(conns, "CONFIG", "GET", name)
    for name, values in (("key-load-delay", ["5", "-10", "0", "x", "3000000000"]),
                         ("loading-process-events-interval-bytes", ["1024", "10", "4096", "2097152"]),
                         ("use-exit-on-panic", ["yes", "maybe", "no"]),
                         ("watchdog-period", ["0", "-1"]),
                         ("crash-memcheck-enabled", ["no", "yes"])):
        for v in values:
            same(conns, "CONFIG", "SET", name, v)
            same(conns, "CONFIG", "GET", name)


def test_watchdog_period_is_refused_with_a_reason(pair):
    c = Conn(pair[0].port)
    r = c.call("CONFIG", "SET", "watchdog-period", "100")
    assert r.is_error() and b"no software watchdog" in r.raw
    c.close()


def test_key_load_delay_slows_loading(pair):
    import time
    for s in pair:
        c = Conn(s.port, timeout=60, name=s.kind)
        c.call("SELECT", "5")
        c.call("FLUSHALL")
        c.call("DEBUG", "POPULATE", "100")
        took = {}
        for delay in ("0", "10000"):
            assert c.call("CONFIG", "SET", "key-load-delay", delay).raw == b"+OK\r\n"
            t = time.monotonic()
            assert c.call("DEBUG", "RELOAD").raw == b"+OK\r\n"
            took[delay] = time.monotonic() - t
        c.call("CONFIG", "SET", "key-load-delay", "0")
        # 100 keys x 10 ms.
        assert took["10000"] >= 1.0 and took["10000"] - took["0"] >= 0.8, (s.kind, took)
        assert c.call("DBSIZE").raw == b":100\r\n"
        c.call("FLUSHALL")
        c.close()


def test_use_exit_on_panic(tmp_path):
    from tests.conftest import ServerProc
    for kind in ("amber", "redis"):
        # (Redis's fast memory test after a crash faults in this sandbox: leave it out.)
        s = ServerProc(kind, tmp_path / kind, ["--use-exit-on-panic", "yes", "--crash-memcheck-enabled", "no"]).start()
        c = Conn(s.port, name=kind)
        c.send(("DEBUG", "PANIC"))
        assert s.proc.wait(30) == 1, kind  # exit code 1, not SIGABRT
        s.log.close()
        c.close()


# ---- COMMAND INFO of the new commands --------------------------------------------------------

NEW_COMMANDS = ["command|getkeys", "command|getkeysandflags", "client|reply", "client|unblock", "client|getredir",
                "client|trackinginfo", "client|no-evict", "memory|stats", "memory|doctor", "latency|doctor",
                "latency|graph", "latency|histogram", "lolwut", "module", "module|list", "module|load",
                "module|loadex", "module|unload", "module|help"]


# Commands whose COMMAND INFO flags still differ from Redis's (not this file's subject).
FLAGS_DIFFER = {"psync", "save", "sync"}


def test_command_info_of_every_command(conns):
    names = [f.text().decode() for f in conns[0].call("COMMAND", "LIST").items()]
    assert set(NEW_COMMANDS) <= set(names)
    for name in names:
        a, r = (c.call("COMMAND", "INFO", name).items()[0] for c in conns)
        # name, arity, flags, first/last/step, ACL categories, tips, key specs (subcommands are
        # compared one by one: Amber lists those it has).
        fields = [0, 1, 3, 4, 5, 6, 7, 8] + ([] if name in FLAGS_DIFFER else [2])
        for i in fields:
            assert a.items()[i].raw == r.items()[i].raw, (name, i, a.items()[i].raw, r.items()[i].raw)


def test_client_reply_with_blocking_commands(pair):
    """A command that blocks ends when it is served or times out: its reply is dropped then
    under SKIP or OFF, and the command after it answers."""
    for s in pair:
        c, other = Conn(s.port, name=s.kind), Conn(s.port, name=s.kind)
        c.call("DEL", "bk")
        c.send(("CLIENT", "REPLY", "SKIP"), ("BLPOP", "bk", "0"))
        import time
        time.sleep(0.2)
        assert other.call("RPUSH", "bk", "v").raw == b":1\r\n"
        assert c.call("PING").raw == b"+PONG\r\n", s.kind
        c.send(("CLIENT", "REPLY", "OFF"), ("BLPOP", "bk", "0.1"), ("CLIENT", "REPLY", "ON"))
        assert c.read().raw == b"+OK\r\n", s.kind
        c.send(("CLIENT", "REPLY", "SKIP"), ("WAIT", "0", "50"))
        assert c.call("PING").raw == b"+PONG\r\n", s.kind
        c.close()
        other.close()
