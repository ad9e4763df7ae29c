"""What every family module shares: the Op, the key pools and the value corpora."""

NDB = 4

FAMILIES = ("basic", "strings", "bitmaps", "sort", "keys", "lists", "hashes", "sets", "zsets", "tx", "blocking",
            "connection", "server", "pubsub", "streams", "hll", "geo", "bitfield", "shardpubsub", "scripting",
            "functions", "introspection", "notify")

# Relative weights of the families in a stream.
WEIGHTS = {"basic": 3, "strings": 14, "bitmaps": 6, "sort": 5, "keys": 12, "lists": 12, "hashes": 10, "sets": 10,
           "zsets": 14, "tx": 5, "blocking": 4, "connection": 3, "server": 2, "pubsub": 6, "streams": 20, "hll": 6,
           "geo": 8, "bitfield": 5, "shardpubsub": 4, "scripting": 8, "functions": 7, "introspection": 5,
           "notify": 1}


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
STREAM_KEYS = ["x0", "x1", "x2"]
HLL_KEYS = ["p0", "p1", "p2"]
GEO_KEYS = ["g0", "g1"]
ALL_KEYS = STR_KEYS + LIST_KEYS + HASH_KEYS + SET_KEYS + ZSET_KEYS + OTHER_KEYS + STREAM_KEYS + HLL_KEYS + GEO_KEYS

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
SHARD_CHANNELS = ["sh:0", "sh:1", "news", "ch:0"]
# ... and, when the shardpubsub family is on, to these sharded channels.
SUB_SHARDS = ["sh:0", "news"]
# ... and, when the notify family is on, to every keyspace and keyevent channel.
SUB_NOTIFY = ["__keyspace@*__:*", "__keyevent@*__:*"]


# Commands whose effect on the client state the generator models (and COMMAND, whose reply
# without arguments lists every command in dict order): never mutated.
STATEFUL = {b"SELECT", b"HELLO", b"RESET", b"SUBSCRIBE", b"UNSUBSCRIBE", b"PSUBSCRIBE",
            b"PUNSUBSCRIBE", b"MULTI", b"EXEC", b"DISCARD", b"SSUBSCRIBE", b"SUNSUBSCRIBE", b"CLIENT",
            b"COMMAND"}
