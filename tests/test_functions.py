"""Redis 7.0 functions against Redis 7.0.15: FUNCTION LOAD / LIST / DELETE / FLUSH / DUMP /
RESTORE / STATS, FCALL and FCALL_RO give the same replies and error texts on a private Amber
and a private Redis (RESP2 and RESP3), over fixed cases and seeded random streams; libraries
persist in dump.rdb (read both ways with redis-server) and in the AOF."""

import random
import time

import pytest
import redis

from conftest import ServerProc, raw_command
from test_scripting import agree, clients, outcome, pair, plain  # noqa: F401 (fixtures)


def lib(name, *funcs):
    """A library: each function is (fname, body, flags)."""
    lines = [f"#!lua name={name}"]
    for fname, body, flags in funcs:
        if flags is None:
            lines.append(f"redis.register_function('{fname}', function(keys, args) {body} end)")
        else:
            fl = ", ".join(f"'{f}'" for f in flags)
            lines.append(f"redis.register_function{{function_name='{fname}', "
                         f"callback=function(keys, args) {body} end, flags={{{fl}}}, "
                         f"description='{fname} does things'}}")
    return "\n".join(lines)


def canon(v):
    """A reply with every map, set and array in a fixed order (Redis's are hash order)."""
    if isinstance(v, tuple) and len(v) == 2 and v[0] in ("map", "set"):
        return (v[0], sorted((canon(x) for x in v[1]), key=repr))
    if isinstance(v, list):
        return sorted((canon(x) for x in v), key=repr)
    if isinstance(v, tuple):
        return tuple(canon(x) for x in v)
    return v


def listing(c, *args):
    """FUNCTION LIST in a canonical order; RESP2 maps (flat arrays) become pairs first."""
    r = outcome(c, "FUNCTION", "LIST", *args)
    if r[0] != "ok":
        return r

    def pairs(v):
        if isinstance(v, list) and len(v) % 2 == 0 and all(isinstance(k, bytes) for k in v[::2]) \
                and v[:1] == [b"library_name"] or (isinstance(v, list) and v[:1] == [b"name"]):
            return ("map", [(k, pairs(x)) for k, x in zip(v[::2], v[1::2])])
        if isinstance(v, list):
            return [pairs(x) for x in v]
        return v
    return ("ok", canon(pairs(r[1])))


def test_load_call_list_delete(clients):
    counter = lib("counter",
                  ("incr_by", "return redis.call('incrby', keys[1], args[1])", None),
                  ("get_count", "return redis.call('get', keys[1])", ["no-writes"]),
                  ("noisy", "return redis.call('set', keys[1], 'x')", ["allow-oom", "allow-stale"]))
    agree(clients, "FUNCTION", "LOAD", counter)
    agree(clients, "FUNCTION", "LOAD", counter)
    agree(clients, "FUNCTION", "LOAD", "REPLACE", counter)
    agree(clients, "FUNCTION", "LOAD", "BOGUS", counter)
    agree(clients, "FUNCTION", "LOAD")
    agree(clients, "FUNCTION", "LOAD", "REPLACE")
    for cmd in (("FCALL", "incr_by", 1, "c", 5), ("FCALL", "incr_by", 1, "c", "x"),
                ("FCALL", "get_count", 1, "c"), ("FCALL_RO", "get_count", 1, "c"),
                ("FCALL_RO", "incr_by", 1, "c", 1), ("FCALL", "noisy", 1, "n"),
                ("FCALL", "nosuch", 0), ("FCALL", "incr_by", "x"), ("FCALL", "incr_by", 3, "a"),
                ("FCALL", "incr_by", -1), ("FCALL",), ("FUNCTION", "STATS")):
        agree(clients, *cmd)
    lists = [[listing(c, *a) for a in ((), ("WITHCODE",), ("LIBRARYNAME", "count*"),
                                        ("LIBRARYNAME", "nomatch"), ("LIBRARYNAME",),
                                        ("BOGUS",))] for c in clients]
    assert lists[0] == lists[1]
    # A second library may not take a function name that exists.
    agree(clients, "FUNCTION", "LOAD", lib("other", ("incr_by", "return 1", None)))
    agree(clients, "FUNCTION", "LOAD", lib("other", ("other_f", "return 1", None)))
    agree(clients, "FUNCTION", "DELETE", "nosuch")
    agree(clients, "FUNCTION", "DELETE", "counter")
    agree(clients, "FCALL", "incr_by", 1, "c", 5)
    agree(clients, "FCALL", "other_f", 0)
    agree(clients, "FUNCTION", "FLUSH", "BOGUS")
    agree(clients, "FUNCTION", "FLUSH", "SYNC")
    agree(clients, "FUNCTION", "STATS")
    agree(clients, "FUNCTION", "HELP")
    agree(clients, "FUNCTION", "KILL")
    # SCRIPT FLUSH does not touch the libraries.
    agree(clients, "FUNCTION", "LOAD", lib("keep", ("kept", "return 'still'", None)))
    agree(clients, "SCRIPT", "FLUSH")
    agree(clients, "FCALL", "kept", 0)


LOAD_ERRORS = [
    "return 1", "#!lua", "#!lua\nreturn 1", "#!lua name=x foo=bar\nreturn 1",
    "#!lua name=x name=y\nreturn 1", "#!js name=x\nreturn 1", "#!lua name=bad-name\nreturn 1",
    "#!lua name=x\nreturn 1", "#!lua name=x\nthis is not lua",
    "#!lua name=x\nredis.register_function('bad name', function() end)",
    "#!lua name=x\nredis.register_function('g', 1)",
    "#!lua name=x\nredis.register_function(1, function() end, 3)",
    "#!lua name=x\nredis.register_function()",
    "#!lua name=x\nredis.register_function{function_name='g', callback=function() end, flags={'bogus'}}",
    "#!lua name=x\nredis.register_function{function_name='g', callback=function() end, flags='no-writes'}",
    "#!lua name=x\nredis.register_function{function_name='g'}",
    "#!lua name=x\nredis.register_function{callback=function() end}",
    "#!lua name=x\nredis.register_function{function_name='g', callback=function() end, bogus=1}",
    "#!lua name=x\nredis.register_function{function_name='g', callback=1}",
    "#!lua name=x\nredis.register_function{function_name='g', callback=function() end, description=1}",
    "#!lua name=x\nredis.register_function('g', function() end) redis.register_function('g', function() end)",
    "#!lua name=x\nredis.call('ping')", "#!lua name=x\nerror('oops')", "#!lua name=x\nlocal s = string.len('a')",
    "#!lua name=x\nredis.foo = 1", "#!lua name=x\nfoo = 1",
    "#!lua name=x\nredis.log(redis.LOG_NOTICE, 'loading') redis.register_function('v', function() return redis.REDIS_VERSION end)",
    "#!lua name=x\nredis.register_function{function_name='G_1', callback=function() return 1 end, flags={'NO-WRITES', 'no-cluster', 'allow-cross-slot-keys'}}",
]


def test_load_errors(clients):
    for code in LOAD_ERRORS:
        agree(clients, "FUNCTION", "LOAD", code)
    lists = [listing(c, "WITHCODE") for c in clients]
    assert lists[0] == lists[1]


CALL_CASES = [
    ("t_err", "error('inside')"), ("t_errtab", "return redis.error_reply('MY code')"),
    ("t_nested", "return {1, {2, {3}}, 'x', 3.9, true, false}"), ("t_keys", "return {keys[1], args[1], #keys, #args}"),
    ("t_global", "x = 1"), ("t_call_err", "return redis.call('nosuch')"),
    ("t_reg", "return redis.register_function('z', function() end)"),
    ("t_wrongtype", "redis.call('lpush', keys[1], 'a') return redis.call('get', keys[1])"),
    ("t_resp3", "redis.setresp(3) return redis.call('hgetall', keys[1])"),
    ("t_map", "return {map = {a = 1}}"), ("t_lib", "return cjson.encode({a = {1, 2}})"),
]


def test_call_errors_and_conversions(clients):
    agree(clients, "FUNCTION", "LOAD", lib("calls", *((n, b, None) for n, b in CALL_CASES)))
    for name, _ in CALL_CASES:
        agree(clients, "FCALL", name, 1, "key1", "arg1")


def test_dump_restore(clients):
    agree(clients, "FUNCTION", "LOAD", lib("one", ("f_one", "return 1", ["no-writes"])))
    agree(clients, "FUNCTION", "LOAD", lib("two", ("f_two", "return 2", None)))
    dumps = [raw_command(c, "FUNCTION", "DUMP") for c in clients]
    # Each server restores the other's payload.
    for c, payload in zip(clients, reversed(dumps)):
        assert outcome(c, "FUNCTION", "RESTORE", payload)[0] == "err"  # APPEND: collision
        assert outcome(c, "FUNCTION", "RESTORE", payload, "REPLACE") == ("ok", b"OK")
        assert outcome(c, "FUNCTION", "FLUSH") == ("ok", b"OK")
        assert outcome(c, "FUNCTION", "RESTORE", payload) == ("ok", b"OK")
        assert outcome(c, "FUNCTION", "RESTORE", payload, "FLUSH") == ("ok", b"OK")
        assert outcome(c, "FCALL", "f_two", 0) == ("ok", 2)
    agree(clients, "FUNCTION", "RESTORE", dumps[1], "BOGUS")
    agree(clients, "FUNCTION", "RESTORE", b"garbage")
    agree(clients, "FUNCTION", "RESTORE", dumps[1][:-1] + bytes([dumps[1][-1] ^ 1]))
    lists = [listing(c, "WITHCODE") for c in clients]
    assert lists[0] == lists[1]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_function_streams(clients, seed):
    rnd = random.Random(seed)
    names = ["alpha", "beta", "gamma"]
    bodies = ["return redis.call('incrby', keys[1], 1)", "return redis.call('get', keys[1])",
              "return {keys[1], args[1]}", "return redis.call('rpush', keys[1], args[1] or 'x')",
              "error('fail ' .. (args[1] or ''))", "return redis.call('lpop', keys[1])"]
    flags = [None, ["no-writes"], ["allow-oom"], []]
    for _ in range(150):
        op = rnd.random()
        if op < 0.3:
            lname = rnd.choice(names)
            funcs = [(f"{lname}_{i}", rnd.choice(bodies), rnd.choice(flags)) for i in range(rnd.randint(1, 3))]
            cmd = ["FUNCTION", "LOAD"] + (["REPLACE"] if rnd.random() < 0.5 else []) + [lib(lname, *funcs)]
        elif op < 0.8:
            f = f"{rnd.choice(names)}_{rnd.randint(0, 2)}"
            cmd = [rnd.choice(["FCALL", "FCALL", "FCALL_RO"]), f, 1, rnd.choice(["k1", "k2"]), str(rnd.randint(0, 9))]
        elif op < 0.9:
            cmd = ["FUNCTION", "DELETE", rnd.choice(names)]
        elif op < 0.95:
            cmd = ["FUNCTION", "STATS"]
        else:
            cmd = ["FUNCTION", "FLUSH"]
        agree(clients, *cmd)
    lists = [listing(c, "WITHCODE") for c in clients]
    assert lists[0] == lists[1]
    for k in ("k1", "k2"):
        agree(clients, "DUMP", k)


FUNC_LIB = lib("persisted",
               ("p_incr", "return redis.call('incrby', keys[1], args[1])", None),
               ("p_get", "return redis.call('get', keys[1])", ["no-writes"]))


def test_rdb_both_ways(tmp_path):
    # Redis writes a dump.rdb with a library and keys; Amber loads it, and the other way.
    for src_kind, dst_kind in (("redis", "amber"), ("amber", "redis")):
        d = tmp_path / f"{src_kind}-to-{dst_kind}"
        src = ServerProc(src_kind, d).start()
        c = src.client()
        c.function_load(FUNC_LIB)
        c.fcall("p_incr", 1, "counter", 41)
        c.save()
        c.close()
        src.stop()
        dst = ServerProc(dst_kind, d).start()
        c = dst.client()
        assert c.fcall("p_incr", 1, "counter", 1) == 42
        assert c.fcall_ro("p_get", 1, "counter") == b"42"
        listed = raw_command(c, "FUNCTION", "LIST")
        assert len(listed) == 1 and "persisted" in repr(listed)
        c.close()
        dst.stop()


def test_aof_replay_and_rewrite(new_amber, tmp_path):
    d = tmp_path / "aof"
    s = new_amber("--appendonly", "yes", "--appendfsync", "always", "--aof-use-rdb-preamble", "no", dir=d)
    c = s.client()
    c.function_load(FUNC_LIB)
    for i in range(20):
        c.fcall("p_incr", 1, f"k{i % 4}", i)
    c.function_load(lib("temp", ("t_f", "return 1", None)))
    c.function_delete("temp")
    digest = c.execute_command("DEBUG", "DIGEST")
    c.close()
    s.kill9()
    s2 = new_amber("--appendonly", "yes", "--aof-use-rdb-preamble", "no", dir=d)
    c2 = s2.client()
    assert c2.execute_command("DEBUG", "DIGEST") == digest
    assert c2.fcall("p_incr", 1, "k0", 0) == int(c2.get("k0"))
    # A rewrite keeps the library (FUNCTION LOAD first), and a restart replays it.
    c2.bgrewriteaof()
    deadline = time.time() + 10
    while c2.info("persistence")["aof_rewrite_in_progress"] and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)
    c2.close()
    s2.stop()
    s3 = new_amber("--appendonly", "yes", "--aof-use-rdb-preamble", "no", dir=d)
    c3 = s3.client()
    assert c3.execute_command("DEBUG", "DIGEST") == digest
    assert c3.fcall_ro("p_get", 1, "k1") == c3.get("k1")
    with pytest.raises(redis.ResponseError):
        c3.fcall("t_f", 0)
    c3.close()
