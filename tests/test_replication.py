"""Replication with Redis 7.0.15: a Redis replica of an Amber master (full sync, diskless and
disk-based, the command stream, partial resync after the link is cut, WAIT, INFO, ROLE)."""

import os
import signal
import socket
import time

import pytest
import redis

from conftest import ServerProc
from replstream import Stream, assert_same, settle


def redis_replica_of(tmp_path, master, *extra, name="replica"):
    return ServerProc("redis", tmp_path / name, ["--replicaof", "127.0.0.1", str(master.port), *extra]).start()


def one_conn(server):
    return server.client(single_connection_client=True)


def quiesce(master_client):
    """Lets the short expiries of the stream pass and be deleted, then stops the master's
    active expiry so that both sides are compared on the same keys."""
    time.sleep(0.6)
    for db in range(3):
        master_client.execute_command("SELECT", db)
        master_client.keys("*")  # reads expire what is due (lazily), as a DEL in the stream
    master_client.execute_command("SELECT", 0)
    master_client.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", 0)


@pytest.mark.parametrize("diskless", ["yes", "no"])
def test_redis_replica_of_amber_full_sync_and_stream(tmp_path, new_amber, diskless):
    m = new_amber("--save", "", "--repl-diskless-sync", diskless)
    c = one_conn(m)
    Stream(1).run(c, 1500)  # before the replica: goes over in the snapshot
    rep = redis_replica_of(tmp_path, m)
    try:
        rc = rep.client()
        settle(c, rc)
        Stream(2).run(c, 3000)  # the live stream
        quiesce(c)
        settle(c, rc)
        assert_same(c, rc)
        info = c.info("replication")
        assert info["connected_slaves"] == 1
        slave = info["slave0"]
        assert slave["state"] == "online" and slave["port"] == rep.port
        assert info["repl_backlog_active"] == 1 and info["master_repl_offset"] > 0
        assert info["repl_backlog_first_byte_offset"] == 1
        assert c.info("stats")["sync_full"] == 1
        assert rc.info("replication")["master_link_status"] == "up"
        log = m.log_path.read_text()
        framing = "replicas sockets" if diskless == "yes" else "disk"
        assert f"Starting BGSAVE for SYNC with target: {framing}" in log
        assert "Synchronization with replica 127.0.0.1:%d succeeded" % rep.port in log
    finally:
        rep.stop()


def test_link_cut_on_either_side_resumes_with_continue(tmp_path, new_amber):
    m = new_amber("--save", "")
    c = one_conn(m)
    rep = redis_replica_of(tmp_path, m)
    try:
        rc = rep.client()
        Stream(3).run(c, 500)
        settle(c, rc)
        # The master drops its replica; writes go on meanwhile.
        assert c.execute_command("CLIENT", "KILL", "TYPE", "replica") == 1
        Stream(4).run(c, 500)
        settle(c, rc)
        # The replica drops its master.
        assert rc.execute_command("CLIENT", "KILL", "TYPE", "master") == 1
        Stream(5).run(c, 500)
        quiesce(c)
        settle(c, rc)
        assert_same(c, rc)
        stats = c.info("stats")
        assert (stats["sync_full"], stats["sync_partial_ok"], stats["sync_partial_err"]) == (1, 2, 0)
        assert rep.log_path.read_text().count("Successful partial resynchronization with master") == 2
        assert "Partial resynchronization request from 127.0.0.1:%d accepted" % rep.port in m.log_path.read_text()
    finally:
        rep.stop()


def test_a_restarted_replica_beyond_the_backlog_gets_a_full_sync(tmp_path, new_amber):
    m = new_amber("--save", "", "--repl-backlog-size", "16kb")
    c = one_conn(m)
    rep = redis_replica_of(tmp_path, m)
    try:
        rc = rep.client()
        settle(c, rc)
        # The replica is stopped while the master drops it and writes more than the backlog
        # holds, so it cannot reconnect first (a loaded machine once let it: +CONTINUE).
        os.kill(rep.pid, signal.SIGSTOP)
        try:
            c.execute_command("CLIENT", "KILL", "TYPE", "replica")
            c.execute_command("SET", "big", "x" * 40000)  # more than the backlog holds
        finally:
            os.kill(rep.pid, signal.SIGCONT)
        quiesce(c)
        settle(c, rc)
        assert_same(c, rc)
        stats = c.info("stats")
        assert (stats["sync_full"], stats["sync_partial_ok"], stats["sync_partial_err"]) == (2, 0, 1)
        assert "for lack of backlog" in m.log_path.read_text()
    finally:
        rep.stop()


def test_wait_counts_replicas_that_acknowledged(tmp_path, new_amber):
    m = new_amber("--save", "")
    c = one_conn(m)
    assert c.execute_command("WAIT", 1, 100) == 0  # no replica: the timeout passes
    rep = redis_replica_of(tmp_path, m)
    try:
        settle(c, rep.client())
        c.set("k", "v")
        t = time.time()
        assert c.execute_command("WAIT", 1, 0) == 1
        assert time.time() - t < 5
        assert c.execute_command("WAIT", 2, 300) == 1  # only one replica: the count at the timeout
        role = c.execute_command("ROLE")
        assert role[0] == b"master" and role[1] == c.info("replication")["master_repl_offset"]
        assert role[2] == [[b"127.0.0.1", str(rep.port).encode(), str(role[1]).encode()]] or role[2][0][:2] == [
            b"127.0.0.1", str(rep.port).encode()]
        listed = c.execute_command("CLIENT", "LIST", "TYPE", "replica").decode()
        assert listed.count("\n") == 1 and " flags=S " in listed
    finally:
        rep.stop()


def test_pings_reach_the_replica_and_advance_the_offset(tmp_path, new_amber):
    m = new_amber("--save", "", "--repl-ping-replica-period", "1")
    c = one_conn(m)
    rep = redis_replica_of(tmp_path, m)
    try:
        first = settle(c, rep.client())
        time.sleep(2.5)
        assert settle(c, rep.client()) >= first + 2 * len(b"*1\r\n$4\r\nPING\r\n")
    finally:
        rep.stop()


def read_line(f):
    line = f.readline()
    assert line.endswith(b"\r\n"), line
    return line[:-2]


def test_bad_replconf_and_psync_arguments_get_redis_errors(new_amber):
    m = new_amber("--save", "")
    with socket.create_connection(("127.0.0.1", m.port), timeout=10) as sock:
        f = sock.makefile("rb")
        for cmd, want in [
            (b"REPLCONF listening-port\r\n", b"-ERR syntax error"),
            (b"REPLCONF listening-port abc\r\n", b"-ERR value is not an integer or out of range"),
            (b"REPLCONF nosuch 1\r\n", b"-ERR Unrecognized REPLCONF option: nosuch"),
            (b"REPLCONF ip-address " + b"1" * 46 + b"\r\n",
             b"-ERR REPLCONF ip-address provided by replica instance is too long: 46 bytes"),
            (b"PSYNC ? abc\r\n", b"-ERR value is not an integer or out of range"),
            (b"REPLCONF ack 10\r\nPING\r\n", b"+PONG"),  # ACK from a non-replica: no reply
        ]:
            sock.sendall(cmd)
            assert read_line(f) == want


def test_min_replicas_to_write_refuses_writes_without_enough_good_replicas(tmp_path, new_amber):
    m = new_amber("--save", "", "--min-replicas-to-write", "1")
    c = one_conn(m)
    with pytest.raises(redis.ResponseError, match="Not enough good replicas to write."):
        c.set("k", "v")
    assert c.info("replication")["min_slaves_good_slaves"] == 0
    rep = redis_replica_of(tmp_path, m)
    try:
        deadline = time.time() + 10
        while c.info("replication")["min_slaves_good_slaves"] != 1:
            assert time.time() < deadline
            time.sleep(0.05)
        assert c.set("k", "v") is True
    finally:
        rep.stop()
