"""The guide's classic recovery mistake (issue 12, item 7): only dump.rdb put back into a data
directory with appendonly yes. The server starts empty (it loads the AOF, not the RDB); it
must say so first in its log, `amber doctor` must flag it (RDB_IGNORED), and no save may
destroy the dump it did not load."""

import hashlib
import json
import shutil
import signal
import subprocess

from conftest import ServerProc
from test_backup import tool

KEYS = 30000


def sha(p):
    return hashlib.sha256(p.read_bytes()).hexdigest()


def make_dump(tmp_path):
    src = ServerProc("amber", tmp_path / "src", ["--appendonly", "no", "--save", ""]).start()
    try:
        c = src.client()
        p = c.pipeline(transaction=False)
        for i in range(KEYS):
            p.set(f"key:{i}", "v" * 100)
        p.execute()
        c.save()
        c.close()
    finally:
        src.stop()
    return tmp_path / "src" / "dump.rdb"


def doctor(port):
    d = subprocess.run([tool(), "doctor", "--server", f"127.0.0.1:{port}", "--json"],
                       capture_output=True, text=True, timeout=60)
    assert d.returncode in (0, 1), d.stdout + d.stderr
    return {f["check"]: f for f in json.loads(d.stdout)["findings"]}


def test_dump_only_with_appendonly_yes_is_flagged_and_kept(tmp_path):
    dump = make_dump(tmp_path)
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(dump, data / "dump.rdb")
    original = sha(data / "dump.rdb")
    size = (data / "dump.rdb").stat().st_size
    assert size > 500_000

    s = ServerProc("amber", data, ["--appendonly", "yes", "--save", "3600 1"])
    s.log_path = tmp_path / "amber.log"
    s.start()
    try:
        c = s.client()
        assert c.dbsize() == 0  # the AOF was loaded, not the RDB
        # The first line an operator sees names it, before the banner.
        first = s.log_path.read_text().splitlines()[0]
        assert "WARNING" in first and "dump.rdb" in first and "NOT loaded" in first, first
        assert "appendonly no" in first
        assert c.info("persistence")["amber_rdb_not_loaded"] == "dump.rdb"

        f = doctor(s.port)["rdb_vs_aof"]
        assert f["status"] == "warn" and f["code"] == "RDB_IGNORED", f
        assert "appendonly no" in f["fix"] and "CONFIG SET appendonly yes" in f["fix"], f
        c.close()
    finally:
        s.stop(signal.SIGTERM)  # saves (save 3600 1 ... and SHUTDOWN saves when save is set)

    # The dump it did not load survives the shutdown save, renamed aside and logged.
    kept = sorted(data.glob("dump.rdb.not-loaded-*"))
    assert len(kept) == 1, list(data.iterdir())
    assert sha(kept[0]) == original
    assert (data / "dump.rdb").stat().st_size < size
    assert f"kept as {kept[0].name}" in s.log_path.read_text()

    # The fix doctor names works: put it back, start once with appendonly no.
    shutil.move(kept[0], data / "dump.rdb")
    s2 = ServerProc("amber", data, ["--appendonly", "no", "--save", ""])
    s2.log_path = tmp_path / "amber2.log"
    s2.start()
    try:
        c = s2.client()
        assert c.dbsize() == KEYS
        c.close()
    finally:
        s2.stop()


def test_doctor_flags_a_server_holding_none_of_the_rdb_keys(tmp_path):
    """After the first save renamed it aside, and for a server that does not say (Redis):
    an RDB with keys next to an empty server with appendonly yes is RDB_IGNORED."""
    dump = make_dump(tmp_path)
    data = tmp_path / "data"
    data.mkdir()
    s = ServerProc("amber", data, ["--appendonly", "yes", "--save", ""])
    s.log_path = tmp_path / "amber.log"
    s.start()
    try:
        # The dump arrives while the server runs (INFO knows nothing of it).
        shutil.copy(dump, data / "dump.rdb")
        assert s.client().info("persistence")["amber_rdb_not_loaded"] == ""
        f = doctor(s.port)["rdb_vs_aof"]
        assert f["code"] == "RDB_IGNORED", f
        assert f["details"]["rdb_keys"] == KEYS and f["details"]["server_keys"] == 0, f
    finally:
        s.stop()


def test_no_warning_in_normal_operation(tmp_path):
    """appendonly yes with save points: the server's own dump next to its AOF is not flagged,
    and a restart does not move it aside."""
    data = tmp_path / "data"
    s = ServerProc("amber", data, ["--appendonly", "yes", "--save", "3600 1"])
    s.log_path = tmp_path / "amber.log"
    s.start()
    c = s.client()
    c.set("a", "1")
    c.close()
    s.stop()
    assert (data / "dump.rdb").exists()
    s = ServerProc("amber", data, ["--appendonly", "yes", "--save", "3600 1"])
    s.log_path = tmp_path / "amber2.log"
    s.start()
    try:
        assert "NOT loaded" not in s.log_path.read_text()
        assert doctor(s.port)["rdb_vs_aof"]["code"] != "RDB_IGNORED"
        s.client().set("b", "2")
    finally:
        s.stop()
    assert not list(data.glob("dump.rdb.not-loaded-*"))
