"""Runs a generated command stream against two servers and compares every reply.

Server A is always the real Redis 7.0.15 (the reference); server B is Amber (or a second Redis,
to prove the harness itself: two Redis servers must always agree). Each server gets four
connections: `main` runs the stream, `other` runs blocking commands and writes that must come
from another client, `sub` stays subscribed to a few channels and patterns (so PUBLISH counts
and deliveries are compared), and `insp` inspects datasets and blocked clients.

The first difference raises `Mismatch`, whose text gives the seed, the op index, the command,
both replies, the last commands and the command line that reproduces it."""

import collections
import re
import time

from . import gen as G
from .resp import Conn, ServerGone
from .shapes import SHAPES

# Servers run with small encoding limits so that conversions happen with few elements.
SERVER_ARGS = ["--hash-max-listpack-entries", "16", "--zset-max-listpack-entries", "16",
               "--set-max-intset-entries", "16", "--stream-node-max-entries", "8"]

UNORDERED = {"enc_set": "set", "enc_vals": "set", "enc_pairs": "pairs"}
TOLERANCE = {"ttl": 1, "exptime": 1, "pttl": 1500, "pexptime": 1500}


class Mismatch(AssertionError):
    pass


def show(frames):
    if isinstance(frames, list):
        return " ".join(repr(f) for f in frames) if frames else "(nothing)"
    return repr(frames)


# ---- comparison of one reply ----------------------------------------------------------------
def pairs_of(f):
    """A map or flat field/value array (or an array of 2-element arrays) as a list of pairs."""
    items = f.items()
    if items and all(x.kind == "*" and x.val is not None and len(x.val) == 2 for x in items) \
            and f.kind != "%":
        return [(x.val[0].raw, x.val[1].raw) for x in items]
    return [(items[i].raw, items[i + 1].raw if i + 1 < len(items) else b"") for i in range(0, len(items), 2)]


def hello_view(f):
    if not f.is_agg():
        return f.raw
    items = f.items()
    out = [f.kind]
    i = 0
    while i < len(items):
        out.append(items[i].raw)
        if items[i].val == b"id" and i + 1 < len(items):
            out.append(b"<id>")
            i += 2
            continue
        i += 1
    return out


COLLISION = re.compile(rb"^(-ERR Library|-ERR Function) \S+ (already exists\r\n)$")
SORT_SCORE_ERROR = b"-ERR One or more scores can't be converted into double\r\n"


def differ(mode, a, b, subs=None):
    """None when frames `a` (reference) and `b` agree under `mode`, else a reason."""
    if mode == "sort_num" and a.raw == SORT_SCORE_ERROR and not b.is_error():
        # Redis 7.0's SORT tests errno == ERANGE after strtod without clearing errno first:
        # an ERANGE left by an earlier command (ZADD 1e400) fails a valid numeric SORT.
        # Amber judges each conversion alone; tests/test_sort.py checks its refusals.
        return None
    if mode == "fload" and a.is_error() and b.is_error():
        # Which name collides first depends on dict orders (the library's functions, a payload).
        return None if COLLISION.sub(rb"\1 <name> \2", a.raw) == COLLISION.sub(rb"\1 <name> \2", b.raw) \
            else "replies differ"
    if mode == "exact" or mode == "fload" or a.is_error() or b.is_error():
        return None if a.raw == b.raw else "replies differ"
    if mode == "sort_num":
        return None if a.raw == b.raw else "replies differ"
    if mode == "set":
        if a.is_agg() and b.is_agg():
            if a.kind != b.kind:
                return "aggregate types differ"
            sa = sorted(x.raw for x in a.items())
            sb = sorted(x.raw for x in b.items())
            return None if sa == sb else "elements differ (compared as a multiset)"
        return None if a.raw == b.raw else "replies differ"
    if mode == "pairs":
        if a.is_agg() and b.is_agg():
            if a.kind != b.kind:
                return "aggregate types differ"
            return None if sorted(pairs_of(a)) == sorted(pairs_of(b)) else \
                "pairs differ (compared as a multiset)"
        return None if a.raw == b.raw else "replies differ"
    if mode in TOLERANCE:
        if a.kind == ":" and b.kind == ":" and a.val >= 0 and b.val >= 0:
            return None if abs(a.val - b.val) <= TOLERANCE[mode] else \
                f"differ by more than {TOLERANCE[mode]}"
        return None if a.raw == b.raw else "replies differ"
    if mode == "hello":
        return None if hello_view(a) == hello_view(b) else "HELLO replies differ (id ignored)"
    if mode in SHAPES:
        return None if SHAPES[mode](a) == SHAPES[mode](b) else f"replies differ (compared as {mode})"
    if mode == "exec":
        subs = subs or []
        if a.kind == "*" and b.kind == "*" and a.val is not None and b.val is not None \
                and len(a.val) == len(b.val) == len(subs):
            for i, (x, y, m) in enumerate(zip(a.val, b.val, subs)):
                why = differ(UNORDERED.get(m, m), x, y)
                if why:
                    return f"EXEC element {i}: {why}"
            return None
        return None if a.raw == b.raw else "replies differ"
    raise ValueError(f"unknown comparison mode {mode}")


def differ_frames(mode, fa, fb, subs=None):
    if len(fa) != len(fb):
        return f"{len(fa)} vs {len(fb)} frames"
    if mode == "unsub_all":
        if [f.kind for f in fa] != [f.kind for f in fb]:
            return "frame types differ"
        for f in fa + fb:
            if len(f.items()) != 3:
                return "a confirmation is not a 3-element push"
        if [f.items()[2].raw for f in fa] != [f.items()[2].raw for f in fb]:
            return "subscription counts differ"
        if sorted(f.items()[1].raw for f in fa) != sorted(f.items()[1].raw for f in fb):
            return "unsubscribed channels differ"
        if {f.items()[0].raw for f in fa + fb} != {fa[0].items()[0].raw}:
            return "confirmation kinds differ"
        return None
    for i, (a, b) in enumerate(zip(fa, fb)):
        why = differ(mode, a, b, subs)
        if why:
            return why if len(fa) == 1 else f"frame {i}: {why}"
    return None


# ---- properties of random replies ------------------------------------------------------------
def to_int(b):
    try:
        return int(b)
    except (TypeError, ValueError):
        return None


def context_of(kind, f):
    """The collection a random command draws from, from SMEMBERS / HGETALL / ZRANGE / KEYS."""
    if f.is_error():
        return None
    if kind in ("set", "keys"):
        return {x.val for x in f.items()}
    if kind in ("hash", "zset"):
        items = f.items()
        if items and items[0].kind == "*":
            return {x.val[0].val: x.val[1].val for x in items}
        return {items[i].val: items[i + 1].val for i in range(0, len(items) - 1, 2)}
    raise ValueError(kind)


def random_problem(args, f, ctx, kind):
    """None when reply `f` of random command `args` is consistent with collection `ctx`."""
    name = args[0].upper()
    if name == b"RANDOMKEY":
        if not ctx:
            return None if f.is_null() else "RANDOMKEY on an empty database must be null"
        return None if f.kind == "$" and f.val in ctx else "RANDOMKEY returned a missing key"
    if len(args) < 3:
        if not ctx:
            return None if f.is_null() else "expected null for a missing key"
        if f.kind != "$" or f.val not in ctx:
            return "the reply is not an element of the collection"
        return None
    n = to_int(args[2])
    with_values = len(args) > 3
    if not f.is_agg():
        return "expected an aggregate reply"
    items = f.items()
    if with_values and kind in ("hash", "zset"):
        if items and items[0].kind == "*":
            got = [(x.val[0].val, x.val[1].val) for x in items if x.val and len(x.val) == 2]
            if len(got) != len(items):
                return "malformed pairs"
        else:
            if len(items) % 2:
                return "odd number of elements for pairs"
            got = [(items[i].val, items[i + 1].val) for i in range(0, len(items), 2)]
        for k, v in got:
            if not ctx or k not in ctx or ctx[k] != v:
                return f"pair {k!r}={v!r} is not in the collection"
        elems = [k for k, _ in got]
    else:
        elems = [x.val for x in items]
        for e in elems:
            if not ctx or e not in ctx:
                return f"{e!r} is not in the collection"
    size = len(ctx) if ctx else 0
    if n is None:
        return "count is not an integer but the reply is not an error"
    if n >= 0:
        if len(elems) != min(n, size):
            return f"expected {min(n, size)} elements, got {len(elems)}"
        if len(set(elems)) != len(elems):
            return "repeated elements for a positive count"
    else:
        want = 0 if size == 0 else -n
        if len(elems) != want:
            return f"expected {want} elements, got {len(elems)}"
    return None


# ---- the two sides -------------------------------------------------------------------------
class Side:
    def __init__(self, name, port, g, timeout):
        self.name = name
        self.port = port
        self.msgs = []
        self.sub_proto = g.sub_proto
        self.insp = Conn(port, timeout, f"{name} (inspector)")
        self.main = Conn(port, timeout, f"{name} (main)")
        self.other = Conn(port, timeout, f"{name} (other)")
        self.sub = Conn(port, timeout, f"{name} (subscriber)")

    def conn(self, which):
        return getattr(self, which)

    def close(self):
        for c in (self.main, self.other, self.sub, self.insp):
            c.close()


class Runner:
    def __init__(self, seed, port_a, port_b, name_b="amber", families=None, timeout=10.0,
                 count=None, history=20):
        self.seed = seed
        self.families = families
        self.count = count
        self.gen = G.Gen(seed, families)
        self.sides = [Side("redis", port_a, self.gen, timeout), Side(name_b, port_b, self.gen, timeout)]
        self.history = collections.deque(maxlen=history)
        self.index = 0
        self.commands = 0
        self.checks = 0
        self.digests = 0
        self.current = G.Op(["(setup)"])

    # -- reporting --
    def repro(self):
        cmd = f"python3 -m tests.diff --seed {self.seed}"
        if self.count:
            cmd += f" --count {self.count}"
        if self.families:
            cmd += f" --families {','.join(self.families)}"
        return cmd

    def fail(self, op, why, fa=None, fb=None):
        lines = [f"DIFFERENTIAL MISMATCH: seed={self.seed} op #{self.index}: {why}",
                 f"  command : {op!r}"]
        if op.extra.get("for") is not None:
            lines.append(f"  issued by the harness for: {op.extra['for']!r}")
        if fa is not None:
            lines.append(f"  {self.sides[0].name:8}: {show(fa)}")
            lines.append(f"  {self.sides[1].name:8}: {show(fb)}")
        lines.append(f"  last {len(self.history)} ops before it (with the reference's reply):")
        for i, o, r in self.history:
            lines.append(f"    #{i}: {o!r}  ->  {r}")
        lines.append(f"  reproduce: {self.repro()}")
        raise Mismatch("\n".join(lines))

    # -- setup --
    def setup(self):
        g = self.gen
        for s in self.sides:
            s.insp.call("FLUSHALL")
            for args in (["SCRIPT", "FLUSH"], ["FUNCTION", "FLUSH"],
                         ["CONFIG", "SET", "notify-keyspace-events", "KEA" if "notify" in g.families else ""]):
                r = s.insp.call(*args)
                if r.is_error():
                    raise Mismatch(f"{s.name}: {' '.join(args)} failed: {r!r}")
        for s in self.sides:
            # Subscribers of an earlier stream may still be going away.
            deadline = time.time() + 5
            while time.time() < deadline:
                n = s.insp.call("PUBSUB", "NUMPAT")
                ch = s.insp.call("PUBSUB", "CHANNELS")
                if n.is_error() or (n.val == 0 and not ch.items()):
                    break
                time.sleep(0.01)
            for conn, proto in ((s.main, g.proto), (s.other, g.other_proto), (s.sub, g.sub_proto)):
                if proto == 3:
                    r = conn.call("HELLO", "3")
                    if r.is_error():
                        raise Mismatch(f"{s.name}: HELLO 3 failed: {r!r}")
            subs = [["SUBSCRIBE"] + G.SUB_CHANNELS, ["PSUBSCRIBE"] + G.SUB_PATTERNS]
            if "shardpubsub" in g.families:
                subs.append(["SSUBSCRIBE"] + G.SUB_SHARDS)
            if "notify" in g.families:
                subs.append(["PSUBSCRIBE"] + G.SUB_NOTIFY)
            s.sub.send(*subs)
            for _ in range(sum(len(x) - 1 for x in subs)):
                s.sub.read()

    # -- reading --
    def read(self, side, which, n):
        conn = side.conn(which)
        frames = []
        while len(frames) < n:
            f = conn.read()
            if which == "main" and conn.parser.pushes:
                side.msgs += [p.raw for p in conn.parser.pushes]
                conn.parser.pushes.clear()
            if which == "main" and f.kind == ">" and f.items() and \
                    f.items()[0].val in (b"message", b"pmessage", b"smessage"):
                side.msgs.append(f.raw)
                continue
            frames.append(f)
        return frames

    def exchange(self, op, mode=None):
        """Sends `op` to both servers, reads and compares the replies; returns the reference's."""
        for s in self.sides:
            s.conn(op.conn).send(op.args)
        self.commands += 1
        fa = self.read(self.sides[0], op.conn, op.nframes)
        fb = self.read(self.sides[1], op.conn, op.nframes)
        why = differ_frames(mode or op.cmp, fa, fb, op.extra.get("subs"))
        if why:
            self.fail(op, why, fa, fb)
        return fa

    # -- op kinds --
    def run_cmd(self, op):
        mode = op.cmp
        if mode in UNORDERED:
            mode = UNORDERED[mode]
            if not op.in_multi and self.gen.full and op.key is not None:
                enc = self.exchange(G.Op(["OBJECT", "ENCODING", op.key], extra={"for": op}))[0]
                if enc.val in (b"listpack", b"intset", b"ziplist"):
                    mode = "exact"
        elif op.in_multi and op.cmp != "exact":
            mode = op.cmp
        return self.exchange(op, mode)

    def run_random(self, op):
        kind = op.extra["ctx"]
        fetch = {"set": ["SMEMBERS", op.key], "hash": ["HGETALL", op.key],
                 "zset": ["ZRANGE", op.key, "0", "-1", "WITHSCORES"], "keys": ["KEYS", "*"]}[kind]
        mode = {"set": "set", "keys": "set", "hash": "pairs", "zset": "exact"}[kind]
        ctx = context_of(kind, self.exchange(G.Op(fetch, extra={"for": op}), mode)[0])
        for s in self.sides:
            s.main.send(op.args)
        self.commands += 1
        fa = self.read(self.sides[0], "main", 1)
        fb = self.read(self.sides[1], "main", 1)
        a, b = fa[0], fb[0]
        if a.is_error() or b.is_error() or a.is_null() or b.is_null():
            why = differ("exact", a, b)
        elif a.kind != b.kind:
            why = "reply types differ"
        else:
            why = None
            for side, f in zip(self.sides, (a, b)):
                p = random_problem(op.args, f, ctx, kind)
                if p:
                    why = f"{side.name}: {p}"
                    break
        if why:
            self.fail(op, why + " (random reply checked by properties)", fa, fb)
        for r in op.extra.get("resync", []):
            r.extra["for"] = op
            self.exchange(r)
        return fa

    def run_scan(self, op):
        name = op.args[0].upper()
        ci = 1 if name == b"SCAN" else 2
        results = []
        for s in self.sides:
            cursor = b"0"
            seen = []
            first = None
            for _ in range(100000):
                args = list(op.args)
                args[ci] = cursor
                s.main.send(args)
                self.commands += 1
                f = self.read(s, "main", 1)[0]
                first = first or f
                if f.is_error() or f.kind != "*" or len(f.items()) != 2:
                    break
                cursor = f.items()[0].val
                seen += [x.raw for x in f.items()[1].items()]
                if cursor == b"0":
                    break
            else:
                self.fail(op, f"{s.name}: the SCAN iteration did not end")
            results.append((first, seen))
        (fa, ea), (fb, eb) = results
        if fa.is_error() or fb.is_error() or fa.kind != "*" or fb.kind != "*":
            why = differ("exact", fa, fb)
            if why:
                self.fail(op, why, [fa], [fb])
            return [fa]
        if name in (b"HSCAN", b"ZSCAN"):
            pa = set(zip(ea[0::2], ea[1::2]))
            pb = set(zip(eb[0::2], eb[1::2]))
            if pa != pb or len(ea) % 2 or len(eb) % 2:
                self.fail(op, f"full iterations differ: only reference {sorted(pa - pb)[:10]}, "
                              f"only other {sorted(pb - pa)[:10]}")
        elif set(ea) != set(eb):
            self.fail(op, f"full iterations differ: only reference {sorted(set(ea) - set(eb))[:10]}, "
                          f"only other {sorted(set(eb) - set(ea))[:10]}")
        return [fa]

    def run_frestore(self, op):
        """FUNCTION DUMP on each server, then FUNCTION RESTORE of its own payload (with the
        policy in op.args[3:]), maybe after a FUNCTION FLUSH. The payloads list libraries in
        dict order: they are compared byte for byte only when there is at most one library."""
        dumps = []
        for s in self.sides:
            s.main.send(["FUNCTION", "DUMP"])
            dumps.append(self.read(s, "main", 1)[0])
        self.commands += 1
        stats = self.sides[0].insp.call("FUNCTION", "STATS")
        libs = stats.items()[3].items()[1].items()[1].val if len(stats.items()) == 4 else None
        if libs is not None and libs <= 1:
            why = differ("exact", dumps[0], dumps[1])
        else:  # the same libraries in another order: the same length
            why = None if (dumps[0].kind, len(dumps[0].raw)) == (dumps[1].kind, len(dumps[1].raw)) \
                else "reply types or lengths differ"
        if why:
            self.fail(op, f"FUNCTION DUMP: {why}", [dumps[0]], [dumps[1]])
        if op.extra.get("flush_first"):
            self.exchange(G.Op(["FUNCTION", "FLUSH"], extra={"for": op}))
        if dumps[0].kind != "$" or dumps[0].val is None:
            return dumps[:1]
        for s, d in zip(self.sides, dumps):
            s.main.send([b"FUNCTION", b"RESTORE", d.val] + op.args[3:])
        self.commands += 1
        fa = self.read(self.sides[0], "main", 1)
        fb = self.read(self.sides[1], "main", 1)
        why = differ_frames("fload", fa, fb)
        if why:
            self.fail(op, "FUNCTION RESTORE of the own dump: " + why, fa, fb)
        return fa

    def wait_blocked(self, side, op):
        """Until the other connection is blocked on the server or has its reply."""
        deadline = time.time() + 5
        while time.time() < deadline:
            if side.other.ready():
                return
            info = side.insp.call("INFO", "clients")
            m = re.search(rb"blocked_clients:(\d+)", info.val or b"")
            if m and int(m.group(1)) >= 1:
                return
            time.sleep(0.001)
        self.fail(op, f"{side.name}: the blocking command neither replied nor showed up in "
                      f"INFO clients blocked_clients within 5s")

    def run_block(self, op):
        for s in self.sides:
            s.other.send(op.args)
        self.commands += 1
        push = op.extra["push"]
        if push:
            for s in self.sides:
                self.wait_blocked(s, op)
            for p in push:
                self.history.append((self.index, p, "(push for the blocked client)"))
                self.run_cmd(p)
        fa = self.read(self.sides[0], "other", 1)
        fb = self.read(self.sides[1], "other", 1)
        why = differ_frames("exact", fa, fb)
        if why:
            self.fail(op, "blocking command: " + why, fa, fb)
        return fa

    def compare_messages(self, op):
        a, b = self.sides[0].msgs, self.sides[1].msgs
        if sorted(a) != sorted(b):
            self.fail(op, "pub/sub messages received by the main connection differ", a, b)
        a.clear()
        b.clear()
        drained = []
        for s in self.sides:
            s.sub.send(["PING"])
            got = []
            while True:
                f = s.sub.read()
                if (f.kind == "+" and f.val == b"PONG") or \
                        (f.kind == "*" and f.items() and f.items()[0].val == b"pong"):
                    break
                got.append(f.raw)
            drained.append(got)
        keyspace = [[m for m in d if b"__keyspace@" in m or b"__keyevent@" in m] for d in drained]
        if keyspace[0] != keyspace[1]:
            i = next((i for i, (x, y) in enumerate(zip(*keyspace)) if x != y), min(map(len, keyspace)))
            lo = max(0, i - 2)
            self.fail(op, f"keyspace notifications received by the subscriber connection differ "
                          f"(compared in order): first at message {i} of {len(keyspace[0])} / "
                          f"{len(keyspace[1])}; shown from message {lo}",
                      keyspace[0][lo:i + 3], keyspace[1][lo:i + 3])
        drained = [sorted(d) for d in drained]
        if drained[0] != drained[1]:
            self.fail(op, "messages received by the subscriber connection differ "
                          "(compared as a multiset)", drained[0], drained[1])

    def compare_datasets(self, op):
        self.checks += 1
        self.compare_messages(op)
        ia, ib = self.sides[0].insp, self.sides[1].insp

        def dual(args, mode, what):
            self.commands += 1
            ia.send(list(args))
            ib.send(list(args))
            a, b = ia.read(), ib.read()
            why = differ(mode, a, b)
            if why:
                self.fail(op, f"datasets differ: {what}: {why}", [a], [b])
            return a

        for db in range(G.NDB):
            dual(["SELECT", db], "exact", f"SELECT {db}")
            dual(["DBSIZE"], "exact", f"db {db} DBSIZE")
            if not self.gen.full:
                for k in G.ALL_KEYS:
                    dual(["GET", k], "exact", f"db {db} GET {k!r}")
                continue
            keys = sorted(f.val for f in dual(["KEYS", "*"], "set", f"db {db} KEYS *").items())
            for k in keys:
                t = dual(["TYPE", k], "exact", f"db {db} TYPE {k!r}").val
                enc = dual(["OBJECT", "ENCODING", k], "exact", f"db {db} OBJECT ENCODING {k!r}").val
                dual(["PTTL", k], "pttl", f"db {db} PTTL {k!r}")
                ordered = enc in (b"listpack", b"intset", b"ziplist")
                if t == b"string":
                    dual(["GET", k], "exact", f"db {db} GET {k!r}")
                elif t == b"list":
                    dual(["LRANGE", k, "0", "-1"], "exact", f"db {db} LRANGE {k!r}")
                elif t == b"hash":
                    dual(["HGETALL", k], "exact" if ordered else "pairs", f"db {db} HGETALL {k!r}")
                elif t == b"set":
                    dual(["SMEMBERS", k], "exact" if ordered else "set", f"db {db} SMEMBERS {k!r}")
                elif t == b"zset":
                    dual(["ZRANGE", k, "0", "-1", "WITHSCORES"], "exact", f"db {db} ZRANGE {k!r}")
                elif t == b"stream":
                    dual(["XRANGE", k, "-", "+"], "exact", f"db {db} XRANGE {k!r}")
                    dual(["XINFO", "GROUPS", k], "exact", f"db {db} XINFO GROUPS {k!r}")
                    dual(["XINFO", "STREAM", k, "FULL"], "xtime", f"db {db} XINFO STREAM {k!r} FULL")
        if "functions" in self.gen.families:
            dual(["FUNCTION", "LIST", "WITHCODE"], "funclist", "FUNCTION LIST WITHCODE")
        self.compare_digests(op)

    def compare_digests(self, op):
        """DEBUG DIGEST of the two servers: covers every database, and what the commands above
        do not show (exact scores such as -0 in a skiplist, TTL presence, databases past NDB).
        On a difference, DEBUG DIGEST-VALUE per key says which keys differ."""
        ia, ib = self.sides[0].insp, self.sides[1].insp
        self.commands += 1
        self.digests += 1
        a, b = ia.call("DEBUG", "DIGEST"), ib.call("DEBUG", "DIGEST")
        if a.kind != "+" or b.kind != "+":
            self.fail(op, "DEBUG DIGEST did not give a status reply", [a], [b])
        if a.raw != b.raw:
            self.fail(op, "datasets differ: DEBUG DIGEST: " + self.digest_differences(), [a], [b])

    def digest_differences(self, limit=10):
        """The keys whose DEBUG DIGEST-VALUE differs between the servers, database by database."""
        ia, ib = self.sides[0].insp, self.sides[1].insp
        dbs = ia.call("CONFIG", "GET", "databases").items()
        ndb = int(dbs[1].val) if len(dbs) == 2 else 16
        found = []
        for db in range(ndb):
            ia.call("SELECT", db)
            ib.call("SELECT", db)
            ka = {f.val for f in ia.call("KEYS", "*").items()}
            kb = {f.val for f in ib.call("KEYS", "*").items()}
            keys = sorted(ka | kb)
            if not keys:
                continue
            va = [f.val for f in ia.call("DEBUG", "DIGEST-VALUE", *keys).items()]
            vb = [f.val for f in ib.call("DEBUG", "DIGEST-VALUE", *keys).items()]
            for k, x, y in zip(keys, va, vb):
                if x == y:
                    continue
                what = []
                for side, c in (("reference", ia), ("other", ib)):
                    t = c.call("TYPE", k).val
                    e = c.call("OBJECT", "ENCODING", k)
                    ttl = c.call("PTTL", k).val
                    what.append(f"{side} {t.decode()}/{e.val.decode() if e.kind == '$' and e.val else '-'}"
                                f" pttl={ttl}")
                found.append(f"db {db} key {k!r} ({', '.join(what)})")
        if not found:
            return "no key's DEBUG DIGEST-VALUE differs (keys present on one side only, or expired ones?)"
        more = f" and {len(found) - limit} more" if len(found) > limit else ""
        return "; ".join(found[:limit]) + more

    # -- main loop --
    def run(self, count):
        try:
            self.setup()
            for op in self.gen.stream(count):
                self.index += 1
                self.current = op
                if op.kind == "check":
                    self.compare_datasets(op)
                    continue
                if op.kind == "cmd":
                    fa = self.run_cmd(op)
                elif op.kind == "random":
                    fa = self.run_random(op)
                elif op.kind == "scan":
                    fa = self.run_scan(op)
                elif op.kind == "block":
                    fa = self.run_block(op)
                elif op.kind == "frestore":
                    fa = self.run_frestore(op)
                else:
                    raise ValueError(op.kind)
                if self.sides[0].msgs or self.sides[1].msgs:
                    a, b = sorted(self.sides[0].msgs), sorted(self.sides[1].msgs)
                    if a != b:
                        self.fail(op, "pub/sub messages received by the main connection differ", a, b)
                    self.sides[0].msgs.clear()
                    self.sides[1].msgs.clear()
                self.history.append((self.index, op, show(fa)))
        except ServerGone as e:
            self.fail(self.current, f"server problem: {e}")
        finally:
            for s in self.sides:
                s.close()
        return {"ops": self.index, "commands": self.commands, "checks": self.checks,
                "digests": self.digests}
