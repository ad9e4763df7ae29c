"""The generator's state and stream loop; the families come from the mixins in the sibling
modules."""

import random

from .common import ALL_KEYS, FAMILIES, INTS, STATEFUL, WEIGHTS, Op


class GenBase:
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
        self.shards = []  # sharded channels (SSUBSCRIBE)
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
        return bool(self.channels or self.patterns or self.shards)

    def restricted(self):
        """RESP2 clients may only run (P)(UN)SUBSCRIBE, PING, QUIT, RESET while subscribed."""
        return self.proto == 2 and self.subscribed()

    def mutate(self, op):
        """Occasionally breaks the arity: drops trailing arguments or adds a junk one."""
        if op.kind != "cmd" or len(op.args) < 1 or op.nframes != 1 or op.extra.get("whole") \
                or not self.chance(0.03):
            return op
        if op.args[0].upper() in STATEFUL:
            return op
        if len(op.args) > 1 and self.chance(0.6):
            op.args = op.args[: self.rng.randint(1, len(op.args) - 1)]
        else:
            op.args = op.args + [self.pick([b"junk", b"1", b"", b"-1"])]
        upper = [a.upper() for a in op.args]
        if upper[0] in (b"SORT", b"SORT_RO"):
            if b"NOSORT" in upper:
                op.cmp = "set"  # its STORE gone: a set's or a skiplist's dict order
            elif b"ALPHA" not in upper:
                op.cmp = "sort_num"  # a numeric sort now (runner.SORT_SCORE_ERROR)
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
