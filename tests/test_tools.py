"""Redis's own tools run against Amber unchanged: redis-cli (commands, --pipe, --scan, the
interactive prompt with its hints) and redis-benchmark."""

import csv
import fcntl
import io
import os
import pty
import select
import struct
import subprocess
import termios
import time


def cli(port, *args, input=None):
    p = subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True, text=True, input=input, timeout=30)
    assert p.returncode == 0, p.stderr
    return p.stdout


def test_redis_cli_commands(amber_server):
    port = amber_server.port
    assert cli(port, "FLUSHALL").strip() == "OK"
    assert cli(port, "SET", "greeting", "hello world").strip() == "OK"
    assert cli(port, "GET", "greeting").strip() == "hello world"
    assert cli(port, "--no-raw", "GET", "missing").strip() == "(nil)"
    assert "redis_version:7.0.15" in cli(port, "INFO", "server")
    assert cli(port, "-n", "3", "SET", "in3", "x").strip() == "OK"
    assert cli(port, "-n", "3", "DBSIZE").strip() == "1"
    assert cli(port, "-3", "PING").strip() == "PONG"


def test_redis_cli_pipe_mass_insertion(amber_server):
    port = amber_server.port
    cli(port, "FLUSHALL")
    n = 5000
    proto = "".join(f"*3\r\n$3\r\nSET\r\n${len(f'k{i}')}\r\nk{i}\r\n${len(str(i))}\r\n{i}\r\n" for i in range(n))
    out = cli(port, "--pipe", input=proto)
    assert f"errors: 0, replies: {n}" in out
    assert cli(port, "DBSIZE").strip() == str(n)
    assert cli(port, "GET", "k4321").strip() == "4321"


def test_redis_cli_interactive_prompt_and_hints(amber_server):
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp("redis-cli", ["redis-cli", "-p", str(amber_server.port)])
    # An 80-column terminal, so that linenoise has room to draw hints.
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    out = b""

    def read_for(seconds):
        nonlocal out
        end = time.time() + seconds
        while time.time() < end:
            r, _, _ = select.select([fd], [], [], 0.05)
            if r:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:
                    break
                out += chunk
                # linenoise asks the terminal for the cursor position; answer like a terminal.
                if b"\x1b[6n" in chunk:
                    os.write(fd, b"\x1b[1;1R")

    try:
        read_for(1.0)
        assert f"127.0.0.1:{amber_server.port}>".encode() in out
        os.write(fd, b"SET ")
        read_for(1.0)
        # redis-cli shows the argument hint after the command name, built from COMMAND DOCS.
        assert b"key value" in out, out
        os.write(fd, b"hk hv\r")
        read_for(1.0)
        assert b"OK" in out
        os.write(fd, b"GET hk\r")
        read_for(1.0)
        assert b'"hv"' in out
        os.write(fd, b"quit\r")
        read_for(0.5)
    finally:
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)
        os.close(fd)


def test_redis_benchmark_runs_unchanged(amber_server):
    p = subprocess.run(
        ["redis-benchmark", "-p", str(amber_server.port), "-n", "2000", "-c", "10", "-P", "4",
         "-t", "ping,set,get,incr,lpush,rpush,lpop,rpop,sadd,hset,spop,zadd,zpopmin,lrange,mset", "--csv"],
        capture_output=True, text=True, timeout=120,
    )
    assert p.returncode == 0, p.stderr
    assert "WARNING" not in p.stderr + p.stdout
    rows = list(csv.reader(io.StringIO(p.stdout)))
    names = [r[0] for r in rows[1:]]
    for t in ["SET", "GET", "INCR", "LPUSH", "SADD", "HSET", "ZADD", "MSET (10 keys)"]:
        assert t in names, (t, names)
    for r in rows[1:]:
        assert float(r[1]) > 0, r
