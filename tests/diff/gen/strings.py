"""Families basic, strings, bitmaps and sort."""

from .common import INTS, LIST_KEYS, SET_KEYS, STR_KEYS, VALUES, FLOATS, ZSET_KEYS, Op


class StringsMixin:
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
