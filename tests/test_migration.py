"""Migrating a live Redis 7.0.15 to Amber through replication (issue 14, "What it must show"
item 2): Amber attached as a replica of a Redis master under a continuous write load, then
promoted (a) by CLIENT PAUSE WRITE on Redis, equal offsets and REPLICAOF NO ONE on Amber,
(b) by FAILOVER on the Redis master TO the Amber replica; and (c) an Amber master under load
failing over to its Amber replica. Every write acknowledged before the switch is on the new
master, and the old master follows the new one (partial resync, equal digests)."""

import threading
import time

import pytest
import redis

from conftest import ServerProc
from replstream import assert_same, settle


def start(kind, tmp_path, name, *extra):
    # No 5 s wait before a diskless transfer: the tests would only wait longer.
    extra = ("--repl-diskless-sync-delay", "0", *extra)
    if kind == "amber":
        extra = ("--save", "", *extra)
    return ServerProc(kind, tmp_path / name, list(extra)).start()


def wait_until(pred, what, timeout=30):
    deadline = time.time() + timeout
    while not pred():
        if time.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def follows(server, master):
    i = server.client().info("replication")
    return i["role"] == "slave" and i.get("master_port") == master.port and i.get("master_link_status") == "up"


class Writer(threading.Thread):
    """Writes without pause (SET w:<n> <n>, in db 0 and db 3 in turn, and INCR of a counter)
    and records every write the server acknowledged. It stops at the first refusal (the old
    master, now a replica, answers READONLY) or when told to."""

    def __init__(self, server):
        super().__init__(daemon=True)
        self.c = [server.client(socket_timeout=60), server.client(socket_timeout=60, db=3)]
        self.acked = []  # (db, key, value)
        self.counter = 0
        self.refusal = None
        self.halt = threading.Event()
        self.start()

    def run(self):
        n = 0
        while not self.halt.is_set():
            n += 1
            db = 3 if n % 4 == 0 else 0
            try:
                if n % 7 == 0:
                    self.counter = self.c[0].incr("counter")
                    continue
                assert self.c[db == 3].set(f"w:{n}", str(n)) is True
                self.acked.append((db, f"w:{n}", str(n)))
            except redis.ResponseError as e:
                self.refusal = str(e)
                return

    def wait_for(self, count, timeout=30):
        wait_until(lambda: len(self.acked) >= count, f"{count} acknowledged writes", timeout)

    def finish(self):
        self.halt.set()
        self.join(60)
        assert not self.is_alive()


def assert_all_present(writer, server):
    """Every acknowledged write is on `server`, with its value."""
    assert len(writer.acked) > 500, "the load was too light to show anything"
    c = {0: server.client(), 3: server.client(db=3)}
    pipes = {db: c[db].pipeline(transaction=False) for db in c}
    for db, k, _ in writer.acked:
        pipes[db].get(k)
    got = {db: iter(pipes[db].execute()) for db in pipes}
    missing = [(db, k, v) for db, k, v in writer.acked if next(got[db]) != v.encode()]
    assert not missing, f"{len(missing)} acknowledged writes lost, first {missing[:5]}"
    print(f"{len(writer.acked)} acknowledged writes, all present")
    assert int(c[0].get("counter") or 0) >= writer.counter


def old_master_follows(old, new, partial_ok_before):
    """The old master follows the new one, with a partial resync, and ends equal to it."""
    wait_until(lambda: follows(old, new), "the old master to follow the new one")
    nc, oc = new.client(single_connection_client=True), old.client()
    st = nc.info("stats")
    assert st["sync_partial_ok"] == partial_ok_before + 1, st
    for i in range(200):
        nc.set(f"after:{i}", i)
    nc.execute_command("SELECT", 3)
    nc.set("after-in-3", "x")
    settle(nc, oc)
    assert_same(nc, oc)
    assert old.client(db=3).get("after-in-3") == b"x"


def test_promote_after_client_pause_write(tmp_path):
    m = start("redis", tmp_path, "redis")
    a = None
    try:
        w = Writer(m)
        w.wait_for(2000)
        a = start("amber", tmp_path, "amber", "--replicaof", "127.0.0.1", str(m.port))
        mc, ac = m.client(), a.client()
        wait_until(lambda: ac.info("replication")["master_link_status"] == "up", "the full sync")
        w.wait_for(len(w.acked) + 3000)
        assert mc.execute_command("CLIENT", "PAUSE", 30000, "WRITE") == b"OK"
        settle(mc, ac)
        assert ac.execute_command("REPLICAOF", "NO", "ONE") == b"OK"
        before = ac.info("stats")["sync_partial_ok"]
        # The old master follows Amber; the write it held back is refused.
        assert mc.execute_command("REPLICAOF", "127.0.0.1", a.port) == b"OK"
        mc.execute_command("CLIENT", "UNPAUSE")
        w.join(30)
        assert w.refusal == "You can't write against a read only replica."
        assert_all_present(w, a)
        old_master_follows(m, a, before)
    finally:
        for s in (m, a):
            if s:
                s.stop()


@pytest.mark.parametrize("master_kind", ["redis", "amber"])
def test_failover_to_amber(tmp_path, master_kind):
    """FAILOVER TO an Amber replica, on a Redis master and on an Amber master."""
    m = start(master_kind, tmp_path, f"{master_kind}-master")
    r = None
    try:
        w = Writer(m)
        w.wait_for(2000)
        r = start("amber", tmp_path, "amber-replica", "--replicaof", "127.0.0.1", str(m.port))
        mc, rc = m.client(), r.client()
        settle(mc, rc)
        w.wait_for(len(w.acked) + 3000)
        before = rc.info("stats")["sync_partial_ok"]
        assert mc.execute_command("FAILOVER", "TO", "127.0.0.1", r.port, "TIMEOUT", 20000) == b"OK"
        w.join(30)
        assert w.refusal == "You can't write against a read only replica."
        assert rc.info("replication")["role"] == "master"
        assert_all_present(w, r)
        # The promotion was by PSYNC ... FAILOVER, and the old master continued: +CONTINUE.
        old_master_follows(m, r, before)
    finally:
        for s in (m, r):
            if s:
                s.stop()
