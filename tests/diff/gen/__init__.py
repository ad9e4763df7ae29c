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
  xtime      stream replies with idle and delivery times masked (XPENDING, XCLAIM, XINFO)
  fload      exact, but in "Function/Library X already exists" the name is not compared (which
             one collides first follows dict orders)
  funclist   FUNCTION LIST: libraries, and each library's functions, compared as sets
  dump       DUMP: exact, but a hashtable set or hash only by type and length (dict order)
  cmdinfo / cmddocs
             COMMAND INFO / DOCS: subcommands compared as a set (Redis lists them in dict order)
and `kind` says how it runs: cmd, block (a blocking command on the second connection, then a
push on the main one), frestore (FUNCTION DUMP, then FUNCTION RESTORE of each server's own
payload), scan (a full cursor iteration), random (a reply checked by properties
against the collection's contents, then a resync), check (compare the whole datasets)."""

from .common import *  # noqa: F401,F403  (the pools and corpora, as before the split)
from .containers import ContainersMixin
from .core import GenBase
from .introspection import IntrospectionMixin
from .keyspace import KeysMixin
from .probabilistic import ProbabilisticMixin
from .scripting import ScriptingMixin
from .session import SessionMixin
from .streams import StreamsMixin
from .strings import StringsMixin


class Gen(StringsMixin, KeysMixin, ContainersMixin, SessionMixin, StreamsMixin, ProbabilisticMixin,
          ScriptingMixin, IntrospectionMixin, GenBase):
    """A seeded stream generator: `Gen(seed, families).stream(count)`."""
