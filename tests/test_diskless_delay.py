"""repl-diskless-sync-delay and repl-diskless-sync-max-replicas, as Redis 7.0.15: replicas that
arrive within the delay wait (INFO: state=wait_bgsave) and share one snapshot, sent to each of
them; max-replicas waiting start it at once. The same steps run against a Redis master, whose
log and INFO are the reference."""

import time

import pytest

from conftest import ServerProc
from replstream import Stream, assert_same, settle

START = "Starting BGSAVE for SYNC with target: replicas sockets"


def master(kind, tmp_path, *extra):
    extra = list(extra) + (["--save", ""] if kind == "amber" else [])
    return ServerProc(kind, tmp_path / f"master-{kind}", extra).start()


def replica(kind, tmp_path, name, m):
    return ServerProc(kind, tmp_path / name, ["--replicaof", "127.0.0.1", str(m.port)]
                      + (["--save", ""] if kind == "amber" else [])).start()


def states(c):
    info = c.info("replication")
    return sorted(v["state"] for k, v in info.items() if k.startswith("slave") and isinstance(v, dict))


@pytest.mark.parametrize("kind", ["amber", "redis"])
def test_replicas_within_the_delay_share_one_snapshot(tmp_path, kind):
    m = master(kind, tmp_path, "--repl-diskless-sync-delay", "3")
    reps = []
    try:
        mc = m.client(single_connection_client=True)
        Stream(61).run(mc, 500)
        mc.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", 0)
        t0 = time.time()
        reps = [replica("redis", tmp_path, "r1", m), replica("amber", tmp_path, "r2", m)]
        deadline = time.time() + 10
        while states(mc) != ["wait_bgsave", "wait_bgsave"]:
            assert time.time() < deadline, states(mc)
            time.sleep(0.02)
        assert START not in m.log_path.read_text()  # both wait
        for r in reps:
            settle(mc, r.client())
        assert time.time() - t0 >= 2.5  # the delay was waited
        assert m.log_path.read_text().count(START) == 1
        assert m.log_path.read_text().count("Delay next BGSAVE for diskless SYNC") == 2
        assert mc.info("stats")["sync_full"] == 2
        assert states(mc) == ["online", "online"]
        time.sleep(0.8)  # expiries in the stream pass on both
        for r in reps:
            settle(mc, r.client())
            assert_same(mc, r.client())
    finally:
        for s in reps + [m]:
            s.stop()


@pytest.mark.parametrize("kind", ["amber", "redis"])
def test_max_replicas_waiting_start_the_snapshot_at_once(tmp_path, kind):
    m = master(kind, tmp_path, "--repl-diskless-sync-delay", "60", "--repl-diskless-sync-max-replicas", "2")
    reps = []
    try:
        mc = m.client()
        mc.set("k", "v")
        reps.append(replica("amber", tmp_path, "r1", m))
        time.sleep(2.5)
        assert states(mc) == ["wait_bgsave"]  # one is not enough, and 60 s are far
        reps.append(replica("redis", tmp_path, "r2", m))
        t0 = time.time()
        for r in reps:
            settle(mc, r.client(), timeout=20)
        assert time.time() - t0 < 20
        assert m.log_path.read_text().count(START) == 1
        assert all(r.client().get("k") == b"v" for r in reps)
    finally:
        for s in reps + [m]:
            s.stop()


@pytest.mark.parametrize("kind", ["amber", "redis"])
def test_a_waiting_replica_gets_keep_alive_newlines_before_fullresync(tmp_path, kind):
    import socket

    m = master(kind, tmp_path, "--repl-diskless-sync-delay", "3")
    try:
        with socket.create_connection(("127.0.0.1", m.port), timeout=10) as s:
            s.sendall(b"REPLCONF capa eof capa psync2\r\n")
            f = s.makefile("rb")
            assert f.readline() == b"+OK\r\n"
            s.sendall(b"PSYNC ? -1\r\n")
            newlines = 0
            while True:
                line = f.readline()
                if line != b"\n":
                    break
                newlines += 1
            assert line.startswith(b"+FULLRESYNC ")
            assert f.readline().startswith(b"$EOF:")
            assert newlines >= 2
    finally:
        m.stop()
