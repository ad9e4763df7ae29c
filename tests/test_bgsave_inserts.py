"""BGSAVE while clients insert new keys (issue 18): the snapshot writer is not starved of CPU
(it runs at the server's own nice level, as a SCHED_BATCH thread, instead of nice 10), and the
file holds exactly the dataset of the BGSAVE instant while new keys split the keyspace's
segments under the walk: Redis 7.0.15 loads it with the DEBUG DIGEST of that instant."""

import os
import shutil
import threading
import time

from conftest import ServerProc, raw_command
from test_rdb import check_rdb, wait_bgsave

SCHED_BATCH = 3


def digest(c):
    return raw_command(c, "DEBUG", "DIGEST")


def thread_stat(pid, tid):
    """(nice, scheduling policy) of one thread, from /proc (fields 19 and 41 of stat)."""
    text = open(f"/proc/{pid}/task/{tid}/stat").read()
    fields = text[text.rindex(")") + 2:].split()
    return int(fields[16]), int(fields[38])


def threads_named(pid, name):
    out = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            if open(f"/proc/{pid}/task/{tid}/comm").read().strip() == name:
                out.append(tid)
        except OSError:
            pass
    return out


def test_bgsave_writer_gets_a_fair_share_of_the_cpu(tmp_path):
    s = ServerProc("amber", tmp_path / "a", ["--save", "", "--rdb-key-save-delay", "200"]).start()
    try:
        c = s.client()
        c.execute_command("DEBUG", "POPULATE", "20000")
        main_nice, main_policy = thread_stat(s.pid, s.pid)
        assert main_policy == 0  # SCHED_OTHER
        assert raw_command(c, "BGSAVE") == b"Background saving started"
        deadline = time.time() + 10
        writers = []
        while not writers and time.time() < deadline:
            writers = threads_named(s.pid, "amber-bgsave")
            time.sleep(0.01)
        assert len(writers) == 1, writers
        # Its priority is set by the thread itself as it starts: give it that moment.
        time.sleep(0.2)
        assert c.info("persistence")["rdb_bgsave_in_progress"] == 1
        assert thread_stat(s.pid, writers[0]) == (main_nice, SCHED_BATCH)
        c.config_set("rdb-key-save-delay", "0")
        assert wait_bgsave(c)["rdb_last_bgsave_status"] == "ok"
    finally:
        s.stop()


def test_bgsave_under_inserts_that_split_segments_is_the_dataset_of_its_instant(tmp_path):
    s = ServerProc("amber", tmp_path / "a", ["--save", "", "--rdb-key-save-delay", "100"]).start()
    try:
        c = s.client()
        n = 30000
        c.execute_command("DEBUG", "POPULATE", str(n), "key", "100")
        before = digest(c)
        keys_at_start = c.dbsize()
        assert raw_command(c, "BGSAVE") == b"Background saving started"
        stop = threading.Event()
        inserted = [0]

        def writer():
            w = s.client()
            i = 0
            while not stop.is_set():
                p = w.pipeline(transaction=False)
                for _ in range(500):
                    # New keys (over twice the dataset during the save: segments split), keys of
                    # the snapshot deleted and re-created, and new keys deleted again.
                    p.set(f"new:{i}", "v" * 100)
                    if i % 5 == 0:
                        p.delete(f"key:{(i // 5) % n}")
                    if i % 7 == 0:
                        p.set(f"key:{(i * 3) % n}", "after")
                    if i % 11 == 0:
                        p.delete(f"new:{i // 2}")
                    i += 1
                p.execute()
            inserted[0] = i

        t = threading.Thread(target=writer)
        t.start()
        try:
            deadline = time.time() + 60
            while time.time() < deadline and c.info("persistence")["rdb_bgsave_in_progress"]:
                time.sleep(0.05)
                if inserted[0] == 0 and c.dbsize() > keys_at_start + 2 * n:
                    # Enough keys arrived: let the save finish at full speed.
                    c.config_set("rdb-key-save-delay", "0")
        finally:
            stop.set()
            t.join()
        assert inserted[0] > n, f"only {inserted[0]} inserts overlapped the save"
        info = wait_bgsave(c)
        assert info["rdb_last_bgsave_status"] == "ok"
        assert digest(c) != before
    finally:
        s.stop()
    check_rdb(tmp_path / "a" / "dump.rdb")
    (tmp_path / "r").mkdir()
    shutil.copy(tmp_path / "a" / "dump.rdb", tmp_path / "r" / "dump.rdb")
    r = ServerProc("redis", tmp_path / "r").start(timeout=60)
    try:
        cr = r.client()
        assert cr.dbsize() == n
        assert digest(cr) == before
    finally:
        r.stop()
