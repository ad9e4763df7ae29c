"""Server commands and start-up: configuration (file, command line, CONFIG GET/SET/REWRITE),
INFO, COMMAND, DEBUG, TIME, FLUSHDB/FLUSHALL, SHUTDOWN, logs."""

import os
import re
import subprocess
import time

import pytest
import redis

from conftest import ServerProc, amber_bin, free_port
from conftest import raw_command as raw
from test_connection import same_as_redis


def start_fails(args, cwd):
    p = subprocess.run([amber_bin()] + args, capture_output=True, text=True, timeout=10, cwd=cwd)
    assert p.returncode == 1, p
    return p.stdout + p.stderr


def test_config_file_errors_name_file_line_reason(tmp_path):
    conf = tmp_path / "bad.conf"
    conf.write_text("# comment\nport 7000\n\nfrobnicate yes\n")
    out = start_fails([str(conf)], tmp_path)
    assert "at line 4" in out and "'frobnicate yes'" in out and "Bad directive or wrong number of arguments" in out
    conf.write_text("protected-mode perhaps\n")
    assert "argument must be 'yes' or 'no'" in start_fails([str(conf)], tmp_path)
    conf.write_text("port 70000\n")
    assert "argument must be between 0 and 65535 inclusive" in start_fails([str(conf)], tmp_path)
    conf.write_text('requirepass "unterminated\n')
    assert "Unbalanced quotes" in start_fails([str(conf)], tmp_path)
    conf.write_text("client-query-buffer-limit lots\n")
    assert "memory value" in start_fails([str(conf)], tmp_path)
    out = start_fails(["--no-such-option", "1"], tmp_path)
    assert "Bad directive" in out
    assert "can't open config file" in start_fails([str(tmp_path / "missing.conf")], tmp_path)


def test_config_file_quotes_include_units_and_overrides(tmp_path):
    inc = tmp_path / "inc.conf"
    inc.write_text("hz 25\nproto-max-bulk-len 2mb\n")
    conf = tmp_path / "amber.conf"
    port = free_port()
    conf.write_text(f'port {port}\nbind 127.0.0.1\ninclude {inc}\nrequirepass "p w"\nclient-query-buffer-limit 1gb\n'
                    "maxclients 77\nenable-debug-command yes\n")
    override = free_port()
    s = ServerProc("amber", tmp_path / "d")
    s.argv = lambda: [amber_bin(), str(conf), "--port", str(override), "--maxclients", "78"]
    s.port = override
    s.start()
    try:
        c = s.client(password="p w", decode_responses=True)
        got = c.config_get("*")
        assert got["hz"] == "25"
        assert got["proto-max-bulk-len"] == str(2 * 1024 * 1024)
        assert got["client-query-buffer-limit"] == str(1 << 30)
        assert got["maxclients"] == "78"
        assert got["port"] == str(override)
        assert got["requirepass"] == "p w"
    finally:
        s.stop()


def test_config_get_set_semantics(r):
    assert r.config_get("maxclients") == {"maxclients": "10000"}
    assert set(r.config_get("hash-max-*")) == {"hash-max-listpack-entries", "hash-max-listpack-value",
                                                "hash-max-ziplist-entries", "hash-max-ziplist-value"}
    both = r.execute_command("CONFIG", "GET", "hz", "maxclients")
    both = dict(zip(both[::2], both[1::2])) if isinstance(both, list) else both
    assert set(both) == {"hz", "maxclients"}
    assert r.config_set("hz", "20") is True
    assert r.config_get("hz") == {"hz": "20"}
    # Several pairs: all or nothing.
    with pytest.raises(redis.ResponseError):
        r.execute_command("CONFIG", "SET", "hz", "30", "maxclients", "nope")
    assert r.config_get("hz") == {"hz": "20"}
    r.execute_command("CONFIG", "SET", "hz", "10", "maxclients", "10000")
    assert r.config_get("hz") == {"hz": "10"}


@pytest.mark.parametrize("payload", [
    b"CONFIG SET hz\r\nCONFIG SET nosuch 1\r\nCONFIG SET databases 4\r\nCONFIG SET hz 1 hz 2\r\n",
    b"CONFIG SET maxclients x\r\nCONFIG SET protected-mode maybe\r\nCONFIG SET port 99999\r\n",
    b"CONFIG SET dir /tmp\r\nCONFIG SET enable-debug-command yes\r\nCONFIG SET proto-max-bulk-len 1\r\n",
    b"CONFIG GET\r\nCONFIG FOO\r\nCONFIG\r\nCONFIG GET nosuchthing\r\nCONFIG GET hz\r\n",
    b"FLUSHDB FOO\r\nFLUSHALL ASYNC x\r\nFLUSHDB SYNC\r\nFLUSHALL async\r\nDBSIZE\r\nDBSIZE x\r\n",
    b"SHUTDOWN FOO\r\nSHUTDOWN ABORT\r\nMULTI\r\nSHUTDOWN\r\nEXEC\r\n",
    b"DEBUG\r\nDEBUG NOSUCH\r\nDEBUG SLEEP x\r\nDEBUG SLEEP 0\r\nDEBUG POPULATE -1\r\nDEBUG POPULATE 3 pfx\r\nEXISTS pfx:0 pfx:2 pfx:3\r\nDEBUG OBJECT nosuch\r\n",
    b"COMMAND COUNT x\r\nCOMMAND INFO nosuchcmd\r\nCOMMAND FOO\r\n",
])
def test_server_command_errors_same_as_redis(amber_server, redis_server, payload):
    for s in (amber_server, redis_server):
        s.client().flushall()
    same_as_redis(amber_server, redis_server, payload)


def test_protected_configs(new_amber, tmp_path):
    s = new_amber()
    c = s.client(decode_responses=True)
    with pytest.raises(redis.ResponseError, match="can't set protected config"):
        c.config_set("dir", str(tmp_path))
    s2 = new_amber("--enable-protected-configs", "yes")
    c2 = s2.client(decode_responses=True)
    assert c2.config_set("dir", str(tmp_path)) is True
    assert c2.config_get("dir") == {"dir": str(tmp_path)}


def test_config_rewrite_keeps_comments_and_updates(tmp_path):
    conf = tmp_path / "rw.conf"
    port = free_port()
    conf.write_text(f"# my settings\nport {port}\nhz 15\n# trailing comment\n")
    s = ServerProc("amber", tmp_path / "d")
    s.argv = lambda: [amber_bin(), str(conf)]
    s.port = port
    s.start()
    try:
        c = s.client(decode_responses=True)
        c.config_set("hz", "33")
        c.config_set("maxclients", "123")
        assert c.config_rewrite() in (True, "OK")
        text = conf.read_text()
        assert "# my settings" in text and "# trailing comment" in text
        assert "hz 33" in text and "hz 15" not in text
        assert "maxclients 123" in text
        assert text.index("hz 33") < text.index("# trailing comment")
    finally:
        s.stop()
    # The rewritten file starts a server with the same settings.
    s = ServerProc("amber", tmp_path / "d2")
    s.argv = lambda: [amber_bin(), str(conf)]
    s.port = port
    s.start()
    try:
        assert s.client(decode_responses=True).config_get("maxclients") == {"maxclients": "123"}
    finally:
        s.stop()


def test_config_rewrite_without_file(r):
    with pytest.raises(redis.ResponseError, match="without a config file"):
        r.config_rewrite()


def test_info_sections_and_fields(r):
    r.set("a", "1")
    r.set("b", "2", px=100000)
    info = r.info()
    for field in ["redis_version", "process_id", "run_id", "tcp_port", "uptime_in_seconds", "connected_clients",
                  "used_memory", "used_memory_human", "used_memory_rss", "rdb_changes_since_last_save",
                  "total_commands_processed", "keyspace_hits", "role", "used_cpu_sys"]:
        assert field in info, field
    assert info["db0"]["keys"] == 2 and info["db0"]["expires"] == 1
    assert info["redis_version"] == "7.0.15"
    text = raw(r, "INFO", "server")
    assert "# Server" in text and "# Clients" not in text
    assert "db0" in r.info("keyspace")
    every = raw(r, "INFO", "everything")
    assert "# Commandstats" in every and "cmdstat_set:calls=" in every
    assert raw(r, "INFO", "nosuchsection") in ("", b"")
    multi = raw(r, "INFO", "server", "clients")
    assert "# Server" in multi and "# Clients" in multi and "# Memory" not in multi


def test_info_counts_errors_and_commands(r):
    r.config_resetstat()
    with pytest.raises(redis.ResponseError):
        r.execute_command("NOSUCHCOMMAND")
    r.get("x")
    r.set("x", "1")
    r.get("x")
    stats = r.info("stats")
    assert stats["total_error_replies"] >= 1
    assert stats["keyspace_hits"] >= 1 and stats["keyspace_misses"] >= 1
    err = r.info("errorstats")
    assert err["errorstat_ERR"]["count"] >= 1
    cmds = r.info("commandstats")
    assert cmds["cmdstat_set"]["calls"] >= 1


def test_command_introspection(r):
    count = raw(r, "COMMAND", "COUNT")
    assert count > 100
    info = raw(r, "COMMAND", "INFO", "get", "set", "config|get")
    assert len(info) == 3 and info[0][0] == "get" and info[2][0] == "config|get"
    assert len(raw(r, "COMMAND")) == count
    names = raw(r, "COMMAND", "LIST")
    assert "get" in names and "config|get" in names
    pat = raw(r, "COMMAND", "LIST", "FILTERBY", "PATTERN", "c*")
    assert pat and all(n.startswith("c") for n in pat)
    docs = raw(r, "COMMAND", "DOCS", "get")
    assert "get" in (docs if isinstance(docs, dict) else docs[::2])


def test_command_info_matches_redis_metadata(amber_server, redis_server):
    """Arity and key positions drive clients (redis-py cluster, redis-cli): they must match."""
    a = amber_server.client(decode_responses=True, protocol=2)
    rr = redis_server.client(decode_responses=True, protocol=2)
    names = raw(a, "COMMAND", "LIST")
    assert len(names) > 100
    for chunk in range(0, len(names), 50):
        part = names[chunk:chunk + 50]
        mine = raw(a, "COMMAND", "INFO", *part)
        theirs = raw(rr, "COMMAND", "INFO", *part)
        for n, m, t in zip(part, mine, theirs):
            assert t is not None, f"{n} is not a Redis 7.0 command"
            assert m[1] == t[1], f"{n}: arity {m[1]} vs {t[1]}"
            assert m[3:6] == t[3:6], f"{n}: first/last/step {m[3:6]} vs {t[3:6]}"
            assert sorted(m[2]) == sorted(t[2]), f"{n}: flags {m[2]} vs {t[2]}"
            assert m[6] == t[6], f"{n}: ACL categories {m[6]} vs {t[6]}"


def test_debug_populate_and_object(r):
    r.execute_command("DEBUG", "POPULATE", "100")
    assert r.dbsize() == 100
    assert r.get("key:7") == "value:7"
    r.execute_command("DEBUG", "POPULATE", "10", "p", "20")
    assert r.get("p:3") == "value:3" + "\x00" * 13
    line = r.execute_command("DEBUG", "OBJECT", "key:7")
    assert "encoding:embstr" in str(line) and "serializedlength:" in str(line)


def test_debug_requires_enable_debug_command(new_amber):
    s = new_amber("--enable-debug-command", "no")
    with pytest.raises(redis.ResponseError, match="DEBUG command not allowed"):
        s.client().execute_command("DEBUG", "SLEEP", "0")


def test_time(r):
    t = r.time()
    assert abs(t[0] - time.time()) < 5 and 0 <= t[1] < 1_000_000


def test_flush_and_dbsize(r):
    r.set("a", "1")
    r.execute_command("SELECT", 3)
    r.set("b", "1")
    assert r.dbsize() == 1
    r.flushdb()
    assert r.dbsize() == 0
    r.execute_command("SELECT", 0)
    assert r.dbsize() == 1
    r.flushall()
    assert r.dbsize() == 0


def test_logs_and_shutdown(tmp_path):
    log = tmp_path / "amber.log"
    pidfile = tmp_path / "amber.pid"
    s = ServerProc("amber", tmp_path / "d", ["--logfile", str(log), "--pidfile", str(pidfile)]).start()
    assert int(pidfile.read_text()) == s.pid
    text = log.read_text()
    assert "Ready to accept connections" in text
    assert re.search(r"^\d+:M \d\d \w{3} \d{4} \d\d:\d\d:\d\d\.\d{3} \* ", text, re.M)
    c = s.client()
    c.shutdown(nosave=True)  # redis-py swallows the expected disconnect
    s.proc.wait(10)
    assert s.proc.returncode == 0
    assert not pidfile.exists()
    assert "ready to exit, bye bye" in log.read_text()


def test_sigterm_exits_cleanly(tmp_path):
    s = ServerProc("amber", tmp_path / "d").start()
    s.stop()
    assert s.proc.returncode == 0
    assert "SIGTERM" in s.log_path.read_text()


def test_port_in_use_fails_loudly(amber_server, tmp_path):
    p = subprocess.run([amber_bin(), "--port", str(amber_server.port), "--bind", "127.0.0.1"],
                       capture_output=True, text=True, timeout=10, cwd=tmp_path)
    assert p.returncode == 1
    assert "Could not create server TCP listening socket" in p.stdout


def test_default_start_serves_loopback_6379_or_reports_busy(tmp_path):
    """`amber-server` with no arguments: loopback, port 6379, protected mode, 16 databases."""
    env = dict(os.environ)
    p = subprocess.Popen([amber_bin()], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=tmp_path, env=env)
    try:
        out = b""
        deadline = time.time() + 10
        while time.time() < deadline and b"Ready to accept" not in out and p.poll() is None:
            out += p.stdout.read1(4096)
        if p.poll() is not None:
            out += p.stdout.read()
            assert b"6379" in out and b"Could not create server TCP listening socket" in out
            return
        c = redis.Redis(port=6379, decode_responses=True)
        assert c.config_get("databases") == {"databases": "16"}
        assert c.config_get("protected-mode") == {"protected-mode": "yes"}
        assert c.config_get("bind") == {"bind": "127.0.0.1 -::1"}
    finally:
        if p.poll() is None:
            p.terminate()
            p.wait(10)


def test_config_set_port_rebinds(new_amber, amber_server):
    s = new_amber()
    c = s.client(decode_responses=True)
    new_port = free_port()
    assert c.config_set("port", str(new_port)) in (True, "OK")
    # The connection that asked survives; new clients find the server on the new port only.
    assert c.ping()
    time.sleep(0.1)
    assert redis.Redis(port=new_port).ping()
    with pytest.raises(redis.ConnectionError):
        redis.Redis(port=s.port, socket_connect_timeout=1).ping()
    # A port in use is refused and nothing changes.
    moved = redis.Redis(port=new_port, decode_responses=True)
    with pytest.raises(redis.ResponseError, match="Unable to listen on this port"):
        moved.config_set("port", str(amber_server.port))
    assert moved.config_get("port") == {"port": str(new_port)}
    s.port = new_port  # so the fixture stops it by PID as usual


def test_instantaneous_ops_per_sec_reflects_load(new_amber):
    s = new_amber("--hz", "50")
    c = s.client()
    # Idle, the metric falls to 0 (the start-up PINGs age out of its 16 samples).
    deadline = time.time() + 5.0
    while c.info("stats")["instantaneous_ops_per_sec"] != 0 and time.time() < deadline:
        time.sleep(0.4)  # longer than the 16 samples of 20 ms, so INFO itself ages out
    assert c.info("stats")["instantaneous_ops_per_sec"] == 0
    deadline = time.time() + 1.0
    while time.time() < deadline:
        c.ping()
    ops = c.info("stats")["instantaneous_ops_per_sec"]
    assert ops > 100, ops
