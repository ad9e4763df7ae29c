//! Stream commands (Redis 7.0.15's t_stream.c): XADD XTRIM XDEL XLEN XSETID (add.rs), XRANGE
//! XREVRANGE (range.rs), XREAD XREADGROUP (read.rs), XGROUP XACK XPENDING XCLAIM XAUTOCLAIM
//! (groups.rs, claim.rs), XINFO (info.rs). The stream itself is amber_store::stream.
//!
//! Effects reach the AOF and replicas as Redis propagates them: XADD with the ID it made and
//! approximate trimming made exact, XREADGROUP / XCLAIM / XAUTOCLAIM as XCLAIM ... FORCE JUSTID
//! LASTID and XGROUP SETID, never the reads themselves.

mod add;
mod claim;
mod groups;
mod info;
mod range;
mod read;

use std::sync::Arc;

use amber_resp::ReplyBuf;
use amber_store::listpack::LpEntry;
use amber_store::stream::{node::text, NodeLimits, Stream, StreamId};
use amber_store::{Entry, Key, Value};

use super::{
    Command, Error, BLOCKING, DENYOOM, FAST, LOADING, MOVABLEKEYS, READONLY, STALE, WRITE,
};
use crate::server::Server;

const STREAM: &[&str] = &["@stream"];

pub(crate) static COMMANDS: &[Command] = &[
    Command::new(
        "xadd",
        -5,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        STREAM,
        add::xadd,
    ),
    Command::new("xtrim", -4, WRITE, (1, 1, 1), STREAM, add::xtrim),
    Command::new("xdel", -3, WRITE | FAST, (1, 1, 1), STREAM, add::xdel),
    Command::new("xlen", 2, READONLY | FAST, (1, 1, 1), STREAM, add::xlen),
    Command::new(
        "xsetid",
        -3,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        STREAM,
        add::xsetid,
    ),
    Command::new("xrange", -4, READONLY, (1, 1, 1), STREAM, range::xrange),
    Command::new(
        "xrevrange",
        -4,
        READONLY,
        (1, 1, 1),
        STREAM,
        range::xrevrange,
    ),
    Command::new(
        "xread",
        -4,
        READONLY | BLOCKING | MOVABLEKEYS,
        (0, 0, 0),
        STREAM,
        read::xread,
    ),
    Command::new(
        "xreadgroup",
        -7,
        WRITE | BLOCKING | MOVABLEKEYS,
        (0, 0, 0),
        STREAM,
        read::xread,
    ),
    Command::new("xack", -4, WRITE | FAST, (1, 1, 1), STREAM, groups::xack),
    Command::new(
        "xpending",
        -3,
        READONLY,
        (1, 1, 1),
        STREAM,
        groups::xpending,
    ),
    Command::new("xclaim", -6, WRITE | FAST, (1, 1, 1), STREAM, claim::xclaim),
    Command::new(
        "xautoclaim",
        -6,
        WRITE | FAST,
        (1, 1, 1),
        STREAM,
        claim::xautoclaim,
    ),
    Command::container("xgroup", -2, 0, XGROUP_SUBCOMMANDS),
    Command::container("xinfo", -2, 0, XINFO_SUBCOMMANDS),
];

static XGROUP_SUBCOMMANDS: &[Command] = &[
    Command::new(
        "create",
        -5,
        WRITE | DENYOOM,
        (2, 2, 1),
        STREAM,
        groups::xgroup,
    ),
    Command::new(
        "createconsumer",
        5,
        WRITE | DENYOOM,
        (2, 2, 1),
        STREAM,
        groups::xgroup,
    ),
    Command::new("delconsumer", 5, WRITE, (2, 2, 1), STREAM, groups::xgroup),
    Command::new("destroy", 4, WRITE, (2, 2, 1), STREAM, groups::xgroup),
    Command::new("setid", -5, WRITE, (2, 2, 1), STREAM, groups::xgroup),
    Command::new(
        "help",
        2,
        LOADING | STALE,
        (0, 0, 0),
        STREAM,
        groups::xgroup,
    ),
];

static XINFO_SUBCOMMANDS: &[Command] = &[
    Command::new("consumers", 4, READONLY, (2, 2, 1), STREAM, info::xinfo),
    Command::new("groups", 3, READONLY, (2, 2, 1), STREAM, info::xinfo),
    Command::new("stream", -3, READONLY, (2, 2, 1), STREAM, info::xinfo),
    Command::new("help", 2, LOADING | STALE, (0, 0, 0), STREAM, info::xinfo),
];

// ---- IDs ----

fn invalid_id() -> Error {
    Error::new("ERR Invalid stream ID specified as stream command argument")
}

/// C's strtoull on a whole string, as string2ull falls back to it: leading spaces, a sign
/// (a '-' wraps), digits to the end, no overflow.
fn strtoull(s: &[u8]) -> Option<u64> {
    if let Some(v) = amber_store::value::parse_i64(s) {
        return u64::try_from(v).ok();
    }
    let mut i = 0;
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
        i += 1;
    }
    let mut neg = false;
    if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
        neg = s[i] == b'-';
        i += 1;
    }
    if i >= s.len() {
        return None;
    }
    let mut v: u64 = 0;
    for &c in &s[i..] {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    Some(if neg { v.wrapping_neg() } else { v })
}

/// A parsed ID argument: the ID and whether its sequence was given (false for `ms-*`).
pub(super) struct ParsedId {
    pub(super) id: StreamId,
    pub(super) seq_given: bool,
}

/// streamGenericParseIDOrReply: `-`, `+` (unless strict), `ms`, `ms-seq`, and `ms-*` when
/// `allow_star`.
fn parse_id_generic(
    arg: &[u8],
    missing_seq: u64,
    strict: bool,
    allow_star: bool,
) -> Result<ParsedId, Error> {
    if arg.len() > 127 {
        return Err(invalid_id());
    }
    // A C string: it ends at the first NUL.
    let buf = match arg.iter().position(|&b| b == 0) {
        Some(n) => &arg[..n],
        None => arg,
    };
    if strict && (buf == b"-" || buf == b"+") {
        return Err(invalid_id());
    }
    if buf == b"-" {
        return Ok(ParsedId {
            id: StreamId::MIN,
            seq_given: true,
        });
    }
    if buf == b"+" {
        return Ok(ParsedId {
            id: StreamId::MAX,
            seq_given: true,
        });
    }
    let (ms_part, seq_part) = match buf.iter().position(|&b| b == b'-') {
        Some(p) => (&buf[..p], Some(&buf[p + 1..])),
        None => (buf, None),
    };
    let ms = strtoull(ms_part).ok_or_else(invalid_id)?;
    let (seq, seq_given) = match seq_part {
        Some(b"*") if allow_star => (0, false),
        Some(s) => (strtoull(s).ok_or_else(invalid_id)?, true),
        None => (missing_seq, true),
    };
    Ok(ParsedId {
        id: StreamId::new(ms, seq),
        seq_given,
    })
}

/// An ID where `-` and `+` are allowed (streamParseIDOrReply).
pub(super) fn parse_id(arg: &[u8], missing_seq: u64) -> Result<StreamId, Error> {
    parse_id_generic(arg, missing_seq, false, false).map(|p| p.id)
}

/// An ID where `-` and `+` are not allowed (streamParseStrictIDOrReply).
pub(super) fn parse_strict_id(arg: &[u8], missing_seq: u64) -> Result<StreamId, Error> {
    parse_id_generic(arg, missing_seq, true, false).map(|p| p.id)
}

/// XADD's ID: strict, `ms-*` allowed.
pub(super) fn parse_add_id(arg: &[u8]) -> Result<ParsedId, Error> {
    parse_id_generic(arg, 0, true, true)
}

/// A range bound: `(id` is exclusive (streamParseIntervalIDOrReply); the ID is returned
/// moved past the exclusion, or the given error when it cannot move.
pub(super) fn parse_bound(arg: &[u8], missing_seq: u64, start: bool) -> Result<StreamId, Error> {
    if arg.len() > 1 && arg[0] == b'(' {
        let id = parse_strict_id(&arg[1..], missing_seq)?;
        if start {
            id.incr()
                .ok_or_else(|| Error::new("ERR invalid start ID for the interval"))
        } else {
            id.decr()
                .ok_or_else(|| Error::new("ERR invalid end ID for the interval"))
        }
    } else {
        parse_id(arg, missing_seq)
    }
}

// ---- lookups ----

/// The stream at `key` for reading (counts hits and misses); WRONGTYPE for other types.
pub(super) fn read_stream<'s>(
    srv: &'s mut Server,
    db: usize,
    key: &[u8],
) -> Result<Option<&'s Stream>, Error> {
    match srv.lookup_read(db, key).map(|e| &e.value) {
        None => Ok(None),
        Some(Value::Stream(s)) => Ok(Some(s)),
        Some(_) => Err(Error::wrongtype()),
    }
}

/// Whether `key` holds a stream, for a write (lookupKeyWrite): `Ok(false)` when missing.
pub(super) fn exists_for_write(srv: &mut Server, db: usize, key: &[u8]) -> Result<bool, Error> {
    match srv.lookup_write(db, key).map(|e| &e.value) {
        None => Ok(false),
        Some(Value::Stream(_)) => Ok(true),
        Some(_) => Err(Error::wrongtype()),
    }
}

/// The stream at `key`, copied first if a snapshot shares it; the caller looked it up.
pub(super) fn stream_mut<'s>(srv: &'s mut Server, db: usize, key: &[u8]) -> Option<&'s mut Stream> {
    match srv.db_mut(db).get_mut(key) {
        Some(Entry {
            value: Value::Stream(s),
            ..
        }) => Some(Arc::make_mut(s)),
        _ => None,
    }
}

/// Adds an empty stream at `key` (createStreamObject + dbAdd).
pub(super) fn create(srv: &mut Server, db: usize, key: &[u8]) {
    srv.add_key(db, Key::from_slice(key), Value::Stream(Arc::default()));
}

/// stream-node-max-bytes and stream-node-max-entries as configured.
pub(super) fn node_limits(srv: &Server) -> NodeLimits {
    let get = |name: &str, default: u64| {
        srv.config
            .accepted
            .get(name)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(default)
    };
    NodeLimits {
        max_bytes: get("stream-node-max-bytes", 4096),
        max_entries: get("stream-node-max-entries", 100),
    }
}

// ---- replies ----

pub(super) fn reply_id(out: &mut ReplyBuf, id: StreamId) {
    out.bulk(&id.to_bytes());
}

/// `[id, [field, value, ...]]`
pub(super) fn reply_entry(out: &mut ReplyBuf, id: StreamId, pairs: &[(LpEntry<'_>, LpEntry<'_>)]) {
    out.array(2);
    reply_id(out, id);
    out.array(pairs.len() * 2);
    for (f, v) in pairs {
        out.bulk(&text(*f));
        out.bulk(&text(*v));
    }
}

/// Entries of `[start, end]` as an array (streamReplyWithRange without a group); `count` 0
/// is no limit. Returns how many.
pub(super) fn reply_range(
    out: &mut ReplyBuf,
    s: &Stream,
    start: StreamId,
    end: StreamId,
    count: usize,
    rev: bool,
) -> usize {
    let d = out.deferred_array();
    let mut n = 0;
    s.range(start, end, rev, |id, pairs| {
        reply_entry(out, id, pairs);
        n += 1;
        count == 0 || n < count
    });
    out.set_deferred(d, n);
    n
}

/// The unknown-subcommand reply of a container command (addReplySubcommandSyntaxError): XGROUP,
/// XINFO, FUNCTION.
pub(crate) fn subcommand_syntax(container: &str, sub: &[u8]) -> Error {
    let sub = String::from_utf8_lossy(&sub[..sub.len().min(128)]).into_owned();
    Error::new(format!(
        "ERR unknown subcommand or wrong number of arguments for '{sub}'. Try {container} HELP."
    ))
}

/// A key, group or option in an error text: Redis formats it with `%s`, which stops at the
/// first NUL byte (so a binary key shows as far as its first zero byte).
pub(super) fn lossy(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}
