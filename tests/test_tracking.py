"""Client-side caching (CLIENT TRACKING) against Redis 7.0.15: the same seeded command stream sent
to both servers gives every tracking client (default, BCAST with prefixes, OPTIN, OPTOUT,
NOLOOP; RESP3 pushes and RESP2 redirection to a subscriber) the same transcript: its replies and
the invalidation messages between them, byte for byte and in the same order. Plus the argument
errors, CLIENT TRACKINGINFO / GETREDIR / LIST, the broken redirect, FLUSHDB's null, evictions
(also by CONFIG SET maxmemory), tracking-table-max-keys and the INFO fields."""

import random
import time

import pytest

from tests.diff.resp import Conn

KEYS = ["a:1", "a:2", "b:1", "b:2", "c"]


class Actor:
    """A connection whose every frame (replies and pushes) is kept in order."""

    def __init__(self, port, resp=2):
        self.conn = Conn(port, timeout=10)
        self.frames = []
        if resp == 3:
            self.call("HELLO", "3", record=False)

    def call(self, *args, record=True):
        """Sends a request and reads up to its reply (pushes before it are kept too)."""
        self.conn.send([str(a) for a in args])
        while True:
            f = self.conn.read()
            if record:
                self.frames.append(f.raw)
            if f.kind != ">":
                return f

    def id(self):
        return self.call("CLIENT", "ID", record=False).val

    def drain(self, until):
        """Reads frames (kept) until one whose raw bytes are `until`."""
        while True:
            f = self.conn.read()
            self.frames.append(f.raw)
            if f.raw == until:
                return

    def close(self):
        self.conn.close()


def setup_clients(port):
    """The writer and the tracking clients, each in its mode."""
    ctl = Actor(port)
    ctl.call("FLUSHALL")
    ctl.call("DEBUG", "SET-ACTIVE-EXPIRE", "0")  # expiries by access only: deterministic
    cl = {"w": Actor(port)}
    for name in ["default", "bcast", "optin", "optout", "noloop", "bnoloop", "redir3"]:
        cl[name] = Actor(port, resp=3)
    # RESP2 tracking clients redirect to RESP2 subscribers / a RESP3 client.
    cl["sub2"] = Actor(port)
    cl["sub2"].call("SUBSCRIBE", "__redis__:invalidate")
    cl["r2"] = Actor(port)
    cl["r2"].call("CLIENT", "TRACKING", "on", "REDIRECT", cl["sub2"].id())
    cl["r2b"] = Actor(port)
    cl["r2b"].call("CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "b:", "REDIRECT", cl["redir3"].id())
    cl["default"].call("CLIENT", "TRACKING", "on")
    cl["bcast"].call("CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "a:", "PREFIX", "c")
    cl["optin"].call("CLIENT", "TRACKING", "on", "OPTIN")
    cl["optout"].call("CLIENT", "TRACKING", "on", "OPTOUT")
    cl["noloop"].call("CLIENT", "TRACKING", "on", "NOLOOP")
    cl["bnoloop"].call("CLIENT", "TRACKING", "on", "BCAST", "NOLOOP")
    return ctl, cl


def read_cmd(rng):
    k = rng.choice(KEYS)
    return rng.choice([
        ["GET", k],
        ["MGET", k, rng.choice(KEYS)],
        ["EXISTS", k],
        ["STRLEN", k],
        ["TTL", k],
        ["EVAL_RO", "return redis.call('exists', KEYS[1])", 1, k],
    ])


def write_cmd(rng):
    k = rng.choice(KEYS)
    v = str(rng.randrange(100))
    return rng.choice([
        ["SET", k, v],
        ["SET", k, v],
        ["DEL", k],
        ["APPEND", k, v],
        ["MSET", k, v, rng.choice(KEYS), v],
        ["EXPIRE", k, 100],
        ["EVAL", "redis.call('get', KEYS[1]); return redis.call('set', KEYS[2], ARGV[1])",
         2, k, rng.choice(KEYS), v],
        ["EVAL", "return redis.call('exists', KEYS[1])", 1, k],
    ])


def stream(seed, n):
    """(actor, kind, commands) steps: reads and writes by tracking clients and the writer,
    transactions, lazy expiries, flushes, SWAPDB, CLIENT CACHING around reads."""
    rng = random.Random(seed)
    readers = ["default", "bcast", "optin", "optout", "noloop", "bnoloop", "r2", "r2b", "redir3"]
    steps = []
    for _ in range(n):
        x = rng.random()
        if x < 0.4:
            who = rng.choice(readers)
            cmds = []
            if who in ("optin", "optout") and rng.random() < 0.5:
                cmds.append(["CLIENT", "CACHING", "yes" if who == "optin" else "no"])
            cmds.append(read_cmd(rng))
            steps.append((who, "cmds", cmds))
        elif x < 0.8:
            who = rng.choice(["w", "w", "w", "default", "noloop", "bnoloop", "bcast"])
            steps.append((who, "cmds", [write_cmd(rng)]))
        elif x < 0.88:
            who = rng.choice(["w", "default", "noloop", "optin"])
            body = [rng.choice([read_cmd, write_cmd])(rng) for _ in range(rng.randrange(1, 4))]
            pre = [["CLIENT", "CACHING", "yes"]] if who == "optin" else []
            steps.append((who, "cmds", pre + [["MULTI"]] + body + [["EXEC"]]))
        elif x < 0.94:
            k = rng.choice(KEYS)
            steps.append(("w", "expire", [["SET", k, "v", "PX", 1]]))
        elif x < 0.97:
            steps.append((rng.choice(["w", "default"]), "cmds", [["FLUSHDB"]]))
        else:
            steps.append(("w", "cmds", [["SWAPDB", 0, 1]]))
    return steps


def transcripts(port, steps):
    ctl, cl = setup_clients(port)
    try:
        for who, kind, cmds in steps:
            for c in cmds:
                cl[who].call(*c)
            if kind == "expire":
                time.sleep(0.005)
        # A last command on each connection: everything sent before it has arrived.
        for name, a in cl.items():
            if name == "sub2":
                a.conn.send(["PING"])
                a.drain(b"*2\r\n$4\r\npong\r\n$0\r\n\r\n")
            else:
                a.call("PING")
        return {name: a.frames for name, a in cl.items()}
    finally:
        ctl.call("DEBUG", "SET-ACTIVE-EXPIRE", "1", record=False)
        ctl.close()
        for a in cl.values():
            a.close()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_invalidations_match_redis(amber_and_redis, seed):
    steps = stream(seed, 300)
    got = [transcripts(s.port, steps) for s in amber_and_redis]
    pushes = sum(f.startswith(b">") for fr in got[1].values() for f in fr)
    assert pushes > 50, "the stream should make Redis send invalidations"
    for name in got[1]:
        a, r = got[0][name], got[1][name]
        for i, (x, y) in enumerate(zip(a, r)):
            assert x == y, (name, i, a[max(0, i - 3):i + 3], r[max(0, i - 3):i + 3])
        assert len(a) == len(r), (name, a[len(r):], r[len(a):])


BAD = [
    ["CLIENT", "TRACKING", "maybe"],
    ["CLIENT", "TRACKING", "on", "nonsense"],
    ["CLIENT", "TRACKING", "on", "PREFIX"],
    ["CLIENT", "TRACKING", "on", "REDIRECT"],
    ["CLIENT", "TRACKING", "on", "REDIRECT", "abc"],
    ["CLIENT", "TRACKING", "on", "REDIRECT", "987654"],
    ["CLIENT", "TRACKING", "on", "REDIRECT", "0"],
    ["CLIENT", "TRACKING", "on", "REDIRECT", "-1"],
    ["CLIENT", "TRACKING", "on", "PREFIX", "a"],
    ["CLIENT", "TRACKING", "on", "BCAST", "OPTIN"],
    ["CLIENT", "TRACKING", "on", "BCAST", "OPTOUT"],
    ["CLIENT", "TRACKING", "on", "OPTIN", "OPTOUT"],
    ["CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "ab", "PREFIX", "a"],
    ["CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "a", "PREFIX", "ab"],
    ["CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "", "PREFIX", "x"],
    ["CLIENT", "TRACKING"],
    ["CLIENT", "CACHING", "yes"],
    ["CLIENT", "CACHING", "maybe"],
    ["CLIENT", "CACHING"],
    ["CLIENT", "GETREDIR", "x"],
    ["CLIENT", "TRACKINGINFO", "x"],
]

# Sequences on one connection: switching modes, caching in the wrong mode, overlapping prefixes.
SEQUENCES = [
    [["CLIENT", "TRACKING", "on"], ["CLIENT", "TRACKING", "on", "BCAST"]],
    [["CLIENT", "TRACKING", "on", "BCAST"], ["CLIENT", "TRACKING", "on"]],
    [["CLIENT", "TRACKING", "on", "OPTIN"], ["CLIENT", "TRACKING", "on", "OPTOUT"]],
    [["CLIENT", "TRACKING", "on", "OPTOUT"], ["CLIENT", "TRACKING", "on", "OPTIN"]],
    [["CLIENT", "TRACKING", "on", "OPTOUT"], ["CLIENT", "CACHING", "yes"], ["CLIENT", "CACHING", "no"],
     ["CLIENT", "TRACKINGINFO"], ["PING"], ["CLIENT", "TRACKINGINFO"]],
    [["CLIENT", "TRACKING", "on", "OPTIN"], ["CLIENT", "CACHING", "no"], ["CLIENT", "CACHING", "yes"],
     ["CLIENT", "TRACKINGINFO"], ["MULTI"], ["GET", "x"], ["EXEC"], ["CLIENT", "TRACKINGINFO"]],
    [["CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "ab"], ["CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "a"]],
    [["CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "a"], ["CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "b"],
     ["CLIENT", "TRACKINGINFO"], ["CLIENT", "GETREDIR"], ["CLIENT", "TRACKING", "off"],
     ["CLIENT", "TRACKINGINFO"], ["CLIENT", "GETREDIR"]],
    [["CLIENT", "TRACKING", "on", "NOLOOP", "OPTIN"], ["CLIENT", "TRACKINGINFO"], ["CLIENT", "GETREDIR"],
     ["RESET"], ["CLIENT", "TRACKINGINFO"]],
    [["CLIENT", "TRACKING", "off"], ["CLIENT", "TRACKINGINFO"], ["CLIENT", "GETREDIR"]],
]


@pytest.mark.parametrize("resp", [2, 3])
def test_argument_errors_and_info_match_redis(amber_and_redis, resp):
    for cmds in [[c] for c in BAD] + SEQUENCES:
        got = []
        for s in amber_and_redis:
            a = Actor(s.port, resp=resp)
            try:
                got.append([a.call(*c).raw for c in cmds])
            finally:
                a.close()
        assert got[0] == got[1], (cmds, got)


def client_list_fields(actor, id_):
    line = actor.call("CLIENT", "LIST", "ID", id_).text().decode()
    fields = dict(kv.split("=", 1) for kv in line.split())
    return fields["flags"], fields["redir"]


def test_broken_redirect_and_client_list(amber_and_redis):
    out = []
    for s in amber_and_redis:
        t, r, w = Actor(s.port, resp=3), Actor(s.port), Actor(s.port)
        w.call("FLUSHALL")
        rid = r.id()
        t.call("CLIENT", "TRACKING", "on", "REDIRECT", rid)
        t.call("GET", "k")
        flags_before = client_list_fields(w, t.id())
        assert flags_before == ("t", str(rid))
        r.close()
        deadline = time.time() + 5
        while time.time() < deadline:
            if str(rid) not in w.call("CLIENT", "LIST").text().decode():
                break
            time.sleep(0.01)
        w.call("SET", "k", "1")
        t.call("PING")
        info = t.call("CLIENT", "TRACKINGINFO").raw
        flags_after = client_list_fields(w, t.id())
        b = Actor(s.port, resp=3)
        b.call("CLIENT", "TRACKING", "on", "BCAST")
        bflags = client_list_fields(w, b.id())
        norm = [f.replace(b":%d\r\n" % rid, b":<rid>\r\n") for f in t.frames + [info]]
        out.append((norm, flags_after[0], flags_after[1] == str(rid), bflags))
        for a in (t, w, b):
            a.close()
    assert out[0] == out[1], out
    assert any(b"tracking-redir-broken" in f for f in out[0][0])
    assert out[0][1:] == ("tR", True, ("tB", "0"))


def info_fields(actor):
    text = actor.call("INFO").text().decode()
    f = dict(line.split(":", 1) for line in text.split("\r\n") if ":" in line)
    return {k: f[k] for k in ("tracking_clients", "tracking_total_keys", "tracking_total_items",
                              "tracking_total_prefixes")}


def test_info_fields_match_redis(amber_and_redis):
    got = []
    for s in amber_and_redis:
        w = Actor(s.port)
        w.call("FLUSHALL")
        a, b, c = Actor(s.port, resp=3), Actor(s.port, resp=3), Actor(s.port, resp=3)
        a.call("CLIENT", "TRACKING", "on")
        b.call("CLIENT", "TRACKING", "on")
        c.call("CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "x", "PREFIX", "y")
        a.call("MGET", "k1", "k2", "k3")
        b.call("GET", "k1")
        snap = [info_fields(w)]
        w.call("SET", "k1", "v")
        snap.append(info_fields(w))
        b.close()
        a.call("CLIENT", "TRACKING", "off")
        time.sleep(0.1)
        snap.append(info_fields(w))
        w.call("FLUSHALL")
        snap.append(info_fields(w))
        got.append(snap)
        for x in (w, a, c):
            x.close()
    assert got[0] == got[1], got
    assert got[0][0]["tracking_total_items"] == "4"


def test_table_max_keys_invalidates_like_redis(amber_and_redis):
    """Over tracking-table-max-keys, the next command drops entries (at random, as Redis): the
    client is told about as many keys as Redis tells, each one it had read."""
    got = []
    for s in amber_and_redis:
        w, t = Actor(s.port), Actor(s.port, resp=3)
        w.call("FLUSHALL")
        t.call("CLIENT", "TRACKING", "on")
        w.call("CONFIG", "SET", "tracking-table-max-keys", "2")
        t.call("MGET", "k1", "k2", "k3", "k4", "k5")
        t.call("PING")
        keys = sorted(f for f in t.frames if f.startswith(b">"))
        got.append((len(keys), info_fields(w)["tracking_total_keys"]))
        assert all(any(b"$2\r\nk%d\r\n" % i in f for i in range(1, 6)) for f in keys)
        w.call("CONFIG", "SET", "tracking-table-max-keys", "1000000")
        w.close()
        t.close()
    assert got[0] == got[1] == (3, "2"), got


def test_eviction_invalidates_like_redis(amber_and_redis):
    """An evicted key's trackers are told, in the same place of their transcript as Redis: by
    the eviction CONFIG SET maxmemory causes at once, and by one before a command."""
    got = []
    for s in amber_and_redis:
        w, t = Actor(s.port), Actor(s.port, resp=3)
        w.call("FLUSHALL")
        w.call("CONFIG", "SET", "maxmemory-policy", "volatile-lru")
        for i in range(20):
            w.call("SET", f"keep{i}", "x" * 1000)
        big = "y" * 400_000
        w.call("SET", "vol", big, "EX", 1000)
        t.call("CLIENT", "TRACKING", "on")
        t.call("STRLEN", "vol")
        t.call("STRLEN", "keep1")
        used = int(dict(l.split(":", 1) for l in w.call("INFO", "memory").text().decode().split("\r\n")
                        if ":" in l)["used_memory"])
        # Below what is used by about half the big value: evicting it is enough.
        t.call("CONFIG", "SET", "maxmemory", str(used - 200_000))
        t.call("EXISTS", "vol")
        t.call("CONFIG", "SET", "maxmemory", "0")
        w.call("SET", "vol2", big, "EX", 1000)
        t.call("STRLEN", "vol2")
        used = int(dict(l.split(":", 1) for l in w.call("INFO", "memory").text().decode().split("\r\n")
                        if ":" in l)["used_memory"])
        w.call("CONFIG", "SET", "maxmemory", str(used + 100_000))
        w.call("SET", "grow", "z" * 300_000)  # over the limit after this write
        t.call("GET", "keep2")  # the eviction before this command tells t first
        w.call("CONFIG", "SET", "maxmemory", "0")
        t.call("PING")
        got.append(t.frames)
        w.close()
        t.close()
    assert got[0] == got[1], got
    assert sum(f.startswith(b">") for f in got[0]) == 2
