"""The soft limit of `client-output-buffer-limit replica`, as Redis 7.0.15: a replica whose
pending stream stays at or over <soft> bytes for more than <soft seconds> is disconnected
(checked as the stream grows), while one under the soft limit's seconds stays. The replica
(Redis 7.0.15) is stopped with SIGSTOP so that it reads nothing."""

import os
import signal
import time

import pytest

from conftest import ServerProc
from replstream import settle


def replicas(c):
    return c.info("replication")["connected_slaves"]


@pytest.mark.parametrize("kind", ["amber", "redis"])
def test_soft_limit_closes_a_replica_after_its_seconds(tmp_path, kind):
    extra = ["--save", ""] if kind == "amber" else ["--repl-diskless-sync-delay", "0"]
    m = ServerProc(kind, tmp_path / "m", extra).start()
    r = ServerProc("redis", tmp_path / "r", ["--replicaof", "127.0.0.1", str(m.port)]).start()
    stopped = False
    try:
        c = m.client()
        c.set("a", "1")
        settle(c, r.client())
        # No hard limit; a 1 MB soft limit that must last an hour first.
        c.config_set("client-output-buffer-limit", "replica 0 1mb 3600")
        assert c.config_get("client-output-buffer-limit")["client-output-buffer-limit"].split()[4:8] == [
            "slave", "0", "1048576", "3600"
        ]
        os.kill(r.pid, signal.SIGSTOP)
        stopped = True
        big = "x" * 100_000
        pipe = c.pipeline(transaction=False)
        for i in range(400):  # 40 MB: far more than the sockets hold
            pipe.set(f"big:{i % 50}", big)
        pipe.execute()
        for _ in range(20):
            c.set("trickle", big)
            time.sleep(0.1)
        assert replicas(c) == 1, "closed before the soft limit's seconds"
        # Now one second is enough: the soft limit has been reached for longer than that,
        # and the next write closes the replica.
        c.config_set("client-output-buffer-limit", "replica 0 1mb 1")
        deadline = time.time() + 15
        while replicas(c) != 0:
            assert time.time() < deadline, "the replica over its soft limit was not closed"
            c.set("trickle", big)
            time.sleep(0.1)
        assert "for overcoming of output buffer limits" in m.log_path.read_text()
    finally:
        if stopped:
            os.kill(r.pid, signal.SIGCONT)
        r.stop()
        m.stop()


@pytest.mark.parametrize("kind", ["amber", "redis"])
def test_hard_limit_closes_a_replica_that_reads_nothing(tmp_path, kind):
    """The hard limit closes at once, even while the master's connection to the replica is
    stuck writing to it (a stopped replica drains nothing)."""
    extra = ["--save", ""] if kind == "amber" else ["--repl-diskless-sync-delay", "0"]
    m = ServerProc(kind, tmp_path / "m", extra).start()
    r = ServerProc("redis", tmp_path / "r", ["--replicaof", "127.0.0.1", str(m.port)]).start()
    try:
        c = m.client()
        c.set("a", "1")
        settle(c, r.client())
        c.config_set("client-output-buffer-limit", "replica 2mb 0 0")
        os.kill(r.pid, signal.SIGSTOP)
        big = "x" * 100_000
        deadline = time.time() + 15
        while replicas(c) != 0:
            assert time.time() < deadline, "the replica over its hard limit was not closed"
            pipe = c.pipeline(transaction=False)
            for i in range(20):
                pipe.set(f"big:{i}", big)
            pipe.execute()
            time.sleep(0.05)
        assert "for overcoming of output buffer limits" in m.log_path.read_text()
    finally:
        os.kill(r.pid, signal.SIGCONT)
        r.stop()
        m.stop()
