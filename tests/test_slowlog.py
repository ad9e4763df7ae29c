"""SLOWLOG GET/LEN/RESET/HELP against Redis 7.0.15: what an entry keeps of a command (32
arguments, 128 bytes each, passwords redacted), the client fields, the limits set by
slowlog-log-slower-than and slowlog-max-len; and ROLE."""

import pathlib
import sys


sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
from tests.diff.resp import Conn  # noqa: E402


def run_all(port, cmds):
    """Runs `cmds` on one raw connection (a failed AUTH must not make a client reconnect);
    returns the replies as they were on the wire."""
    c = Conn(port)
    out = []
    for cmd in cmds:
        c.send([str(a).encode() for a in cmd])
        out.append(c.read().raw)
    c.close()
    return out


def test_entries_as_redis_keeps_them(amber_and_redis):
    cmds = [
        ["CONFIG", "SET", "slowlog-log-slower-than", "0"],
        ["SLOWLOG", "RESET"],
        ["CLIENT", "SETNAME", "slowpoke"],
        ["SET", "k", "v"],
        ["GET", "k"],
        ["SET", "long", "x" * 300],
        ["RPUSH", "list"] + [str(i) for i in range(40)],
        ["RPUSH", "list2"] + [str(i) for i in range(30)],
        ["AUTH", "secret"],
        ["AUTH", "someone", "secret"],
        ["HELLO", "2", "AUTH", "someone", "secret"],
        ["CONFIG", "SET", "masteruser", "admin", "hz", "10"],
        ["SLOWLOG", "GET", "x"],
        ["SLOWLOG", "GET", "-2"],
        ["NOSUCHCOMMAND", "a"],
        ["MULTI"], ["SET", "t", "1"], ["INCR", "t"], ["EXEC"],
        ["SLOWLOG", "LEN"],
    ]
    logs, replies = [], []
    for s in amber_and_redis:
        replies.append(run_all(s.port, cmds))
        c = s.client()
        c.config_set("slowlog-log-slower-than", "-1")
        entries = c.execute_command("SLOWLOG", "GET", "-1")
        assert c.execute_command("SLOWLOG", "LEN") == len(entries)
        ids = [e[0] for e in entries]
        assert ids == sorted(ids, reverse=True) and len(set(ids)) == len(ids)
        for e in entries:
            assert e[2] >= 0 and e[1] > 1_700_000_000
            assert e[4].startswith(b"127.0.0.1:")
        logs.append([(e[3], e[5]) for e in entries])
        c.close()
    assert replies[0] == replies[1]
    assert logs[0] == logs[1]
    args = [a for a, _ in logs[0]]
    assert [b"AUTH", b"(redacted)"] in args and [b"AUTH", b"(redacted)", b"(redacted)"] in args
    assert [b"RPUSH", b"list"] + [str(i).encode() for i in range(29)] + [b"... (11 more arguments)"] in args
    assert [b"SET", b"long", b"x" * 128 + b"... (172 more bytes)"] in args
    assert [b"EXEC"] not in args and [b"INCR", b"t"] in args


def test_limits_and_help(amber_and_redis):
    for s in amber_and_redis:
        c = s.client()
        c.config_set("slowlog-log-slower-than", "0")
        c.config_set("slowlog-max-len", "3")
        for i in range(10):
            c.set(f"k{i}", i)
        entries = c.execute_command("SLOWLOG", "GET")
        assert len(entries) == 3 and entries[0][3] == [b"SET", b"k9", b"9"]
        c.config_set("slowlog-log-slower-than", "-1")
        c.execute_command("SLOWLOG", "RESET")
        c.set("x", 1)
        assert c.execute_command("SLOWLOG", "LEN") == 0
        c.config_set("slowlog-log-slower-than", "100000000")
        c.set("x", 1)
        assert c.execute_command("SLOWLOG", "LEN") == 0
        c.close()
    a, r = (s.client() for s in amber_and_redis)
    assert a.execute_command("SLOWLOG", "HELP") == r.execute_command("SLOWLOG", "HELP")
    assert a.execute_command("ROLE") == r.execute_command("ROLE") == [b"master", 0, []]
