"""Chains whose middle is an Amber replica: the leaf starts applying the stream in the database
it had selected when the snapshot was taken (the RDB's repl-stream-db), for Amber -> Amber ->
Amber and Redis -> Amber -> Amber; the middle does not PING its replicas (its offset stays its
master's); and a replica's log lines carry the role letter S, as Redis's."""

import re
import time

import pytest

from conftest import ServerProc
from replstream import Stream, assert_same, settle


def start(kind, tmp_path, name, *extra):
    # No 5 s wait before a diskless transfer: the tests would only wait longer.
    extra = ("--repl-diskless-sync-delay", "0", *extra)
    if kind == "amber":
        extra = ("--save", "", *extra)
    return ServerProc(kind, tmp_path / name, list(extra)).start()


def replica_of(kind, tmp_path, name, master, *extra):
    return start(kind, tmp_path, name, "--replicaof", "127.0.0.1", str(master.port), *extra)


@pytest.mark.parametrize("top", ["amber", "redis"])
def test_a_leaf_of_an_amber_replica_continues_in_the_selected_db(tmp_path, top):
    servers = []
    try:
        m = start(top, tmp_path, "top")
        servers.append(m)
        mc = m.client(single_connection_client=True)
        Stream(51).run(mc, 400)
        mid = replica_of("amber", tmp_path, "mid", m)
        servers.append(mid)
        midc = mid.client()
        mc.execute_command("SELECT", 3)
        mc.set("in3", "first")
        settle(mc, midc)
        # The middle's stream now stands in db 3; the leaf's snapshot comes from it.
        leaf = replica_of("amber", tmp_path, "leaf", mid)
        servers.append(leaf)
        leafc = leaf.client()
        settle(midc, leafc)
        # No SELECT comes before these: the leaf must already be in db 3.
        for i in range(20):
            mc.set(f"next{i}", i)
        mc.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", 0)
        settle(mc, midc)
        settle(midc, leafc)
        assert leaf.client(db=3).get("next19") == b"19"
        assert leafc.get("next19") is None
        dig = assert_same(mc, leafc)
        assert midc.execute_command("DEBUG", "DIGEST") == dig
    finally:
        for s in servers:
            s.stop()


def test_a_replica_does_not_ping_its_own_replicas(tmp_path):
    """Only the top master's PINGs travel down a chain: a middle that added its own would
    count them in its offset, which would leave its master's."""
    m = start("redis", tmp_path, "top", "--repl-ping-replica-period", "60")
    mid = leaf = None
    try:
        mid = replica_of("amber", tmp_path, "mid", m, "--repl-ping-replica-period", "1")
        leaf = replica_of("redis", tmp_path, "leaf", mid)
        mc, midc, leafc = m.client(), mid.client(), leaf.client()
        deadline = time.time() + 20
        while midc.info("replication")["master_link_status"] != "up":
            assert time.time() < deadline
            time.sleep(0.05)
        mc.set("k", "v")
        settle(mc, midc)
        settle(midc, leafc)
        time.sleep(2.5)
        settle(mc, midc)
        assert midc.info("replication")["master_repl_offset"] == mc.info("replication")["master_repl_offset"]
    finally:
        for s in (leaf, mid, m):
            if s:
                s.stop()


def letters(server, messages):
    """The role letter of the first log line holding each message."""
    text = server.log_path.read_text()
    out = {}
    for msg in messages:
        m = re.search(r"^\d+:([A-Z]) [^\n]*" + re.escape(msg), text, re.M)
        assert m, f"{msg!r} not in {server.log_path}: {text[-1500:]}"
        out[msg] = m.group(1)
    return out


def test_log_lines_carry_the_role_letter_as_redis(tmp_path):
    m = start("redis", tmp_path, "master")
    got = {}
    try:
        for kind in ("amber", "redis"):
            r = start(kind, tmp_path, f"r-{kind}")
            try:
                rc = r.client()
                rc.execute_command("REPLICAOF", "127.0.0.1", m.port)
                settle(m.client(), rc)
                rc.execute_command("REPLICAOF", "NO", "ONE")
                got[kind] = letters(r, [
                    f"REPLICAOF 127.0.0.1:{m.port} enabled",
                    f"Connecting to MASTER 127.0.0.1:{m.port}",
                    "MASTER <-> REPLICA sync: Finished with success",
                    "MASTER MODE enabled",
                ])
            finally:
                r.stop()
        # Started with replicaof: a replica as soon as it serves.
        for kind in ("amber", "redis"):
            s = replica_of(kind, tmp_path, f"from-start-{kind}", m)
            try:
                settle(m.client(), s.client())
                got[kind]["start"] = letters(s, ["Ready to accept connections"])["Ready to accept connections"]
            finally:
                s.stop()
    finally:
        m.stop()
    assert got["amber"] == got["redis"]
    assert got["amber"]["start"] == "S" and got["amber"]["MASTER MODE enabled"] == "M"
    assert got["amber"]["MASTER <-> REPLICA sync: Finished with success"] == "S"


def test_a_replica_moving_to_a_master_of_the_same_history_keeps_its_replicas(tmp_path):
    """REPLICAOF to another server that continues our history (+CONTINUE, same replid) leaves
    our own replicas connected, as Redis's replicationSetMaster: they go on streaming."""
    servers = []
    try:
        m = start("amber", tmp_path, "m")
        servers.append(m)
        r1 = replica_of("amber", tmp_path, "r1", m)
        r2 = replica_of("amber", tmp_path, "r2", m)
        servers += [r1, r2]
        leaf = replica_of("redis", tmp_path, "leaf", r1)
        servers.append(leaf)
        mc = m.client(single_connection_client=True)
        Stream(52).run(mc, 300)
        mc.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", 0)
        time.sleep(0.5)
        for r in (r1, r2):
            settle(mc, r.client())
        settle(r1.client(), leaf.client())
        connects = leaf.log_path.read_text().count("Connecting to MASTER")
        st0 = r1.client().info("stats")
        assert r1.client().execute_command("REPLICAOF", "127.0.0.1", r2.port) == b"OK"
        deadline = time.time() + 20
        while r1.client().info("replication")["master_link_status"] != "up":
            assert time.time() < deadline
            time.sleep(0.05)
        assert "Successful partial resynchronization with master." in r1.log_path.read_text()
        Stream(53).run(mc, 300)
        time.sleep(0.5)
        settle(mc, r2.client())
        settle(r2.client(), r1.client())
        settle(r1.client(), leaf.client())
        assert_same(mc, leaf.client())
        # The leaf never reconnected.
        st = r1.client().info("stats")
        assert (st["sync_full"], st["sync_partial_ok"]) == (st0["sync_full"], st0["sync_partial_ok"])
        assert leaf.log_path.read_text().count("Connecting to MASTER") == connects
    finally:
        for s in reversed(servers):
            s.stop()
