"""Comparable shapes of replies whose bytes are not fully specified: a reply becomes nested tuples
(type byte, items) in which the parts left open by Redis are masked or put in a canonical order.

  xtime     idle and delivery times of stream consumers and pending entries are masked (they
            depend on when each server ran the command); everything else stays exact.
  funclist  FUNCTION LIST: Redis lists libraries, and each library's functions, in dict order.
  cmdinfo   COMMAND INFO: a container command's subcommands come in dict order.
  cmddocs   COMMAND DOCS: the same for the "subcommands" map of a command's docs.
  dump      DUMP: a hashtable set or hash lists its elements in dict order."""

MASK = "<masked>"
TIME_KEYS = {b"idle", b"seen-time", b"active-time", b"inactive"}
ABSOLUTE_MS = 10 ** 11  # larger integers in a stream reply are unix-time milliseconds


def key_of(f):
    return f.val if f.kind in "$+" else None


def plain(f):
    if not f.is_agg():
        return f.raw
    return (f.kind, tuple(plain(x) for x in f.items()))


def xtime(f):
    if not f.is_agg():
        if f.kind == ":" and abs(f.val) >= ABSOLUTE_MS:
            return MASK
        return f.raw
    items = f.items()
    out = []
    for i, x in enumerate(items):
        if i > 0 and key_of(items[i - 1]) in TIME_KEYS:
            out.append(MASK)
        else:
            out.append(xtime(x))
    # A pending entry: [id, consumer, idle or delivery time, deliveries] (XPENDING, XINFO FULL).
    if len(items) == 4 and [x.kind for x in items] == ["$", "$", ":", ":"]:
        out[2] = MASK
    return (f.kind, tuple(out))


def sorted_items(f, inner=plain):
    if not f.is_agg():
        return plain(f)
    return (f.kind, tuple(sorted((inner(x) for x in f.items()), key=repr)))


def sorted_pairs(f):
    if not f.is_agg():
        return plain(f)
    items = f.items()
    pairs = [(plain(items[i]), cmddocs_entry(items[i + 1]) if i + 1 < len(items) else None)
             for i in range(0, len(items), 2)]
    return (f.kind, tuple(sorted(pairs, key=repr)))


def library(f):
    """One library of FUNCTION LIST: its functions as a set."""
    if not f.is_agg():
        return plain(f)
    items = f.items()
    out = []
    for i, x in enumerate(items):
        out.append(sorted_items(x) if i > 0 and key_of(items[i - 1]) == b"functions" else plain(x))
    return (f.kind, tuple(out))


def funclist(f):
    return sorted_items(f, library)


def cmdinfo_entry(f):
    """[name, arity, flags, first, last, step, acl-categories, tips, key-specs, subcommands]"""
    if not f.is_agg():
        return plain(f)
    items = f.items()
    return (f.kind, tuple(sorted_items(x) if i == 9 else plain(x) for i, x in enumerate(items)))


def cmdinfo(f):
    if not f.is_agg():
        return plain(f)
    return (f.kind, tuple(cmdinfo_entry(x) for x in f.items()))


def cmddocs_entry(f):
    if not f.is_agg():
        return plain(f)
    items = f.items()
    out = []
    for i, x in enumerate(items):
        out.append(sorted_pairs(x) if i > 0 and key_of(items[i - 1]) == b"subcommands" else cmddocs_entry(x))
    return (f.kind, tuple(out))


# RDB types whose DUMP lists elements in dict order: a set (2) and a hash (4) in a hashtable.
DICT_ORDERED_TYPES = {2, 4}


def dump(f):
    """DUMP: byte for byte, except a hashtable set or hash (then its type and length)."""
    if f.kind == "$" and f.val and f.val[0] in DICT_ORDERED_TYPES:
        return ("dict-ordered dump", f.val[0], len(f.val))
    return f.raw


SHAPES = {"dump": dump, "xtime": xtime, "funclist": funclist, "cmdinfo": cmdinfo, "cmddocs": cmddocs_entry}
