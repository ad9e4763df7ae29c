"""A full disk under the AOF (issue 12, item 1): a real 5 MB tmpfs as `dir`, filled with dd.
Reads, INFO and admin commands keep answering while the AOF cannot be written, under every
appendfsync policy; writes get Redis's MISCONF text; `amber doctor` reports the state; once
space is freed writes resume on their own, and after a restart every acknowledged write is
there and redis-check-aof accepts the AOF."""

import json
import os
import socket
import subprocess
import time

import pytest
import redis

from conftest import ServerProc
from test_backup import tool

MISCONF = "MISCONF Errors writing to the AOF file: No space left on device"


@pytest.fixture
def tmpfs(tmp_path):
    d = tmp_path / "disk"
    d.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=5m", "tmpfs", str(d)], check=True)
    yield d
    subprocess.run(["umount", "-l", str(d)], check=False)


def fill(d):
    subprocess.run(["dd", "if=/dev/zero", f"of={d / 'fill'}", "bs=64k"],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    st = os.statvfs(d)
    assert st.f_bavail == 0, "the tmpfs should be full"


def answers_fast(port, *cmd):
    """A new connection's reply to `cmd`, which must come within 1 s."""
    c = redis.Redis(port=port, socket_timeout=1)
    try:
        t = time.monotonic()
        r = c.execute_command(*cmd)
        assert time.monotonic() - t < 1.0
        return r
    finally:
        c.close()


def check_aof(d):
    manifest = d / "appendonlydir" / "appendonly.aof.manifest"
    p = subprocess.run(["redis-check-aof", str(manifest)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "is valid" in p.stdout, p.stdout


@pytest.mark.parametrize("policy", ["always", "everysec", "no"])
def test_full_disk_keeps_reads_answering_and_writes_resume(tmpfs, tmp_path, policy):
    s = ServerProc("amber", tmpfs, ["--appendonly", "yes", "--appendfsync", policy, "--save", ""])
    s.log_path = tmp_path / "amber.log"  # not on the full disk
    s.start()
    try:
        c = s.client(socket_timeout=10)
        p = c.pipeline(transaction=False)
        for i in range(20000):
            p.set(f"key:{i}", "v" * 16)
        p.execute()
        acked = {f"key:{i}": "v" * 16 for i in range(20000)}
        fill(tmpfs)

        # Write until a write finds the disk full (the AOF may have blocks reserved ahead).
        # That write was applied in memory: its reply is held until the AOF has it (it is
        # never acknowledged before), and nothing else waits for it.
        w = socket.create_connection(("127.0.0.1", s.port))
        w.settimeout(1)
        value = "z" * 1000
        for i in range(10000):
            key = f"during:{i}"
            w.sendall(f"*3\r\n$3\r\nSET\r\n${len(key)}\r\n{key}\r\n$1000\r\n{value}\r\n".encode())
            try:
                r = w.recv(64)
            except socket.timeout:
                held = key
                break
            assert r == b"+OK\r\n"
            acked[key] = value
        else:
            pytest.fail("10 MB of writes went through on a full 5 MB disk")

        # Within a second, from new connections: reads, INFO, DBSIZE, LASTSAVE, CONFIG GET.
        deadline = time.monotonic() + 3
        while True:
            info = answers_fast(s.port, "INFO", "persistence")
            if info["aof_last_write_status"] == "err" or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert info["aof_last_write_status"] == "err"
        assert info["amber_aof_last_error"] == "P004 DISK_FULL"
        assert answers_fast(s.port, "GET", "key:7") == b"v" * 16
        assert answers_fast(s.port, "DBSIZE") >= 20000
        assert answers_fast(s.port, "LASTSAVE") is not None
        assert answers_fast(s.port, "CONFIG", "GET", "appendfsync") == {b"appendfsync": policy.encode()}

        # A new write gets Redis's MISCONF text at once.
        with pytest.raises(redis.ResponseError) as e:
            answers_fast(s.port, "SET", "refused", "1")
        assert str(e.value) == MISCONF

        # amber doctor reaches the server and names the state and its fix.
        d = subprocess.run([tool(), "doctor", "--server", f"127.0.0.1:{s.port}", "--json", "--timeout", "3"],
                           capture_output=True, text=True, timeout=30)
        assert d.returncode == 1, d.stdout + d.stderr
        findings = {f["check"]: f for f in json.loads(d.stdout)["findings"]}
        assert findings["server"]["status"] == "ok", findings["server"]
        assert findings["aof_status"]["code"] == "P004", findings["aof_status"]
        assert "free" in findings["aof_status"]["fix"].lower(), findings["aof_status"]
        assert findings["misconf"]["code"] == "MISCONF"
        assert "retries the failed AOF write" in findings["misconf"]["fix"], findings["misconf"]

        # Free the space: writes resume on their own (the retry runs every second).
        os.unlink(tmpfs / "fill")
        deadline = time.monotonic() + 10
        while True:
            try:
                assert answers_fast(s.port, "SET", "after", "y") is True
                break
            except redis.ResponseError as e:
                assert str(e) == MISCONF
                assert time.monotonic() < deadline, "writes did not resume"
                time.sleep(0.2)
        acked["after"] = "y"
        w.settimeout(5)
        assert w.recv(64) == b"+OK\r\n"  # the held write went through, then was answered
        acked[held] = value
        assert answers_fast(s.port, "INFO", "persistence")["aof_last_write_status"] == "ok"
        w.close()
        c.close()
    finally:
        s.stop()
    assert "Amber can write again" in s.log_path.read_text()
    check_aof(tmpfs)

    s2 = ServerProc("amber", tmpfs, ["--appendonly", "yes", "--appendfsync", policy, "--save", ""])
    s2.log_path = tmp_path / "amber2.log"
    s2.start()
    try:
        c = s2.client(decode_responses=True)
        assert c.dbsize() == len(acked)
        for k in ("key:0", "key:19999", held, "after"):
            assert c.get(k) == acked[k]
        assert c.get("refused") is None
        c.close()
    finally:
        s2.stop()
    check_aof(tmpfs)
