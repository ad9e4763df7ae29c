"""Where a replica's waiting stream goes (a deliberate difference from Redis): the first
4 MiB in memory, the rest in an unlinked file in the master's `dir`, read back in order.
A replica that reads nothing (a Redis 7.0.15 replica stopped with SIGSTOP) while 40 MB are
written: the master's memory for it stays bounded (mem_clients_slaves), the spill file is
open but has no name, and once the replica runs again it gets every byte: equal digests."""

import os
import signal

from conftest import ServerProc
from replstream import assert_same, settle


def spill_files(pid):
    """The master's open files that are (deleted) spill files."""
    found = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if "temp-repl-stream-" in target:
            found.append(target)
    return found


def test_waiting_stream_beyond_4mib_goes_to_a_file_and_comes_back_whole(tmp_path):
    m = ServerProc("amber", tmp_path / "m", ["--save", ""]).start()
    r = ServerProc("redis", tmp_path / "r", ["--replicaof", "127.0.0.1", str(m.port)]).start()
    stopped = False
    try:
        c = m.client()
        c.set("a", "1")
        settle(c, r.client())
        assert spill_files(m.pid) == []
        os.kill(r.pid, signal.SIGSTOP)
        stopped = True
        before = c.info("replication")["master_repl_offset"]
        pipe = c.pipeline(transaction=False)
        for i in range(400):  # 40 MB, distinct values: far more than the sockets hold
            pipe.set(f"big:{i}", f"{i:08}" * 12_500)
            if i % 50 == 49:
                pipe.execute()
        pipe.execute()
        info = c.info("memory")
        assert c.info("replication")["master_repl_offset"] - before > 40_000_000
        assert c.info("replication")["connected_slaves"] == 1
        # Held for the replica: at most the 4 MiB window (and a chunk or two) in memory.
        assert info["mem_clients_slaves"] < 12 * 1024 * 1024, info["mem_clients_slaves"]
        files = spill_files(m.pid)
        assert len(files) == 1 and files[0].endswith("(deleted)"), files
        assert not [n for n in os.listdir(tmp_path / "m") if n.startswith("temp-repl-stream-")]
        os.kill(r.pid, signal.SIGCONT)
        stopped = False
        settle(c, r.client())
        assert_same(c, r.client())
        assert r.client().get("big:399") == b"00000399" * 12_500
    finally:
        if stopped:
            os.kill(r.pid, signal.SIGCONT)
        r.stop()
        m.stop()
