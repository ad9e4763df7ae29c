"""BGREWRITEAOF with appendonly no, side by side with Redis 7.0.15: it writes an AOF base
(appendonly.aof.<seq>.base.rdb) and a manifest naming only it in appenddirname, replies
"Background append only file rewriting started", a second one makes seq 2 and removes the
first, an AOF left by an earlier appendonly yes becomes history (deleted), INFO counts the
rewrites, and the files load in either server."""

import time

import pytest

from conftest import ServerProc
from test_aof import check_aof, wait_rewrite

OFF = ["--appendonly", "no", "--save", ""]


def client(s):
    """A client that shows BGREWRITEAOF's reply as sent (redis-py makes it True)."""
    c = s.client()
    c.set_response_callback("BGREWRITEAOF", lambda r, **kw: r)
    return c


def fill(c):
    c.set("s", "v")
    c.rpush("l", *range(20))
    c.hset("h", mapping={"a": 1, "b": 2})
    c.zadd("z", {"m": 1.5})
    c.set("e", "x", ex=1000)


def rewrite(c):
    assert c.execute_command("BGREWRITEAOF") == b"Background append only file rewriting started"
    return wait_rewrite(c)


def state(d):
    adir = d / "appendonlydir"
    return sorted(p.name for p in adir.iterdir()), (adir / "appendonly.aof.manifest").read_text()


def both(tmp_path, extra=()):
    return [ServerProc(kind, tmp_path / kind, OFF + list(extra)).start() for kind in ("amber", "redis")]


def test_bgrewriteaof_with_appendonly_no_writes_a_base_as_redis(tmp_path):
    servers = both(tmp_path)
    try:
        seen = []
        for s in servers:
            c = client(s)
            fill(c)
            info = rewrite(c)
            assert info["aof_enabled"] == 0 and info["aof_rewrites"] == 1
            assert info["aof_last_bgrewrite_status"] == "ok"
            first = state(s.dir)
            check_aof(s.dir)
            c.set("later", "1")
            info = rewrite(c)
            assert info["aof_rewrites"] == 2 and info["aof_last_bgrewrite_status"] == "ok"
            second = state(s.dir)
            check_aof(s.dir)
            seen.append((first, second))
        amber, redis_ = seen
        assert amber == redis_
        assert amber[0] == (["appendonly.aof.1.base.rdb", "appendonly.aof.manifest"],
                            "file appendonly.aof.1.base.rdb seq 1 type b\n")
        assert amber[1] == (["appendonly.aof.2.base.rdb", "appendonly.aof.manifest"],
                            "file appendonly.aof.2.base.rdb seq 2 type b\n")
        logs = [s.log_path.read_text() for s in servers]
        for log in logs:
            for line in ("Background append only file rewriting started by pid",
                         "Background AOF rewrite terminated with success",
                         "Removing the history file appendonly.aof.1.base.rdb",
                         "Background AOF rewrite finished successfully"):
                assert line in log, (line, log[-2000:])
        assert "Can't execute an AOF background rewriting" not in logs[0]
    finally:
        for s in servers:
            s.stop()
    # Each server loads the other's AOF.
    for made, loader in (("amber", "redis"), ("redis", "amber")):
        s = ServerProc(loader, tmp_path / made, ["--appendonly", "yes", "--save", ""]).start()
        try:
            c = client(s)
            assert c.get("later") == b"1" and c.lrange("l", 0, -1) == [str(i).encode() for i in range(20)]
            assert c.hgetall("h") == {b"a": b"1", b"b": b"2"} and c.ttl("e") > 900
        finally:
            s.stop()


def test_bgrewriteaof_with_appendonly_no_over_an_earlier_aof(tmp_path):
    """An AOF from an earlier appendonly yes: its base and incrs become history and go."""
    out = []
    for kind in ("amber", "redis"):
        d = tmp_path / kind
        s = ServerProc(kind, d, ["--appendonly", "yes", "--save", ""]).start()
        fill(s.client())
        s.stop()
        s = ServerProc(kind, d, OFF).start()
        try:
            c = client(s)
            c.set("after", "1")
            rewrite(c)
            out.append(state(d))
            check_aof(d)
        finally:
            s.stop()
    assert out[0] == out[1], out
    assert out[0] == (["appendonly.aof.2.base.rdb", "appendonly.aof.manifest"],
                      "file appendonly.aof.2.base.rdb seq 2 type b\n")


def test_bgrewriteaof_in_multi_with_appendonly_no_is_scheduled(tmp_path):
    servers = both(tmp_path)
    try:
        for s in servers:
            c = client(s)
            p = c.pipeline(transaction=True)
            p.set("k", "v")
            p.execute_command("BGREWRITEAOF")
            assert p.execute() == [True, b"Background append only file rewriting scheduled"]
            deadline = time.time() + 10
            while c.info("persistence")["aof_rewrites"] < 1:
                assert time.time() < deadline, s.kind
                time.sleep(0.02)
            wait_rewrite(c)
        assert state(servers[0].dir) == state(servers[1].dir)
    finally:
        for s in servers:
            s.stop()


@pytest.mark.parametrize("kind", ["amber", "redis"])
def test_bgrewriteaof_with_appendonly_no_then_appendonly_yes(tmp_path, kind):
    """Turning the AOF on after such a rewrite starts from the manifest it left."""
    s = ServerProc(kind, tmp_path / kind, OFF).start()
    try:
        c = client(s)
        fill(c)
        rewrite(c)
        c.config_set("appendonly", "yes")
        wait_rewrite(c)
        c.set("on", "1")
        names, text = state(s.dir)
        assert text == ("file appendonly.aof.2.base.rdb seq 2 type b\n"
                        "file appendonly.aof.1.incr.aof seq 1 type i\n"), text
    finally:
        s.stop()
    check_aof(s.dir)
