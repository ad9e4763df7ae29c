"""FAILOVER [TO host port [FORCE]] [ABORT] [TIMEOUT ms], as Redis 7.0.15: an Amber master
failing over to an Amber and to a Redis replica, a Redis master failing over to an Amber
replica (which must accept PSYNC ... FAILOVER); the write pause; ABORT; TIMEOUT with and
without FORCE; every error text next to real Redis's."""

import os
import signal
import socket
import threading
import time

import pytest
import redis

from conftest import ServerProc, resp
from replstream import Stream, assert_same, settle


def start(kind, tmp_path, name, *extra):
    # No 5 s wait before a diskless transfer (unless asked): the tests would only wait longer.
    if "--repl-diskless-sync-delay" not in extra:
        extra = ("--repl-diskless-sync-delay", "0", *extra)
    if kind == "amber":
        extra = ("--save", "", *extra)
    return ServerProc(kind, tmp_path / name, list(extra)).start()


def pair(tmp_path, mkind, rkind, tag=""):
    m = start(mkind, tmp_path, f"master{tag}")
    r = start(rkind, tmp_path, f"replica{tag}", "--replicaof", "127.0.0.1", str(m.port))
    return m, r


def one_conn(server):
    return server.client(single_connection_client=True)


def wait_until(pred, what, timeout=20):
    deadline = time.time() + timeout
    while not pred():
        if time.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def quiesce(c):
    """Short expiries pass and are deleted (a DEL in the stream); active expiry stops."""
    time.sleep(0.5)
    for db in range(3):
        c.execute_command("SELECT", db)
        c.keys("*")
    c.execute_command("SELECT", 0)
    c.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", 0)


def reply(port, *args):
    """The raw first line of the reply to one command."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(resp(*args))
        return s.makefile("rb").readline().rstrip(b"\r\n")


def fstate(server):
    return server.client().info("replication")["master_failover_state"]


class Pending(threading.Thread):
    """A command on its own connection, whose reply is waited for (a failover's pause holds
    a write back; BLPOP blocks)."""

    def __init__(self, server, *args):
        super().__init__(daemon=True)
        self.c = server.client(socket_timeout=30)
        self.args = args
        self.result = None
        self.start()

    def run(self):
        try:
            self.result = self.c.execute_command(*self.args)
        except redis.ResponseError as e:
            self.result = str(e)


def HeldWrite(server, key):
    return Pending(server, "SET", key, "v")


def stop(server):
    os.kill(server.pid, signal.SIGSTOP)


def cont(server):
    os.kill(server.pid, signal.SIGCONT)


def follows(server, master):
    i = server.client().info("replication")
    return i["role"] == "slave" and i.get("master_port") == master.port and i.get("master_link_status") == "up"


@pytest.mark.parametrize("mkind,rkind", [("amber", "amber"), ("amber", "redis"), ("redis", "amber")])
def test_failover_switches_roles_and_the_old_master_continues(tmp_path, mkind, rkind):
    m, r = pair(tmp_path, mkind, rkind)
    try:
        mc, rc = one_conn(m), r.client()
        Stream(41).run(mc, 1000)
        mc.execute_command("SELECT", 3)
        mc.set("in3", "before")
        quiesce(mc)
        settle(mc, rc)
        old_id = mc.info("replication")["master_replid"]
        st0 = rc.info("stats")
        blpop = Pending(m, "BLPOP", "nothing", 0)
        wait_until(lambda: mc.info("clients")["blocked_clients"] == 1, "BLPOP to block")
        # The replica lags (stopped) while the master has one more write: the failover waits.
        stop(r)
        try:
            mc.set("last", "acknowledged")
            assert mc.execute_command("FAILOVER", "TO", "127.0.0.1", r.port) == b"OK"
            assert fstate(m) == "waiting-for-sync"
            held = HeldWrite(m, "held")
            time.sleep(0.4)
            assert held.is_alive(), "a write ran during the failover's pause"
            assert m.client().get("last") == b"acknowledged"  # reads are served
        finally:
            cont(r)
        wait_until(lambda: follows(m, r), "the old master to follow the new one")
        wait_until(lambda: fstate(m) == "no-failover", "the failover to end")
        held.join(10)
        assert held.result == "You can't write against a read only replica."
        # A client blocked on the old master is told, as replicationSetMaster does.
        blpop.join(10)
        assert blpop.result == "UNBLOCKED force unblock from blocking operation, instance state changed (master -> replica?)"
        ri = rc.info("replication")
        assert ri["role"] == "master" and ri["master_replid2"] == old_id
        assert ri["connected_slaves"] == 1 and ri["master_failover_state"] == "no-failover"
        st = rc.info("stats")
        assert st["sync_partial_ok"] == st0["sync_partial_ok"] + 1
        assert st["sync_full"] == st0["sync_full"]
        assert "Successful partial resynchronization with master." in m.log_path.read_text()
        mlog = m.log_path.read_text()
        assert "FAILOVER requested to 127.0.0.1:%d." % r.port in mlog
        assert "Failover target 127.0.0.1:%d is synced, failing over." % r.port in mlog
        assert "Failover request received for replid %s." % old_id in r.log_path.read_text()
        # The new master's stream reaches the old one, in the right databases.
        nc = one_conn(r)
        assert nc.get("last") == b"acknowledged" and nc.get("held") is None
        Stream(42).run(nc, 800)
        nc.execute_command("SELECT", 3)
        nc.set("in3", "after")
        quiesce(nc)
        settle(nc, mc)
        assert_same(nc, mc)
        assert m.client(db=3).get("in3") == b"after"
    finally:
        for s in (m, r):
            s.stop()


@pytest.mark.parametrize("kind", ["amber", "redis"])
def test_failover_to_any_replica(tmp_path, kind):
    m, r = pair(tmp_path, kind, kind)
    try:
        mc, rc = m.client(), r.client()
        mc.set("k", "v")
        settle(mc, rc)
        assert mc.execute_command("FAILOVER") == b"OK"
        wait_until(lambda: follows(m, r), "the old master to follow its replica")
        wait_until(lambda: fstate(m) == "no-failover", "the failover to end")
        assert rc.info("replication")["role"] == "master"
        assert "FAILOVER requested to any replica." in m.log_path.read_text()
    finally:
        for s in (m, r):
            s.stop()


@pytest.mark.parametrize("kind", ["amber", "redis"])
def test_abort_while_waiting_and_while_in_progress(tmp_path, kind):
    m, r = pair(tmp_path, kind, kind)
    try:
        mc, rc = m.client(), r.client()
        mc.set("k", "v")
        settle(mc, rc)
        old_id = mc.info("replication")["master_replid"]
        stop(r)
        try:
            mc.set("k2", "v2")
            assert mc.execute_command("FAILOVER") == b"OK"
            held = HeldWrite(m, "held")
            time.sleep(0.3)
            assert held.is_alive() and fstate(m) == "waiting-for-sync"
            assert mc.execute_command("FAILOVER", "ABORT") == b"OK"
            held.join(10)
            assert held.result is True and mc.get("held") == b"v"
            assert fstate(m) == "no-failover" and mc.info("replication")["role"] == "master"
            assert mc.info("replication")["master_replid"] == old_id
            assert "FAILOVER to any replica aborted: Failover manually aborted" in m.log_path.read_text()
            # FORCE at the deadline: in progress (we are a replica of a target that is stopped),
            # then aborted: a master again, under a new history.
            assert mc.execute_command("FAILOVER", "TO", "127.0.0.1", r.port, "FORCE", "TIMEOUT", 200) == b"OK"
            wait_until(lambda: fstate(m) == "failover-in-progress", "the forced failover")
            assert mc.info("replication")["role"] == "slave"
            assert mc.execute_command("FAILOVER", "ABORT") == b"OK"
            i = mc.info("replication")
            assert i["role"] == "master" and i["master_failover_state"] == "no-failover"
            assert i["master_replid2"] == old_id and i["master_replid"] != old_id
            log = m.log_path.read_text()
            assert "FAILOVER to 127.0.0.1:%d time out exceeded, failing over." % r.port in log
            assert "FAILOVER to 127.0.0.1:%d aborted: Failover manually aborted" % r.port in log
        finally:
            cont(r)
        # The replica continues with its master's new history.
        mc.set("k3", "v3")
        settle(mc, rc)
        assert rc.get("k3") == b"v3" and rc.get("held") == b"v"
    finally:
        for s in (m, r):
            s.stop()


@pytest.mark.parametrize("kind", ["amber", "redis"])
def test_timeout_without_force_aborts(tmp_path, kind):
    m, r = pair(tmp_path, kind, kind)
    try:
        mc, rc = m.client(), r.client()
        mc.set("k", "v")
        settle(mc, rc)
        stop(r)
        try:
            mc.set("k2", "v2")
            t0 = time.time()
            assert mc.execute_command("FAILOVER", "TIMEOUT", 300) == b"OK"
            held = HeldWrite(m, "held")
            wait_until(lambda: fstate(m) == "no-failover", "the timeout")
            assert time.time() - t0 >= 0.29
            held.join(10)
            assert held.result is True
            assert mc.info("replication")["role"] == "master"
            assert "FAILOVER to any replica aborted: Replica never caught up before timeout" in m.log_path.read_text()
        finally:
            cont(r)
        settle(mc, rc)
        assert rc.get("held") == b"v"
    finally:
        for s in (m, r):
            s.stop()


@pytest.mark.parametrize("kind", ["amber", "redis"])
def test_timeout_with_force_fails_over_to_a_lagging_target(tmp_path, kind):
    m, r = pair(tmp_path, kind, kind)
    try:
        mc, rc = m.client(), r.client()
        Stream(43).run(one_conn(m), 300)
        quiesce(mc)
        settle(mc, rc)
        stop(r)
        try:
            mc.set("late", "x")
            assert mc.execute_command("FAILOVER", "TO", "127.0.0.1", r.port, "TIMEOUT", 300, "FORCE") == b"OK"
            wait_until(lambda: fstate(m) == "failover-in-progress", "the forced failover")
            assert mc.info("replication")["role"] == "slave"
        finally:
            cont(r)
        wait_until(lambda: follows(m, r), "the old master to follow the target")
        wait_until(lambda: fstate(m) == "no-failover", "the failover to end")
        assert rc.info("replication")["role"] == "master"
        settle(rc, mc)
        assert_same(rc, mc)
    finally:
        for s in (m, r):
            s.stop()


def errors_of(master, replica):
    """The replies of both servers of a group to the same commands, in the same states."""
    out = []
    mp, rp = master.port, replica.port
    mc = master.client()
    bad = [
        ("FAILOVER", "ABORT"),
        ("FAILOVER", "TIMEOUT", 0),
        ("FAILOVER", "TIMEOUT", -5),
        ("FAILOVER", "TIMEOUT", "abc"),
        ("FAILOVER", "TIMEOUT"),
        ("FAILOVER", "TIMEOUT", 5, "TIMEOUT", 6),
        ("FAILOVER", "TO", "127.0.0.1"),
        ("FAILOVER", "TO", "127.0.0.1", "abc"),
        ("FAILOVER", "TO", "127.0.0.1", 1, "TO", "127.0.0.1", 2),
        ("FAILOVER", "FORCE", "FORCE"),
        ("FAILOVER", "ABORT", "TIMEOUT", 5),
        ("FAILOVER", "BOGUS"),
        ("FAILOVER", "FORCE", "TIMEOUT", 10),
        ("FAILOVER", "TO", "127.0.0.1", rp, "FORCE"),
        ("FAILOVER", "TO", "127.0.0.1", 1),
        ("FAILOVER", "TO", "10.1.1.1", rp),
        ("PSYNC", "?", "-1", "FAILOVER"),
    ]
    out += [(("master",) + c, reply(mp, *c)) for c in bad]
    replid = replica.client().info("replication")["master_replid"]
    on_replica = [
        ("FAILOVER",),
        ("FAILOVER", "TO", "127.0.0.1", mp),
        ("PSYNC", "0" * 40, "1", "FAILOVER"),
    ]
    out += [(("replica",) + c, reply(rp, *c)) for c in on_replica]
    assert replid
    stop(replica)
    try:
        mc.set("lag", "1")
        out.append((("FAILOVER",), reply(mp, "FAILOVER")))
        during = [
            ("FAILOVER",),
            ("FAILOVER", "TIMEOUT", 10),
            ("REPLICAOF", "NO", "ONE"),
            ("REPLICAOF", "127.0.0.1", rp),
            ("PSYNC", "?", "-1"),
            ("SYNC",),
            ("INFO", "replication"),
        ]
        for c in during:
            if c[0] == "INFO":
                line = mc.info("replication")["master_failover_state"]
            else:
                line = reply(mp, *c)
            out.append((("during",) + c, line))
        out.append((("abort",), reply(mp, "FAILOVER", "ABORT")))
    finally:
        cont(replica)
    return out


def test_error_texts_as_redis(tmp_path):
    got = {}
    for kind in ("amber", "redis"):
        alone = start(kind, tmp_path, f"alone-{kind}")
        try:
            got[kind] = [reply(alone.port, "FAILOVER"), reply(alone.port, "FAILOVER", "ABORT"),
                         reply(alone.port, "PSYNC", "?", "-1", "FAILOVER")]
        finally:
            alone.stop()
        m, r = pair(tmp_path, kind, kind, tag=kind)
        try:
            settle(m.client(), r.client())
            got[kind] += errors_of(m, r)
        finally:
            for s in (m, r):
                s.stop()
    for a, b in zip(got["amber"], got["redis"]):
        # (command, reply): the commands name each group's own ports.
        if isinstance(a, tuple):
            assert a[1] == b[1], (a, b)
        else:
            assert a == b
    assert len(got["amber"]) == len(got["redis"])
    texts = [x[1] for x in got["amber"][3:]]
    assert b"-ERR FAILOVER target HOST and PORT is not a replica." in texts
    assert b"-NOMASTERLINK Can't SYNC while failing over" in texts


def test_a_target_waiting_for_its_snapshot_is_not_online(tmp_path):
    """A replica still waiting for its full sync (repl-diskless-sync-delay) is no target."""
    got = {}
    for kind in ("amber", "redis"):
        m = start(kind, tmp_path, f"m-{kind}", "--repl-diskless-sync-delay", "60")
        r = start("amber", tmp_path, f"r-{kind}", "--replicaof", "127.0.0.1", str(m.port))
        try:
            mc = m.client()
            wait_until(lambda: "slave0" in mc.info("replication"), "the replica to ask for a sync")
            assert mc.info("replication")["slave0"]["state"] == "wait_bgsave"
            got[kind] = (reply(m.port, "FAILOVER", "TO", "127.0.0.1", r.port), fstate(m))
        finally:
            for s in (m, r):
                s.stop()
    assert got["amber"] == got["redis"] == (b"-ERR FAILOVER target replica is not online.", "no-failover")
