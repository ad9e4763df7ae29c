"""A restarted replica continues with a partial resync, as Redis 7.0.15: the RDB it saves
(SHUTDOWN, SAVE, BGSAVE) carries repl-stream-db / repl-id / repl-offset, and at start a
replica loading such a file asks PSYNC <id> <offset+1> (+CONTINUE). A replica started from its
AOF resynchronizes in full, as Redis's does (its AOF records no history). A restarted master
keeps the history as replid2, so its replicas continue."""

import subprocess
import time

import pytest
import redis

from conftest import ServerProc
from replstream import Stream, assert_same, settle
from test_replica import quiesce_redis, redis_master


def syncs(c):
    s = c.info("stats")
    return s["sync_full"], s["sync_partial_ok"]


def shutdown(server):
    # Redis refuses SHUTDOWN while it writes a replica's first AOF ("Writing initial AOF").
    c = server.client()
    deadline = time.time() + 30
    while (i := c.info("persistence"))["aof_rewrite_in_progress"] or i["aof_rewrite_scheduled"]:
        assert time.time() < deadline, i
        time.sleep(0.05)
    try:
        server.client().shutdown()
    except redis.ConnectionError:
        pass
    server.proc.wait(15)
    server.log.close()


def new_master(kind, tmp_path):
    if kind == "redis":
        return redis_master(tmp_path)
    return ServerProc("amber", tmp_path / "master", ["--save", ""]).start()


@pytest.mark.parametrize("master_kind", ["redis", "amber"])
def test_restarted_replica_continues_with_partial_resync(tmp_path, master_kind):
    m = new_master(master_kind, tmp_path)
    replica = ServerProc("amber", tmp_path / "replica", ["--save", "3600 1", "--replicaof", "127.0.0.1", str(m.port)])
    try:
        c = m.client(single_connection_client=True)
        Stream(31).run(c, 800)
        replica.start()
        rc = replica.client()
        settle(c, rc)
        Stream(32).run(c, 800)
        settle(c, rc)
        replid = c.info("replication")["master_replid"]
        full, partial = syncs(c)
        # SHUTDOWN saves dump.rdb with the history; the master writes on meanwhile.
        shutdown(replica)
        Stream(33).run(c, 800)
        replica.start()
        rc = replica.client()
        settle(c, rc)
        assert syncs(c) == (full, partial + 1)
        log = replica.log_path.read_text()
        assert "using my own master parameters to synthesize a cached master" in log
        assert f"Trying a partial resynchronization (request {replid}:" in log
        assert log.count("Successful partial resynchronization with master.") == 1
        assert rc.info("replication")["master_replid"] == replid
        # The stream goes on in the database it was in (repl-stream-db).
        Stream(34).run(c, 800)
        if master_kind == "redis":
            quiesce_redis(c)
        settle(c, rc)
        assert_same(c, rc)
    finally:
        replica.stop()
        m.stop()


def aux_fields(path):
    """The aux fields redis-check-rdb reads in `path` (which it must accept): [(name, value)]."""
    p = subprocess.run(["redis-check-rdb", str(path)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and "RDB looks OK!" in p.stdout, p.stdout + p.stderr
    out = []
    for line in p.stdout.splitlines():
        if "AUX FIELD " in line:
            name, value = line.split("AUX FIELD ", 1)[1].split(" = ", 1)
            out.append((name, value.strip("'")))
    return out


def test_replica_rdb_carries_the_history_as_redis(tmp_path):
    """SAVE on an Amber and on a Redis replica of the same master: redis-check-rdb accepts
    both, with the same aux fields in the same order and the same replication values."""
    m = redis_master(tmp_path)
    replicas = [
        ServerProc(kind, tmp_path / kind, ["--replicaof", "127.0.0.1", str(m.port)]).start()
        for kind in ("amber", "redis")
    ]
    try:
        c = m.client(single_connection_client=True)
        for r in replicas:
            settle(c, r.client())
        # After both full syncs: the stream selects db 2, where it goes on.
        c.execute_command("SELECT", 2)
        c.set("in-db-2", "x")
        for r in replicas:
            settle(c, r.client())
        fields = []
        for r in replicas:
            r.client().save()
            fields.append(aux_fields(r.dir / "dump.rdb"))
        amber, real = fields
        assert [k for k, _ in amber] == [k for k, _ in real]
        repl = dict(amber)
        assert {k: repl[k] for k in ("repl-stream-db", "repl-id", "repl-offset")} == {
            k: v for k, v in real if k in ("repl-stream-db", "repl-id", "repl-offset")
        }
        assert repl["repl-id"] == c.info("replication")["master_replid"] and repl["repl-stream-db"] == "2"
    finally:
        for r in replicas:
            r.stop()
        m.stop()


@pytest.mark.parametrize("kind", ["amber", "redis"])
def test_replica_from_its_aof_resyncs_in_full_as_redis(tmp_path, kind):
    """With appendonly yes the data comes back from the AOF, which records no replication
    history (Redis 7.0.15's loadDataFromDisk restores it only from an RDB): a full resync."""
    m = redis_master(tmp_path)
    replica = ServerProc(kind, tmp_path / kind, ["--appendonly", "yes", "--replicaof", "127.0.0.1", str(m.port)])
    try:
        c = m.client(single_connection_client=True)
        c.set("a", "1")
        replica.start()
        settle(c, replica.client())
        full, partial = syncs(c)
        shutdown(replica)
        c.set("b", "2")
        replica.start()
        settle(c, replica.client())
        assert syncs(c) == (full + 1, partial)
        assert_same(c, replica.client())
    finally:
        replica.stop()
        m.stop()


def test_restarted_master_lets_its_replicas_continue(tmp_path, new_amber):
    """An Amber master restarted from its dump.rdb keeps the history as replid2: a Redis
    replica reconnects with +CONTINUE (as to a restarted Redis master)."""
    m = ServerProc("amber", tmp_path / "master", ["--save", "3600 1"]).start()
    replica = ServerProc("redis", tmp_path / "replica", ["--replicaof", "127.0.0.1", str(m.port)]).start()
    try:
        c = m.client(single_connection_client=True)
        Stream(41).run(c, 500)
        settle(c, replica.client())
        old = c.info("replication")
        shutdown(m)
        m.start()
        c = m.client(single_connection_client=True)
        info = c.info("replication")
        assert info["master_replid2"] == old["master_replid"]
        assert info["second_repl_offset"] == old["master_repl_offset"] + 1
        assert info["master_repl_offset"] == old["master_repl_offset"]
        Stream(42).run(c, 500)
        settle(c, replica.client())
        assert syncs(c) == (0, 1)
        assert_same(c, replica.client())
    finally:
        replica.stop()
        m.stop()


@pytest.mark.parametrize("kind", ["amber", "redis"])
def test_killed_replica_continues_from_the_synced_rdb(tmp_path, kind):
    """The RDB a full sync received becomes the replica's dump.rdb (readSyncBulkPayload's
    rename), so that even a replica that saves nothing and is killed with SIGKILL restarts
    from it and continues from the sync's offset with +CONTINUE."""
    m = redis_master(tmp_path)
    replica = ServerProc(kind, tmp_path / kind, ["--save", "", "--replicaof", "127.0.0.1", str(m.port)])
    try:
        c = m.client(single_connection_client=True)
        Stream(51).run(c, 500)
        replica.start()
        settle(c, replica.client())
        assert (replica.dir / "dump.rdb").exists()
        Stream(52).run(c, 500)
        settle(c, replica.client())
        full, partial = syncs(c)
        replica.kill9()
        Stream(53).run(c, 500)
        replica.start()
        rc = replica.client()
        settle(c, rc)
        assert syncs(c) == (full, partial + 1)
        quiesce_redis(c)
        settle(c, rc)
        assert_same(c, rc)
    finally:
        replica.stop()
        m.stop()


def test_rdb_del_sync_files_leaves_no_dump_without_persistence(tmp_path):
    m = redis_master(tmp_path)
    replica = ServerProc("amber", tmp_path / "amber",
                         ["--save", "", "--rdb-del-sync-files", "yes", "--replicaof", "127.0.0.1", str(m.port)])
    try:
        c = m.client(single_connection_client=True)
        c.set("a", "1")
        replica.start()
        settle(c, replica.client())
        assert not (replica.dir / "dump.rdb").exists()
        assert list(replica.dir.glob("temp-*.rdb")) == []
    finally:
        replica.stop()
        m.stop()
