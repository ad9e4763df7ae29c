"""Families connection, server, pubsub, tx and blocking: the ones that change the client's
state or use the second connection."""

from .common import ALL_KEYS, CHANNELS, SHARD_CHANNELS, LIST_KEYS, NDB, PATTERNS, SCORES, MEMBERS, STR_KEYS, VALUES, ZSET_KEYS, Op


class SessionMixin:
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
        self.shards = []
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
            pats = [self.pick(self.main_patterns()) for _ in range(self.rng.randint(1, 2))]
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

    def main_patterns(self):
        """Patterns the main connection may subscribe to. Not `*` when keyspace events are on:
        the subscriber connection compares those (in order), and Redis writes a client's own
        event before or after the command's reply depending on the command (SET before, HSET
        after), which Amber does not copy (tests/diff/README.md)."""
        return [p for p in PATTERNS if p != "*"] if "notify" in self.families else PATTERNS

    def shard_op(self):
        """SSUBSCRIBE / SUNSUBSCRIBE on the main connection (None: not this time)."""
        r = self.rng.random()
        if r < 0.5:
            chans = [self.pick(SHARD_CHANNELS) for _ in range(self.rng.randint(1, 3))]
            for ch in chans:
                if ch not in self.shards:
                    self.shards.append(ch)
            return Op(["SSUBSCRIBE"] + chans, nframes=len(chans))
        if r < 0.8:
            if self.chance(0.4):
                n = max(1, len(self.shards))
                self.shards = []
                return Op(["SUNSUBSCRIBE"], nframes=n, cmp="unsub_all" if n > 1 else "exact")
            chans = [self.pick(SHARD_CHANNELS) for _ in range(self.rng.randint(1, 2))]
            self.shards = [c for c in self.shards if c not in chans]
            return Op(["SUNSUBSCRIBE"] + chans, nframes=len(chans))
        return None

    def fam_shardpubsub(self):
        op = self.shard_op() if self.chance(0.4) else None
        if op is not None:
            return [op]
        r = self.rng.random()
        if r < 0.55:
            return [Op(["SPUBLISH", self.pick(SHARD_CHANNELS + ["other"]), self.pick(VALUES)])]
        if r < 0.7:
            return [Op(["PUBSUB", "SHARDCHANNELS"] + ([self.pick(PATTERNS + ["sh:*"])] if self.chance(0.5) else []),
                       cmp="set")]
        if r < 0.85:
            return [Op(["PUBSUB", "SHARDNUMSUB"] + [self.pick(SHARD_CHANNELS) for _ in range(self.rng.randint(0, 3))])]
        if r < 0.93:
            return [Op(["PUBLISH", self.pick(SHARD_CHANNELS), "not-sharded"])]
        # (As a set: a dropped argument can make a valid PUBSUB SHARDCHANNELS of any of these.)
        return [Op(self.pick([["SPUBLISH", "x"], ["SSUBSCRIBE"], ["PUBSUB", "SHARDNUMSUB", "a", "extra"],
                              ["PUBSUB", "SHARDCHANNELS", "a", "b"]]), cmp="set")]

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
            if self.shards or "shardpubsub" in self.families:
                n = max(1, len(self.shards))
                ops.append(Op(["SUNSUBSCRIBE"], nframes=n, cmp="unsub_all" if n > 1 else "exact"))
                self.shards = []
            return ops
        if r < 0.6:
            op = self.shard_op() if "shardpubsub" in self.families and self.chance(0.4) else self.pubsub_op()
            if op is not None:
                return [op]
        if r < 0.75:
            return [Op(["PING"] + ([self.pick(VALUES)] if self.chance(0.5) else []))]
        if r < 0.78:
            self.reset_state()
            return [Op(["RESET"])]
        # Refused in this context.
        refused = [Op(["GET", "s0"]), Op(["PUBLISH", "ch:0", "m"]), Op(["MULTI"]), Op(["PUBSUB", "NUMPAT"]),
                   Op(["SELECT", "1"])]
        if "shardpubsub" in self.families:
            refused.append(Op(["SPUBLISH", "sh:0", "m"]))
        return [self.pick(refused)]

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
