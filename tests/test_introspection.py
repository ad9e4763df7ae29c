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
