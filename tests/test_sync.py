"""SYNC / PSYNC / REPLCONF rdb-only: the full-resynchronization handshake that redis-cli --rdb
and backups use, served from a fork-less point-in-time snapshot."""

import shutil
import socket
import subprocess

import pytest

from conftest import ServerProc
from datasets import dump_all, fill
from test_rdb import check_rdb, digest


def test_redis_cli_rdb_against_amber_passes_check_rdb_and_loads_into_redis(tmp_path, new_amber):
    s = new_amber("--save", "")
    c = s.client()
    fill(c)
    want, dig = dump_all(c), digest(c)
    out = tmp_path / "cli.rdb"
    p = subprocess.run(["redis-cli", "-p", str(s.port), "--rdb", str(out)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert "Transfer finished with success" in p.stderr + p.stdout
    check_rdb(out)
    (tmp_path / "r").mkdir()
    shutil.copy(out, tmp_path / "r" / "dump.rdb")
    r = ServerProc("redis", tmp_path / "r").start()
    try:
        cr = r.client()
        assert digest(cr) == dig
        assert dump_all(cr) == want
    finally:
        r.stop()
    assert c.ping()  # the server goes on serving


def read_line(f):
    line = f.readline()
    assert line.endswith(b"\r\n"), line
    return line[:-2]


def test_psync_answers_fullresync_then_streams_an_eof_marked_rdb(new_amber):
    s = new_amber("--save", "")
    c = s.client()
    c.set("k", "v")
    replid = c.info("replication")["master_replid"]
    with socket.create_connection(("127.0.0.1", s.port), timeout=10) as sock:
        f = sock.makefile("rb")
        sock.sendall(b"REPLCONF rdb-only 1\r\n")
        assert read_line(f) == b"+OK"
        sock.sendall(b"PSYNC ? -1\r\n")
        assert read_line(f) == f"+FULLRESYNC {replid} 0".encode()
        head = read_line(f)
        assert head.startswith(b"$EOF:") and len(head) == 45
        mark = head[5:]
        data = f.read()
        assert data.endswith(mark) and data.startswith(b"REDIS0010")


def test_sync_without_rdb_only_makes_a_replica_that_gets_the_rdb_then_the_stream(new_amber):
    s = new_amber("--save", "")
    c = s.client()
    c.set("k", "v")
    with socket.create_connection(("127.0.0.1", s.port), timeout=10) as sock:
        f = sock.makefile("rb")
        sock.sendall(b"SYNC\r\n")
        # No capa eof: the RDB comes with its length (disk-based), then the stream follows.
        head = read_line(f)
        assert head.startswith(b"$")
        rdb = f.read(int(head[1:]))
        assert rdb.startswith(b"REDIS0010") and b"k" in rdb
        assert b"flags=S" in c.execute_command("CLIENT", "LIST", "TYPE", "replica")
        c.set("k2", "v2")
        want = b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n$2\r\nk2\r\n$2\r\nv2\r\n"
        assert f.read(len(want)) == want
        sock.sendall(b"REPLCONF nosuch 1\r\n")
    assert c.info("stats")["sync_full"] == 1
