"""lazyfree against Redis 7.0.15: UNLINK, FLUSHALL/FLUSHDB ASYNC and the lazyfree-lazy-* directives
hand big values (and flushed databases) to a background drop thread; INFO's lazyfreed_objects and
lazyfree_pending_objects count them as Redis counts them (only values whose free effort is over
64 allocations go, a flushed database counts its keys), and the directives read back."""

import time

import pytest

from tests.diff.resp import Conn


def call(c, *args):
    f = c.call(*[str(a) for a in args])
    assert not f.is_error(), (args, f)
    return f


def lazy_counts(c):
    """(pending, freed) once the drop thread has nothing left (deadline 10 s)."""
    deadline = time.monotonic() + 10
    while True:
        text = call(c, "INFO", "memory").text().decode()
        f = dict(l.split(":", 1) for l in text.split("\r\n") if ":" in l)
        pending, freed = int(f["lazyfree_pending_objects"]), int(f["lazyfreed_objects"])
        if pending == 0 or time.monotonic() > deadline:
            return pending, freed
        time.sleep(0.01)


def big_hash(c, key, n=1000):
    args = []
    for i in range(n):
        args += [f"f{i}", f"v{i}"]
    call(c, "HSET", key, *args)


def sequence(port):
    c = Conn(port, timeout=30)
    out = []
    try:
        call(c, "FLUSHALL", "SYNC")
        call(c, "CONFIG", "RESETSTAT")
        call(c, "DEBUG", "SET-ACTIVE-EXPIRE", "0")
        for d in ["lazyfree-lazy-user-del", "lazyfree-lazy-server-del", "lazyfree-lazy-expire",
                  "lazyfree-lazy-user-flush", "lazyfree-lazy-eviction", "replica-lazy-flush"]:
            out.append(call(c, "CONFIG", "GET", d).raw)
        steps = [
            [["UNLINK", "h"]],  # a big hash: async
            [["UNLINK", "small"]],  # a listpack hash: freed at once, not counted
            [["DEL", "h"]],  # lazyfree-lazy-user-del no: sync
            [["CONFIG", "SET", "lazyfree-lazy-user-del", "yes"], ["DEL", "h"]],
            [["SET", "h", "x"]],  # overwrite, server-del no
            [["CONFIG", "SET", "lazyfree-lazy-server-del", "yes"], ["SET", "h", "x"]],
            [["CONFIG", "SET", "lazyfree-lazy-expire", "yes"], ["PEXPIRE", "h", "1"], ["SLEEP"], ["EXISTS", "h"]],
            [["UNLINK", "z"]],  # a skiplist zset
            [["UNLINK", "s"]],  # a hashtable set
            [["UNLINK", "is"]],  # an intset
            [["FLUSHALL", "ASYNC"]],
            [["FLUSHDB"]],  # sync
            [["CONFIG", "SET", "lazyfree-lazy-user-flush", "yes"], ["FLUSHDB"]],
            [["FLUSHALL", "SYNC"]],
        ]
        for step in steps:
            # The dataset each step works on.
            call(c, "FLUSHALL", "SYNC")
            big_hash(c, "h")
            call(c, "HSET", "small", "a", "1")
            call(c, "ZADD", "z", *[x for i in range(200) for x in (i, f"m{i}")])
            call(c, "SADD", "s", *[f"m{i}" for i in range(100)])
            call(c, "SADD", "is", *range(100))
            for i in range(30):
                call(c, "SET", f"k{i}", i)
            for cmd in step:
                if cmd == ["SLEEP"]:
                    time.sleep(0.01)
                else:
                    call(c, *cmd)
            out.append((step, lazy_counts(c)))
        call(c, "CONFIG", "RESETSTAT")
        out.append(lazy_counts(c))
        return out
    finally:
        call(c, "DEBUG", "SET-ACTIVE-EXPIRE", "1")
        c.close()


def test_lazyfree_counts_like_redis(amber_and_redis):
    got = [sequence(s.port) for s in amber_and_redis]
    assert got[0] == got[1], got
    freed = [x[1][1] for x in got[0] if isinstance(x, tuple) and isinstance(x[0], list)]
    # UNLINK of the big hash counts one; by the end the flushes have counted their keys.
    assert freed[0] == 1 and freed[-1] > 30, freed
    assert got[0][-1] == (0, 0)  # CONFIG RESETSTAT


def test_unlink_of_a_big_value_leaves_other_clients_served(new_amber):
    """A 300 000-field hash is unlinked while another client keeps asking: its PINGs are
    answered (generous deadline), the UNLINK itself answers, and the drop thread counts it."""
    s = new_amber()
    c, other = Conn(s.port, timeout=60), Conn(s.port, timeout=60)
    for chunk in range(30):
        args = ["HSET", "big"]
        for i in range(chunk * 10000, (chunk + 1) * 10000):
            args += [f"field:{i}", f"value-value-value-value:{i}"]
        call(c, *args)
    c.send(["UNLINK", "big"])
    start = time.monotonic()
    assert other.call("PING").raw == b"+PONG\r\n"
    assert c.read().raw == b":1\r\n"
    assert time.monotonic() - start < 1.0
    assert lazy_counts(other) == (0, 1)
    assert call(other, "EXISTS", "big").val == 0


def aof_commands(server):
    """The commands of the server's incremental AOF files, as (name, key) pairs."""
    out = []
    for f in sorted((server.dir / "appendonlydir").glob("*.incr.aof")):
        parts = f.read_bytes().split(b"\r\n")
        for i, p in enumerate(parts):
            if p.startswith(b"*") and i + 4 < len(parts):
                out.append((parts[i + 2].upper(), parts[i + 4]))
    return out


@pytest.mark.parametrize("lazy", ["yes", "no"])
def test_expired_and_evicted_keys_propagate_as_redis(tmp_path, lazy):
    """propagateDeletion: an expired key is written as UNLINK under lazyfree-lazy-expire yes
    and DEL otherwise; an evicted key the same under lazyfree-lazy-eviction."""
    from tests.conftest import ServerProc
    extra = ["--appendonly", "yes", "--appendfsync", "always", "--lazyfree-lazy-expire", lazy,
             "--lazyfree-lazy-eviction", lazy, "--maxmemory-policy", "allkeys-random"]
    seen = []
    for kind in ("amber", "redis"):
        s = ServerProc(kind, tmp_path / kind, extra).start()
        try:
            c = Conn(s.port, 10.0, "server")
            call(c, "SET", "gone", "v", "PX", "1")
            time.sleep(0.05)
            assert call(c, "GET", "gone").val is None
            used = int(dict(ln.split(b":", 1) for ln in call(c, "INFO", "memory").val.split(b"\r\n")
                            if b":" in ln)[b"used_memory"])
            for i in range(200):
                call(c, "SET", f"k{i}", "x" * 1000)
            # A limit under what the keys hold (about 220 KB): the next write evicts. The
            # margin leaves room for what the commands' first calls allocate (a latency
            # histogram of 24 KB each, in both servers).
            call(c, "CONFIG", "SET", "maxmemory", str(used + 150_000))
            call(c, "SET", "last", "v")
            cmds = aof_commands(s)
        finally:
            s.stop()
        deletion = b"UNLINK" if lazy == "yes" else b"DEL"
        assert (deletion, b"gone") in cmds, (kind, cmds[:5])
        evicted = [k for name, k in cmds if name == deletion and k.startswith(b"k")]
        assert evicted, (kind, cmds[-5:])
        other = b"DEL" if lazy == "yes" else b"UNLINK"
        assert not [k for name, k in cmds if name == other], kind
        seen.append(deletion)
    assert seen[0] == seen[1]


def flush_sequence(port):
    """SCRIPT FLUSH and FUNCTION FLUSH, ASYNC, SYNC and by lazyfree-lazy-user-flush, with more
    and fewer than 64 scripts / functions: lazyfreed_objects after each."""
    c = Conn(port, timeout=30)
    out = []

    def scripts(n):
        for i in range(n):
            call(c, "SCRIPT", "LOAD", f"return {i}")

    def functions(n):
        body = "".join(f"redis.register_function('f{i}', function() return {i} end)\n"
                       for i in range(n))
        call(c, "FUNCTION", "LOAD", "REPLACE", "#!lua name=lib\n" + body)

    for fill, flush in [(scripts, "SCRIPT"), (functions, "FUNCTION")]:
        for n, mode in [(100, ["ASYNC"]), (10, ["ASYNC"]), (100, ["SYNC"]), (65, []),
                        (64, ["ASYNC"])]:
            call(c, "CONFIG", "SET", "lazyfree-lazy-user-flush", "yes" if not mode else "no")
            fill(n)
            call(c, flush, "FLUSH", *mode)
            out.append((flush, n, tuple(mode), lazy_counts(c)))
            call(c, "CONFIG", "RESETSTAT")
    return out


def test_script_and_function_flush_free_like_redis(amber_and_redis):
    """freeLuaScriptsAsync / freeFunctionsAsync: more than 64 scripts or functions flushed
    ASYNC (or with lazyfree-lazy-user-flush and no argument) go to the drop thread and count
    in lazyfreed_objects; fewer, or SYNC, are freed at once and do not."""
    got = [flush_sequence(s.port) for s in amber_and_redis]
    assert got[0] == got[1]
    freed = {(f, n, m): counts[1] for f, n, m, counts in got[0]}
    assert freed[("SCRIPT", 100, ("ASYNC",))] == 100
    assert freed[("FUNCTION", 65, ())] == 65
    assert freed[("SCRIPT", 10, ("ASYNC",))] == 0
