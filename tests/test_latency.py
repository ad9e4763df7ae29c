"""The latency monitor against Redis 7.0.15 (LATENCY LATEST / HISTORY / RESET, the threshold),
and Amber's AOF events: a slow fdatasync under appendfsync always shows as aof-fsync-always."""

import json
import shutil
import subprocess

import redis

from test_aof import strace_server
from test_backup import tool


def run(c, *args):
    try:
        return c.execute_command(*args)
    except redis.ResponseError as e:
        return ("error", str(e))


def test_latency_monitor_as_redis(amber_server, redis_server):
    views = []
    for s in (amber_server, redis_server):
        c = s.client()
        view = [run(c, "CONFIG", "SET", "latency-monitor-threshold", "-1"),
                run(c, "LATENCY", "RESET"),
                run(c, "CONFIG", "SET", "latency-monitor-threshold", "0")]
        c.execute_command("DEBUG", "SLEEP", "0.03")
        view.append(run(c, "LATENCY", "LATEST"))  # off: nothing recorded
        c.config_set("latency-monitor-threshold", "20")
        c.execute_command("DEBUG", "SLEEP", "0.05")
        c.set("fast", "1")
        latest = c.execute_command("LATENCY", "LATEST")
        assert [e[0] for e in latest] == [b"command"], latest
        name, when, last, worst = latest[0]
        assert 50 <= last <= worst < 1000 and when > 1_700_000_000
        hist = c.execute_command("LATENCY", "HISTORY", "command")
        assert len(hist) == 1 and hist[0][1] == last
        view += [run(c, "LATENCY", "HISTORY"), run(c, "LATENCY", "HISTORY", "nosuch"),
                 run(c, "LATENCY", "RESET", "nosuch"), run(c, "LATENCY", "RESET", "command", "x"),
                 run(c, "LATENCY", "LATEST")]
        c.config_set("latency-monitor-threshold", "0")
        views.append(view)
        c.close()
    assert views[0] == views[1]


def test_slow_fsync_under_always_is_an_aof_fsync_always_event(tmp_path):
    assert shutil.which("strace"), "strace is needed (apt-get install strace)"
    # Every fdatasync returns 60 ms late.
    s = strace_server(tmp_path / "a", "--appendfsync", "always", "--latency-monitor-threshold", "30",
                      inject="inject=fdatasync:delay_exit=60000")
    try:
        c = s.client(socket_timeout=10)
        for i in range(3):
            c.set(f"k{i}", "v")
        events = {e[0]: e for e in c.execute_command("LATENCY", "LATEST")}
        assert b"aof-fsync-always" in events, events
        assert 60 <= events[b"aof-fsync-always"][3] < 5000
        assert b"aof-write" not in events  # the writes themselves were fast
        # amber doctor reads it: the disk is named as the cause.
        p = subprocess.run([tool(), "doctor", "--server", f"127.0.0.1:{s.port}", "--json"],
                           capture_output=True, text=True, timeout=60)
        report = json.loads(p.stdout)
        f = next(x for x in report["findings"] if x["check"] == "aof_fsync")
        assert (f["status"], f["code"]) == ("warn", "SLOW_DISK"), f
        assert f["details"]["latency_event"] == "aof-fsync-always"
        assert f["details"]["latency_max_ms"] >= 60 and "aof-fsync-always of" in f["message"]
        assert p.returncode == 0, p  # a warning: only errors make doctor exit 1
    finally:
        s.stop()
