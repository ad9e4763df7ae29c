"""The AOF logs what Redis 7.0.15 logs, argument for argument: the same commands sent to both
servers with appendonly on, then the incr files compared (absolute times masked)."""

import re
import time

from conftest import raw_command


def parse_resp_commands(data):
    out, i = [], 0
    while i < len(data):
        assert data[i:i + 1] == b"*", data[i:i + 40]
        j = data.index(b"\r\n", i)
        n = int(data[i + 1:j])
        i = j + 2
        args = []
        for _ in range(n):
            j = data.index(b"\r\n", i)
            ln = int(data[i + 1:j])
            args.append(data[j + 2:j + 2 + ln])
            i = j + 2 + ln + 2
        out.append(args)
    return out


def incr_commands(d):
    files = sorted((d / "appendonlydir").glob("*.incr.aof"))
    assert files, list((d / "appendonlydir").iterdir())
    cmds = parse_resp_commands(files[-1].read_bytes())
    # Absolute unix-ms times differ between the servers by the time between the two runs.
    return [[b"<ms>" if re.fullmatch(rb"1[0-9]{12}", a) else a for a in c] for c in cmds]


COMMANDS = [
    ("set", "a", "1", "ex", "100"),
    ("set", "b", "1", "pxat", "99999999999999"),
    ("SET", "c", "1", "PxAt", "99999999999999", "get"),
    ("set", "d", "1", "exat", "99999999999", "GET"),
    ("set", "e", "1", "px", "100000", "nx"),
    ("set", "e", "2", "xx", "get"),
    ("setex", "f", "100", "v"),
    ("psetex", "g", "100000", "v"),
    ("getex", "a", "px", "5000"),
    ("getex", "a", "persist"),
    ("expire", "f", "100", "gt"),
    ("pexpireat", "g", "99999999999999", "nx"),
]


def test_rewritten_arguments_are_spelled_as_redis_spells_them(amber_and_redis):
    logged = []
    for s in amber_and_redis:
        c = s.client()
        assert c.config_set("appendonly", "yes")
        deadline = time.time() + 20
        while c.info("persistence")["aof_rewrite_in_progress"] or \
                c.info("persistence").get("aof_rewrite_scheduled"):
            assert time.time() < deadline
            time.sleep(0.05)
        for cmd in COMMANDS:
            raw_command(c, *cmd)
        raw_command(c, "DEBUG", "SLEEP", "0")
        assert c.config_set("appendfsync", "always")
        c.set("flush-marker", "1")
        logged.append(incr_commands(s.dir))
    amber, red = logged
    assert amber == red
    assert [b"SET", b"b", b"1", b"PXAT", b"99999999999999"] in amber
