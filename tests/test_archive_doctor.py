"""`amber doctor --archive REPO`: the `archive` check reports an archive that keeps up (ok), one
whose archiver stopped (ARCHIVE_STOPPED, from the spool or from an archive that no longer
follows the server's history), one that lags (ARCHIVE_LAG), an empty or unreadable one; exit 1
on an error finding, as the other checks."""

import json
import os
import time

from test_archive import Archiver, archivers, run, source  # noqa: F401
from test_backup import addr, servers, start  # noqa: F401
from test_backup_s3 import moto, bucket  # noqa: F401


def doctor(env, src, *args):
    """The archive finding and the exit code."""
    p = run(env, "doctor", "--server", addr(src), "--json", *args)
    assert p.returncode in (0, 1), p.stderr
    findings = json.loads(p.stdout)["findings"]
    [f] = [f for f in findings if f["check"] == "archive"]
    assert findings[-1] is f or findings[-1]["check"] == "archive"
    errors = any(x["status"] == "error" for x in findings)
    assert p.returncode == (1 if errors else 0)
    return f, p.returncode


def test_doctor_follows_the_archive(tmp_path, servers, archivers, moto, bucket):
    env = moto.env()
    src = start(servers, source(tmp_path / "src", "redis"))
    c = src.client()
    repo = f"s3://{bucket}/doctor"
    # Without --archive the check is there, skipped.
    f, _ = doctor(env, src)
    assert f["status"] == "skip"
    # A backup repository without an archive.
    empty = tmp_path / "empty"
    (empty / "catalog").mkdir(parents=True)
    f, code = doctor(env, src, "--archive", empty)
    assert (f["status"], f["code"], code) == ("error", "ARCHIVE_EMPTY", 1)
    arch = Archiver(tmp_path, env, src, repo).start()
    archivers.append(arch)
    for i in range(50):
        c.set(f"k{i}", i)
    arch.wait_caught_up()
    f, code = doctor(env, src, "--archive", repo, "--archive-spool", arch.spool)
    assert f["status"] == "ok" and code == 0 and f["details"]["lag_bytes"] is not None, f
    assert f["details"]["archiver_running"] is True
    # The archiver stops; the source goes on writing.
    arch.stop()
    c.set("after", "1")
    f, code = doctor(env, src, "--archive", repo, "--archive-spool", arch.spool)
    assert (f["status"], f["code"], code) == ("error", "ARCHIVE_STOPPED", 1), f
    # Without the spool: behind, but within the threshold at first, then past it.
    f, code = doctor(env, src, "--archive", repo, "--archive-max-lag", "1h")
    assert f["status"] == "ok" and f["details"]["lag_bytes"] > 0 and code == 0, f
    time.sleep(2.2)
    f, code = doctor(env, src, "--archive", repo, "--archive-max-lag", "2s")
    assert (f["status"], f["code"], code) == ("error", "ARCHIVE_LAG", 1), f
    assert "bytes behind the server" in f["message"]
    # The source restarts (a new replication history) and no archiver follows it.
    src.stop()
    src2 = start(servers, source(tmp_path / "src", "redis", port=src.port))
    f, code = doctor(env, src2, "--archive", repo, "--archive-max-lag", "2s")
    assert (f["status"], f["code"], code) == ("error", "ARCHIVE_STOPPED", 1), f
    assert "not this server's" in f["message"]
    # Unreadable: a bucket that does not exist.
    f, code = doctor(env, src2, "--archive", "s3://no-such-bucket-here/x")
    assert (f["status"], f["code"], code) == ("error", "ARCHIVE_UNREADABLE", 1), f
    # Text output names the check.
    p = run(env, "doctor", "--server", addr(src2), "--archive", repo, "--archive-max-lag", "2s")
    assert p.returncode == 1 and "ARCHIVE_STOPPED" in p.stdout
    p = run(dict(os.environ), "doctor", "--server", addr(src2), "--archive-max-lag", "2s")
    assert p.returncode == 2 and "--archive" in p.stderr
