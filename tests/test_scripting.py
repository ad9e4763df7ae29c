"""Lua scripting against Redis 7.0.15: the same scripts go to a private Amber and a private
Redis and every reply (or error text, byte for byte) must be equal, in RESP2 and RESP3.

Covers a corpus of real-world scripts (redis-py's Lock scripts, a sliding-window rate
limiter, a reliable-queue pop-push), the conversions both ways, the redis.* API, the
libraries (cjson, cmsgpack, bit, struct), EVALSHA / SCRIPT, shebang flags and *_RO, sandbox
escapes, a busy script with BUSY replies and SCRIPT KILL, and scripts' effects in the AOF
(MULTI/EXEC, replay after kill -9 with an equal DEBUG DIGEST)."""

import pathlib
import socket
import threading
import time

import pytest
import redis
import redis.lock

from conftest import ServerProc, plain, raw_command
from test_aof_spelling import parse_resp_commands


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    base = tmp_path_factory.mktemp("scripting")
    servers = [ServerProc(kind, base / kind).start() for kind in ("amber", "redis")]
    yield servers
    for s in servers:
        s.stop()


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def clients(request, pair):
    cs = [s.client(protocol=request.param) for s in pair]
    for c in cs:
        c.flushall()
        c.script_flush()
        c.function_flush()
    yield cs
    for c in cs:
        c.close()


def outcome(c, *cmd):
    try:
        return ("ok", plain(raw_command(c, *cmd)))
    except redis.ResponseError as e:
        return ("err", str(e))


def agree(clients, *cmd):
    out = [outcome(c, *cmd) for c in clients]
    assert out[0] == out[1], (cmd, out)
    return out[0]


def run_both(clients, *cmds):
    for cmd in cmds:
        agree(clients, *cmd)


LOCK_SCRIPTS = [
    redis.lock.Lock.LUA_RELEASE_SCRIPT,
    redis.lock.Lock.LUA_EXTEND_SCRIPT,
    redis.lock.Lock.LUA_REACQUIRE_SCRIPT,
]

RATE_LIMITER = """
local key = KEYS[1]
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
local count = redis.call('ZCARD', key)
if count < limit then
  redis.call('ZADD', key, now, ARGV[4])
  redis.call('PEXPIRE', key, window)
  return {1, limit - count - 1}
end
return {0, 0}
"""

RELIABLE_QUEUE = """
local item = redis.call('RPOP', KEYS[1])
if not item then return false end
redis.call('LPUSH', KEYS[2], item)
redis.call('HINCRBY', KEYS[3], item, 1)
return item
"""


def test_redis_py_lock_scripts(clients):
    for c in clients:
        c.set("lock:a", "tok", px=100000)
    for script in LOCK_SCRIPTS:
        for token in ("tok", "other"):
            agree(clients, "EVAL", script, 1, "lock:a", token, 5000, 0)
            agree(clients, "EVAL", script, 1, "lock:a", token, 5000, 1)
            agree(clients, "EVAL", script, 1, "lock:missing", token, 5000, 0)
    # The library itself, through register_script (EVALSHA, then EVAL on NOSCRIPT).
    for c in clients:
        lock = c.lock("lock:b", timeout=10)
        assert lock.acquire(blocking=False)
        assert lock.extend(5)
        assert lock.reacquire()
        lock.release()
        assert c.exists("lock:b") == 0


def test_rate_limiter_and_queue(clients):
    for i in range(12):
        agree(clients, "EVAL", RATE_LIMITER, 1, "rl", 1000 + i * 10, 50000, 3, f"req{i}")
    run_both(clients, ("ZRANGE", "rl", 0, -1, "WITHSCORES"), ("EXISTS", "rl"))
    assert all(0 < c.pttl("rl") <= 50000 for c in clients)
    run_both(clients, ("RPUSH", "q", "a", "b", "c"))
    for _ in range(5):
        agree(clients, "EVAL", RELIABLE_QUEUE, 3, "q", "processing", "attempts")
    run_both(clients, ("LRANGE", "processing", 0, -1), ("HGETALL", "attempts"), ("LLEN", "q"))


CORPUS = [
    # Conversions Lua -> reply.
    "return 1", "return -3.99", "return 3.99", "return 1e300", "return math.huge",
    "return 'x'", "return true", "return false", "return nil", "return {}",
    "return {1, 2, 3.7, nil, 5}", "return {1, {2, {3, {'deep'}}}, 'x', true, false}",
    "local t = {} t[1] = 'a' t[3] = 'c' return t",
    "return {err = 'MYERR custom'}", "return {err = 'no code'}", "return {ok = 'FINE'}",
    "return redis.status_reply('PONG')", "return redis.error_reply('FOO bar')",
    "return redis.error_reply('-BAR baz')", "return {ok = 'a\\r\\nb'}",
    "return {double = 3.5}", "return {double = 1/0}", "return {big_number = '123456789012345678901234'}",
    "return {map = {a = 1}}", "return {set = {x = true}}",
    "return {verbatim_string = {format = 'txt', string = 'hello'}}",
    "return {1, {err = 'inner error'}, 3}",
    # Conversions reply -> Lua.
    "return redis.call('ping')", "return redis.call('set', 'k', 'v')", "return redis.call('get', 'nokey')",
    "return type(redis.call('get', 'nokey'))", "return redis.call('hgetall', 'nokey')",
    "redis.call('rpush', 'l', 1, 2.5, 'x') return redis.call('lrange', 'l', 0, -1)",
    "return redis.call('incrbyfloat', 'f', '1.5')", "return redis.call('set', 'n', 3.0)",
    "return type(redis.call('ping'))", "return redis.call('ping').ok",
    "redis.setresp(3) return redis.call('hgetall', 'nokey')",
    "redis.setresp(3) redis.call('hset', 'h', 'a', 1) return redis.call('hgetall', 'h')",
    "redis.setresp(3) redis.call('sadd', 's', 'm') return redis.call('smembers', 's')",
    "redis.setresp(3) redis.call('zadd', 'z', 1.5, 'm') return redis.call('zscore', 'z', 'm')",
    "redis.setresp(3) return type(redis.call('get', 'nokey'))",
    "redis.setresp(3) return true", "redis.setresp(3) return false",
    "redis.setresp(3) return {map = {a = {1, 2}}}",
    # Errors and their texts.
    "x = 5", "return x", "error('boom')", "error({err = 'MY x'})", "error()", "error(nil)",
    "error(42)", "return redis.call('nosuch')", "return redis.call('get')", "return redis.call()",
    "return redis.call('set', 'a', {})", "return redis.call('set', 'a', nil)",
    "redis.call('lpush', 'a', 'b') return redis.call('get', 'a')",
    "return redis.pcall('incr', 'k')", "return redis.pcall('nosuch')",
    "return {pcall(redis.call, 'nosuch')}", "return {pcall(error, {err = 'X y'})}",
    "return {pcall(error, 'plain')}", "return redis.call('eval', 'return 1', 0)",
    "return redis.call('blpop', 'nokey', 0)", "return redis.call('multi')",
    "return redis.call('client', 'nosuch')", "return redis.sha1hex()", "return redis.sha1hex('abc')",
    "redis.setresp(4)", "redis.setresp()", "return redis.set_repl(9)", "redis.log()",
    "redis.log('x', 'y')", "redis.log(99, 'y')", "redis.log(redis.LOG_WARNING, 'from a script')",
    "return redis.error_reply(5)", "return redis.status_reply()", "local a = nil; return a.b",
    "return #ARGV + #KEYS", "return ('x'):bad()", "return string.rep('x', -1)",
    # The API.
    "return redis.REDIS_VERSION", "return redis.REDIS_VERSION_NUM",
    "return {redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING}",
    "return {redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL}",
    "return redis.replicate_commands()", "return redis.breakpoint()", "return redis.debug('x')",
    "redis.set_repl(redis.REPL_ALL) return 1", "return redis.acl_check_cmd('get', 'x')",
    "return redis.acl_check_cmd('nosuch')",
    "return {math.random(), math.random(10), math.random(5, 9)}",
    # Libraries.
    "return cjson.encode({1, 2, {a = 1}})", "return cjson.encode({a = 1, b = {1, 2}})",
    "return cjson.encode(1.5)", "return cjson.encode({})", "return cjson.encode('a/b\"c\\n')",
    "return cjson.encode(0.1)", "return cjson.encode(1e20)", "return cjson.encode(123456789012)",
    "return cjson.encode({[1] = 'a', [3] = 'b'})", "return cjson.encode({[1] = 'a', [30] = 'b'})",
    "return cjson.encode(function() end)", "return cjson.encode(1/0)",
    "return cjson.encode({[true] = 1})", "return cjson.encode()",
    "return cjson.decode('[1,2,null]')", "return cjson.decode('{\"a\":[1,2,{\"b\":null}]}').a[3].b == cjson.null",
    "return cjson.encode(cjson.decode('[1,2.5,\"x\",true,false,null]'))",
    "return cjson.decode('\"\\\\u00e9\\\\ud83d\\\\ude00\"')", "return cjson.decode('x')",
    "return cjson.decode('[1,2')", "return cjson.decode('{\"a\" 1}')", "return cjson.decode('{1:2}')",
    "return cjson.decode('[1] x')", "return cjson.decode('\"abc')", "return cjson.decode()",
    "return cjson.decode(nil)",
    "return cjson.decode('\"a\\\\qb\"')", "return cjson.decode('\"\\\\ud800\"')", "return cjson.decode('[1,-]')",
    "return cjson.decode('{\"a\":1,}')", "return cjson.decode('[1 2]')", "return cjson.decode('  ')",
    "return cjson.decode('[[[[1]]]]')[1][1][1][1]", "return cjson.decode('{\"k\":true}').k",
    "return bit.band(7, 3)", "return bit.bor(1, 2, 4)", "return bit.bxor(5, 1)", "return bit.bnot(0)",
    "return bit.lshift(1, 31)", "return bit.rshift(-1, 28)", "return bit.arshift(-256, 4)",
    "return bit.rol(1, 33)", "return bit.ror(1, 1)", "return bit.bswap(0x12345678)",
    "return bit.tohex(255)", "return bit.tohex(255, -4)", "return bit.tohex(-1, 3)", "return bit.tobit(2^32 + 5)",
    "return bit.band('x')",
    "return struct.pack('>I2', 258)", "return struct.pack('<i4', -2)", "return struct.pack('!4 b i', 1, 2)",
    "return struct.pack('s c3 d f', 'ab', 'xyz', 1.5, 2.5)", "return {struct.unpack('>I2', 'ab')}",
    "return {struct.unpack('<h B', '\\255\\255\\7')}", "return {struct.unpack('s', 'ab\\0c')}",
    "return {struct.unpack('b c0', '\\3abcd')}", "return struct.size('i4 d !8 h')",
    "return struct.size('s')", "return struct.pack('q', 1)", "return {struct.unpack('I4', 'ab')}",
    "return struct.pack('i40', 1)",
    "return cmsgpack.pack({1, 2})", "return cmsgpack.pack('a', 1, -1, 300, -300, 70000, 2^40, 1.5, 0.1, true, {x = 1})",
    "return {cmsgpack.unpack(cmsgpack.pack({1, 'a', {x = 2}}))}",
    "return {cmsgpack.unpack(cmsgpack.pack(1, 2, 3))}", "return cmsgpack.unpack('\\193')",
    "return cmsgpack.unpack('\\146\\1')", "return {cmsgpack.unpack_one(cmsgpack.pack(1, 2), 0)}",
    "return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 2)}", "return cmsgpack.pack()",
    # The sandbox.
    "return os", "return io", "return debug", "return print", "return dofile", "return loadfile",
    "return require", "return module", "return setfenv", "return getfenv", "return newproxy",
    "os.execute('true')", "return io.open('/etc/passwd')", "return debug.getinfo(1)",
    "return {loadstring(string.dump(function() return 1 end))}",
    "return {pcall(load(function() return nil end))}",
    "local f = loadstring('return 1 + 1') return f()", "return loadstring('syntax error here')",
    "string.foo = 1", "math.pi = 3", "redis.call = nil", "cjson.encode = nil", "_G.x = 1",
    "rawset(_G, 'x', 1)", "return rawset(_G, 'x', 1)", "setmetatable(_G, {})",
    "return rawset(string, 'x', 1)", "getmetatable('').__index = 1", "return getmetatable('').__index == string",
    "getmetatable(_G).__index = nil", "KEYS = {}", "return _G.redis ~= nil", "return type(_G)",
    "return table.concat({1, 2}, ',')", "return ('x'):rep(3)", "return string.format('%5.2f', 3.14159)",
    "return tonumber('0x10')", "return type(coroutine.create)", "return _VERSION", "return gcinfo() > 0",
    "local t = {} setmetatable(t, {__index = function() return 7 end}) return t.x",
    "local t = setmetatable({}, {__newindex = function(t, k, v) rawset(t, k, v * 2) end}) t.a = 2 return t.a",
]


def test_corpus(clients):
    for script in CORPUS:
        for c in clients:
            c.flushall()
        agree(clients, "EVAL", script, 0)


def test_keys_argv_and_numkeys(clients):
    s = "return {KEYS[1], KEYS[2], ARGV[1], ARGV[2], #KEYS, #ARGV}"
    agree(clients, "EVAL", s, 2, "k1", "k2", "a1", "a2")
    agree(clients, "EVAL", s, 0, "a1")
    agree(clients, "EVAL", s, 3, "a", "b")
    agree(clients, "EVAL", s, -1)
    agree(clients, "EVAL", s, "x")
    agree(clients, "EVAL", s)
    # KEYS of one call do not leak into the next.
    agree(clients, "EVAL", "return KEYS[1]", 0)


def test_evalsha_and_script_commands(clients):
    body = "return redis.call('incr', KEYS[1])"
    sha = agree(clients, "SCRIPT", "LOAD", body)[1]
    agree(clients, "EVALSHA", sha, 1, "c")
    agree(clients, "EVALSHA", sha.upper(), 1, "c")
    agree(clients, "EVALSHA_RO", sha, 1, "c")
    agree(clients, "EVALSHA", "0" * 40, 0)
    agree(clients, "EVALSHA", "short", 0)
    agree(clients, "SCRIPT", "EXISTS", sha, "0" * 40, sha.upper())
    agree(clients, "SCRIPT", "LOAD", "return +")
    agree(clients, "SCRIPT", "FLUSH", "BOGUS")
    agree(clients, "SCRIPT", "FLUSH", "SYNC")
    agree(clients, "SCRIPT", "EXISTS", sha)
    agree(clients, "SCRIPT", "LOAD", body)
    agree(clients, "SCRIPT", "FLUSH", "ASYNC")
    agree(clients, "SCRIPT", "FLUSH")
    agree(clients, "SCRIPT", "KILL")
    agree(clients, "SCRIPT", "HELP")
    agree(clients, "SCRIPT", "NOSUCH")
    agree(clients, "EVAL", "return +", 0)
    agree(clients, "EVAL", "return", 0)


def test_read_only_and_shebang(clients):
    run_both(
        clients,
        ("EVAL_RO", "return redis.call('set', 'k', 'v')", 0),
        ("EVAL_RO", "return redis.call('get', 'k')", 0),
        ("EVAL_RO", "return redis.call('publish', 'ch', 'm')", 0),
        ("EVAL", "#!lua flags=no-writes\nreturn redis.call('set', 'k', 'v')", 0),
        ("EVAL", "#!lua flags=no-writes\nreturn redis.call('get', 'k')", 0),
        ("EVAL", "#!lua\nreturn redis.call('set', 'k', 'v')", 0),
        ("EVAL_RO", "#!lua\nreturn 1", 0),
        ("EVAL_RO", "#!lua flags=no-writes,allow-oom\nreturn 1", 0),
        ("EVAL", "#!lua flags=allow-stale,no-cluster,allow-cross-slot-keys,allow-oom\nreturn 1", 0),
        ("EVAL", "#!lua flags=bogus\nreturn 1", 0),
        ("EVAL", "#!lua bogus=1\nreturn 1", 0),
        ("EVAL", "#!python\nreturn 1", 0),
        ("EVAL", "#!lua", 0),
        ("EVAL", "#!lua\nerror('on line two')", 0),
        ("EVAL", "#!lua\n\nreturn x", 0),
    )


def test_transactions_and_stats(clients):
    for c in clients:
        p = c.pipeline(transaction=True)
        p.eval("return redis.call('incr', 'n')", 0)
        p.eval("return redis.call('incr', 'n')", 0)
        assert p.execute() == [1, 2]
    agree(clients, "GET", "n")
    info = [c.info("memory") for c in clients]
    for i in info:
        assert i["number_of_cached_scripts"] == 1
        assert i["used_memory_lua"] > 0
        assert i["used_memory_scripts_eval"] > 0


def test_keyspace_events_from_scripts(pair):
    for s in pair:
        c = s.client(decode_responses=True)
        c.config_set("notify-keyspace-events", "KEA")
        p = c.pubsub()
        p.psubscribe("__key*__:*")
        p.get_message(timeout=1)
        c.eval("redis.call('set', 'ev', '1') redis.call('del', 'ev')", 0)
        got = []
        deadline = time.time() + 5
        while len(got) < 4 and time.time() < deadline:
            m = p.get_message(timeout=0.5)
            if m and m["type"] == "pmessage":
                got.append((m["channel"], m["data"]))
        assert got == [("__keyspace@0__:ev", "set"), ("__keyevent@0__:set", "ev"),
                       ("__keyspace@0__:ev", "del"), ("__keyevent@0__:del", "ev")], (s.kind, got)
        c.config_set("notify-keyspace-events", "")
        p.close()
        c.close()


def test_sandbox_memory_bomb_refused(new_amber):
    s = new_amber()
    c = s.client()
    with pytest.raises(redis.ResponseError) as e:
        c.eval("return string.rep('x', 1e10)", 0)
    assert "not enough memory" in str(e.value)
    with pytest.raises(redis.ResponseError):
        c.eval("local s = 'x' while true do s = s .. s end", 0)
    assert c.ping()
    assert c.eval("return 'still here'", 0) == b"still here"
    # The interpreter gave the bombs' memory back (Lua keeps its concat buffer a while).
    assert c.info("memory")["used_memory_lua"] < 256 * 1024 * 1024


def busy_scenario(server):
    """An endless read-only script, BUSY replies to another client, SCRIPT KILL; then an
    endless script that wrote (UNKILLABLE). Returns what each step replied."""
    other = server.client(socket_timeout=10)
    other.config_set("busy-reply-threshold", 200)
    other.ping()
    got = {}

    def loop(script, key):
        c = server.client(socket_timeout=30)
        try:
            got[key] = ("ok", c.eval(script, 0))
        except redis.ResponseError as e:
            got[key] = ("err", str(e))
        c.close()

    t = threading.Thread(target=loop, args=("while true do end", "looped"))
    t.start()
    time.sleep(0.6)
    started = time.time()
    for cmd in (("PING",), ("GET", "x"), ("FUNCTION", "KILL")):
        got[cmd] = outcome(other, *cmd)
    got["busy_within_1s"] = time.time() - started < 1
    # A connection made while the script runs is accepted and answered too.
    fresh = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    fresh.sendall(b"*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n")
    got["new_connection"] = fresh.recv(4096)
    got["kill"] = outcome(other, "SCRIPT", "KILL")
    t.join(10)
    got["after"] = outcome(other, "PING")
    # Its half-sent request is finished after the script ended.
    fresh.sendall(b"$1\r\nx\r\n*1\r\n$4\r\nPING\r\n")
    got["new_connection_after"] = b""
    while not got["new_connection_after"].endswith(b"+PONG\r\n"):
        chunk = fresh.recv(4096)
        if not chunk:
            break
        got["new_connection_after"] += chunk
    fresh.close()
    got["notbusy"] = outcome(other, "SCRIPT", "KILL")
    other.close()
    return got


def test_busy_script_and_script_kill(pair):
    results = [busy_scenario(s) for s in pair]
    assert results[0] == results[1], results
    r = results[0]
    assert r[("PING",)][0] == "err" and r[("PING",)][1].startswith("BUSY Redis is busy running a script.")
    assert r["kill"] == ("ok", b"OK")
    # (redis-py drops the "ERR " of error texts.)
    assert r["looped"][1].startswith("Script killed by user with SCRIPT KILL... script: ")
    assert r["busy_within_1s"]
    assert r["new_connection"].startswith(b"-BUSY Redis is busy running a script.")
    assert r["new_connection_after"] == b"$-1\r\n+PONG\r\n"


def test_unkillable_after_write(new_amber):
    s = new_amber("--busy-reply-threshold", "100")
    other = s.client(socket_timeout=10)
    other.ping()
    done = []

    def writer():
        c = s.client(socket_timeout=30)
        c.eval("redis.call('set', 'w', 1) local t = redis.call('time') "
               "while true do local n = redis.call('time') if n[1] - t[1] >= 2 then break end end "
               "return 1", 0)
        done.append(True)

    t = threading.Thread(target=writer)
    t.start()
    time.sleep(0.5)
    with pytest.raises(redis.ResponseError) as e:
        other.execute_command("SCRIPT", "KILL")
    assert str(e.value).startswith("UNKILLABLE Sorry the script already executed write commands")
    t.join(10)
    assert done == [True]
    assert other.get("w") == b"1"


def read_aof_commands(dirpath):
    d = pathlib.Path(dirpath) / "appendonlydir"
    incr = sorted(d.glob("*.incr.aof"))
    assert incr, list(d.iterdir())
    return parse_resp_commands(incr[-1].read_bytes())


SCRIPTS_FOR_AOF = [
    ("redis.call('set', 'a', 1) redis.call('incr', 'a') return 1", 0),
    ("redis.call('rpush', KEYS[1], 'x', 'y') redis.call('rpop', KEYS[1]) return 1", 1, "l"),
    ("return redis.call('set', 'single', 'v')", 0),
    ("redis.call('get', 'a') return 1", 0),
    ("redis.call('select', 1) redis.call('set', 'in1', 'v') redis.call('select', 0) redis.call('set', 'in0', 'v')", 0),
    ("redis.call('spop', 'noset') redis.call('hset', 'h', 'f', 'v') redis.call('expire', 'h', 1000)", 0),
    ("redis.set_repl(redis.REPL_NONE) redis.call('set', 'unreplicated', 1) "
     "redis.set_repl(redis.REPL_ALL) redis.call('set', 'replicated', 1)", 0),
]


def test_effects_in_aof_match_redis(tmp_path):
    seqs = []
    for kind in ("amber", "redis"):
        s = ServerProc(kind, tmp_path / kind, ["--appendonly", "yes", "--appendfsync", "always"]).start()
        c = s.client()
        for sc in SCRIPTS_FOR_AOF:
            c.eval(*sc)
        c.close()
        cmds = read_aof_commands(s.dir)
        s.stop()
        # Absolute expiry times differ between the two runs.
        seqs.append([cmd[:1] + cmd[1:2] if cmd[0].upper() == b"PEXPIREAT" else cmd for cmd in cmds])
    assert seqs[0] == seqs[1]
    assert [b"MULTI"] in seqs[0]


def test_replay_after_kill9(new_amber, tmp_path):
    d = tmp_path / "replay"
    s = new_amber("--appendonly", "yes", "--appendfsync", "always", dir=d)
    c = s.client()
    sha = c.script_load(RATE_LIMITER)
    for i in range(50):
        c.evalsha(sha, 1, f"rl{i % 3}", 1000 + i, 100, 5, f"r{i}")
        c.eval(RELIABLE_QUEUE, 3, "q", "processing", "attempts") if i % 2 else c.rpush("q", f"job{i}")
        c.eval("redis.call('incrbyfloat', 'f', ARGV[1]) redis.call('hincrby', 'h', 'n', 1)", 0, "0.1")
    digest = c.execute_command("DEBUG", "DIGEST")
    c.close()
    s.kill9()
    s2 = new_amber("--appendonly", "yes", dir=d)
    c2 = s2.client()
    assert c2.execute_command("DEBUG", "DIGEST") == digest
    c2.close()
