"""Connection commands through redis-py (RESP2 and RESP3) and, where the exact bytes matter,
the same requests sent to Redis 7.0.15."""

import re
import socket
import threading
import time

import pytest
import redis

from test_protocol import exchange


def without_ids(x):
    return (re.sub(rb"id\r\n:\d+", b"id", x[0]), x[1])


def same_as_redis(amber_server, redis_server, payload, normalize=without_ids):
    a = exchange(amber_server.port, payload)
    r = exchange(redis_server.port, payload)
    if normalize:
        a, r = normalize(a), normalize(r)
    assert a == r, f"amber={a!r}\nredis={r!r}"


def test_ping_echo(r):
    assert r.ping() is True
    assert r.echo("hé") == "hé"
    assert r.execute_command("PING", "x") is False  # redis-py maps any reply but PONG to False
    with pytest.raises(redis.ResponseError, match="wrong number of arguments for 'ping'"):
        r.execute_command("PING", "a", "b")


def test_select_and_databases(r):
    r.set("k", "0")
    r.execute_command("SELECT", 5)
    assert r.get("k") is None
    r.set("k", "5")
    r.execute_command("SELECT", 0)
    assert r.get("k") == "0"
    with pytest.raises(redis.ResponseError, match="DB index is out of range"):
        r.execute_command("SELECT", 16)
    with pytest.raises(redis.ResponseError, match="value is not an integer or out of range"):
        r.execute_command("SELECT", "x")


@pytest.mark.parametrize("payload", [
    b"SELECT -1\r\nSELECT 16\r\nSELECT 99999999999\r\nSELECT 1.5\r\nSELECT 15\r\n",
    b"ECHO\r\nECHO a b\r\nPING a b\r\n",
    b"HELLO 4\r\nHELLO x\r\nHELLO 3 FOO\r\nHELLO 3 AUTH default\r\n",
    b"HELLO 2 AUTH default wrong\r\nAUTH x\r\nAUTH a b c\r\nAUTH default anything\r\n",
    b"CLIENT\r\nCLIENT FOO\r\nCLIENT SETNAME \"a b\"\r\nCLIENT SETNAME ok\r\nCLIENT GETNAME\r\nCLIENT SETNAME \"\"\r\nCLIENT GETNAME\r\n",
    b"CLIENT KILL 1.2.3.4:5\r\nCLIENT KILL ID 0\r\nCLIENT KILL TYPE foo\r\nCLIENT KILL FOO bar\r\nCLIENT KILL ID\r\nCLIENT PAUSE x\r\nCLIENT PAUSE -1\r\nCLIENT PAUSE 10 FOO\r\n",
    b"CLIENT LIST TYPE foo\r\nCLIENT LIST ID x\r\nCLIENT LIST FOO\r\nCLIENT NO-EVICT maybe\r\nCLIENT NO-EVICT on\r\n",
    b"QUIT\r\nPING\r\n",
    b"RESET\r\nPING\r\n",
    b"MULTI\r\nRESET\r\nEXEC\r\n",
])
def test_connection_errors_same_as_redis(amber_server, redis_server, payload):
    same_as_redis(amber_server, redis_server, payload)


def test_hello_same_as_redis_but_id(amber_server, redis_server):
    same_as_redis(amber_server, redis_server, b"HELLO\r\nHELLO 3\r\nHELLO 2 SETNAME me\r\nCLIENT GETNAME\r\n")


def test_hello_switches_protocol(amber_server):
    c = amber_server.client(protocol=3, decode_responses=True)
    info = c.execute_command("HELLO", "3")
    assert info["proto"] == 3 and info["server"] == "redis" and info["mode"] == "standalone"
    flat = c.execute_command("HELLO", "2")
    assert flat[flat.index("proto") + 1] == 2


def test_client_id_list_info_kill(amber_server):
    a = amber_server.client(decode_responses=True, protocol=2)
    b = amber_server.client(decode_responses=True, protocol=2)
    a.client_setname("alpha")
    ida, idb = a.client_id(), b.client_id()
    assert ida != idb
    listing = a.client_list()
    names = {c["name"] for c in listing}
    assert "alpha" in names
    mine = [c for c in listing if int(c["id"]) == ida][0]
    assert mine["cmd"] == "client|list" and mine["db"] == "0" and mine["resp"] == "2"
    assert set(mine) >= {"id", "addr", "laddr", "fd", "name", "age", "idle", "flags", "db", "sub", "psub",
                         "multi", "qbuf", "obl", "omem", "tot-mem", "events", "cmd", "user", "redir", "resp"}
    info = a.client_info()
    assert int(info["id"]) == ida and info["name"] == "alpha"
    only_b = a.execute_command("CLIENT", "LIST", "ID", str(idb))
    assert f"id={idb} " in only_b and f"id={ida} " not in only_b
    victim = socket.create_connection(("127.0.0.1", amber_server.port))
    victim.sendall(b"CLIENT ID\r\n")
    vid = int(victim.recv(100)[1:-2])
    assert a.execute_command("CLIENT", "KILL", "ID", str(vid)) == 1
    victim.settimeout(2)
    assert victim.recv(10) == b""
    assert a.execute_command("CLIENT", "KILL", "ID", str(vid)) == 0


def test_client_kill_by_addr_old_form(amber_server):
    a = amber_server.client(decode_responses=True)
    victim = socket.create_connection(("127.0.0.1", amber_server.port))
    victim.sendall(b"CLIENT INFO\r\n")
    time.sleep(0.1)
    line = victim.recv(4096).decode()
    addr = re.search(r"addr=(\S+)", line).group(1)
    assert a.execute_command("CLIENT", "KILL", addr) in (True, "OK")
    victim.settimeout(2)
    assert victim.recv(10) == b""
    with pytest.raises(redis.ResponseError, match="No such client"):
        a.execute_command("CLIENT", "KILL", addr)


def test_client_pause_write_holds_writes_not_reads(amber_server):
    a = amber_server.client(decode_responses=True)
    b = amber_server.client(decode_responses=True)
    a.set("p", "1")
    a.execute_command("CLIENT", "PAUSE", "300", "WRITE")
    t0 = time.time()
    assert b.get("p") == "1"
    assert time.time() - t0 < 0.2
    t0 = time.time()
    b.set("p", "2")
    assert time.time() - t0 >= 0.25
    assert b.get("p") == "2"


def test_client_unpause_releases(amber_server):
    a = amber_server.client(decode_responses=True)
    b = amber_server.client(decode_responses=True)
    a.execute_command("CLIENT", "PAUSE", "5000")
    done = []
    t = threading.Thread(target=lambda: done.append(b.set("u", "1")))
    t.start()
    time.sleep(0.2)
    assert not done
    a.execute_command("CLIENT", "UNPAUSE")
    t.join(2)
    assert done == [True]


def test_auth_and_protected_state(new_amber):
    s = new_amber("--requirepass", "sesame")
    c = s.client(decode_responses=True)
    with pytest.raises(redis.AuthenticationError):
        c.get("x")
    ok = s.client(decode_responses=True, password="sesame")
    assert ok.ping()
    assert s.client(decode_responses=True, username="default", password="sesame").ping()
    with pytest.raises(redis.AuthenticationError):
        s.client(password="wrong").ping()
    # RESET drops the authentication (redis-py would silently re-authenticate, so use a socket).
    out, _ = exchange(s.port, b"AUTH sesame\r\nGET x\r\nRESET\r\nGET x\r\n")
    assert out == b"+OK\r\n$-1\r\n+RESET\r\n-NOAUTH Authentication required.\r\n"


def test_unix_socket(new_amber, tmp_path):
    path = str(tmp_path / "amber.sock")
    s = new_amber("--unixsocket", path, "--unixsocketperm", "700")
    c = redis.Redis(unix_socket_path=path, decode_responses=True)
    assert c.ping()
    assert "U" in c.client_info()["flags"]
    assert oct(__import__("os").stat(path).st_mode & 0o777) == "0o700"


def test_maxclients(new_amber):
    s = new_amber("--maxclients", "2")
    a = socket.create_connection(("127.0.0.1", s.port))
    b = socket.create_connection(("127.0.0.1", s.port))
    a.sendall(b"PING\r\n")
    b.sendall(b"PING\r\n")
    assert a.recv(100) == b"+PONG\r\n" and b.recv(100) == b"+PONG\r\n"
    c = socket.create_connection(("127.0.0.1", s.port))
    c.settimeout(2)
    assert c.recv(100) == b"-ERR max number of clients reached\r\n"


def test_idle_timeout(new_amber):
    s = new_amber("--timeout", "1")
    c = socket.create_connection(("127.0.0.1", s.port))
    c.sendall(b"PING\r\n")
    assert c.recv(100) == b"+PONG\r\n"
    c.settimeout(4)
    t0 = time.time()
    assert c.recv(100) == b""
    assert 0.8 <= time.time() - t0 <= 3.5
