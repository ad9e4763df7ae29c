"""Differential test: seeded random command streams over the whole server core go to Redis 7.0.15
and to Amber, and every reply must be equal (byte for byte unless the order or the choice is
unspecified by nature; see tests/diff/gen.py). After each stream, and every 400 ops, the whole
datasets are compared too, and their DEBUG DIGEST.

Environment:
  AMBER_DIFF_FAMILIES  only these command families (comma-separated), or "-a,-b" to leave some out;
                       families: basic strings bitmaps sort keys lists hashes sets zsets tx blocking connection
                       server pubsub streams hll geo bitfield shardpubsub scripting functions
                       introspection notify
  AMBER_DIFF_SEEDS     seeds, e.g. "1-8" or "3,17" (default 1-8)
  AMBER_DIFF_COUNT     ops per seed (default 4000: 8 x 4000 = 32,000 ops, more commands; the
                       older families had 2500 a seed before the new ones, and get about as many)
  AMBER_DIFF_AGAINST   amber (default) or redis (compare two Redis servers)
One seed with many commands: python3 -m tests.diff --seed N --count 50000
"""

import os
import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
from tests.diff import gen as G  # noqa: E402
from tests.diff import runner as R  # noqa: E402
from tests.diff.__main__ import seeds_arg  # noqa: E402
from tests.diff.resp import Conn, Parser  # noqa: E402
from tests.diff.servers import families_from_env, run_seed, server_pair  # noqa: E402

SEEDS = seeds_arg(os.environ.get("AMBER_DIFF_SEEDS", "1-8"))
COUNT = int(os.environ.get("AMBER_DIFF_COUNT", "4000"))
AGAINST = os.environ.get("AMBER_DIFF_AGAINST", "amber")
FAMILIES = families_from_env()


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    with server_pair(AGAINST, str(tmp_path_factory.mktemp("diff"))) as servers:
        yield servers


@pytest.mark.parametrize("seed", SEEDS)
def test_differential(pair, seed):
    a, b = pair
    print(f"\ndifferential seed={seed} count={COUNT} against={AGAINST} "
          f"families={','.join(FAMILIES) if FAMILIES else 'all'}")
    stats, failure = None, None
    try:
        stats = run_seed(seed, COUNT, a.port, b.port, name_b=AGAINST, families=FAMILIES)
    except R.Mismatch as e:
        failure = str(e)
    if failure:
        pytest.fail(failure, pytrace=False)
    print(f"seed={seed}: {stats}")
    assert stats["ops"] >= COUNT
    assert stats["checks"] >= 1
    assert stats["digests"] == stats["checks"]


@pytest.fixture(scope="module")
def redis_pair(tmp_path_factory):
    with server_pair("redis", str(tmp_path_factory.mktemp("diff-rr"))) as servers:
        yield servers


@pytest.mark.parametrize("seed", [101, 202])
def test_harness_redis_vs_redis(redis_pair, seed):
    """Two real Redis servers must always agree: proves the handling of unordered and random
    replies (hash orders and random choices differ between two Redis processes)."""
    a, b = redis_pair
    stats, failure = None, None
    try:
        stats = run_seed(seed, 1500, a.port, b.port, name_b="redis")
    except R.Mismatch as e:
        failure = str(e)
    if failure:
        pytest.fail(failure, pytrace=False)
    assert stats["ops"] >= 1500


def test_digest_comparison_names_the_differing_keys(redis_pair):
    """Two Redis servers whose datasets differ in one zset score (-0 against 0 in a skiplist, which
    ZRANGE WITHSCORES shows too), one TTL and one key in a database past the generator's: the
    digest check fails and names exactly those keys."""
    a, b = redis_pair
    ca, cb = Conn(a.port), Conn(b.port)
    try:
        for c in (ca, cb):
            c.call("FLUSHALL")
            c.call("CONFIG", "SET", "zset-max-listpack-entries", "0")
            c.call("SET", "same", "v")
            c.call("SET", "ttl", "v")
        ca.call("ZADD", "z", "-0", "m")
        cb.call("ZADD", "z", "0", "m")
        cb.call("EXPIRE", "ttl", "1000")
        cb.call("SELECT", "9")
        cb.call("SET", "extra", "x")
        r = R.Runner(1, a.port, b.port, name_b="redis")
        try:
            with pytest.raises(R.Mismatch) as e:
                r.compare_digests(G.Op([], kind="check"))
        finally:
            for s in r.sides:
                s.close()
        text = str(e.value)
        assert "DEBUG DIGEST" in text
        for want in ["db 0 key b'z' (reference zset/skiplist", "db 0 key b'ttl'", "db 9 key b'extra'"]:
            assert want in text, text
        assert "b'same'" not in text
        for c in (ca, cb):
            c.call("SELECT", "0")
            c.call("FLUSHALL")
            assert c.call("DEBUG", "DIGEST").val == b"0" * 40
    finally:
        for c in (ca, cb):
            c.call("CONFIG", "SET", "zset-max-listpack-entries", "16")
            c.close()


# ---- the comparison rules themselves ---------------------------------------------------------
def frame(raw):
    p = Parser()
    p.feed(raw)
    f = p.next()
    assert f is not None and f.raw == raw
    return f


def test_unordered_comparison_still_catches_differences():
    a = frame(b"*2\r\n$1\r\na\r\n$1\r\nb\r\n")
    b = frame(b"*2\r\n$1\r\nb\r\n$1\r\na\r\n")
    c = frame(b"*2\r\n$1\r\nb\r\n$1\r\nb\r\n")
    assert R.differ("exact", a, b)
    assert R.differ("set", a, b) is None
    assert R.differ("set", a, c)
    m1 = frame(b"%2\r\n$1\r\nf\r\n$1\r\n1\r\n$1\r\ng\r\n$1\r\n2\r\n")
    m2 = frame(b"%2\r\n$1\r\ng\r\n$1\r\n2\r\n$1\r\nf\r\n$1\r\n1\r\n")
    m3 = frame(b"%2\r\n$1\r\ng\r\n$1\r\n1\r\n$1\r\nf\r\n$1\r\n2\r\n")
    assert R.differ("pairs", m1, m2) is None
    assert R.differ("pairs", m1, m3)
    assert R.differ("set", a, frame(b"~2\r\n$1\r\na\r\n$1\r\nb\r\n"))  # array vs set type
    assert R.differ("ttl", frame(b":100\r\n"), frame(b":99\r\n")) is None
    assert R.differ("ttl", frame(b":100\r\n"), frame(b":97\r\n"))
    assert R.differ("ttl", frame(b":-1\r\n"), frame(b":-2\r\n"))
    assert R.differ("hello", frame(b"%1\r\n$2\r\nid\r\n:5\r\n"), frame(b"%1\r\n$2\r\nid\r\n:7\r\n")) is None
    ex = frame(b"*2\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n:1\r\n")
    ey = frame(b"*2\r\n*2\r\n$1\r\nb\r\n$1\r\na\r\n:1\r\n")
    assert R.differ("exec", ex, ey, ["enc_set", "exact"]) is None
    assert R.differ("exec", ex, ey, ["exact", "exact"])


def test_random_replies_are_checked_by_properties():
    members = {b"a", b"b", b"c"}
    ok = frame(b"*2\r\n$1\r\na\r\n$1\r\nc\r\n")
    assert R.random_problem([b"SRANDMEMBER", b"t0", b"2"], ok, members, "set") is None
    assert R.random_problem([b"SRANDMEMBER", b"t0", b"3"], ok, members, "set")  # too few
    dup = frame(b"*2\r\n$1\r\na\r\n$1\r\na\r\n")
    assert R.random_problem([b"SPOP", b"t0", b"2"], dup, members, "set")  # repeated
    assert R.random_problem([b"SRANDMEMBER", b"t0", b"-2"], dup, members, "set") is None
    assert R.random_problem([b"SRANDMEMBER", b"t0"], frame(b"$1\r\nz\r\n"), members, "set")
    pairs = frame(b"*4\r\n$1\r\nf\r\n$1\r\n1\r\n$1\r\ng\r\n$1\r\n9\r\n")
    assert R.random_problem([b"HRANDFIELD", b"h", b"2", b"WITHVALUES"], pairs, {b"f": b"1", b"g": b"2"}, "hash")
    assert R.random_problem([b"RANDOMKEY"], frame(b"_\r\n"), set(), "keys") is None
    assert R.random_problem([b"RANDOMKEY"], frame(b"_\r\n"), {b"k"}, "keys")


def test_generator_is_deterministic_and_covers_the_families():
    ops1 = [repr(o) for o in G.Gen(5).stream(5000)]
    ops2 = [repr(o) for o in G.Gen(5).stream(5000)]
    assert ops1 == ops2
    names = {o.split(" ")[0].lstrip("[other]").strip() for o in ops1}
    text = " ".join(ops1)
    for cmd in ["SET", "GETEX", "INCRBYFLOAT", "LCS", "EXPIRE", "COPY", "MOVE", "SWAPDB", "SCAN",
                "OBJECT", "LPUSH", "LMPOP", "LPOS", "HSET", "HRANDFIELD", "SADD", "SINTERCARD", "SPOP",
                "ZADD", "ZRANGESTORE", "ZUNIONSTORE", "ZRANDMEMBER", "MULTI", "EXEC", "WATCH",
                "BLPOP", "BZPOPMIN", "BLMPOP", "SELECT", "SUBSCRIBE", "PUBLISH", "PUBSUB",
                "SETBIT", "GETBIT", "BITCOUNT", "BITPOS", "BITOP", "SORT", "SORT_RO",
                "XADD", "XREADGROUP", "XAUTOCLAIM", "XINFO", "PFADD", "PFMERGE", "GEOADD", "GEOSEARCH",
                "BITFIELD", "SSUBSCRIBE", "SPUBLISH", "EVAL", "FCALL", "FUNCTION", "COMMAND"]:
        assert cmd in text, cmd
    assert "SELECT" in names


def test_families_filter():
    assert families_from_env("") is None
    assert families_from_env("strings,keys") == ["strings", "keys"]
    assert "blocking" not in families_from_env("-blocking")
    with pytest.raises(ValueError):
        families_from_env("nosuchfamily")
