"""HyperLogLog against Redis 7.0.15: the same commands to both servers give the same replies,
error texts included, and the same string bytes (sparse and dense encodings, the cached
cardinality, the sparse-to-dense promotion), so GET, DUMP and DEBUG DIGEST agree; corrupt
sketches answer as Redis does and never crash; PFCOUNT's cache update reaches the AOF."""

import random

import pytest

from conftest import ServerProc, raw_command, replies_agree


def both(amber_and_redis):
    return [s.client() for s in amber_and_redis]


def same(clients, *cmd):
    """Runs `cmd` on Amber and Redis; the replies (or error texts) must be equal."""
    return replies_agree(clients, *cmd)[1]


def same_value(clients, key):
    a, r = (c.execute_command("GET", key) for c in clients)
    assert a == r, (key, len(a or b""), len(r or b""))
    assert clients[0].execute_command("DEBUG", "DIGEST-VALUE", key) == \
        clients[1].execute_command("DEBUG", "DIGEST-VALUE", key)


@pytest.mark.parametrize("n", [0, 1, 7, 100, 1000, 2500, 20000])
def test_pfadd_builds_the_same_bytes_and_counts(amber_and_redis, n):
    cs = both(amber_and_redis)
    rng = random.Random(n)
    elements = [b"e%d:%d" % (i, rng.randrange(10**9)) for i in range(n)]
    same(cs, "PFADD", "h")  # created empty
    for i in range(0, n, 97):
        same(cs, "PFADD", "h", *elements[i:i + 97])
        if i % (97 * 5) == 0:
            same_value(cs, "h")
    same_value(cs, "h")
    same(cs, "PFDEBUG", "ENCODING", "h")
    same(cs, "OBJECT", "ENCODING", "h")
    same(cs, "TYPE", "h")
    same(cs, "PFCOUNT", "h")
    same_value(cs, "h")  # the cached cardinality, written into the value
    same(cs, "PFCOUNT", "h")
    same(cs, "PFADD", "h", *elements[:5])  # nothing new: 0, and the cache stays valid
    same_value(cs, "h")
    same(cs, "PFDEBUG", "DECODE", "h")
    same(cs, "PFDEBUG", "GETREG", "h")  # converts a sparse sketch to dense
    same_value(cs, "h")
    same(cs, "PFDEBUG", "TODENSE", "h")
    # Each server restores the other's DUMP of the sketch to the same bytes.
    a, r = cs[0].dump("h"), cs[1].dump("h")
    cs[0].restore("from-redis", 0, r)
    cs[1].restore("from-amber", 0, a)
    assert cs[0].get("from-redis") == cs[1].get("from-amber") == cs[0].get("h")


def test_promotion_follows_hll_sparse_max_bytes(amber_and_redis):
    cs = both(amber_and_redis)
    same(cs, "CONFIG", "SET", "hll-sparse-max-bytes", "200")
    same(cs, "CONFIG", "GET", "hll-sparse-max-bytes")
    for i in range(400):
        same(cs, "PFADD", "small", b"x%d" % i)
        if i % 20 == 0:
            same(cs, "PFDEBUG", "ENCODING", "small")
    same_value(cs, "small")
    same(cs, "CONFIG", "SET", "hll-sparse-max-bytes", "3kb")
    same(cs, "CONFIG", "GET", "hll-sparse-max-bytes")


def test_merge_and_union_count(amber_and_redis):
    cs = both(amber_and_redis)
    for k, n in (("s1", 50), ("s2", 300), ("d1", 30000)):
        for i in range(0, n, 500):
            same(cs, "PFADD", k, *[b"%s-%d" % (k.encode(), j) for j in range(i, min(n, i + 500))])
    same(cs, "PFCOUNT", "s1", "s2", "missing")
    same(cs, "PFCOUNT", "s1", "s2", "d1")
    same(cs, "PFMERGE", "m1", "s1", "s2")  # sparse into a new key
    same_value(cs, "m1")
    same(cs, "PFMERGE", "m2", "s1", "d1")  # a dense source makes a dense destination
    same_value(cs, "m2")
    same(cs, "PFMERGE", "s1", "s2")  # the destination is itself merged
    same_value(cs, "s1")
    same(cs, "PFMERGE", "empty")
    same_value(cs, "empty")
    same(cs, "PFMERGE", "empty2", "nothing", "neither")
    same_value(cs, "empty2")
    same(cs, "PFCOUNT", "m1")
    same(cs, "PFCOUNT", "m2")
    same(cs, "DEBUG", "DIGEST")


def test_errors_match_redis(amber_and_redis):
    cs = both(amber_and_redis)
    same(cs, "RPUSH", "list", "a")
    same(cs, "SET", "str", "not a sketch at all, just text")
    same(cs, "SET", "int", "12345")
    same(cs, "PFADD", "h", "a")
    for key in ("list", "str", "int"):
        same(cs, "PFADD", key, "x")
        same(cs, "PFCOUNT", key)
        same(cs, "PFCOUNT", "h", key)
        same(cs, "PFMERGE", "h", key)
        same(cs, "PFMERGE", key, "h")
        same(cs, "PFDEBUG", "ENCODING", key)
    same(cs, "PFDEBUG", "ENCODING", "nokey")
    same(cs, "PFDEBUG", "NOSUCH", "h")
    same(cs, "PFDEBUG", "DECODE", "h")
    same(cs, "PFDEBUG", "TODENSE", "h")
    same(cs, "PFDEBUG", "DECODE", "h")  # not sparse any more
    same(cs, "PFDEBUG", "ENCODING")
    same(cs, "PFADD")
    same(cs, "PFSELFTEST", "x")


def corrupt_variants():
    """Sketch-shaped strings with damage: a bad encoding byte, a wrong dense size, sparse runs
    that fall short of or run past the registers, a cut XZERO, random opcodes."""
    hdr = b"HYLL\x01\x00\x00\x00" + b"\x00" * 8
    rng = random.Random(7)
    out = [
        b"HYLL\x02" + b"\x00" * 11 + b"\x7f\xff",
        b"HYLL\x00" + b"\x00" * 11 + b"\x00" * 100,
        hdr + b"\x7f\xfe",  # XZERO of 16383: one register short
        hdr + b"\x7f\xff\x80",  # one VAL past the end
        hdr + b"\x7f",  # an XZERO cut in half
        hdr,  # no opcodes at all
        hdr + b"\xff" * 5000,
        b"HYL",
    ]
    for _ in range(40):
        out.append(hdr + bytes(rng.randrange(256) for _ in range(rng.randrange(1, 60))))
    return out


def test_corrupt_sketches_answer_as_redis_and_nothing_crashes(amber_and_redis):
    cs = both(amber_and_redis)
    for i, v in enumerate(corrupt_variants()):
        k = b"bad%d" % i
        same(cs, "SET", k, v)
        same(cs, "PFCOUNT", k)
        same(cs, "PFCOUNT", k, "other")
        same(cs, "PFADD", k, *[b"el%d" % j for j in range(40)])
        same_value(cs, k)
        same(cs, "PFMERGE", b"dst%d" % i, k)
        same(cs, "PFDEBUG", "DECODE", k)
        same(cs, "PFDEBUG", "GETREG", k)
        same(cs, "PFDEBUG", "TODENSE", k)
        same_value(cs, k)
    for c in cs:
        assert c.ping()


def test_pfselftest_passes(amber_and_redis):
    cs = both(amber_and_redis)
    same(cs, "PFSELFTEST")


def test_command_info_matches(amber_and_redis):
    cs = both(amber_and_redis)
    for name in ("pfadd", "pfcount", "pfmerge", "pfdebug", "pfselftest"):
        a, r = (raw_command(c, "COMMAND", "DOCS", name) for c in cs)
        assert a == r, name
        # Amber's COMMAND INFO has no key specs yet (for any command): the rest must match.
        a, r = (raw_command(c, "COMMAND", "INFO", name)[0] for c in cs)
        assert a[:7] + a[9:] == r[:7] + r[9:], (name, a, r)


def test_pfcount_cache_update_reaches_the_aof_and_survives_restart(tmp_path):
    """PFCOUNT writes its cached cardinality into the value, and Redis logs it: after a
    restart from the AOF the value bytes (and so DEBUG DIGEST) are those before it."""
    digests = {}
    logged = {}
    for kind in ("amber", "redis"):
        d = tmp_path / kind
        args = ["--appendonly", "yes", "--appendfsync", "always", "--aof-use-rdb-preamble", "no"]
        s = ServerProc(kind, d, args).start()
        try:
            c = s.client()
            c.execute_command("PFADD", "h", *[b"x%d" % i for i in range(300)])
            c.execute_command("PFCOUNT", "h")
            c.execute_command("PFCOUNT", "h")  # cached: not logged again
            c.execute_command("PFADD", "d", *[b"y%d" % i for i in range(5)])
            c.execute_command("PFDEBUG", "GETREG", "d")
            before = (c.execute_command("DEBUG", "DIGEST"), c.get("h"), c.get("d"))
        finally:
            s.stop()
        aof_dir = d / "appendonlydir"
        text = b"".join(p.read_bytes() for p in sorted(aof_dir.glob("*.incr.aof")))
        logged[kind] = [w for w in (b"PFADD", b"PFCOUNT", b"PFDEBUG") for _ in range(text.count(w))]
        s = ServerProc(kind, d, args).start()
        try:
            c = s.client()
            after = (c.execute_command("DEBUG", "DIGEST"), c.get("h"), c.get("d"))
        finally:
            s.stop()
        assert after == before, kind
        digests[kind] = before
    assert digests["amber"] == digests["redis"]
    assert logged["amber"] == logged["redis"] == [b"PFADD", b"PFADD", b"PFCOUNT", b"PFDEBUG"]
