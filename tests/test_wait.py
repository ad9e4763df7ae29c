"""WAIT and ROLE on a server without replicas, against Redis 7.0.15: WAIT answers 0 at once
when no replica is asked for or inside MULTI, else 0 once its timeout passes, and a WAIT
without timeout blocks (INFO blocked_clients) until the client goes."""

import pathlib
import sys
import time

import redis

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
from tests.diff.resp import Conn  # noqa: E402


def run(c, *args):
    try:
        return c.execute_command(*args)
    except redis.ResponseError as e:
        return ("error", str(e))


def test_wait_as_redis(amber_and_redis):
    views = []
    for s in amber_and_redis:
        c = s.client()
        c.config_resetstat()
        view = [run(c, "WAIT", "0", "0"), run(c, "WAIT", "-5", "0"), run(c, "WAIT", "x", "1"),
                run(c, "WAIT", "1", "-1"), run(c, "WAIT", "1", "1.5"), run(c, "WAIT", "1")]
        t = time.monotonic()
        view.append(run(c, "WAIT", "1", "150"))
        waited = time.monotonic() - t
        assert 0.14 <= waited < 5, waited
        p = c.pipeline(transaction=True)
        p.execute_command("WAIT", "3", "0")
        view.append(p.execute())
        blocker = Conn(s.port)
        blocker.send([b"WAIT", b"1", b"0"])
        time.sleep(0.2)
        assert not blocker.ready(), "WAIT 1 0 returned"
        view.append(c.info("clients")["blocked_clients"])
        blocker.close()
        deadline = time.monotonic() + 5
        while c.info("clients")["blocked_clients"] and time.monotonic() < deadline:
            time.sleep(0.02)
        view.append(c.info("clients")["blocked_clients"])
        stats = c.info("commandstats")["cmdstat_wait"]
        view.append((stats["calls"], stats["failed_calls"], stats["rejected_calls"]))
        view.append(run(c, "ROLE"))
        views.append(view)
    assert views[0] == views[1]
    assert views[0][-3] == 0 and views[0][-4] == 1


def test_huge_timeouts_block_like_redis(amber_and_redis):
    """Timeouts of millions of years block (the deadline arithmetic is checked: one too far to
    represent means no deadline)."""
    for s in amber_and_redis:
        conns = []
        for cmd in ([b"WAIT", b"1", b"9223372036854775807"], [b"BLPOP", b"nokey", b"92233720368547"],
                    [b"BZPOPMIN", b"nokey", b"92233720368547"]):
            c = Conn(s.port)
            c.send(cmd)
            conns.append(c)
        time.sleep(0.2)
        assert not any(c.ready() for c in conns), s.kind
        assert s.client().ping()
        assert s.client().info("clients")["blocked_clients"] == 3
        for c in conns:
            c.close()
