"""Differences the differential harness (tests/diff) found between Amber and Redis 7.0.15, each
replayed on a private Amber and a private Redis: the raw replies must be equal, and equal to what
Redis's source says."""

import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
from tests.diff.resp import Conn  # noqa: E402


def conns(servers, proto=2):
    out = []
    for s in servers:
        c = Conn(s.port, 10.0, "server")
        if proto == 3:
            assert not c.call("HELLO", "3").is_error()
        out.append(c)
    return out


def both(cs, *args):
    replies = [c.call(*args).raw for c in cs]
    assert replies[0] == replies[1], (args, replies)
    return replies[1]


def wait_blocked(c, n=1):
    deadline = time.time() + 5
    while time.time() < deadline:
        info = c.call("INFO", "clients").val
        if f"blocked_clients:{n}".encode() in info:
            return
        time.sleep(0.005)
    raise AssertionError("the reader did not block")


def blocked_read(servers, block_args, then, proto=2):
    """Runs `block_args` on a second connection of each server, then `then` (a list of
    commands) on the first, and returns the blocked client's replies."""
    out = []
    for s in servers:
        main, reader = conns([s, s], proto)
        reader.send(list(block_args))
        wait_blocked(main)
        for cmd in then:
            main.call(*cmd)
        out.append(reader.read().raw)
        main.close()
        reader.close()
    assert out[0] == out[1], out
    return out[1]


def test_woken_xread_answers_the_key_that_woke_it(amber_and_redis):
    """blocked.c serveClientsBlockedOnStreamKey replies with a one-element map/array: the key
    that became ready, even when the client waits on it twice or on another key that got
    entries in the same transaction."""
    for c in conns(amber_and_redis):
        c.call("DEL", "a", "b")
    got = blocked_read(amber_and_redis, ["XREAD", "BLOCK", "5000", "STREAMS", "a", "a", "$", "$"],
                       [["XADD", "a", "1-1", "f", "v"]])
    assert got == b"*1\r\n*2\r\n$1\r\na\r\n*1\r\n*2\r\n$3\r\n1-1\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n"
    got = blocked_read(amber_and_redis, ["XREAD", "BLOCK", "5000", "STREAMS", "b", "a", "$", "$"],
                       [["MULTI"], ["XADD", "a", "2-1", "f", "v"], ["XADD", "b", "2-2", "g", "w"], ["EXEC"]],
                       proto=3)
    assert got == b"%1\r\n$1\r\na\r\n*1\r\n*2\r\n$3\r\n2-1\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n"


def test_woken_xreadgroup_is_judged_on_the_key_that_woke_it(amber_and_redis):
    """A group destroyed on one key and an XADD on the other: the XADD's key serves it."""
    cs = conns(amber_and_redis)
    for c in cs:
        c.call("DEL", "a", "b")
        c.call("XGROUP", "CREATE", "a", "g", "$", "MKSTREAM")
        c.call("XGROUP", "CREATE", "b", "g", "$", "MKSTREAM")
    got = blocked_read(amber_and_redis, ["XREADGROUP", "GROUP", "g", "c", "BLOCK", "5000", "STREAMS", "a", "b", ">", ">"],
                       [["MULTI"], ["XADD", "b", "5-1", "f", "v"], ["DEL", "a"], ["EXEC"]])
    assert got.startswith(b"*1\r\n*2\r\n$1\r\nb\r\n"), got


def test_nogroup_error_shows_a_binary_key_as_c_string(amber_and_redis):
    """t_stream.c formats the key with %s: it stops at the first NUL byte."""
    cs = conns(amber_and_redis)
    got = both(cs, "XREADGROUP", "GROUP", "g", "c", "STREAMS", b"\x00\xff\r\nbin", ">")
    assert got == b"-NOGROUP No such key '' or consumer group 'g' in XREADGROUP with GROUP option\r\n"
    got = both(cs, "XGROUP", "CREATECONSUMER", b"k\x00ey", b"gr\x00p", "c")
    assert got.startswith(b"-"), got


def test_hll_dump_is_not_compressed_when_liblzf_would_refuse(amber_and_redis):
    """rdbSaveLzfStringObject asks liblzf for at most len-4 bytes, and liblzf wants room to spare
    below that: a small sparse HLL is stored as it is."""
    cs = conns(amber_and_redis)
    for c in cs:
        c.call("DEL", "p")
        c.call("PFADD", "p", "a", "b", "c")
    got = both(cs, "DUMP", "p")
    assert got.startswith(b"$39\r\n\x00\x1bHYLL"), got


def test_command_info_without_subcommands_is_an_empty_set(amber_and_redis):
    """addReplyCommandSubCommands: a command without subcommands gets `~0` in RESP3."""
    cs = conns(amber_and_redis, proto=3)
    got = both(cs, "COMMAND", "INFO", "get")
    assert got.endswith(b"~0\r\n"), got
    info = [c.call("COMMAND", "INFO", "object") for c in cs]
    subs = [sorted(x.raw for x in f.items()[0].items()[9].items()) for f in info]
    assert subs[0] == subs[1]
    assert all(s.endswith(b"~0\r\n") for s in subs[1])


def test_xadd_partial_id_after_the_last_sequence(amber_and_redis):
    """streamAppendItem fails without errno when `ms-*` would pass the last sequence of `ms`;
    on a fresh connection XADD then says "Elements are too large to be stored"."""
    cs = conns(amber_and_redis)
    for c in cs:
        c.call("DEL", "x")
    both(cs, "XADD", "x", "5-18446744073709551615", "f", "v")
    assert both(cs, "XADD", "x", "5-*", "f", "v") == b"-ERR Elements are too large to be stored\r\n"
    assert both(cs, "XADD", "x", "6-*", "f", "v") == b"$3\r\n6-0\r\n"


def test_function_flush_with_too_many_arguments(amber_and_redis):
    """functionFlushCommand: argc > 3 is addReplySubcommandSyntaxError, before the mode check."""
    cs = conns(amber_and_redis)
    assert both(cs, "FUNCTION", "flush", "x", "-1") == \
        b"-ERR unknown subcommand or wrong number of arguments for 'flush'. Try FUNCTION HELP.\r\n"
    assert both(cs, "FUNCTION", "FLUSH", "x") == b"-ERR FUNCTION FLUSH only supports SYNC|ASYNC option\r\n"


def test_failed_config_set_restores_what_config_get_shows(amber_and_redis):
    """configSetCommand's restoreBackupConfig sets a failed CONFIG SET's configs back from the
    text CONFIG GET shows: "KEAn" reads back as "AKE", so the failure drops the `new` class
    (seen as a `new` event Amber sent and Redis did not: `python3 -m tests.diff --seed 30`)."""
    cs = conns(amber_and_redis)
    subs = conns(amber_and_redis)
    for sub in subs:
        sub.send([b"PSUBSCRIBE", b"__keyevent@0__:*"])
        assert sub.read().raw.startswith(b"*3\r\n$10\r\npsubscribe")
    assert both(cs, "CONFIG", "SET", "notify-keyspace-events", "KEAn") == b"+OK\r\n"
    both(cs, "SET", "before", "1")
    assert both(cs, "CONFIG", "SET", "notify-keyspace-events", "bad!").startswith(
        b"-ERR CONFIG SET failed (possibly related to argument 'notify-keyspace-events')")
    both(cs, "SET", "after", "1")
    assert both(cs, "CONFIG", "GET", "notify-keyspace-events") == \
        b"*2\r\n$22\r\nnotify-keyspace-events\r\n$3\r\nAKE\r\n"
    seen = []
    for sub in subs:
        events = [sub.read().raw for _ in range(3)]
        assert b"__keyevent@0__:set" in events[2] and b"after" in events[2], events
        seen.append(events)
    # `before` was new with the n class; `after` was not.
    assert seen[0] == seen[1]
    assert b"__keyevent@0__:new" in seen[0][0] and b"__keyevent@0__:set" in seen[0][1]
    # An odd number of arguments is a syntax error, not an arity error.
    assert both(cs, "CONFIG", "SET", "maxmemory", "0", "hz") == b"-ERR syntax error\r\n"


def test_script_errors_in_errorstats_and_failed_calls(amber_and_redis):
    """A script's error replies count as Redis counts them (found by redis-py's own
    test_info_with_non_utf8_errorstat): error_reply and nested error tables in the error stats,
    an error a called command raised not twice; EVAL fails in each case."""
    cs = conns(amber_and_redis)
    both(cs, "SET", "s", "x")
    both(cs, "CONFIG", "RESETSTAT")
    for script in ["return redis.call('INCR','s')", "return redis.pcall('INCR','s')",
                   "return redis.error_reply('MY oops')", "return {1, redis.error_reply('NEST x')}",
                   "error('raw')"]:
        both(cs, "EVAL", script, "0")
    stats = both(cs, "INFO", "errorstats")
    assert b"errorstat_ERR:count=3\r\n" in stats and b"errorstat_MY:count=1" in stats
    assert b"errorstat_NEST:count=1" in stats
    calls = []
    for c in cs:
        lines = c.call("INFO", "commandstats").val.split(b"\r\n")
        # INFO commandstats lists commands in dict order in Redis: compare as sets.
        calls.append({(ln.split(b",")[0], ln.split(b",")[-1]) for ln in lines
                      if ln.startswith((b"cmdstat_eval:", b"cmdstat_incr:"))})
    assert calls[0] == calls[1]
    assert (b"cmdstat_eval:calls=5", b"failed_calls=5") in calls[0]


def test_script_error_codes_that_are_not_utf8(amber_and_redis):
    """A script's error reply keeps its bytes: the reply and INFO errorstats carry the code as the
    script gave it, as Redis does (redis-py's test_info_with_non_utf8_errorstat)."""
    cs = conns(amber_and_redis)
    both(cs, "CONFIG", "RESETSTAT")
    for script in [b"return redis.error_reply('\xff\xfeBAD oops')",
                   b"return {1, redis.error_reply('\xfe\xfeX y')}"]:
        reply = both(cs, "EVAL", script, "0")
        assert b"\xfe\xfe" in reply or b"\xff\xfe" in reply
    stats = both(cs, "INFO", "errorstats")
    assert b"errorstat_\xff\xfeBAD:count=1\r\n" in stats
    assert b"errorstat_\xfe\xfeX:count=1\r\n" in stats
    # Every section still renders around the raw bytes.
    assert b"# Keyspace" in cs[0].call("INFO", "all").val
