"""Amber as a replica of Redis 7.0.15: full sync, the stream, partial resync after a cut link,
a chain Redis -> Amber -> Redis, promotion that keeps the old history (replid2), READONLY,
and a master that sends garbage or disconnects mid-RDB."""

import socket
import threading
import time

import pytest

from conftest import ServerProc
from replstream import Stream, assert_same, settle


def redis_master(tmp_path, *extra, name="master"):
    # No 5 s wait before a diskless transfer: the tests would only wait longer.
    return ServerProc("redis", tmp_path / name, ["--repl-diskless-sync-delay", "0", *extra]).start()


def quiesce_redis(c):
    time.sleep(0.6)
    for db in range(3):
        c.execute_command("SELECT", db)
        c.keys("*")
    c.execute_command("SELECT", 0)
    c.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", 0)


def raw_line(port, inline):
    """The first reply line to an inline command."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(inline + b"\r\n")
        return sock.makefile("rb").readline().rstrip(b"\r\n")


def one_conn(server):
    return server.client(single_connection_client=True)


@pytest.mark.parametrize("diskless", ["yes", "no"])
def test_amber_replica_of_redis_full_sync_and_stream(tmp_path, new_amber, diskless):
    m = redis_master(tmp_path, "--repl-diskless-sync", diskless)
    try:
        c = one_conn(m)
        Stream(11).run(c, 1500)
        a = new_amber("--save", "", "--replicaof", "127.0.0.1", str(m.port))
        ac = a.client()
        settle(c, ac)
        Stream(12).run(c, 3000)
        quiesce_redis(c)
        settle(c, ac)
        assert_same(c, ac)
        info = ac.info("replication")
        assert info["role"] == "slave" and info["master_link_status"] == "up"
        assert info["master_replid"] == c.info("replication")["master_replid"]
        role = ac.execute_command("ROLE")
        assert role[:4] == [b"slave", b"127.0.0.1", m.port, b"connected"]
        assert b"flags=M" in ac.execute_command("CLIENT", "LIST", "TYPE", "master")
        log = a.log_path.read_text()
        assert "MASTER <-> REPLICA sync: Finished with success" in log
        want = "with EOF to disk" if diskless == "yes" else "bytes from master to disk"
        assert want in log
        # Writes are refused, reads served.
        assert raw_line(a.port, b"SET x 1") == b"-READONLY You can't write against a read only replica."
    finally:
        m.stop()


def test_amber_replica_link_cut_on_either_side_resumes_with_continue(tmp_path, new_amber):
    m = redis_master(tmp_path)
    try:
        c = one_conn(m)
        a = new_amber("--save", "", "--replicaof", "127.0.0.1", str(m.port))
        ac = a.client()
        Stream(13).run(c, 500)
        settle(c, ac)
        assert ac.execute_command("CLIENT", "KILL", "TYPE", "master") == 1
        Stream(14).run(c, 500)
        settle(c, ac)
        assert c.execute_command("CLIENT", "KILL", "TYPE", "replica") == 1
        Stream(15).run(c, 500)
        quiesce_redis(c)
        settle(c, ac)
        assert_same(c, ac)
        st = c.info("stats")
        assert (st["sync_full"], st["sync_partial_ok"], st["sync_partial_err"]) == (1, 2, 0)
        assert a.log_path.read_text().count("Successful partial resynchronization with master.") == 2
    finally:
        m.stop()


def test_chain_redis_amber_redis_and_promotion_keeps_the_history(tmp_path, new_amber):
    m = redis_master(tmp_path)
    a = None
    r = None
    try:
        c = one_conn(m)
        Stream(21).run(c, 800)
        a = new_amber("--save", "", "--replicaof", "127.0.0.1", str(m.port))
        ac = a.client()
        c.execute_command("SELECT", 2)
        c.set("in2", "x")
        settle(c, ac)
        # The leaf syncs from Amber while the stream Amber passes on has db 2 selected: the
        # RDB's repl-stream-db tells it where the stream continues.
        r = ServerProc("redis", tmp_path / "leaf", ["--replicaof", "127.0.0.1", str(a.port)]).start()
        rc = r.client()
        settle(ac, rc)
        c.set("in2-after", "y")
        settle(c, ac)
        settle(ac, rc)
        assert r.client(db=2).get("in2-after") == b"y"
        Stream(22).run(c, 1500)
        quiesce_redis(c)
        settle(c, ac)
        settle(ac, rc)
        dig = assert_same(c, ac)
        assert rc.execute_command("DEBUG", "DIGEST") == dig
        # The leaf had its full sync from Amber; the stream reached it through Amber.
        assert ac.info("stats")["sync_full"] == 1
        # Amber is promoted: the leaf continues under the new ID (replid2 covers its offset).
        old_id = ac.info("replication")["master_replid"]
        m.stop()
        assert ac.execute_command("REPLICAOF", "NO", "ONE") == b"OK"
        info = ac.info("replication")
        assert info["role"] == "master" and info["master_replid2"] == old_id
        assert info["second_repl_offset"] == info["master_repl_offset"] + 1
        ac.set("after", "promotion")
        settle(ac, rc)
        assert rc.get("after") == b"promotion"
        st = ac.info("stats")
        assert (st["sync_full"], st["sync_partial_err"]) == (1, 0) and st["sync_partial_ok"] >= 1
        assert rc.execute_command("DEBUG", "DIGEST") == ac.execute_command("DEBUG", "DIGEST")
    finally:
        for s in (r, m):
            if s:
                s.stop()


class FakeMaster:
    """A listening socket that answers the handshake and then does what `script` says."""

    def __init__(self, script):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.script = script
        self.sessions = 0
        self.psyncs = []
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.sessions += 1
            try:
                f = conn.makefile("rb")
                while True:
                    line = f.readline()
                    if not line:
                        break
                    if line.startswith(b"*"):
                        n = int(line[1:])
                        args = []
                        for _ in range(n):
                            ln = int(f.readline()[1:])
                            args.append(f.read(ln + 2)[:-2])
                        name = args[0].upper()
                        if name == b"PING":
                            conn.sendall(b"+PONG\r\n")
                        elif name == b"REPLCONF":
                            conn.sendall(b"+OK\r\n")
                        elif name == b"PSYNC":
                            self.psyncs.append(args[1:])
                            self.script(conn)
                            break
            except OSError:
                pass
            finally:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                conn.close()

    def close(self):
        self.sock.close()


def wait_for_log(server, text, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if text in server.log_path.read_text():
            return
        time.sleep(0.05)
    raise AssertionError(f"{text!r} not in the log: {server.log_path.read_text()[-2000:]}")


@pytest.mark.parametrize("case", ["garbage", "mid_rdb", "bad_length", "stream_garbage"])
def test_a_bad_master_is_logged_and_stale_data_is_served(new_amber, case):
    mark = b"m" * 40

    def script(conn):
        if case == "garbage":
            conn.sendall(b"\x00\xffnot a reply at all\r\n")
        elif case == "mid_rdb":
            conn.sendall(b"+FULLRESYNC " + b"a" * 40 + b" 0\r\n$EOF:" + mark + b"\r\nREDIS0010\xfa\x09redis")
            time.sleep(0.2)
        elif case == "bad_length":
            conn.sendall(b"+FULLRESYNC " + b"a" * 40 + b" 0\r\n$99999999999999999999999\r\n")
        else:
            # An empty RDB, then a stream with a bulk length that is not a number.
            rdb = bytes.fromhex("524544495330303130ff") + b"\x00" * 8
            conn.sendall(b"+FULLRESYNC " + b"a" * 40 + b" 0\r\n$" + str(len(rdb)).encode() + b"\r\n" + rdb)
            time.sleep(0.3)
            conn.sendall(b"*1\r\n$x\r\n")
            time.sleep(0.3)

    fake = FakeMaster(script)
    try:
        a = new_amber("--save", "")
        ac = a.client()
        ac.set("kept", "v")
        ac.execute_command("REPLICAOF", "127.0.0.1", fake.port)
        want = {
            "garbage": "Unexpected reply to PSYNC from master",
            "mid_rdb": "I/O error trying to sync with MASTER",
            "bad_length": "Bad protocol from MASTER: a bad payload length",
            "stream_garbage": "Protocol error from the MASTER",
        }[case]
        wait_for_log(a, want)
        if case != "stream_garbage":
            assert ac.get("kept") == b"v"  # stale data served
        assert ac.ping()
        info = ac.info("replication")
        assert info["role"] == "slave"
        # It keeps trying, and serves meanwhile.
        time.sleep(1.5)
        assert fake.sessions >= 2 and ac.ping()
    finally:
        fake.close()


def test_serve_stale_data_no_answers_masterdown(new_amber):
    a = new_amber("--save", "", "--replica-serve-stale-data", "no")
    ac = a.client()
    port = a.port + 1 if a.port < 65000 else a.port - 1  # nothing listens there (refused)
    ac.execute_command("REPLICAOF", "127.0.0.1", port)
    assert raw_line(a.port, b"GET k") == (
        b"-MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.")
    assert ac.info("replication")["master_link_status"] == "down"  # INFO is a STALE command
    assert ac.execute_command("REPLICAOF", "NO", "ONE") == b"OK"
    assert ac.get("k") is None


EMPTY_RDB = bytes.fromhex("524544495330303130ff") + b"\x00" * 8


def resp(*args):
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)


def test_a_link_lost_inside_a_transaction_resumes_before_its_multi(new_amber):
    """As Redis's reploff: the bytes of an unfinished MULTI do not count, so the master sends
    the whole transaction again after +CONTINUE (counting them loses the MULTI: the EXEC
    that comes then fails, and the SET is lost)."""
    replid = b"b" * 40
    before = resp(b"SELECT", b"0") + resp(b"SET", b"k0", b"v0")
    tx = resp(b"MULTI") + resp(b"SET", b"k1", b"v1") + resp(b"INCR", b"n")
    end = resp(b"EXEC")

    def script(conn):
        if len(fake.psyncs) == 1:
            conn.sendall(b"+FULLRESYNC " + replid + b" 0\r\n$%d\r\n" % len(EMPTY_RDB) + EMPTY_RDB)
            time.sleep(0.3)
            conn.sendall(before + tx)  # the link drops before the EXEC
            time.sleep(0.3)
        else:
            conn.sendall(b"+CONTINUE " + replid + b"\r\n")
            conn.sendall(tx + end)
            time.sleep(5)

    fake = FakeMaster(script)
    try:
        a = new_amber("--save", "")
        ac = a.client()
        ac.execute_command("REPLICAOF", "127.0.0.1", fake.port)
        deadline = time.time() + 15
        while ac.get("k1") != b"v1":
            assert time.time() < deadline, a.log_path.read_text()[-2000:]
            time.sleep(0.05)
        assert fake.psyncs[1] == [replid, str(1 + len(before)).encode()]
        assert ac.get("n") == b"1" and ac.get("k0") == b"v0"
        assert ac.info("replication")["master_repl_offset"] == len(before + tx + end)
    finally:
        fake.close()


def test_a_replica_with_appendonly_logs_the_stream_to_its_own_aof(tmp_path, new_amber):
    m = redis_master(tmp_path)
    try:
        c = one_conn(m)
        Stream(31).run(c, 300)
        c.execute_command("SELECT", 0)
        c.set("before-sync", "1")
        d = tmp_path / "aofreplica"
        a = new_amber("--save", "", "--appendonly", "yes", "--replicaof", "127.0.0.1", str(m.port), dir=d)
        ac = a.client()
        settle(c, ac)
        c.set("after-sync", "1")
        quiesce_redis(c)
        settle(c, ac)
        dig = assert_same(c, ac)
        # The full sync started an AOF rewrite from the loaded data.
        assert ac.info("persistence")["aof_rewrites"] >= 1 or ac.info("persistence")["aof_rewrite_in_progress"]
        deadline = time.time() + 30
        while ac.info("persistence")["aof_rewrite_in_progress"]:
            assert time.time() < deadline
            time.sleep(0.05)
        a.stop()
        # Restarted without its master, it has the same data from its own AOF.
        b = new_amber("--appendonly", "yes", dir=d)
        bc = b.client()
        assert bc.get("before-sync") == b"1" and bc.get("after-sync") == b"1"
        assert bc.execute_command("DEBUG", "DIGEST") == dig
    finally:
        m.stop()
