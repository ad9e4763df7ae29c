"""ACL users against Redis 7.0.15: the same users and rules go to a private Amber and a private
Redis, and every reply (OK, values, or the error text byte for byte) must be equal.

Seeded random users (categories, commands, subcommands, first-args, key patterns with R/W,
channels, selectors) try a set of commands, keys and channels; ACL GETUSER / LIST agree (the
single-command rules compared as a set: Redis lists them in its hash table's order); ACL LOG
entries agree (age and client-info aside); ACL SAVE / LOAD round trip, files written by one
server loaded by the other; `user` lines in redis.conf; AUTH / HELLO errors; MULTI and
script NOPERM; and `amber backup create` / `amber doctor` as a least-privilege user."""

import json
import os
import random
import socket
import subprocess

import pytest
import redis

from conftest import ROOT, ServerProc, free_port, plain, raw_command


class ConfProc(ServerProc):
    """A server started with a config file (the first argument, as Redis wants it)."""

    def __init__(self, kind, dir, conf, extra=()):
        super().__init__(kind, dir, extra)
        self.conf = str(conf)

    def argv(self):
        a = super().argv()
        return [a[0], self.conf] + a[1:]


def start_pair(base, extra=(), conf_text=None):
    servers = []
    for kind in ("amber", "redis"):
        d = base / kind
        d.mkdir(parents=True, exist_ok=True)
        if conf_text is None:
            s = ServerProc(kind, d, list(extra))
        else:
            (d / "redis.conf").write_text(conf_text)
            s = ConfProc(kind, d, d / "redis.conf", list(extra))
        servers.append(s.start())
    return servers


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    base = tmp_path_factory.mktemp("acl")
    for kind in ("amber", "redis"):
        (base / kind).mkdir()
        (base / kind / "users.acl").write_text("")
    servers = start_pair(base, ["--aclfile", "users.acl"])
    yield servers
    for s in servers:
        s.stop()


@pytest.fixture
def admins(pair):
    cs = [s.client() for s in pair]
    for c in cs:
        c.execute_command("ACL", "LOAD")  # the empty file: only the default user
        c.execute_command("ACL", "LOG", "RESET")
        c.flushall()
    yield cs
    for c in cs:
        c.close()


def outcome(c, *cmd):
    try:
        return ("ok", plain(raw_command(c, *cmd)))
    except redis.ResponseError as e:
        return ("err", str(e))
    except redis.ConnectionError as e:
        return ("closed", type(e).__name__)


def agree(clients, *cmd):
    out = [outcome(c, *cmd) for c in clients]
    assert out[0] == out[1], (cmd, out)
    return out[0]


def as_user(pair, name, password="pw", **kw):
    return [s.client(username=name, password=password, **kw) for s in pair]


def split_rules(text):
    """A rule description: the +@all/-@all head and categories in order, then the single
    commands as a set (Redis emits those in its dict's order)."""
    head, singles = [], set()
    for tok in text.split():
        if tok.startswith(("+@", "-@")) and not singles:
            head.append(tok)
        else:
            singles.add(tok)
    return head, singles


def norm_user_line(line):
    """An ACL LIST line with its selectors' command rules normalized."""
    if isinstance(line, bytes):
        line = line.decode()
    parts = []
    depth_text = line.replace("(", "\n(").replace(")", ")\n").split("\n")
    for chunk in depth_text:
        chunk = chunk.strip()
        if not chunk:
            continue
        words = chunk.strip("()").split()
        plain = [w for w in words if not w.startswith(("+", "-"))]
        rules = " ".join(w for w in words if w.startswith(("+", "-")))
        parts.append((chunk.startswith("("), tuple(plain), split_rules(rules)))
    return parts


def norm_getuser(reply):
    if reply is None:
        return None
    d = dict(zip(reply[::2], reply[1::2])) if isinstance(reply, list) else dict(reply)

    def sel(s):
        s = dict(zip(s[::2], s[1::2])) if isinstance(s, list) else dict(s)
        return (split_rules(s[b"commands"].decode()), s[b"keys"], s[b"channels"])

    return {
        "flags": sorted(d[b"flags"]),
        "passwords": d[b"passwords"],
        "root": sel([b"commands", d[b"commands"], b"keys", d[b"keys"], b"channels", d[b"channels"]]),
        "selectors": [sel(s) for s in d[b"selectors"]],
    }


def users_agree(admins):
    lists = [sorted(norm_user_line(x) for x in raw_command(c, "ACL", "LIST")) for c in admins]
    assert lists[0] == lists[1]
    names = [raw_command(c, "ACL", "USERS") for c in admins]
    assert names[0] == names[1]
    for n in names[0]:
        g = [norm_getuser(raw_command(c, "ACL", "GETUSER", n)) for c in admins]
        assert g[0] == g[1], n


def log_entries(c, n=200):
    out = []
    for e in raw_command(c, "ACL", "LOG", n):
        d = dict(zip(e[::2], e[1::2])) if isinstance(e, list) else dict(e)
        assert float(d[b"age-seconds"]) >= 0
        assert b"id=" in d[b"client-info"] and b"addr=" in d[b"client-info"]
        out.append((d[b"count"], d[b"reason"], d[b"context"], d[b"object"], d[b"username"]))
    return out


# ---- the rule parser's errors -------------------------------------------------------------

BAD_RULES = [
    ["+nosuchcommand"], ["-nosuchcommand"], ["+@nosuchcategory"], ["-@"], ["+"], ["-"],
    ["bogus"], ["~*", "~foo"], ["allkeys", "%R~x"], ["&*", "&x"], ["allchannels", "&y"],
    ["<notthere"], ["!" + "0" * 64], ["#abc"], ["#" + "G" * 64], ["!short"],
    ["+config|get|x"], ["+get|"], ["+config|nosuch"], ["%X~x"], ["%RR~x"], ["~a b"],
    ["(+get", "~x"], ["(+get ~x) (", "+set"], ["(+nosuch)"], ["(~* ~x)"], ["(bogus)"],
    ["-select|0"], ["+client|id|x"], ["%"], ["on", ">x", "bogus", "off"],
]


def test_bad_rules_give_redis_errors_and_change_nothing(pair, admins):
    agree(admins, "ACL", "SETUSER", "victim", "on", ">pw", "+get", "~k*")
    before = [raw_command(c, "ACL", "GETUSER", "victim") for c in admins]
    for rules in BAD_RULES:
        r = agree(admins, "ACL", "SETUSER", "victim", *rules)
        assert r[0] == "err", rules
        now = [raw_command(c, "ACL", "GETUSER", "victim") for c in admins]
        assert now == before, rules
    agree(admins, "ACL", "SETUSER", "with space", "on")
    agree(admins, "ACL", "SETUSER", "nul\x00", "on")
    agree(admins, "ACL", "DELUSER", "default")
    agree(admins, "ACL", "DELUSER", "victim", "nobody")
    agree(admins, "ACL", "GETUSER", "victim")


# ---- seeded random users ------------------------------------------------------------------

CATEGORIES = ["keyspace", "read", "write", "set", "sortedset", "list", "hash", "string",
              "bitmap", "hyperloglog", "geo", "stream", "pubsub", "admin", "fast", "slow",
              "blocking", "dangerous", "connection", "transaction", "scripting"]
COMMANDS = ["get", "set", "del", "mget", "mset", "lpush", "lrange", "hset", "hget", "expire",
            "incr", "copy", "publish", "subscribe", "psubscribe", "ping", "keys", "flushall",
            "info", "config", "debug", "eval", "sort", "object", "xadd", "exists", "rename"]
SUBCOMMANDS = ["config|get", "config|set", "client|id", "client|list", "object|encoding",
               "debug|object", "memory|usage"]
FIRSTARGS = ["select|0", "get|k:1", "set|w:1"]
KEY_RULES = ["~k:*", "%R~r:*", "%W~w:*", "%RW~rw:*", "~k:1", "resetkeys", "allkeys", "~*",
             "%R~*"]
CHANNEL_RULES = ["&ch:*", "&news", "resetchannels", "allchannels", "&pat:*"]


def random_rules(rng):
    rules = [rng.choice(["+@all", "-@all", "nocommands", "allcommands", ""])]
    for _ in range(rng.randint(1, 7)):
        kind = rng.random()
        if kind < 0.3:
            rules.append(rng.choice("+-") + "@" + rng.choice(CATEGORIES))
        elif kind < 0.55:
            rules.append(rng.choice("+-") + rng.choice(COMMANDS))
        elif kind < 0.65:
            rules.append(rng.choice("+-") + rng.choice(SUBCOMMANDS))
        elif kind < 0.7:
            rules.append("+" + rng.choice(FIRSTARGS))
        elif kind < 0.85:
            rules.append(rng.choice(KEY_RULES))
        else:
            rules.append(rng.choice(CHANNEL_RULES))
    if rng.random() < 0.4:
        inner = [rng.choice(["+get", "+set", "+@read", "+@write", "+publish", "+subscribe"]),
                 rng.choice(["~s:*", "%R~k:*", "%W~r:*", "&sel:*", "allkeys"])]
        rules.append("(" + " ".join(inner) + ")")
    return [r for r in rules if r]


# (command..., whether it may run for real on both servers: deterministic and harmless)
PROBES = [
    (("GET", "k:1"), True), (("GET", "r:1"), True), (("GET", "w:1"), True), (("GET", "s:1"), True),
    (("SET", "k:1", "v"), True), (("SET", "w:1", "v"), True), (("SET", "r:1", "v"), True),
    (("SET", "rw:1", "v", "GET"), True), (("DEL", "w:1"), True), (("DEL", "k:1", "r:1"), True),
    (("MGET", "k:1", "r:1", "w:1"), True), (("MSET", "k:1", "a", "w:2", "b"), True),
    (("COPY", "r:1", "w:1"), True), (("COPY", "k:1", "k:2"), True), (("EXISTS", "k:1", "zz"), True),
    (("INCR", "rw:n"), True), (("LPUSH", "k:l", "a"), True), (("LRANGE", "r:l", 0, -1), True),
    (("HSET", "w:h", "f", "v"), True), (("HGET", "r:h", "f"), True), (("EXPIRE", "k:1", 100), True),
    (("RENAME", "k:1", "w:9"), True), (("SORT", "k:l", "STORE", "w:s"), True),
    (("SORT", "k:l", "BY", "r:*", "ALPHA"), True), (("SORT", "k:l", "GET", "#", "ALPHA"), True),
    (("SORT", "k:l", "BY", "nosort"), True),
    (("XADD", "w:x", "1-1", "f", "v"), True), (("PUBLISH", "ch:1", "m"), True),
    (("PUBLISH", "news", "m"), True), (("PUBLISH", "sel:1", "m"), True), (("PING",), True),
    (("SELECT", "0"), True), (("SELECT", "1"), True), (("OBJECT", "ENCODING", "k:1"), True),
    (("CONFIG", "GET", "maxmemory"), True), (("EVAL", "return 1", "1", "k:1"), True),
    (("SUBSCRIBE", "ch:1", "news"), False), (("PSUBSCRIBE", "ch:*"), False),
    (("PSUBSCRIBE", "pat:*"), False), (("SSUBSCRIBE", "ch:1"), False), (("FLUSHALL",), False),
    (("KEYS", "*"), False), (("INFO",), False), (("CONFIG", "SET", "maxmemory", "0"), False),
    (("CLIENT", "ID"), False), (("DEBUG", "OBJECT", "k:1"), False), (("MEMORY", "USAGE", "k:1"), False),
]


@pytest.mark.parametrize("seed", range(12))
def test_random_users_agree_with_redis(pair, admins, seed):
    rng = random.Random(seed)
    names = []
    for i in range(4):
        name = f"u{seed}_{i}"
        rules = random_rules(rng)
        r = agree(admins, "ACL", "SETUSER", name, "reset", "on", ">pw", *rules)
        if r[0] == "ok":
            names.append(name)
    users_agree(admins)
    for c in admins:
        c.mset({"k:1": "1", "r:1": "2", "w:1": "3", "s:1": "4"})
        c.rpush("k:l", "b", "a")
        c.hset("r:h", "f", "v")
    for name in names:
        users = as_user(pair, name)
        try:
            for cmd, real in PROBES:
                agree(admins, "ACL", "DRYRUN", name, *cmd)
                if real:
                    agree(users, *cmd)
        finally:
            for c in users:
                c.close()
    logs = [log_entries(c) for c in admins]
    assert logs[0] == logs[1]


def test_dryrun_errors(pair, admins):
    agree(admins, "ACL", "DRYRUN", "nobody", "get", "x")
    agree(admins, "ACL", "DRYRUN", "default", "nosuch", "x")
    agree(admins, "ACL", "DRYRUN", "default", "get")
    agree(admins, "ACL", "DRYRUN", "default", "config", "nosuch")
    agree(admins, "ACL", "SETUSER", "d", "on", "+get", "~a*", "&c*")
    agree(admins, "ACL", "DRYRUN", "d", "get", "b")
    agree(admins, "ACL", "DRYRUN", "d", "set", "a", "1")
    agree(admins, "ACL", "DRYRUN", "d", "get", "abc")


def test_acl_cat_and_whoami_and_genpass(pair, admins):
    agree(admins, "ACL", "CAT")
    for cat in CATEGORIES:
        # Redis lists them in its hash table's order.
        got = [sorted(raw_command(c, "ACL", "CAT", cat)) for c in admins]
        assert got[0] == got[1], cat
    agree(admins, "ACL", "CAT", "nosuch")
    agree(admins, "ACL", "CAT", "read", "extra")
    agree(admins, "ACL", "WHOAMI")
    agree(admins, "ACL", "GENPASS", "0")
    agree(admins, "ACL", "GENPASS", "4097")
    agree(admins, "ACL", "GENPASS", "x")
    for bits, n in [(None, 64), (1, 1), (5, 2), (4096, 1024)]:
        for c in admins:
            p = raw_command(c, "ACL", "GENPASS", *([bits] if bits else []))
            assert len(p) == n and all(ch in b"0123456789abcdef" for ch in p)
    agree(admins, "ACL", "HELP")
    agree(admins, "ACL", "NOSUCH")
    agree(admins, "ACL", "LOG", "x")
    agree(admins, "ACL", "LOG", "-1")


# ---- authentication ------------------------------------------------------------------------


def raw_clients(pair):
    return [redis.Redis(host="127.0.0.1", port=s.port, socket_timeout=10) for s in pair]


def test_auth_and_hello_errors_agree(pair, admins):
    agree(admins, "ACL", "SETUSER", "alice", "on", ">secret", "+@all", "~*")
    agree(admins, "ACL", "SETUSER", "dis", "off", ">secret", "+@all")
    agree(admins, "ACL", "SETUSER", "free", "on", "nopass", "+ping", "+acl|whoami", "+client|info")
    cs = raw_clients(pair)
    agree(cs, "AUTH", "x")  # default is nopass
    agree(cs, "AUTH", "alice", "wrong")
    agree(cs, "AUTH", "nobody", "secret")
    agree(cs, "AUTH", "dis", "secret")
    agree(cs, "AUTH", "a", "b", "c")
    agree(cs, "HELLO", "3", "AUTH", "alice", "wrong")
    agree(cs, "HELLO", "2", "AUTH", "alice")
    agree(cs, "AUTH", "free", "anything")
    agree(cs, "ACL", "WHOAMI")
    agree(cs, "GET", "x")
    agree(cs, "AUTH", "alice", "secret")
    agree(cs, "ACL", "WHOAMI")
    hello = [raw_command(c, "HELLO", "2", "AUTH", "free", "x") for c in cs]
    assert [h[:6] for h in hello] == [h[:6] for h in hello[::-1]]
    agree(cs, "ACL", "WHOAMI")
    lines = [raw_command(c, "CLIENT", "INFO") for c in cs]
    assert all(b" user=free " in line for line in lines), lines
    agree(cs, "RESET")
    agree(cs, "ACL", "WHOAMI")
    logs = [log_entries(c) for c in admins]
    assert logs[0] == logs[1]
    assert (1, b"auth", b"toplevel", b"AUTH", b"alice") in logs[0] or \
        (1, b"auth", b"toplevel", b"auth", b"alice") in logs[0], logs[0]
    # requirepass is the default user's password.
    agree(admins, "CONFIG", "SET", "requirepass", "topsecret")
    authed = [s.client(password="topsecret") for s in pair]
    try:
        agree(authed, "CONFIG", "GET", "requirepass")
        users_agree(authed)
        fresh = raw_clients(pair)
        agree(fresh, "GET", "x")
        agree(fresh, "AUTH", "wrong")
        agree(fresh, "AUTH", "topsecret")
        agree(fresh, "GET", "x")
    finally:
        for c in authed:
            c.execute_command("CONFIG", "SET", "requirepass", "")
    users_agree(authed)
    for c in cs + fresh + authed:
        c.close()


def test_deleted_user_is_disconnected(pair, admins):
    agree(admins, "ACL", "SETUSER", "gone", "on", ">pw", "+@all", "~*")
    users = as_user(pair, "gone")
    agree(users, "PING")
    agree(admins, "ACL", "DELUSER", "gone")
    for c in users:
        with pytest.raises(redis.ConnectionError):
            c.connection_pool.connection_kwargs["retry_on_timeout"] = False
            conn = c.connection_pool.get_connection()
            conn.retry = redis.retry.Retry(redis.backoff.NoBackoff(), 0)
            conn.send_command("PING")
            conn.read_response()
    # Changing the user's channels closes its pub/sub clients that lost a channel.
    agree(admins, "ACL", "SETUSER", "sub", "on", ">pw", "+@all", "~*", "&a*", "&b*")
    subs = []
    for s in pair:
        sock = socket.create_connection(("127.0.0.1", s.port), timeout=5)
        sock.sendall(b"AUTH sub pw\r\nSUBSCRIBE b1\r\n")
        buf = b""
        while buf.count(b"\r\n") < 7:
            buf += sock.recv(4096)
        subs.append(sock)
    agree(admins, "ACL", "SETUSER", "sub", "resetchannels", "&a*")
    for sock in subs:
        assert sock.recv(4096) == b""
        sock.close()


def test_client_kill_user(pair, admins):
    agree(admins, "ACL", "SETUSER", "k", "on", ">pw", "+@all", "~*")
    agree(admins, "CLIENT", "KILL", "USER", "nobody")
    users = as_user(pair, "k")
    agree(users, "PING")
    agree(admins, "CLIENT", "KILL", "USER", "k")
    for c in users:
        c.close()


# ---- MULTI and scripts ---------------------------------------------------------------------


def test_multi_refusal_at_queue_time_and_exec(pair, admins):
    agree(admins, "ACL", "SETUSER", "m", "on", ">pw", "+@all", "-set", "~k*")
    for protocol in (2, 3):
        cs = as_user(pair, "m", protocol=protocol)
        agree(cs, "MULTI")
        agree(cs, "GET", "k1")
        agree(cs, "SET", "k1", "v")
        agree(cs, "GET", "other")
        agree(cs, "EXEC")
        # Rules changed between queueing and EXEC.
        agree(cs, "MULTI")
        agree(cs, "GET", "k1")
        agree(cs, "INCR", "k2")
        agree(admins, "ACL", "SETUSER", "m", "-incr")
        agree(cs, "EXEC")
        agree(admins, "ACL", "SETUSER", "m", "+incr")
        for c in cs:
            c.close()
    logs = [log_entries(c) for c in admins]
    assert logs[0] == logs[1]
    assert any(e[2] == b"multi" for e in logs[0])


def test_script_noperm_agrees(pair, admins):
    agree(admins, "ACL", "SETUSER", "s", "on", ">pw", "+eval", "+fcall", "+function|load",
          "+get", "~k*")
    cs = as_user(pair, "s")
    agree(cs, "EVAL", "return redis.call('get', KEYS[1])", "1", "k1")
    agree(cs, "EVAL", "return redis.call('set', KEYS[1], 'v')", "1", "k1")
    agree(cs, "EVAL", "return redis.pcall('set', KEYS[1], 'v')", "1", "k1")
    agree(cs, "EVAL", "return redis.call('get', 'other')", "1", "k1")
    agree(cs, "EVAL", "return redis.call('get', 'other')", "1", "zz")
    agree(cs, "EVAL", "local ok, e = pcall(redis.call, 'set', 'k', 'v') return tostring(e)", "0")
    agree(cs, "FUNCTION", "LOAD",
          "#!lua name=acllib\nredis.register_function('f', function(k) return redis.call('set', k[1], 'x') end)")
    agree(cs, "FCALL", "f", "1", "k1")
    for c in cs:
        c.close()
    logs = [log_entries(c) for c in admins]
    assert logs[0] == logs[1]
    assert any(e[2] == b"lua" for e in logs[0])
    for c in admins:
        c.function_flush()


def test_pubsub_channels_agree(pair, admins):
    agree(admins, "ACL", "SETUSER", "p", "on", ">pw", "+@all", "~*", "resetchannels", "&news:*", "&lit*")
    for cmd in (["SUBSCRIBE", "news:1"], ["SUBSCRIBE", "news:1", "other"], ["PSUBSCRIBE", "news:*"],
                ["PSUBSCRIBE", "news:1*"], ["PSUBSCRIBE", "lit*"], ["SSUBSCRIBE", "other"],
                ["PUBLISH", "other", "m"], ["SPUBLISH", "news:2", "m"]):
        out = []
        for s in pair:
            sock = socket.create_connection(("127.0.0.1", s.port), timeout=5)
            wire = b"AUTH p pw\r\n" + " ".join(cmd).encode() + b"\r\nPING\r\n"
            sock.sendall(wire)
            buf = b""
            while not (buf.endswith(b"PONG\r\n") or buf.endswith(b"pong\r\n\r\n") or b"$4\r\npong" in buf):
                chunk = sock.recv(4096)
                if not chunk:
                    break
                buf += chunk
            out.append(buf)
            sock.close()
        assert out[0] == out[1], (cmd, out)
    logs = [log_entries(c) for c in admins]
    assert logs[0] == logs[1]


# ---- files ---------------------------------------------------------------------------------


def test_acl_save_load_round_trip_both_ways(pair, admins):
    rng = random.Random(99)
    for i in range(6):
        agree(admins, "ACL", "SETUSER", f"f{i}", "on", f">p{i}", *random_rules(rng))
    agree(admins, "ACL", "SETUSER", "default", ">defpw")
    for c in admins:
        assert raw_command(c, "ACL", "SAVE") == b"OK"
    files = [s.dir / "users.acl" for s in pair]
    texts = [f.read_text() for f in files]
    assert len(texts[0].splitlines()) == 7
    before = [raw_command(c, "ACL", "LIST") for c in admins]
    # Swap the files: each server loads the other's.
    files[0].write_text(texts[1])
    files[1].write_text(texts[0])
    agree(admins, "ACL", "LOAD")
    users_agree(admins)
    after = [raw_command(c, "ACL", "LIST") for c in admins]
    assert sorted(map(norm_user_line, after[0])) == sorted(map(norm_user_line, before[0]))
    # A file with errors: the same error (the path aside), the users unchanged.
    bad = "user ok on >x +get\nuser bad on +nosuch\nuser bad2 on bogus\nnotuser x\nuser ok on\n"
    for f in files:
        f.write_text(bad)
    errs = []
    for c, s in zip(admins, pair):
        with pytest.raises(redis.ResponseError) as e:
            raw_command(c, "ACL", "LOAD")
        errs.append(str(e.value).replace(str(s.dir / "users.acl"), "FILE").replace("users.acl", "FILE"))
    assert errs[0] == errs[1]
    assert [raw_command(c, "ACL", "LIST") for c in admins] == after
    for f in files:
        f.unlink()
    errs = []
    for c, s in zip(admins, pair):
        with pytest.raises(redis.ResponseError) as e:
            raw_command(c, "ACL", "LOAD")
        errs.append(str(e.value))
    assert errs[0] == errs[1]
    for f in files:
        f.write_text("")
    agree(admins, "ACL", "SETUSER", "default", "nopass")


def test_save_load_without_aclfile(tmp_path):
    servers = start_pair(tmp_path)
    try:
        cs = [s.client() for s in servers]
        agree(cs, "ACL", "SAVE")
        agree(cs, "ACL", "LOAD")
    finally:
        for s in servers:
            s.stop()


CONF_USERS = """\
user alice on >alicepw ~app:* +@read +@write -@dangerous &app:*
user bob on #{bobhash} %R~logs:* +get +mget (+set ~tmp:*)
user default on nopass ~* &* +@all
user eve off
"""


def test_user_lines_in_redis_conf(tmp_path):
    import hashlib
    conf = CONF_USERS.format(bobhash=hashlib.sha256(b"bobpw").hexdigest())
    servers = start_pair(tmp_path, conf_text=conf)
    try:
        admins = [s.client() for s in servers]
        users_agree(admins)
        for name, pw in (("alice", "alicepw"), ("bob", "bobpw")):
            users = as_user(servers, name, pw)
            for cmd, real in PROBES + [(("SET", "app:1", "v"), True), (("GET", "logs:1"), True),
                                       (("SET", "tmp:1", "v"), True), (("FLUSHALL",), True)]:
                if real:
                    agree(users, *cmd)
            for c in users:
                c.close()
        agree(raw_clients(servers), "AUTH", "eve", "")
        # CONFIG REWRITE keeps the users.
        agree(admins, "ACL", "SETUSER", "carol", "on", ">c", "+ping")
        agree(admins, "CONFIG", "REWRITE")
        for s in servers:
            text = (s.dir / "redis.conf").read_text()
            assert "user carol on #" in text and "user alice on #" in text, text
    finally:
        for s in servers:
            s.stop()
    # Restarted from the rewritten files: the same users.
    for s in servers:
        s.start()
    try:
        users_agree([s.client() for s in servers])
    finally:
        for s in servers:
            s.stop()


def test_user_lines_and_aclfile_together_refuse_to_start(tmp_path):
    (tmp_path / "amber").mkdir()
    conf = tmp_path / "amber" / "redis.conf"
    (tmp_path / "amber" / "u.acl").write_text("")
    conf.write_text("user alice on >x\naclfile u.acl\n")
    from conftest import amber_bin
    p = subprocess.run([amber_bin(), str(conf), "--port", str(free_port())], cwd=tmp_path / "amber",
                       capture_output=True, text=True, timeout=30)
    assert p.returncode != 0
    assert "please define either an ACL file or declare users directly in your redis.conf" in p.stdout + p.stderr
    conf.write_text("user alice on >x bogus\n")
    p = subprocess.run([amber_bin(), str(conf), "--port", str(free_port())], cwd=tmp_path / "amber",
                       capture_output=True, text=True, timeout=30)
    assert p.returncode != 0
    assert "Error in user declaration" in p.stdout + p.stderr and "Syntax error" in p.stdout + p.stderr


# ---- the CLI as a least-privilege user -----------------------------------------------------

CLI_RULES = ["on", ">clipw", "-@all", "+ping", "+info", "+config|get", "+latency|latest",
             "+replconf", "+psync", "+sync", "+bgsave"]


def tool():
    b = os.environ.get("AMBER_TOOL")
    return b or str(ROOT / "target" / "release" / "amber")


def test_backup_and_doctor_as_least_privilege_user(tmp_path):
    s = ServerProc("amber", tmp_path / "src").start()
    try:
        c = s.client()
        c.mset({f"key:{i}": i for i in range(100)})
        c.execute_command("ACL", "SETUSER", "backup", *CLI_RULES)
        addr = f"127.0.0.1:{s.port}"
        env = dict(os.environ, REDISCLI_AUTH="clipw")
        b = subprocess.run([tool(), "backup", "create", "--from", addr, "--user", "backup",
                            "--repo", str(tmp_path / "repo"), "--json"],
                           capture_output=True, text=True, timeout=120, env=env)
        assert b.returncode == 0, b.stdout + b.stderr
        assert json.loads(b.stdout)["entry"]["verified"]
        d = subprocess.run([tool(), "doctor", "--server", addr, "--user", "backup", "--json"],
                           capture_output=True, text=True, timeout=60, env=env)
        findings = {f["check"]: f for f in json.loads(d.stdout)["findings"]}
        assert findings["server"]["status"] == "ok", findings
        denied = [f for f in findings.values() if "NOPERM" in json.dumps(f)]
        assert not denied, denied
        # The same user may not touch the data or the configuration.
        u = s.client(username="backup", password="clipw")
        for cmd in (("GET", "key:1"), ("CONFIG", "SET", "dir", "/tmp"), ("FLUSHALL",), ("DEBUG", "SLEEP", "0")):
            with pytest.raises(redis.exceptions.NoPermissionError):
                u.execute_command(*cmd)
        log = c.execute_command("ACL", "LOG")
        assert not [e for e in log if b"info" in e or b"psync" in e], log
    finally:
        s.stop()


def test_setuser_is_redacted_in_the_slowlog(pair, admins):
    for c in admins:
        c.config_set("slowlog-log-slower-than", 0)
        c.slowlog_reset()
    try:
        agree(admins, "ACL", "SETUSER", "hidden", "on", ">secret", "~k*")
        got = []
        for c in admins:
            entries = raw_command(c, "SLOWLOG", "GET", 10)
            got.append([e[3] for e in entries if e[3][0].upper() in (b"ACL", b"AUTH")])
        assert got[0] == got[1]
        assert [b"ACL", b"SETUSER"] + [b"(redacted)"] * 4 in got[0], got[0]
    finally:
        for c in admins:
            c.config_set("slowlog-log-slower-than", 10000)


def test_acl_log_client_info_names_the_denied_command(amber_and_redis):
    """A refused command is the client's last command (c->lastcmd is set at lookup): ACL LOG's
    client-info and CLIENT LIST say cmd=<the denied command>, not the one before it."""
    seen = []
    for s in amber_and_redis:
        admin = s.client(decode_responses=True)
        admin.acl_setuser("app", enabled=True, passwords=["+pw"], commands=["+@all", "-config"],
                          keys=["*"])
        app = s.client(username="app", password="pw", decode_responses=True)
        app.set("a", "1")
        with pytest.raises(redis.exceptions.NoPermissionError):
            app.config_get("save")
        entry = admin.acl_log(count=1)[0]
        info = entry["client-info"]  # redis-py parses it into its fields
        mine = [c for c in admin.client_list() if c["user"] == "app"]
        seen.append((entry["object"], info["cmd"], mine[0]["cmd"]))
        app.close()
        admin.close()
    assert seen[0] == seen[1]
    assert seen[0] == ("config|get", "config|get", "config|get")


def test_acl_refusal_at_exec_counts_as_an_error_reply(amber_and_redis):
    """Rules changed between MULTI and EXEC: the refused command's NOPERM reply is in INFO
    errorstats and total_error_replies, and EXEC (the last call to end) has a failed call."""
    seen = []
    for s in amber_and_redis:
        admin = s.client(decode_responses=True)
        admin.acl_setuser("app", enabled=True, passwords=["+pw"], commands=["+@all"], keys=["*"])
        app = s.client(username="app", password="pw", decode_responses=True)
        admin.config_resetstat()
        conn = app.connection_pool.get_connection()
        conn.send_command("MULTI")
        assert conn.read_response() == "OK"
        conn.send_command("SET", "a", "1")
        conn.read_response()
        conn.send_command("CONFIG", "GET", "save")
        conn.read_response()
        admin.acl_setuser("app", commands=["-config"])
        conn.send_command("EXEC")
        replies = conn.read_response()
        app.connection_pool.release(conn)
        assert replies[0] == "OK" and isinstance(replies[1], redis.exceptions.ResponseError)
        assert str(replies[1]).startswith("ACLs rules changed"), replies
        errs = admin.info("errorstats")
        stats = admin.info("stats")
        cmds = admin.info("commandstats")
        seen.append((errs, stats["total_error_replies"],
                     cmds["cmdstat_exec"]["failed_calls"], cmds["cmdstat_set"]["failed_calls"]))
        app.close()
        admin.close()
    assert seen[0] == seen[1]
    assert seen[0][0]["errorstat_NOPERM"] == {"count": 1}
    assert seen[0][2] == 1
