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


def latencystats(c):
    """{command: {percentile label: microseconds}} from INFO latencystats (redis-py parses the
    lines' fields)."""
    prefix = "latency_percentiles_usec_"
    return {k[len(prefix):]: {p: float(v) for p, v in fields.items()}
            for k, fields in c.info("latencystats").items() if k.startswith(prefix)}


def test_info_latencystats_as_redis(amber_server, redis_server):
    """INFO latencystats lists a latency_percentiles_usec_<command> line for every command
    timed, at latency-tracking-info-percentiles, with values hdr_histogram can report (its
    highest equivalent values of microseconds x 1000); nothing with latency-tracking no."""
    seen = []
    for s in (amber_server, redis_server):
        c = s.client()
        c.config_set("latency-tracking", "yes")
        c.config_set("latency-tracking-info-percentiles", "50 99 99.9")
        c.config_resetstat()
        for i in range(200):
            c.set(f"ls{i}", "v")
        c.get("ls1")
        c.config_get("maxmemory")
        default = latencystats(c)
        c.config_set("latency-tracking-info-percentiles", "0 25.5 100")
        custom = latencystats(c)
        c.config_set("latency-tracking", "no")
        off = latencystats(c)
        c.config_set("latency-tracking", "yes")
        c.config_set("latency-tracking-info-percentiles", "50 99 99.9")
        c.delete(*[f"ls{i}" for i in range(200)])
        seen.append((default, custom, off))
        for stats in (default, custom):
            for per in stats.values():
                values = list(per.values())
                assert values == sorted(values), per
                for usec in values:
                    # An hdr counter's bound: exact below 256 ns, else a counter 2^b wide
                    # (b = bit length - 8), its lowest (p0) or highest value.
                    ns = round(usec * 1000)
                    width = 1 << max(ns.bit_length() - 8, 0)
                    assert ns % width == 0 or (ns + 1) % width == 0, (usec, per)
    (a_default, a_custom, a_off), (r_default, r_custom, r_off) = seen
    for a, r in ((a_default, r_default), (a_custom, r_custom)):
        assert {k: sorted(v) for k, v in a.items()} == {k: sorted(v) for k, v in r.items()}
    assert sorted(a_default["set"]) == ["p50", "p99", "p99.9"]
    assert sorted(a_custom["set"]) == ["p0", "p100", "p25.5"]
    assert {"set", "get", "config|get"} <= set(a_default)
    assert a_off == r_off == {}
