"""COMMAND DOCS against Redis 7.0.15: the reply (summary, since, group, complexity, doc flags,
history and the argument trees with names, types, tokens, flags, key_spec_index and nesting),
in RESP2 and RESP3, and what redis-cli 7.0 builds from it: interactive hints and HELP.

Amber emits every field Redis 7.0 emits for the commands its table covers, so replies are
compared whole; only container commands differ by design in which subcommands they list
(Amber lists those it implements) and in their order (Redis's is its dict's order)."""

import fcntl
import os
import pty
import re
import select
import socket
import struct
import subprocess
import termios
import time

import pytest

# Redis groups the documentation table covers completely.
COVERED_GROUPS = {"string", "bitmap", "generic", "list", "hash", "set", "sorted-set", "transactions", "pubsub",
                  "connection", "server"}

# Commands Amber has today that must be among those compared, so that the comparison is never
# vacuous.
MUST_COMPARE = {"get", "set", "del", "exists", "select", "ping", "echo", "hello", "auth", "client",
                "client|kill", "client|list", "config", "config|set", "config|get", "command",
                "command|docs", "command|list", "info", "time", "shutdown", "debug", "multi", "exec",
                "watch", "zadd", "zrange", "zrangestore", "zunionstore", "bzpopmin", "zscan"}


class Conn:
    """A raw RESP connection whose replies keep their wire types (map, set, simple string)."""

    def __init__(self, port, proto):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""
        if proto == 3:
            assert self.cmd("HELLO", "3")[0] == "map"

    def close(self):
        self.sock.close()

    def _fill(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(1 << 16)
            assert chunk, "connection closed"
            self.buf += chunk

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill(len(self.buf) + 1)
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def read(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t == b"+":
            return ("simple", rest)
        if t == b"-":
            return ("error", rest)
        if t == b":":
            return ("int", int(rest))
        if t == b"$":
            n = int(rest)
            if n < 0:
                return ("null",)
            self._fill(n + 2)
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return ("bulk", data)
        if t in (b"*", b"~"):
            n = int(rest)
            kind = "array" if t == b"*" else "set"
            return (kind, [self.read() for _ in range(n)])
        if t == b"%":
            return ("map", [(self.read(), self.read()) for _ in range(int(rest))])
        if t == b"_":
            return ("null",)
        raise AssertionError(f"unexpected reply {line!r}")

    def cmd(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a.encode() if isinstance(a, str) else a
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.sock.sendall(out)
        return self.read()


def pairs(reply):
    """The key/value pairs of a map reply: a RESP3 map or a RESP2 flat array."""
    kind, items = reply
    if kind == "map":
        return [(k[1].decode(), v) for k, v in items]
    assert kind == "array" and len(items) % 2 == 0, reply
    return [(items[i][1].decode(), items[i + 1]) for i in range(0, len(items), 2)]


def without_subcommands(doc):
    kind, _ = doc
    kept = [(k, v) for k, v in pairs(doc) if k != "subcommands"]
    return kind, kept


def subcommands(doc):
    for k, v in pairs(doc):
        if k == "subcommands":
            return dict(pairs(v))
    return {}


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def conns(request, amber_server, redis_server):
    a = Conn(amber_server.port, request.param)
    b = Conn(redis_server.port, request.param)
    yield a, b
    a.close()
    b.close()


def redis_groups(conn):
    return {name: dict(pairs(doc))["group"][1].decode() for name, doc in pairs(conn.cmd("COMMAND", "DOCS"))}


def compared_names(amber, redis):
    """Amber's commands and subcommands whose Redis group the table covers."""
    groups = redis_groups(redis)
    names = [n[1].decode() for n in amber.cmd("COMMAND", "LIST")[1]]
    return [n for n in names if groups.get(n.split("|")[0]) in COVERED_GROUPS]


def test_docs_equal_redis_per_command(conns):
    amber, redis = conns
    names = compared_names(amber, redis)
    missing = MUST_COMPARE - set(names)
    assert not missing, missing
    for name in names:
        ra = pairs(amber.cmd("COMMAND", "DOCS", name))
        rr = pairs(redis.cmd("COMMAND", "DOCS", name))
        assert [k for k, _ in ra] == [name] and [k for k, _ in rr] == [name], (ra, rr)
        da, dr = ra[0][1], rr[0][1]
        # Everything but the subcommand list is equal, field order and wire types included.
        assert without_subcommands(da) == without_subcommands(dr), name
        sa, sr = subcommands(da), subcommands(dr)
        assert set(sa) <= set(sr), (name, set(sa) - set(sr))
        for sub, doc in sa.items():
            assert doc == sr[sub], sub


def test_arguments_of_well_known_commands(conns):
    """The argument trees that redis-cli hints are built from, spelled out for a few commands."""
    amber, redis = conns
    for name in ["set", "zadd", "zrange", "client|kill", "hello", "config|set", "zunionstore"]:
        da = dict(pairs(pairs(amber.cmd("COMMAND", "DOCS", name))[0][1]))
        dr = dict(pairs(pairs(redis.cmd("COMMAND", "DOCS", name))[0][1]))
        assert da["arguments"][0] == "array"
        assert da["arguments"] == dr["arguments"], name
    set_args = pairs(pairs(amber.cmd("COMMAND", "DOCS", "set"))[0][1])[-1][1][1]
    expiration = dict(pairs(set_args[4]))
    assert expiration["type"] == ("bulk", b"oneof")
    flag_kind, flags = expiration["flags"]
    assert flag_kind == ("set" if amber.cmd("HELLO")[0] == "map" else "array")
    assert flags == [("simple", b"optional")]
    tokens = [dict(pairs(a))["token"][1] for a in expiration["arguments"][1]]
    assert tokens == [b"EX", b"PX", b"EXAT", b"PXAT", b"KEEPTTL"]


def test_docs_without_names_lists_every_command(conns):
    amber, redis = conns
    full = pairs(amber.cmd("COMMAND", "DOCS"))
    top = sorted(n[1].decode() for n in amber.cmd("COMMAND", "LIST")[1] if b"|" not in n[1])
    assert sorted(k for k, _ in full) == top
    groups = redis_groups(redis)
    for name, doc in full:
        assert doc == pairs(amber.cmd("COMMAND", "DOCS", name))[0][1], name
        if groups.get(name) in COVERED_GROUPS:
            assert without_subcommands(doc) == without_subcommands(
                pairs(redis.cmd("COMMAND", "DOCS", name))[0][1]), name


def test_unknown_names_are_left_out(conns):
    amber, redis = conns
    for args in [("nosuch",), ("nosuch", "get", "client|nosuch", "config|get", "GET", "Client|Kill"),
                 ("get|x", "set")]:
        a, b = amber.cmd("COMMAND", "DOCS", *args), redis.cmd("COMMAND", "DOCS", *args)
        assert [k for k, _ in pairs(a)] == [k for k, _ in pairs(b)], args
        assert a == b, args


def cli_session(port, typed):
    """What redis-cli draws in an 80x24 terminal while `typed` is keyed in."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp("redis-cli", ["redis-cli", "-p", str(port)])
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
        assert f"127.0.0.1:{port}>".encode() in out, out
        start = len(out)
        os.write(fd, typed.encode())
        read_for(1.0)
        return out[start:].replace(f"127.0.0.1:{port}>".encode(), b"PROMPT>")
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        os.close(fd)


HINT = re.compile(rb"\x1b\[0;90;49m(.*?)\x1b\[0m")


@pytest.mark.parametrize("typed", ["SET ", "ZADD ", "CLIENT KILL ", "LPOS ", "HELLO ", "ZRANGE ",
                                   "CONFIG SET ", "ZUNIONSTORE "])
def test_redis_cli_hints_equal_redis(amber_server, redis_server, typed):
    name = "|".join(typed.lower().split())
    def documented(port):
        c = Conn(port, 2)
        try:
            return c.cmd("COMMAND", "DOCS", name) != ("array", [])
        finally:
            c.close()

    assert documented(redis_server.port), name
    present = documented(amber_server.port)
    if not present:
        # Not implemented by Amber yet (LPOS comes with the list family): no hint, as for any
        # command the server does not have. The comparison below runs once it is there.
        assert name == "lpos"
        assert not any(HINT.findall(cli_session(amber_server.port, typed)))
        return
    got = cli_session(amber_server.port, typed)
    want = cli_session(redis_server.port, typed)
    hint = HINT.findall(want)[-1]
    assert hint, want
    assert HINT.findall(got)[-1] == hint
    # The whole redraw sequence, key by key, is the same.
    assert got == want


def test_redis_cli_hint_for_set_spells_the_syntax(amber_server):
    got = HINT.findall(cli_session(amber_server.port, "SET "))[-1]
    # Cut at the 80-column window: the prompt, "SET " and the hint share one line.
    assert got.startswith(b"key value [NX|XX] [GET] [EX seconds|PX milliseconds|")


@pytest.mark.parametrize("words", [["help", "set"], ["help", "zadd"], ["help", "client", "kill"],
                                   ["help", "@connection"], ["help", "config", "set"]])
def test_redis_cli_help_equals_redis(amber_server, redis_server, words):
    def run(port):
        p = subprocess.run(["redis-cli", "-p", str(port), *words], capture_output=True, timeout=30)
        assert p.returncode == 0, p.stderr
        return p.stdout

    got, want = run(amber_server.port), run(redis_server.port)
    if words[1].startswith("@"):
        # A group lists the commands the server has: compare Amber's entries with Redis's.
        def entries(out):
            blocks = out.replace(b"\r\n", b"\n").split(b"\n\n")
            return {b.strip().split(b"\n")[0]: b for b in blocks if b.strip()}

        ga, gr = entries(got), entries(want)
        assert ga and set(ga) <= set(gr), set(ga) - set(gr)
        for k, v in ga.items():
            assert v == gr[k], k
    else:
        assert b"summary:" in want
        assert got == want
