"""MONITOR against Redis 7.0.15: the same lines for the same commands (timestamps and client
ports aside), commands shown after they ran, admin commands hidden, passwords redacted."""

import pathlib
import re
import sys


sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
from tests.diff.resp import Conn, ServerGone  # noqa: E402

WORK = [
    ["SET", "k", "v"], ["GET", "k"], ["SET", "q", 'a "quoted"\r\n\x00\xff\\ value'],
    ["SELECT", "2"], ["SET", "x", "1"], ["MULTI"], ["INCR", "x"], ["GET", "x"], ["EXEC"],
    ["CONFIG", "GET", "hz"], ["AUTH", "secret"], ["HELLO", "2", "AUTH", "u", "p"], ["NOSUCH", "1"],
    ["SET", "only-arity"], ["CLIENT", "SETNAME", "w"], ["DEBUG", "SLEEP", "0"],
    ["EVAL", "redis.call('SET', KEYS[1], 'lua') return redis.call('GET', KEYS[1])", "1", "s"],
    ["EVALSHA", "0" * 40, "0"], ["EVAL", "return 1", "x"],
    ["FUNCTION", "LOAD", "REPLACE",
     "#!lua name=mon\nredis.register_function('touch', function(k) return redis.call('INCR', k[1]) end)"],
    ["FCALL", "touch", "1", "n"], ["FCALL", "missing", "0"],
    ["MONITOR"],
    ["RPUSH", "l", "1", "2"], ["SORT", "l", "DESC"], ["TYPE", "l"],
]


def lines_seen(port):
    mon = Conn(port)
    mon.send([b"MONITOR"])
    assert mon.read().raw == b"+OK\r\n"
    work = Conn(port)
    for cmd in WORK:
        work.send([c.encode("latin-1") if isinstance(c, str) else c for c in cmd])
        work.read()
    work.send([b"PING", b"end"])
    work.read()
    seen = []
    while True:
        f = mon.read()
        line = f.raw.decode("latin-1")
        assert line.startswith("+") and line.endswith("\r\n"), line
        seen.append(line)
        if '"end"' in line:
            break
    # A second MONITOR gets no reply at all.
    mon.send([b"MONITOR"])
    mon.send([b"PING"])
    nxt = mon.read().raw
    mon.close()
    work.close()
    return seen, nxt


def test_monitor_lines_as_redis(amber_and_redis):
    got = {}
    for s in amber_and_redis:
        seen, nxt = lines_seen(s.port)
        assert nxt == b"+PONG\r\n"
        shape = re.compile(r"^\+\d{10}\.\d{6} \[(\d+) (127\.0\.0\.1:\d+|lua)\] (.*)\r\n$")
        out = []
        for line in seen:
            m = shape.match(line)
            assert m, line
            who = "lua" if m.group(2) == "lua" else "tcp"
            out.append((m.group(1), who, m.group(3)))
        got[s.kind] = out
    assert got["amber"] == got["redis"]
    shown = [cmd for _, _, cmd in got["amber"]]
    # A script's commands show as "lua", before the EVAL that ran them.
    assert ("2", "lua", '"SET" "s" "lua"') in got["amber"]
    # EVAL and FCALL show when they start (even those that fail), their commands after them.
    assert shown.index('"GET" "s"') > next(i for i, c in enumerate(shown) if c.startswith('"EVAL"'))
    assert shown.index('"INCR" "n"') > shown.index('"FCALL" "touch" "1" "n"')
    assert '"FCALL" "missing" "0"' in shown
    assert '"AUTH" "(redacted)"' in shown
    assert not any(w in c.lower() for c in shown for w in ('"config"', '"debug"', "nosuch", '"monitor"'))
    assert shown.index('"INCR" "x"') < shown.index('"EXEC"')
