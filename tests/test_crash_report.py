"""A crash leaves Redis's bug report in the log (the signal or panic, a backtrace, INFO, the
command being run) and ends the process by the signal; the AOF written before the crash loads
after a restart with every acknowledged write and passes redis-check-aof."""

import os
import shutil
import signal
import subprocess

import pytest
import redis

from conftest import ServerProc

START = "=== REDIS BUG REPORT START: Cut & paste starting from here ==="
END = "=== REDIS BUG REPORT END. Make sure to include from START to END. ==="


def crash(server, *command):
    c = server.client(socket_timeout=20)
    with pytest.raises(redis.ConnectionError):
        c.execute_command(*command)
    c.close()
    server.proc.wait(30)
    server.log.close()
    return server.proc.returncode


def read(path):
    return path.read_bytes().decode("utf-8", "replace")  # INFO's lines end in \r\n


def report(text):
    assert text.count(START) == 1, text[-3000:]
    body = text[text.index(START):]
    assert END in body, body[-3000:]
    return body[:body.index(END)]


def frames(body):
    """The backtrace's numbered frames."""
    trace = body[body.index("------ STACK TRACE ------"):body.index("------ INFO OUTPUT ------")]
    return [l for l in trace.splitlines() if l.strip().split(":")[0].isdigit()]


def write_keys(server, n):
    c = server.client()
    for i in range(n):
        assert c.set(f"k{i}", f"v{i}")
    c.close()


def check_aof_and_reload(dirpath, n):
    manifest = dirpath / "appendonlydir" / "appendonly.aof.manifest"
    assert manifest.exists()
    checker = shutil.which("redis-check-aof")
    assert checker, "redis-check-aof is missing (scripts/test installs redis-tools)"
    p = subprocess.run([checker, str(manifest)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and "is valid" in p.stdout, p.stdout + p.stderr
    again = ServerProc("amber", dirpath, ["--appendonly", "yes"]).start()
    try:
        c = again.client(decode_responses=True)
        assert c.dbsize() == n
        assert c.get("k0") == "v0" and c.get(f"k{n - 1}") == f"v{n - 1}"
        c.close()
    finally:
        again.stop()


def test_debug_segfault_reports_to_the_logfile_and_keeps_the_aof(tmp_path):
    d = tmp_path / "segv"
    s = ServerProc("amber", d, ["--appendonly", "yes", "--logfile", "server.log"]).start()
    write_keys(s, 300)
    rc = crash(s, "DEBUG", "SEGFAULT")
    assert rc == -signal.SIGSEGV
    body = report(read(d / "server.log"))
    assert "Amber" in body and "crashed by signal: 11" in body
    assert "Accessing address: 0x" in body
    assert len(frames(body)) >= 1, body
    assert "cmd::debug::debug" in body  # the frame that faulted
    assert "# Server\r\n" in body and "redis_version:7.0.15" in body
    assert "------ CLIENT LIST OUTPUT ------" in body
    assert "argv[0]: 'DEBUG'" in body and "argv[1]: 'SEGFAULT'" in body
    check_aof_and_reload(d, 300)


def test_debug_panic_reports_to_stdout_and_ends_by_sigabrt(tmp_path):
    d = tmp_path / "panic"
    s = ServerProc("amber", d, ["--appendonly", "yes", "--appendfsync", "always"]).start()
    write_keys(s, 200)
    rc = crash(s, "DEBUG", "PANIC")
    assert rc == -signal.SIGABRT
    body = report(read(s.log_path))
    assert "Guru Meditation: DEBUG PANIC called at Unix time" in body
    assert "crashed by signal" not in body  # reported once, as a panic
    assert len(frames(body)) >= 1
    assert "on_panic" in body
    assert "# Server\r\n" in body
    check_aof_and_reload(d, 200)


def test_debug_assert_and_an_outside_signal(tmp_path):
    d = tmp_path / "assert"
    s = ServerProc("amber", d).start()
    assert crash(s, "DEBUG", "ASSERT") == -signal.SIGABRT
    body = report(read(s.log_path))
    assert "=== ASSERTION FAILED ===" in body and "'1 == 2' is not true" in body

    d = tmp_path / "sigbus"
    s = ServerProc("amber", d).start()
    os.kill(s.pid, signal.SIGBUS)
    s.proc.wait(30)
    s.log.close()
    assert s.proc.returncode == -signal.SIGBUS
    body = report(read(s.log_path))
    assert "crashed by signal: 7" in body
    assert f"Killed by PID: {os.getpid()}, UID: {os.getuid()}" in body


def test_crash_log_disabled_still_dies_by_the_signal(tmp_path):
    d = tmp_path / "off"
    s = ServerProc("amber", d, ["--crash-log-enabled", "no"]).start()
    assert crash(s, "DEBUG", "SEGFAULT") == -signal.SIGSEGV
    assert START not in read(s.log_path)
