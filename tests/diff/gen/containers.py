"""Families lists, hashes, sets and zsets."""

from .common import FIELDS, FLOATS, LEX_KEYS, LIST_KEYS, HASH_KEYS, MEMBERS, SCORES, SET_KEYS, VALUES, ZSET_KEYS, Op


class ContainersMixin:
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
