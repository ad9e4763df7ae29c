"""Redis 7.0.15 behaviours of issue 13 item 5, each run against redis-server and amber-server:
FLUSHALL with save points, the start-up logo (always-show-logo) and CONFIG REWRITE's
atomic replacement. (A manifest naming a missing file: tests/test_aof_verdict.py,
test_missing_file_is_named_in_the_log.)"""

import os
import re
import signal
import subprocess
import time

import pytest

from conftest import ServerProc


def start_both(tmp_path, *extra):
    return [ServerProc(kind, tmp_path / kind, list(extra)).start() for kind in ("amber", "redis")]


def stop_all(servers):
    for s in servers:
        s.stop()


def changes(c):
    return c.info("persistence")["rdb_changes_since_last_save"]


def incr_text(s):
    d = s.dir / "appendonlydir"
    return b"".join(p.read_bytes() for p in sorted(d.glob("*.incr.aof")))


def test_flushall_with_save_points_resets_changes_and_reaches_the_aof(tmp_path):
    servers = start_both(tmp_path, "--appendonly", "yes", "--appendfsync", "always", "--save", "")
    try:
        seen = []
        for s in servers:
            c = s.client()
            # No save points: the keys removed count as changes (Redis: 3, not 4).
            c.mset({"a": 1, "b": 2, "c": 3})
            c.config_resetstat()
            before = changes(c)
            c.flushall()
            no_points = changes(c) - before
            # FLUSHALL of an empty dataset changes nothing but is still logged.
            c.flushall()
            empty = changes(c) - before
            # With save points: the empty dataset is saved at once, the counter is 0.
            c.config_set("save", "3600 1")
            c.set("x", "1")
            c.flushall()
            with_points = changes(c)
            saved = (s.dir / "dump.rdb").exists()
            logged = incr_text(s).lower().count(b"flushall")
            seen.append((no_points, empty, with_points, saved, logged))
            c.close()
        assert seen[0] == seen[1], f"amber {seen[0]}, redis {seen[1]}"
        assert seen[1] == (3, 3, 0, True, 3)
    finally:
        stop_all(servers)


def logo_lines(s):
    text = s.log_path.read_text(errors="replace")
    return [ln for ln in text.splitlines() if not re.match(r"^\d+:[A-Z] ", ln) and ln.strip()]


def test_always_show_logo_prints_the_logo_with_port_and_pid(tmp_path):
    servers = start_both(tmp_path, "--always-show-logo", "yes")
    try:
        blocks = []
        for s in servers:
            lines = logo_lines(s)
            assert len(lines) == 17, lines
            port = [ln for ln in lines if ln.endswith(f"Port: {s.port}")]
            pid = [ln for ln in lines if ln.endswith(f"PID: {s.pid}")]
            assert len(port) == 1 and len(pid) == 1, lines
            blocks.append((lines, port[0], pid[0]))
        (amber, a_port, a_pid), (redis, r_port, r_pid) = blocks
        # The Port and PID lines are Redis's, character for character (tools read them).
        assert a_port.replace(str(servers[0].port), "N") == r_port.replace(str(servers[1].port), "N")
        assert a_pid.replace(str(servers[0].pid), "N") == r_pid.replace(str(servers[1].pid), "N")
        assert "Running in standalone mode" in "\n".join(amber)
        assert any(ln.rstrip().endswith(") 64 bit") and "Amber" in ln for ln in amber), amber
        # The art itself: Redis's, line for line.
        for a, r in zip(amber, redis):
            assert a[:34] == r[:34], (a, r)
    finally:
        stop_all(servers)


def test_without_always_show_logo_one_line(tmp_path):
    servers = start_both(tmp_path)
    try:
        for s in servers:
            text = s.log_path.read_text(errors="replace")
            assert f"Running mode=standalone, port={s.port}." in text
            assert "PID: " not in text
    finally:
        stop_all(servers)


def trace_rewrite(s, conf):
    """Runs CONFIG REWRITE under strace attached to the server; returns the trace lines."""
    out = s.dir / "strace.txt"
    st = subprocess.Popen(["strace", "-f", "-qq", "-p", str(s.pid), "-o", str(out),
                           "-e", "trace=openat,rename,renameat,renameat2,fsync,fdatasync,close"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        c = s.client()
        deadline = time.time() + 10
        while time.time() < deadline and not (out.exists() and out.stat().st_size > 0):
            c.ping()  # the attach is done once the trace shows activity
            time.sleep(0.05)
        c.config_set("slowlog-max-len", "200")
        assert c.config_rewrite()
        c.ping()
        time.sleep(0.3)
        c.close()
    finally:
        os.kill(st.pid, signal.SIGINT)
        st.wait(10)
    return out.read_text().splitlines()


def rewrite_steps(lines, conf):
    """The order of the steps on the config file: temp created (O_EXCL), temp fsynced,
    renamed over the config, directory fsynced."""
    steps = []
    temp_fd = dir_fd = None
    temp = None
    for ln in lines:
        m = re.search(r'openat\(AT_FDCWD, "([^"]+)", ([^)]*)\) = (\d+)', ln)
        if m:
            path, flags, fd = m.group(1), m.group(2), m.group(3)
            if os.path.basename(path).startswith(conf.name + ".") and "O_EXCL" in flags:
                temp_fd, temp = fd, path
                steps.append("create-temp")
            elif steps and steps[-1] == "rename" and "O_DIRECTORY" in flags or (
                    steps and steps[-1] == "rename" and os.path.isdir(path if os.path.isabs(path) else conf.parent / path)):
                dir_fd = fd
            continue
        m = re.search(r"\b(fsync|fdatasync)\((\d+)", ln)
        if m:
            if m.group(2) == temp_fd and steps and steps[-1] == "create-temp":
                steps.append("fsync-temp")
            elif m.group(2) == dir_fd:
                steps.append("fsync-dir")
                dir_fd = None
            continue
        if re.search(r"\brename(at2?)?\(", ln) and temp and os.path.basename(temp) in ln and conf.name in ln:
            steps.append("rename")
    return steps


def test_config_rewrite_is_an_atomic_replacement(tmp_path):
    servers = []
    try:
        for kind in ("amber", "redis"):
            d = tmp_path / kind
            d.mkdir()
            conf = d / "server.conf"
            conf.write_text("# a comment\nslowlog-max-len 128\n")
            s = ServerProc(kind, d, [])
            s.argv = (lambda s=s, conf=conf: [ServerProc.argv(s)[0], str(conf)] + ServerProc.argv(s)[1:])
            servers.append(s.start())
            steps = rewrite_steps(trace_rewrite(s, conf), conf)
            assert steps == ["create-temp", "fsync-temp", "rename", "fsync-dir"], (kind, steps)
            text = conf.read_text()
            assert "# a comment" in text and "slowlog-max-len 200" in text
            assert [p.name for p in d.iterdir() if p.name.startswith("server.conf.")] == []
            assert oct(conf.stat().st_mode & 0o777) == oct(0o644 & ~current_umask())
    finally:
        stop_all(servers)


def current_umask():
    m = os.umask(0)
    os.umask(m)
    return m
