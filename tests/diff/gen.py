"""Seeded random command streams over the server core, for the differential harness.

The generator draws keys from a small pool (so commands interact, including on the wrong type),
mixes valid calls with bad arguments, wrong arity and edge values, and models just enough client
state to know how the stream must be read: the selected databases, the protocol, whether the main
connection is inside MULTI, and its pub/sub subscriptions (how many confirmations a command sends,
and which commands RESP2 refuses while subscribed).

Each `Op` says how its reply is compared (`cmp`):
  exact      byte for byte
  set        an aggregate compared as a multiset (KEYS, set algebra, PUBSUB CHANNELS)
  pairs      a map or flat field/value array compared as a multiset of pairs
  enc_set / enc_vals / enc_pairs
             exact when the key is listpack/intset-encoded (order is specified), otherwise as
             `set` / multiset / `pairs` (hashtable order is the server's hash order)
  ttl pttl exptime pexptime
             integers with a tolerance (relative expiries start at slightly different instants)
  hello      HELLO's map, without the client id
  unsub_all  a mass UNSUBSCRIBE: channel names as a set, the counts in sequence
  exec       EXEC's array, element by element with the queued commands' own modes
and `kind` says how it runs: cmd, block (a blocking command on the second connection, then a
push on the main one), scan (a full cursor iteration), random (a reply checked by properties
against the collection's contents, then a resync), check (compare the whole datasets)."""

import random

NDB = 4

FAMILIES = ("basic", "strings", "bitmaps", "sort", "keys", "lists", "hashes", "sets", "zsets", "tx", "blocking",
            "connection", "server", "pubsub")

# Relative weights of the families in a stream.
WEIGHTS = {"basic": 3, "strings": 14, "bitmaps": 6, "sort": 5, "keys": 12, "lists": 12, "hashes": 10, "sets": 10,
           "zsets": 14, "tx": 5, "blocking": 4, "connection": 3, "server": 2, "pubsub": 6}


class Op:
    __slots__ = ("args", "cmp", "conn", "kind", "nframes", "key", "extra", "in_multi")

    def __init__(self, args, cmp="exact", conn="main", kind="cmd", nframes=1, key=None, extra=None,
                 in_multi=False):
        self.args = [a if isinstance(a, bytes) else str(a).encode() for a in args]
        self.cmp = cmp
        self.conn = conn
        self.kind = kind
        self.nframes = nframes
        self.key = key if key is None or isinstance(key, bytes) else str(key).encode()
        self.extra = extra or {}
        self.in_multi = in_multi

    def __repr__(self):
        def show(a):
            try:
                s = a.decode()
                if s.isprintable() and " " not in s and s:
                    return s
            except UnicodeDecodeError:
                pass
            return repr(a)[1:]
        txt = " ".join(show(a) for a in self.args)
        tag = "" if self.conn == "main" else f"[{self.conn}] "
        if self.kind == "block":
            pushes = "; ".join(" ".join(show(a) for a in p.args) for p in self.extra.get("push", []))
            return f"[other] {txt}  ==> then on main: {pushes or '(nothing: wait for the timeout)'}"
        if self.kind == "check":
            return "(compare the datasets)"
        return f"{tag}{txt}"


BIN = b"\x00\xff\r\nbin"
LONG = b"L" * 70  # over the 64-byte listpack value limit and the 44-byte embstr limit

STR_KEYS = ["s0", "s1", "s2", "s3"]
LIST_KEYS = ["l0", "l1", "l2", "l3"]
HASH_KEYS = ["h0", "h1", "h2"]
SET_KEYS = ["t0", "t1", "t2", "t3"]
ZSET_KEYS = ["z0", "z1", "z2", "z3"]
# Lexicographic ranges are only defined when all scores are equal: these zsets only ever get
# score 0, and no other command writes them (they are not in ALL_KEYS).
LEX_KEYS = ["zl0", "zl1"]
OTHER_KEYS = ["k0", BIN, b""]
ALL_KEYS = STR_KEYS + LIST_KEYS + HASH_KEYS + SET_KEYS + ZSET_KEYS + OTHER_KEYS

INTS = ["0", "1", "-1", "7", "42", "100", "-100", "65535", "2147483648", "9223372036854775807",
        "-9223372036854775808", "9223372036854775808", "-9223372036854775809", "1.5", "abc", "",
        " 1", "+1", "0x1f", "010", "-0"]
FLOATS = ["0", "1", "1.5", "-2.25", "3.0e3", "1e-5", "inf", "-inf", "+inf", "nan", "1e308", "1e400",
          "abc", "", ".5", "5.", "-0", "0.1", "10.5", "3.14159265358979", "1e", " 1"]
VALUES = [b"v", b"hello", b"", b"0", b"1", b"-1", b"12345", b"3.5", b"9223372036854775807",
          b"99999999999999999999", LONG, BIN, b"a b c", b"x" * 44, b"x" * 45, b"\xe2\x82\xac"]
MEMBERS = [b"a", b"b", b"c", b"d", b"e", b"f", b"1", b"2", b"3", b"10", b"-5", b"100000",
           b"4294967296", b"", LONG, BIN]
FIELDS = [b"f0", b"f1", b"f2", b"f3", b"f4", b"f5", b"n", b"", LONG, BIN, b"1"]
SCORES = ["1", "2", "2.5", "-1", "0", "3", "10", "inf", "-inf", "+inf", "1e10", "0.1", "-0",
          "3.14159265358979", "1e400", "nan", "abc", ""]
CHANNELS = ["ch:0", "ch:1", "ch:2", "news", "sport", "x"]
PATTERNS = ["ch:*", "c?:[01]", "*", "n*s", "news", "s[^x]ort", "\\*"]

# The subscriber connection of each server listens to these for the whole stream.
SUB_CHANNELS = ["ch:0", "news"]
SUB_PATTERNS = ["ch:*", "n*s"]


# Commands whose effect on the client state the generator models: never mutated.
STATEFUL = {b"SELECT", b"HELLO", b"RESET", b"SUBSCRIBE", b"UNSUBSCRIBE", b"PSUBSCRIBE",
            b"PUNSUBSCRIBE", b"MULTI", b"EXEC", b"DISCARD"}


class Gen:
    def __init__(self, seed, families=None):
        self.rng = random.Random(seed)
        self.families = [f for f in FAMILIES if families is None or f in families]
        if not self.families:
            raise ValueError("no command family selected")
        self.weights = [WEIGHTS[f] for f in self.families]
        self.full = "keys" in self.families  # OBJECT, TYPE, KEYS... are available
        self.proto = 3 if seed % 2 else 2
        self.other_proto = 3 if (seed // 2) % 2 else 2
        self.sub_proto = 2 if (seed // 4) % 2 else 3
        self.db = 0
        self.other_db = 0
        self.channels = []  # the main connection's subscriptions, in order
        self.patterns = []
        self.in_multi = False

    # ---- helpers -----------------------------------------------------------------------------
    def pick(self, seq):
        return self.rng.choice(seq)

    def chance(self, p):
        return self.rng.random() < p

    def key(self, pool):
        return self.pick(pool) if self.chance(0.9) else self.pick(ALL_KEYS)

    def keys(self, pool, lo=1, hi=3):
        return [self.key(pool) for _ in range(self.rng.randint(lo, hi))]

    def int_arg(self, lo=-5, hi=10):
        return str(self.rng.randint(lo, hi)) if self.chance(0.85) else self.pick(INTS)

    def subscribed(self):
        return bool(self.channels or self.patterns)

    def restricted(self):
        """RESP2 clients may only run (P)(UN)SUBSCRIBE, PING, QUIT, RESET while subscribed."""
        return self.proto == 2 and self.subscribed()

    def mutate(self, op):
        """Occasionally breaks the arity: drops trailing arguments or adds a junk one."""
        if op.kind != "cmd" or len(op.args) < 1 or op.nframes != 1 or not self.chance(0.03):
            return op
        if op.args[0].upper() in STATEFUL:
            return op
        if len(op.args) > 1 and self.chance(0.6):
            op.args = op.args[: self.rng.randint(1, len(op.args) - 1)]
        else:
            op.args = op.args + [self.pick([b"junk", b"1", b"", b"-1"])]
        return op

    # ---- the stream --------------------------------------------------------------------------
    def stream(self, count, check_every=400):
        """Yields about `count` ops, with dataset checks along the way and at the end."""
        n = 0
        since_check = 0
        while n < count:
            for op in self.next_ops():
                yield op
                n += 1
                since_check += 1
            if since_check >= check_every and not self.in_multi:
                since_check = 0
                yield Op([], kind="check")
        for op in self.leave_special_states():
            yield op
        yield Op([], kind="check")

    def leave_special_states(self):
        ops = []
        if self.in_multi:
            ops.append(Op(["DISCARD"]))
            self.in_multi = False
        return ops

    def next_ops(self):
        db = self.db
        if self.restricted():
            ops = self.restricted_ops()
        else:
            fam = self.rng.choices(self.families, self.weights)[0]
            if fam == "tx":
                ops = self.tx_unit()
            elif fam == "blocking":
                ops = self.blocking_unit()
            else:
                ops = [self.mutate(o) for o in getattr(self, "fam_" + fam)()]
        for o in ops:
            o.extra.setdefault("db", db)
        return ops

    # ---- families: each returns a list of ops ------------------------------------------------
    def fam_basic(self):
        r = self.rng.random()
        if r < 0.4:
            return [Op(["SET", self.key(STR_KEYS), self.pick(VALUES)])]
        if r < 0.7:
            return [Op(["GET", self.key(STR_KEYS)])]
        if r < 0.85:
            return [Op(["DEL"] + self.keys(STR_KEYS))]
        return [Op(["EXISTS"] + self.keys(STR_KEYS))]

    def set_options(self):
        opts = []
        r = self.rng.random()
        if r < 0.15:
            opts += ["EX", self.pick(["100", "1000", "86400", "0", "-5", "abc", "9223372036854775807"])]
        elif r < 0.25:
            opts += ["PX", self.pick(["100000", "5000000", "0", "9223372036854775807"])]
        elif r < 0.3:
            # Not a past time: Redis 7.0 stores such a key and lets the active expire cycle (a
            # timer, so a race between two servers) delete it. EXPIREAT and GETEX EXAT in the
            # past delete at once and are used instead.
            opts += ["EXAT", self.pick(["4102444800", "0", "-1"])]
        elif r < 0.35:
            opts += ["PXAT", self.pick(["4102444800000", "-1", "0"])]
        elif r < 0.42:
            opts += ["KEEPTTL"]
        if self.chance(0.2):
            opts.append(self.pick(["NX", "XX"]))
        if self.chance(0.15):
            opts.append("GET")
        if self.chance(0.03):
            opts.append(self.pick(["EX", "FOO", "NX"]))
        self.rng.shuffle(opts) if self.chance(0.1) else None
        return opts

    def fam_strings(self):
        k = self.key(STR_KEYS)
        v = self.pick(VALUES)
        c = self.rng.choices(
            ["set", "get", "setnx", "setex", "psetex", "getset", "getdel", "getex", "mget", "mset",
             "msetnx", "append", "strlen", "incr", "decr", "incrby", "decrby", "incrbyfloat",
             "getrange", "substr", "setrange", "lcs", "setint"],
            [12, 10, 2, 2, 1, 2, 2, 3, 3, 3, 2, 4, 2, 4, 2, 3, 2, 4, 3, 1, 3, 2, 5])[0]
        if c == "set":
            return [Op(["SET", k, v] + self.set_options())]
        if c == "setint":
            return [Op(["SET", k, self.pick(INTS)])]
        if c == "get":
            return [Op(["GET", k])]
        if c == "setnx":
            return [Op(["SETNX", k, v])]
        if c == "setex":
            return [Op(["SETEX", k, self.pick(["100", "1000", "0", "-1", "abc"]), v])]
        if c == "psetex":
            return [Op(["PSETEX", k, self.pick(["100000", "0", "-1"]), v])]
        if c == "getset":
            return [Op(["GETSET", k, v])]
        if c == "getdel":
            return [Op(["GETDEL", k])]
        if c == "getex":
            opt = self.pick([[], ["PERSIST"], ["EX", "1000"], ["PX", "900000"], ["EXAT", "1"],
                             ["EXAT", "4102444800"], ["PXAT", "4102444800000"], ["EX", "0"], ["EX"],
                             ["PERSIST", "EX", "10"], ["FOO"]])
            return [Op(["GETEX", k] + opt)]
        if c == "mget":
            return [Op(["MGET"] + self.keys(STR_KEYS, 1, 4))]
        if c in ("mset", "msetnx"):
            args = []
            for kk in self.keys(STR_KEYS, 1, 3):
                args += [kk, self.pick(VALUES)]
            return [Op([c.upper()] + args)]
        if c == "append":
            return [Op(["APPEND", k, v])]
        if c == "strlen":
            return [Op(["STRLEN", k])]
        if c in ("incr", "decr"):
            return [Op([c.upper(), k])]
        if c in ("incrby", "decrby"):
            return [Op([c.upper(), k, self.int_arg(-1000, 1000)])]
        if c == "incrbyfloat":
            return [Op(["INCRBYFLOAT", k, self.pick(FLOATS)])]
        if c in ("getrange", "substr"):
            return [Op([c.upper(), k, self.int_arg(-10, 10), self.int_arg(-10, 50)])]
        if c == "setrange":
            off = self.pick(["0", "1", "3", "10", "100", "-1", "abc", "536870912", "536870911"])
            val = v if off not in ("536870911",) else b""
            return [Op(["SETRANGE", k, off, val])]
        if c == "lcs":
            opts = self.pick([[], ["LEN"], ["IDX"], ["IDX", "MINMATCHLEN", "2"], ["IDX", "WITHMATCHLEN"],
                              ["LEN", "IDX"], ["MINMATCHLEN", "x"]])
            return [Op(["LCS", k, self.key(STR_KEYS)] + opts)]
        raise AssertionError(c)

    def fam_bitmaps(self):
        k = self.key(STR_KEYS)
        offsets = ["0", "1", "6", "7", "8", "15", "17", "100", "1000", "100000", "-1", "abc",
                   "4294967296", "1.5"]
        idx = ["0", "1", "2", "-1", "-2", "-3", "5", "10", "-10", "100", "-100", "abc", "8", "23"]
        c = self.rng.choices(["setbit", "getbit", "bitcount", "bitpos", "bitop"], [8, 4, 4, 5, 3])[0]
        if c == "setbit":
            return [Op(["SETBIT", k, self.pick(offsets), self.pick(["0", "1", "1", "0", "2", "-1", "x"])])]
        if c == "getbit":
            return [Op(["GETBIT", k, self.pick(offsets)])]
        if c == "bitcount":
            rng = self.pick([[], [self.pick(idx), self.pick(idx)], [self.pick(idx)],
                             [self.pick(idx), self.pick(idx), self.pick(["BYTE", "BIT", "bit", "FOO"])],
                             [self.pick(idx), self.pick(idx), "BIT", "x"]])
            return [Op(["BITCOUNT", k] + rng)]
        if c == "bitpos":
            rng = self.pick([[], [self.pick(idx)], [self.pick(idx), self.pick(idx)],
                             [self.pick(idx), self.pick(idx), self.pick(["BYTE", "BIT", "bit", "FOO"])],
                             [self.pick(idx), self.pick(idx), "BIT", "x"]])
            return [Op(["BITPOS", k, self.pick(["0", "1", "1", "0", "2", "x"])] + rng)]
        op = self.pick(["AND", "OR", "XOR", "NOT", "not", "FOO"])
        srcs = self.keys(STR_KEYS, 1, 3) if op.upper() != "NOT" or self.chance(0.1) else [self.key(STR_KEYS)]
        return [Op(["BITOP", op, self.key(STR_KEYS)] + srcs)]

    def fam_sort(self):
        """SORT / SORT_RO. Where Redis leaves the order open (ties under ALPHA with BY, a set
        with BY nosort) the reply is compared as a set and nothing is stored or limited."""
        k = self.key(LIST_KEYS + SET_KEYS + ZSET_KEYS)
        cmd = self.pick(["SORT", "SORT", "SORT_RO"])
        mode = self.pick(["num", "num", "alpha", "alpha_by", "nosort"])
        args = [cmd, k]
        exact = True
        if mode == "num":
            if self.chance(0.5):
                args += ["BY", self.pick(["s*", "h*->f0", "k*", "s*->f0"])]
        elif mode == "alpha":
            # Without STORE Redis compares with strcoll, which stops at a NUL: elements that
            # differ only after one tie, and their order is left to the sort.
            args.append("ALPHA")
            exact = False
        elif mode == "alpha_by":
            args += ["BY", self.pick(["s*", "h*->f0", "h*->f1"]), "ALPHA"]
            exact = False
        else:
            args += ["BY", "nosort"]
            # A set's own order is unspecified (and any key may hold a set): only a stored
            # result, which Redis sorts, is compared in order.
            exact = False
        if self.chance(0.4):
            args += ["GET", "#"]
        if self.chance(0.3):
            for g in self.rng.sample(["#", "s*", "h*->f1", "nokey", "h*->"], self.rng.randint(1, 2)):
                args += ["GET", g]
        if self.chance(0.4):
            args.append(self.pick(["DESC", "ASC", "desc"]))
        if exact and self.chance(0.4):
            args += ["LIMIT", self.pick(["0", "1", "2", "-1", "5", "x"]), self.pick(["0", "1", "3", "-1", "10"])]
        # (Not after a numeric sort: Redis may refuse it, see runner.SORT_SCORE_ERROR.)
        store = cmd == "SORT" and mode in ("alpha", "nosort") and self.chance(0.3)
        if store:
            args += ["STORE", self.key(LIST_KEYS)]
            exact = True
        if self.chance(0.05):
            # (A trailing STORE could get its key from mutate(): not after a numeric sort.)
            args.append(self.pick(["FOO", "LIMIT", "BY"] + ([] if mode == "num" else ["STORE"])))
        return [Op(args, cmp=("sort_num" if mode == "num" else "exact") if exact else "set")]

    def fam_keys(self):
        k = self.key(ALL_KEYS)
        c = self.rng.choices(
            ["del", "unlink", "exists", "type", "rename", "renamenx", "copy", "move", "expire",
             "pexpire", "expireat", "pexpireat", "ttl", "pttl", "expiretime", "pexpiretime", "persist",
             "keys", "scan", "randomkey", "encoding", "touch", "swapdb", "dbsize", "object"],
            [5, 2, 4, 4, 3, 2, 3, 2, 5, 3, 3, 2, 4, 3, 2, 2, 3, 3, 3, 2, 6, 2, 1, 2, 1])[0]
        if c in ("del", "unlink", "exists", "touch"):
            return [Op([c.upper()] + self.keys(ALL_KEYS, 1, 4))]
        if c == "type":
            return [Op(["TYPE", k])]
        if c in ("rename", "renamenx"):
            dst = k if self.chance(0.1) else self.key(ALL_KEYS)
            return [Op([c.upper(), k, dst])]
        if c == "copy":
            args = ["COPY", k, self.key(ALL_KEYS)]
            if self.chance(0.3):
                args += ["DB", self.pick(["0", "1", "2", "3", "16", "-1", "x"])]
            if self.chance(0.4):
                args.append("REPLACE")
            return [Op(args)]
        if c == "move":
            return [Op(["MOVE", k, self.pick(["0", "1", "2", "3", "16", "abc"])])]
        if c in ("expire", "pexpire", "expireat", "pexpireat"):
            if c == "expire":
                t = self.pick(["100", "1000", "86400", "0", "-1", "abc", "9223372036854775807",
                               "9223372036854775", "1.5"])
            elif c == "pexpire":
                t = self.pick(["100000", "86400000", "0", "-100", "9223372036854775807"])
            elif c == "expireat":
                t = self.pick(["1", "1000000", "1600000000", "4102444800", "4102444801", "0",
                               "9223372036854775807"])
            else:
                t = self.pick(["1", "1600000000000", "4102444800000", "4102444800001", "-1"])
            opts = [self.pick(["NX", "XX", "GT", "LT", "FOO"])] if self.chance(0.3) else []
            if self.chance(0.05):
                opts += [self.pick(["NX", "XX", "GT", "LT"])]
            return [Op([c.upper(), k, t] + opts)]
        if c == "ttl":
            return [Op(["TTL", k], cmp="ttl")]
        if c == "pttl":
            return [Op(["PTTL", k], cmp="pttl")]
        if c == "expiretime":
            return [Op(["EXPIRETIME", k], cmp="exptime")]
        if c == "pexpiretime":
            return [Op(["PEXPIRETIME", k], cmp="pexptime")]
        if c == "persist":
            return [Op(["PERSIST", k])]
        if c == "keys":
            return [Op(["KEYS", self.pick(["*", "s*", "?0", "[lh]*", "*1", "nomatch", "\\*", ""])],
                       cmp="set")]
        if c == "scan":
            opts = []
            if self.chance(0.5):
                opts += ["MATCH", self.pick(["*", "s*", "?1", "[tz]*", "x*"])]
            if self.chance(0.5):
                opts += ["COUNT", self.pick(["1", "3", "10", "100"])]
            if self.chance(0.3):
                opts += ["TYPE", self.pick(["string", "list", "hash", "set", "zset", "nosuchtype"])]
            if self.chance(0.05):
                return [Op(["SCAN", self.pick(["abc", "-1x", "18446744073709551616"])] + opts)]
            if self.chance(0.05):
                opts += self.pick([["COUNT", "0"], ["COUNT", "abc"], ["MATCH"], ["FOO", "1"]])
            return [Op(["SCAN", "0"] + opts, kind="scan")]
        if c == "randomkey":
            return [Op(["RANDOMKEY"], kind="random", extra={"ctx": "keys"})]
        if c == "encoding":
            return [Op(["OBJECT", "ENCODING", k])]
        if c == "object":
            return [Op(["OBJECT", self.pick(["HELP", "NOSUCH", "ENCODING"])])]
        if c == "swapdb":
            return [Op(["SWAPDB", self.pick(["0", "1", "2", "3", "16", "x"]), self.pick(["0", "1", "2"])])]
        if c == "dbsize":
            return [Op(["DBSIZE"])]
        raise AssertionError(c)

    def lpos_opts(self):
        opts = []
        for name, vals in (("RANK", ["1", "2", "-1", "-2", "0", "x"]), ("COUNT", ["0", "1", "2", "-1"]),
                           ("MAXLEN", ["0", "1", "3", "-1"])):
            if self.chance(0.3):
                opts += [name, self.pick(vals)]
        return opts

    def fam_lists(self):
        k = self.key(LIST_KEYS)
        c = self.rng.choices(
            ["push", "pushx", "pop", "llen", "lrange", "lindex", "lset", "linsert", "lrem", "ltrim",
             "lpos", "lmove", "rpoplpush", "lmpop", "blockinmulti"],
            [14, 2, 6, 3, 7, 3, 2, 2, 2, 2, 3, 3, 1, 2, 0])[0]
        if c == "push":
            vals = [self.pick(VALUES) for _ in range(self.rng.randint(1, 4))]
            return [Op([self.pick(["LPUSH", "RPUSH"]), k] + vals)]
        if c == "pushx":
            return [Op([self.pick(["LPUSHX", "RPUSHX"]), k, self.pick(VALUES)])]
        if c == "pop":
            args = [self.pick(["LPOP", "RPOP"]), k]
            if self.chance(0.4):
                args.append(self.pick(["0", "1", "2", "5", "-1", "abc"]))
            return [Op(args)]
        if c == "llen":
            return [Op(["LLEN", k])]
        if c == "lrange":
            return [Op(["LRANGE", k, self.int_arg(-6, 6), self.int_arg(-6, 10)])]
        if c == "lindex":
            return [Op(["LINDEX", k, self.int_arg(-6, 6)])]
        if c == "lset":
            return [Op(["LSET", k, self.int_arg(-4, 4), self.pick(VALUES)])]
        if c == "linsert":
            return [Op(["LINSERT", k, self.pick(["BEFORE", "AFTER", "MIDDLE"]), self.pick(VALUES),
                        self.pick(VALUES)])]
        if c == "lrem":
            return [Op(["LREM", k, self.int_arg(-2, 2), self.pick(VALUES)])]
        if c == "ltrim":
            return [Op(["LTRIM", k, self.int_arg(-5, 3), self.int_arg(-3, 8)])]
        if c == "lpos":
            return [Op(["LPOS", k, self.pick(VALUES)] + self.lpos_opts())]
        if c == "lmove":
            return [Op(["LMOVE", k, self.key(LIST_KEYS), self.pick(["LEFT", "RIGHT"]),
                        self.pick(["LEFT", "RIGHT", "UP"] if self.chance(0.1) else ["LEFT", "RIGHT"])])]
        if c == "rpoplpush":
            return [Op(["RPOPLPUSH", k, self.key(LIST_KEYS)])]
        if c == "lmpop":
            ks = self.keys(LIST_KEYS, 1, 3)
            n = str(len(ks)) if self.chance(0.9) else self.pick(["0", "5", "-1", "x"])
            args = ["LMPOP", n] + ks + [self.pick(["LEFT", "RIGHT"] if self.chance(0.95) else ["MID"])]
            if self.chance(0.4):
                args += ["COUNT", self.pick(["1", "2", "10", "0", "-1"])]
            return [Op(args)]
        raise AssertionError(c)

    def fam_hashes(self):
        k = self.key(HASH_KEYS)
        c = self.rng.choices(
            ["hset", "hsetnx", "hmset", "hget", "hmget", "hdel", "hlen", "hstrlen", "hexists", "hkeys",
             "hvals", "hgetall", "hincrby", "hincrbyfloat", "hrandfield", "hscan", "hsetmany"],
            [14, 2, 2, 6, 3, 4, 2, 2, 2, 2, 2, 3, 4, 3, 3, 2, 2])[0]
        f = self.pick(FIELDS)
        if c in ("hset", "hmset"):
            args = [c.upper(), k]
            for _ in range(self.rng.randint(1, 3)):
                args += [self.pick(FIELDS), self.pick(VALUES)]
            return [Op(args)]
        if c == "hsetmany":
            # Grows a hash over the listpack entry limit.
            args = ["HSET", k]
            base = self.rng.randint(0, 40)
            for i in range(self.rng.randint(5, 20)):
                args += [f"g{base + i}", str(i)]
            return [Op(args)]
        if c == "hsetnx":
            return [Op(["HSETNX", k, f, self.pick(VALUES)])]
        if c == "hget":
            return [Op(["HGET", k, f])]
        if c == "hmget":
            return [Op(["HMGET", k] + [self.pick(FIELDS) for _ in range(self.rng.randint(1, 3))])]
        if c == "hdel":
            return [Op(["HDEL", k] + [self.pick(FIELDS) for _ in range(self.rng.randint(1, 3))])]
        if c == "hlen":
            return [Op(["HLEN", k])]
        if c == "hstrlen":
            return [Op(["HSTRLEN", k, f])]
        if c == "hexists":
            return [Op(["HEXISTS", k, f])]
        if c == "hkeys":
            return [Op(["HKEYS", k], cmp="enc_set", key=k)]
        if c == "hvals":
            return [Op(["HVALS", k], cmp="enc_vals", key=k)]
        if c == "hgetall":
            return [Op(["HGETALL", k], cmp="enc_pairs", key=k)]
        if c == "hincrby":
            return [Op(["HINCRBY", k, f, self.int_arg(-100, 100)])]
        if c == "hincrbyfloat":
            return [Op(["HINCRBYFLOAT", k, f, self.pick(FLOATS)])]
        if c == "hrandfield":
            args = ["HRANDFIELD", k]
            if self.chance(0.7):
                args.append(self.pick(["0", "1", "2", "3", "5", "100", "-1", "-3", "-10", "x",
                                       "-9223372036854775808"]))
                if self.chance(0.5):
                    args.append("WITHVALUES")
            return [Op(args, kind="random", key=k, extra={"ctx": "hash"})]
        if c == "hscan":
            return [Op(["HSCAN", k, "0"] + self.scan_opts(), kind="scan")]
        raise AssertionError(c)

    def scan_opts(self):
        opts = []
        if self.chance(0.3):
            opts += ["MATCH", self.pick(["*", "f*", "?", "a*", "1*", "g1*"])]
        if self.chance(0.3):
            opts += ["COUNT", self.pick(["1", "2", "10"])]
        return opts

    def members(self, lo=1, hi=4):
        return [self.pick(MEMBERS) for _ in range(self.rng.randint(lo, hi))]

    def fam_sets(self):
        k = self.key(SET_KEYS)
        c = self.rng.choices(
            ["sadd", "saddints", "srem", "smembers", "sismember", "smismember", "scard", "spop",
             "srandmember", "smove", "algebra", "store", "sintercard", "sscan"],
            [12, 5, 4, 4, 3, 2, 2, 3, 3, 2, 5, 4, 2, 2])[0]
        if c == "sadd":
            return [Op(["SADD", k] + self.members())]
        if c == "saddints":
            base = self.rng.randint(-5, 30)
            return [Op(["SADD", k] + [str(base + i) for i in range(self.rng.randint(1, 12))])]
        if c == "srem":
            return [Op(["SREM", k] + self.members())]
        if c == "smembers":
            return [Op(["SMEMBERS", k], cmp="enc_set", key=k)]
        if c == "sismember":
            return [Op(["SISMEMBER", k, self.pick(MEMBERS)])]
        if c == "smismember":
            return [Op(["SMISMEMBER", k] + self.members())]
        if c == "scard":
            return [Op(["SCARD", k])]
        if c in ("spop", "srandmember"):
            args = [c.upper(), k]
            if self.chance(0.6):
                args.append(self.pick(["0", "1", "2", "3", "5", "100", "-1", "-3", "-10", "x"]))
            resync = [Op(["DEL", k])] if c == "spop" else []
            return [Op(args, kind="random", key=k, extra={"ctx": "set", "resync": resync})]
        if c == "smove":
            return [Op(["SMOVE", k, self.key(SET_KEYS), self.pick(MEMBERS)])]
        if c == "algebra":
            return [Op([self.pick(["SINTER", "SUNION", "SDIFF"])] + self.keys(SET_KEYS, 1, 3), cmp="set")]
        if c == "store":
            return [Op([self.pick(["SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"]), self.key(SET_KEYS)]
                       + self.keys(SET_KEYS, 1, 3))]
        if c == "sintercard":
            ks = self.keys(SET_KEYS, 1, 3)
            n = str(len(ks)) if self.chance(0.9) else self.pick(["0", "9", "x"])
            args = ["SINTERCARD", n] + ks
            if self.chance(0.4):
                args += ["LIMIT", self.pick(["0", "1", "2", "-1"])]
            return [Op(args)]
        if c == "sscan":
            return [Op(["SSCAN", k, "0"] + self.scan_opts(), kind="scan")]
        raise AssertionError(c)

    def score_range(self, lex=False):
        if lex:
            vals = ["-", "+", "[a", "(a", "[c", "(d", "[", "a", "[1", "(f"]
            return self.pick(vals), self.pick(vals)
        vals = ["-inf", "+inf", "0", "1", "(1", "2.5", "(2.5", "3", "10", "-1", "(inf", "abc", "(", "inf"]
        return self.pick(vals), self.pick(vals)

    def lex_key(self, write=False):
        """A zset whose scores are all equal (or, for reads, a wrong type or missing key)."""
        if write or self.chance(0.9):
            return self.pick(LEX_KEYS)
        return self.pick(["s0", "nokey"])

    def zset_keys_arg(self, lo=1, hi=3):
        ks = [self.key(ZSET_KEYS) if self.chance(0.85) else self.key(SET_KEYS)
              for _ in range(self.rng.randint(lo, hi))]
        n = str(len(ks)) if self.chance(0.92) else self.pick(["0", "9", "-1", "x"])
        return n, ks

    def fam_zsets(self):
        k = self.key(ZSET_KEYS)
        c = self.rng.choices(
            ["zadd", "zaddmany", "zincrby", "zrem", "zcard", "zscore", "zmscore", "zrank", "zcount",
             "zlexcount", "zrange", "zrangestore", "oldrange", "zremrange", "zpop", "zmpop", "combine",
             "combinestore", "zintercard", "zrandmember", "zscan", "lexadd", "lexrem"],
            [14, 3, 4, 3, 2, 3, 2, 3, 2, 2, 9, 2, 5, 3, 3, 2, 4, 3, 2, 3, 2, 4, 1])[0]
        if c == "zadd":
            flags = []
            for fl in ("NX", "XX", "GT", "LT", "CH", "INCR"):
                if self.chance(0.08):
                    flags.append(fl)
            pairs = []
            for _ in range(1 if "INCR" in flags and self.chance(0.8) else self.rng.randint(1, 3)):
                pairs += [self.pick(SCORES), self.pick(MEMBERS)]
            return [Op(["ZADD", k] + flags + pairs)]
        if c == "zaddmany":
            args = ["ZADD", k]
            base = self.rng.randint(0, 30)
            for i in range(self.rng.randint(5, 20)):
                args += [str(self.rng.randint(-3, 20)), f"m{base + i}"]
            return [Op(args)]
        if c == "zincrby":
            return [Op(["ZINCRBY", k, self.pick(SCORES), self.pick(MEMBERS)])]
        if c == "zrem":
            return [Op(["ZREM", k] + self.members())]
        if c == "zcard":
            return [Op(["ZCARD", k])]
        if c == "zscore":
            return [Op(["ZSCORE", k, self.pick(MEMBERS)])]
        if c == "zmscore":
            return [Op(["ZMSCORE", k] + self.members())]
        if c == "zrank":
            return [Op([self.pick(["ZRANK", "ZREVRANK"]), k, self.pick(MEMBERS)])]
        if c == "zcount":
            return [Op(["ZCOUNT", k] + list(self.score_range()))]
        if c == "zlexcount":
            return [Op(["ZLEXCOUNT", self.lex_key()] + list(self.score_range(lex=True)))]
        if c == "lexadd":
            flags = [self.pick(["NX", "XX", "CH", "GT"])] if self.chance(0.2) else []
            args = ["ZADD", self.lex_key(write=True)] + flags
            for _ in range(self.rng.randint(1, 4)):
                args += ["0", self.pick(MEMBERS)]
            return [Op(args)]
        if c == "lexrem":
            return [Op(["ZREM", self.lex_key(write=True)] + self.members())]
        if c in ("zrange", "zrangestore"):
            mode = self.pick(["index", "index", "BYSCORE", "BYLEX"])
            if mode == "BYLEX":
                k = self.lex_key()
            if mode == "index":
                lo, hi = self.int_arg(-5, 5), self.int_arg(-5, 10)
            else:
                lo, hi = self.score_range(lex=(mode == "BYLEX"))
            args = [k, lo, hi]
            if mode != "index":
                args.append(mode)
            if self.chance(0.3):
                args.append("REV")
            if self.chance(0.3 if mode != "index" else 0.05):
                args += ["LIMIT", self.int_arg(-1, 3), self.int_arg(-1, 5)]
            if c == "zrange":
                if self.chance(0.4):
                    args.append("WITHSCORES")
                return [Op(["ZRANGE"] + args)]
            dst = self.lex_key(write=True) if mode == "BYLEX" else self.key(ZSET_KEYS)
            return [Op(["ZRANGESTORE", dst] + args)]
        if c == "oldrange":
            name = self.pick(["ZREVRANGE", "ZRANGEBYSCORE", "ZREVRANGEBYSCORE", "ZRANGEBYLEX",
                              "ZREVRANGEBYLEX"])
            if name == "ZREVRANGE":
                args = [name, k, self.int_arg(-5, 5), self.int_arg(-5, 10)]
            else:
                lo, hi = self.score_range(lex="LEX" in name)
                args = [name, self.lex_key() if "LEX" in name else k, lo, hi]
            if "LEX" not in name and self.chance(0.4):
                args.append("WITHSCORES")
            if "BY" in name and self.chance(0.3):
                args += ["LIMIT", self.int_arg(-1, 3), self.int_arg(-1, 5)]
            return [Op(args)]
        if c == "zremrange":
            name = self.pick(["ZREMRANGEBYRANK", "ZREMRANGEBYSCORE", "ZREMRANGEBYLEX"])
            if name == "ZREMRANGEBYRANK":
                return [Op([name, k, self.int_arg(-5, 3), self.int_arg(-5, 5)])]
            if name.endswith("LEX"):
                return [Op([name, self.lex_key(write=True)] + list(self.score_range(lex=True)))]
            return [Op([name, k] + list(self.score_range()))]
        if c == "zpop":
            args = [self.pick(["ZPOPMIN", "ZPOPMAX"]), k]
            if self.chance(0.4):
                args.append(self.pick(["0", "1", "2", "10", "-1", "x"]))
            return [Op(args)]
        if c == "zmpop":
            n, ks = self.zset_keys_arg()
            args = ["ZMPOP", n] + ks + [self.pick(["MIN", "MAX"] if self.chance(0.95) else ["MID"])]
            if self.chance(0.4):
                args += ["COUNT", self.pick(["1", "2", "10", "0", "-1"])]
            return [Op(args)]
        if c in ("combine", "combinestore"):
            name = self.pick(["ZUNION", "ZINTER", "ZDIFF"])
            n, ks = self.zset_keys_arg()
            args = [n] + ks
            if name != "ZDIFF":
                if self.chance(0.3):
                    args += ["WEIGHTS"] + [self.pick(["1", "2", "0", "-1", "0.5", "inf", "x"])
                                           for _ in ks]
                if self.chance(0.3):
                    args += ["AGGREGATE", self.pick(["SUM", "MIN", "MAX", "AVG"])]
            if c == "combine":
                if self.chance(0.5):
                    args.append("WITHSCORES")
                return [Op([name] + args)]
            return [Op([name + "STORE", self.key(ZSET_KEYS)] + args)]
        if c == "zintercard":
            n, ks = self.zset_keys_arg()
            args = ["ZINTERCARD", n] + ks
            if self.chance(0.3):
                args += ["LIMIT", self.pick(["0", "1", "-1"])]
            return [Op(args)]
        if c == "zrandmember":
            args = ["ZRANDMEMBER", k]
            if self.chance(0.7):
                args.append(self.pick(["0", "1", "2", "3", "5", "100", "-1", "-3", "-10", "x",
                                       "-9223372036854775808"]))
                if self.chance(0.5):
                    args.append("WITHSCORES")
            return [Op(args, kind="random", key=k, extra={"ctx": "zset"})]
        if c == "zscan":
            return [Op(["ZSCAN", k, "0"] + self.scan_opts(), kind="scan")]
        raise AssertionError(c)

    def fam_connection(self):
        r = self.rng.random()
        if r < 0.25:
            return [Op(["PING"] + ([self.pick(VALUES)] if self.chance(0.5) else []))]
        if r < 0.4:
            return [Op(["ECHO", self.pick(VALUES)])]
        if r < 0.65:
            if self.chance(0.9):
                db = self.rng.randrange(NDB)
                self.db = db
                return [Op(["SELECT", db])]
            return [Op(["SELECT", self.pick(["16", "-1", "abc", "99999999999999999999"])])]
        if r < 0.75:
            v = self.pick(["2", "3", "3", "2", "4", "0", "x"])
            args = ["HELLO", v]
            if self.chance(0.2):
                args += ["SETNAME", "amber-diff"]
            if v in ("2", "3"):
                self.proto = int(v)
            return [Op(args, cmp="hello")]
        if r < 0.85:
            name = self.pick(["n1", "with space", "", "x"])
            return [Op(["CLIENT", "SETNAME", name]), Op(["CLIENT", "GETNAME"])]
        if r < 0.9:
            return [Op(["AUTH", "nopass"])]
        if r < 0.94:
            return [Op(["FOOBAR", "a", "b"])]
        self.reset_state()
        return [Op(["RESET"])]

    def reset_state(self):
        self.db = 0
        self.proto = 2
        self.channels = []
        self.patterns = []
        self.in_multi = False

    def fam_server(self):
        r = self.rng.random()
        if r < 0.45:
            return [Op(["DBSIZE"])]
        if r < 0.92:
            name = self.pick(["maxmemory", "hash-max-listpack-entries", "set-max-intset-entries",
                              "zset-max-listpack-value", "databases", "nosuchparam", "timeout"])
            if self.chance(0.3):
                return [Op(["CONFIG", "GET", self.pick(["*max-listpack*", "*intset*", "list-*"])],
                           cmp="pairs")]
            return [Op(["CONFIG", "GET", name])]
        if r < 0.96:
            return [Op(["FLUSHDB"] + ([self.pick(["ASYNC", "SYNC", "x"])] if self.chance(0.3) else []))]
        if r < 0.97:
            return [Op(["FLUSHALL"])]
        return [Op(["DBSIZE", "x"])]

    # ---- pub/sub -----------------------------------------------------------------------------
    def pubsub_op(self):
        r = self.rng.random()
        if r < 0.2:
            chans = [self.pick(CHANNELS) for _ in range(self.rng.randint(1, 3))]
            for ch in chans:
                if ch not in self.channels:
                    self.channels.append(ch)
            return Op(["SUBSCRIBE"] + chans, nframes=len(chans))
        if r < 0.35:
            pats = [self.pick(PATTERNS) for _ in range(self.rng.randint(1, 2))]
            for p in pats:
                if p not in self.patterns:
                    self.patterns.append(p)
            return Op(["PSUBSCRIBE"] + pats, nframes=len(pats))
        if r < 0.5:
            if self.chance(0.4):
                n = max(1, len(self.channels))
                self.channels = []
                return Op(["UNSUBSCRIBE"], nframes=n, cmp="unsub_all" if n > 1 else "exact")
            chans = [self.pick(CHANNELS) for _ in range(self.rng.randint(1, 2))]
            self.channels = [c for c in self.channels if c not in chans]
            return Op(["UNSUBSCRIBE"] + chans, nframes=len(chans))
        if r < 0.6:
            if self.chance(0.4):
                n = max(1, len(self.patterns))
                self.patterns = []
                return Op(["PUNSUBSCRIBE"], nframes=n)
            pats = [self.pick(PATTERNS) for _ in range(self.rng.randint(1, 2))]
            self.patterns = [p for p in self.patterns if p not in pats]
            return Op(["PUNSUBSCRIBE"] + pats, nframes=len(pats))
        return None

    def fam_pubsub(self):
        op = self.pubsub_op()
        if op is not None:
            return [op]
        r = self.rng.random()
        if r < 0.5:
            return [Op(["PUBLISH", self.pick(CHANNELS + ["other", "ch:9"]), self.pick(VALUES)])]
        if r < 0.65:
            return [Op(["PUBSUB", "CHANNELS"] + ([self.pick(PATTERNS)] if self.chance(0.5) else []),
                       cmp="set")]
        if r < 0.8:
            return [Op(["PUBSUB", "NUMSUB"] + [self.pick(CHANNELS) for _ in range(self.rng.randint(0, 3))])]
        if r < 0.92:
            return [Op(["PUBSUB", "NUMPAT"])]
        return [Op(["PUBSUB", self.pick(["HELP", "NOPE", "NUMPAT"]), "extra"])]

    def restricted_ops(self):
        """The main connection is subscribed in RESP2."""
        r = self.rng.random()
        if r < 0.15:
            ops = []
            ops.append(Op(["UNSUBSCRIBE"], nframes=max(1, len(self.channels)),
                          cmp="unsub_all" if len(self.channels) > 1 else "exact"))
            ops.append(Op(["PUNSUBSCRIBE"], nframes=max(1, len(self.patterns))))
            self.channels = []
            self.patterns = []
            return ops
        if r < 0.6:
            op = self.pubsub_op()
            if op is not None:
                return [op]
        if r < 0.75:
            return [Op(["PING"] + ([self.pick(VALUES)] if self.chance(0.5) else []))]
        if r < 0.78:
            self.reset_state()
            return [Op(["RESET"])]
        # Refused in this context.
        return [self.pick([Op(["GET", "s0"]), Op(["PUBLISH", "ch:0", "m"]), Op(["MULTI"]),
                           Op(["PUBSUB", "NUMPAT"]), Op(["SELECT", "1"])])]

    # ---- transactions ------------------------------------------------------------------------
    def queued_op(self):
        """A command to queue inside MULTI: any simple command of the enabled families."""
        fams = [f for f in self.families if f in ("basic", "strings", "bitmaps", "sort", "keys", "lists", "hashes", "sets",
                                                   "zsets", "server", "pubsub", "blocking")]
        if not fams:
            fams = ["connection"]
        for _ in range(20):
            fam = self.pick(fams)
            if fam == "blocking":
                ops = [self.blocking_cmd_in_multi()]
            elif fam == "pubsub":
                if self.subscribed():
                    continue
                ops = [Op(["PUBLISH", self.pick(CHANNELS), self.pick(VALUES)])]
            elif fam == "connection":
                ops = [Op(["PING"]), Op(["ECHO", "x"])]
            else:
                saved = (self.db, self.proto, list(self.channels), list(self.patterns))
                ops = getattr(self, "fam_" + fam)()
                self.db, self.proto, self.channels, self.patterns = saved
            op = ops[0]
            if op.kind != "cmd" or op.args[0] in (b"SELECT", b"FLUSHALL", b"HELLO", b"RESET"):
                continue
            op = self.mutate(op)
            op.in_multi = True
            return op
        return Op(["PING"], in_multi=True)

    def tx_unit(self):
        ops = []
        watched = []
        if self.chance(0.4):
            watched = self.keys(ALL_KEYS if self.full else STR_KEYS, 1, 2)
            ops.append(Op(["WATCH"] + watched))
            if self.chance(0.5):
                # Someone else (or the client itself) touches a watched key, or not.
                target = self.pick(watched + ["s3"])
                if self.chance(0.5):
                    ops += self.other_select()
                    ops.append(Op(["SET", target, "touched"], conn="other"))
                else:
                    ops.append(Op(["SET", target, "touched"]))
            if self.chance(0.1):
                ops.append(Op(["UNWATCH"]))
        if self.chance(0.05):
            ops.append(Op([self.pick(["EXEC", "DISCARD"])]))
        ops.append(Op(["MULTI"]))
        self.in_multi = True
        subs = []
        for _ in range(self.rng.randint(0, 6)):
            r = self.rng.random()
            if r < 0.03:
                # Refused without being queued: no slot in EXEC's reply.
                ops.append(Op([self.pick(["MULTI", "WATCH"]), "s0"][: self.rng.randint(1, 2)],
                              in_multi=True))
                continue
            if r < 0.05:
                op = Op(["NOSUCHCMD"], in_multi=True)
            else:
                op = self.queued_op()
            ops.append(op)
            subs.append(op.cmp)
        self.in_multi = False
        if self.chance(0.85):
            ops.append(Op(["EXEC"], cmp="exec", extra={"subs": subs}))
        else:
            ops.append(Op(["DISCARD"]))
        return ops

    # ---- blocking ----------------------------------------------------------------------------
    def other_select(self):
        if self.other_db == self.db:
            return []
        self.other_db = self.db
        return [Op(["SELECT", self.db], conn="other")]

    def blocking_cmd(self, timeout):
        lists = "lists" in self.families or "zsets" not in self.families
        if lists and (self.chance(0.6) or "zsets" not in self.families):
            ks = [self.pick(LIST_KEYS) for _ in range(self.rng.randint(1, 2))]
            name = self.pick(["BLPOP", "BRPOP", "BLMOVE", "BRPOPLPUSH", "BLMPOP"])
            if name in ("BLPOP", "BRPOP"):
                return [name] + ks + [timeout], ks, "list"
            if name == "BLMOVE":
                return [name, ks[0], self.pick(LIST_KEYS), self.pick(["LEFT", "RIGHT"]),
                        self.pick(["LEFT", "RIGHT"]), timeout], ks[:1], "list"
            if name == "BRPOPLPUSH":
                return [name, ks[0], self.pick(LIST_KEYS), timeout], ks[:1], "list"
            args = [name, timeout, len(ks)] + ks + [self.pick(["LEFT", "RIGHT"])]
            if self.chance(0.5):
                args += ["COUNT", self.pick(["1", "2", "5"])]
            return args, ks, "list"
        ks = [self.pick(ZSET_KEYS) for _ in range(self.rng.randint(1, 2))]
        name = self.pick(["BZPOPMIN", "BZPOPMAX", "BZMPOP"])
        if name != "BZMPOP":
            return [name] + ks + [timeout], ks, "zset"
        args = [name, timeout, len(ks)] + ks + [self.pick(["MIN", "MAX"])]
        if self.chance(0.5):
            args += ["COUNT", self.pick(["1", "2", "5"])]
        return args, ks, "zset"

    def blocking_cmd_in_multi(self):
        args, _, _ = self.blocking_cmd(self.pick(["0", "0.1", "1"]))
        return Op(args, in_multi=True)

    def push_for(self, key, typ):
        if typ == "list":
            return Op([self.pick(["LPUSH", "RPUSH"]), key] +
                      [self.pick(VALUES) for _ in range(self.rng.randint(1, 3))])
        pairs = []
        for _ in range(self.rng.randint(1, 3)):
            pairs += [self.pick(SCORES[:13]), self.pick(MEMBERS)]
        return Op(["ZADD", key] + pairs)

    def blocking_unit(self):
        ops = self.other_select()
        r = self.rng.random()
        if r < 0.65:
            args, ks, typ = self.blocking_cmd("3")
            push = [self.push_for(self.pick(ks), typ)]
            if self.chance(0.15):
                push = [Op(["MULTI"]), Op(push[0].args, in_multi=True),
                        Op(self.push_for(self.pick(ks), typ).args, in_multi=True),
                        Op(["EXEC"], cmp="exec", extra={"subs": ["exact", "exact"]})]
            elif self.chance(0.2):
                push.append(self.push_for(self.pick(ks), typ))
            ops.append(Op(args, conn="other", kind="block", extra={"push": push}))
        elif r < 0.85:
            args, _, _ = self.blocking_cmd(self.pick(["0.05", "0.1", "0.2"]))
            ops.append(Op(args, conn="other", kind="block", extra={"push": []}))
        else:
            # Refused before blocking: bad timeouts, bad numkeys, wrong arity.
            bad = self.pick([["BLPOP", "l0", "-1"], ["BLPOP", "l0", "abc"], ["BRPOP", "l0"],
                             ["BLMPOP", "0.1", "0", "l0", "LEFT"], ["BLMPOP", "0.1", "2", "l0", "LEFT"],
                             ["BZPOPMIN", "z0", "inf"], ["BZMPOP", "0.1", "1", "z0", "MID"],
                             ["BLMOVE", "l0", "l1", "UP", "LEFT", "0.1"], ["BLPOP", "l0", "1e400"],
                             ["BLMPOP", "0.1", "1", "l0", "LEFT", "COUNT", "0"]])
            ops.append(Op(bad, conn="other"))
        return ops
