//! List commands: LPUSH RPUSH LPUSHX RPUSHX LPOP RPOP LLEN LINDEX LSET LRANGE LTRIM LINSERT
//! LREM LPOS LMOVE RPOPLPUSH LMPOP, and the blocking BLPOP BRPOP BLMOVE BRPOPLPUSH BLMPOP.
//!
//! Argument checks run in Redis 7.0's order (some before the key lookup, some after), since
//! that order decides which error a client sees. A push that leaves a list non-empty signals
//! the key ready; clients blocked on it run their command again after the current command
//! (`cmd::handle_ready_keys`), preferring the key that woke them. Served blocking commands
//! propagate as their non-blocking equivalents: BLPOP → LPOP, BLMPOP → LPOP key count,
//! BLMOVE → LMOVE, BRPOPLPUSH → RPOPLPUSH.

use super::notify;
use std::sync::Arc;

use amber_resp::ReplyBuf;
use amber_store::list::{End, List};
use amber_store::{Key, Value};

use super::args;
use super::{Command, Ctx, Error, Reply, BLOCKING, DENYOOM, FAST, NOSCRIPT, READONLY, WRITE};
use crate::server::Server;

const LIST: &[&str] = &["@list"];

pub(crate) static COMMANDS: &[Command] = &[
    Command::new("lpush", -3, WRITE | DENYOOM | FAST, (1, 1, 1), LIST, lpush),
    Command::new("rpush", -3, WRITE | DENYOOM | FAST, (1, 1, 1), LIST, rpush),
    Command::new(
        "lpushx",
        -3,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        LIST,
        lpushx,
    ),
    Command::new(
        "rpushx",
        -3,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        LIST,
        rpushx,
    ),
    Command::new("linsert", 5, WRITE | DENYOOM, (1, 1, 1), LIST, linsert),
    Command::new("lpop", -2, WRITE | FAST, (1, 1, 1), LIST, lpop),
    Command::new("rpop", -2, WRITE | FAST, (1, 1, 1), LIST, rpop),
    Command::new("llen", 2, READONLY | FAST, (1, 1, 1), LIST, llen),
    Command::new("lindex", 3, READONLY, (1, 1, 1), LIST, lindex),
    Command::new("lset", 4, WRITE | DENYOOM, (1, 1, 1), LIST, lset),
    Command::new("lrange", 4, READONLY, (1, 1, 1), LIST, lrange),
    Command::new("ltrim", 4, WRITE, (1, 1, 1), LIST, ltrim),
    Command::new("lpos", -3, READONLY, (1, 1, 1), LIST, lpos),
    Command::new("lrem", 4, WRITE, (1, 1, 1), LIST, lrem),
    Command::new("rpoplpush", 3, WRITE | DENYOOM, (1, 2, 1), LIST, rpoplpush),
    Command::new("lmove", 5, WRITE | DENYOOM, (1, 2, 1), LIST, lmove),
    Command::new(
        "lmpop",
        -4,
        WRITE | super::MOVABLEKEYS,
        (0, 0, 0),
        LIST,
        lmpop,
    ),
    Command::new(
        "blpop",
        -3,
        WRITE | NOSCRIPT | BLOCKING,
        (1, -2, 1),
        LIST,
        blpop,
    ),
    Command::new(
        "brpop",
        -3,
        WRITE | NOSCRIPT | BLOCKING,
        (1, -2, 1),
        LIST,
        brpop,
    ),
    Command::new(
        "brpoplpush",
        4,
        WRITE | DENYOOM | NOSCRIPT | BLOCKING,
        (1, 2, 1),
        LIST,
        brpoplpush,
    ),
    Command::new(
        "blmove",
        6,
        WRITE | DENYOOM | NOSCRIPT | BLOCKING,
        (1, 2, 1),
        LIST,
        blmove,
    ),
    Command::new(
        "blmpop",
        -5,
        WRITE | BLOCKING | super::MOVABLEKEYS,
        (0, 0, 0),
        LIST,
        blmpop,
    ),
];

// ---- helpers ----

/// Whether `key` holds a list, for a write command: `Ok(false)` when it does not exist.
fn exists_for_write(srv: &mut Server, db: usize, key: &[u8]) -> Result<bool, Error> {
    match srv.lookup_write(db, key).map(|e| &e.value) {
        None => Ok(false),
        Some(Value::List(_)) => Ok(true),
        Some(_) => Err(Error::wrongtype()),
    }
}

/// The list at `key` for a read command (counts keyspace hits and misses).
fn read_list<'s>(srv: &'s mut Server, db: usize, key: &[u8]) -> Result<Option<&'s List>, Error> {
    match srv.lookup_read(db, key).map(|e| &e.value) {
        None => Ok(None),
        Some(Value::List(l)) => Ok(Some(l)),
        Some(_) => Err(Error::wrongtype()),
    }
}

/// The list at `key`, copied first if a snapshot shares it. The caller has looked it up.
fn list_mut<'s>(srv: &'s mut Server, db: usize, key: &[u8]) -> Option<&'s mut List> {
    match srv.db_mut(db).get_mut(key).map(|e| &mut e.value) {
        Some(Value::List(l)) => Some(Arc::make_mut(l)),
        _ => None,
    }
}

/// Deletes `key` if its list became empty (Redis never keeps an empty list); whether it did.
fn delete_if_empty(srv: &mut Server, db: usize, key: &[u8]) -> bool {
    let empty =
        matches!(srv.db(db).get(key).map(|e| &e.value), Some(Value::List(l)) if l.is_empty());
    if empty {
        srv.db_mut(db).remove(key);
    }
    empty
}

/// After elements left a list (listElementsRemoved): the pop event, then the key's deletion
/// and its event when the list emptied.
fn elements_removed(ctx: &mut Ctx<'_>, key: &[u8], end: End) {
    ctx.notify(notify::LIST, end_event(end, "lpop", "rpop"), key);
    delete_emptied(ctx, key);
}

/// Deletes an emptied list with its "del" event.
fn delete_emptied(ctx: &mut Ctx<'_>, key: &[u8]) {
    if delete_if_empty(ctx.srv, ctx.cl.db, key) {
        ctx.notify(notify::GENERIC, "del", key);
    }
}

fn end_event(end: End, left: &'static str, right: &'static str) -> &'static str {
    match end {
        End::Left => left,
        End::Right => right,
    }
}

/// LEFT or RIGHT (getListPositionFromObjectOrReply).
fn end_arg(arg: &[u8]) -> Result<End, Error> {
    if args::is(arg, "left") {
        Ok(End::Left)
    } else if args::is(arg, "right") {
        Ok(End::Right)
    } else {
        Err(Error::syntax())
    }
}

/// A long within `min..=max`, with one message for both a non-integer and a value out of range
/// (getRangeLongFromObjectOrReply with a message).
fn ranged(arg: &[u8], min: i64, max: i64, msg: &'static str) -> Result<i64, Error> {
    match amber_store::value::parse_i64(arg) {
        Some(v) if (min..=max).contains(&v) => Ok(v),
        _ => Err(Error::new(msg)),
    }
}

fn pop_name(end: End) -> &'static [u8] {
    match end {
        End::Left => b"LPOP",
        End::Right => b"RPOP",
    }
}

// ---- push ----

fn lpush(ctx: &mut Ctx<'_>) -> Reply {
    push(ctx, End::Left, false)
}

fn rpush(ctx: &mut Ctx<'_>) -> Reply {
    push(ctx, End::Right, false)
}

fn lpushx(ctx: &mut Ctx<'_>) -> Reply {
    push(ctx, End::Left, true)
}

fn rpushx(ctx: &mut Ctx<'_>) -> Reply {
    push(ctx, End::Right, true)
}

fn push(ctx: &mut Ctx<'_>, end: End, only_existing: bool) -> Reply {
    let db = ctx.cl.db;
    let args = ctx.args;
    let key = &args[1];
    if !exists_for_write(ctx.srv, db, key)? {
        if only_existing {
            ctx.cl.out.int(0);
            return Ok(());
        }
        ctx.srv
            .add_key(db, Key::from_slice(key), Value::List(Arc::new(List::new())));
    }
    let Some(list) = list_mut(ctx.srv, db, key) else {
        return Err(Error::wrongtype());
    };
    for v in &args[2..] {
        list.push(end, v);
    }
    let len = list.len();
    ctx.cl.out.int(len as i64);
    let pushed = (args.len() - 2) as u64;
    ctx.changed(db, key, pushed);
    ctx.notify(notify::LIST, end_event(end, "lpush", "rpush"), key);
    ctx.srv.signal_ready(db, key);
    Ok(())
}

// ---- pop ----

fn lpop(ctx: &mut Ctx<'_>) -> Reply {
    pop(ctx, End::Left)
}

fn rpop(ctx: &mut Ctx<'_>) -> Reply {
    pop(ctx, End::Right)
}

fn pop(ctx: &mut Ctx<'_>, end: End) -> Reply {
    let args = ctx.args;
    if args.len() > 3 {
        return Err(Error::new(format!(
            "ERR wrong number of arguments for '{}' command",
            ctx.cmd.name
        )));
    }
    let count = match args.get(2) {
        Some(a) => Some(ranged(
            a,
            0,
            i64::MAX,
            "ERR value is out of range, must be positive",
        )?),
        None => None,
    };
    let db = ctx.cl.db;
    let key = &args[1];
    if !exists_for_write(ctx.srv, db, key)? {
        match count {
            Some(_) => ctx.cl.out.null_array(),
            None => ctx.cl.out.null(),
        }
        return Ok(());
    }
    match count {
        None => {
            let v = list_mut(ctx.srv, db, key).and_then(|l| l.pop(end));
            match v {
                Some(v) => ctx.cl.out.bulk(&v),
                None => ctx.cl.out.null(),
            }
        }
        Some(0) => {
            ctx.cl.out.array(0);
            return Ok(());
        }
        Some(n) => {
            let Some(list) = list_mut(ctx.srv, db, key) else {
                return Err(Error::wrongtype());
            };
            let n = usize::try_from(n).unwrap_or(usize::MAX).min(list.len());
            ctx.cl.out.array(n);
            for _ in 0..n {
                if let Some(v) = list.pop(end) {
                    ctx.cl.out.bulk(&v);
                }
            }
            elements_removed(ctx, key, end);
            ctx.changed(db, key, n as u64);
            return Ok(());
        }
    }
    elements_removed(ctx, key, end);
    ctx.changed(db, key, 1);
    Ok(())
}

// ---- reads ----

fn llen(ctx: &mut Ctx<'_>) -> Reply {
    let db = ctx.cl.db;
    let n = read_list(ctx.srv, db, &ctx.args[1])?.map_or(0, |l| l.len());
    ctx.cl.out.int(n as i64);
    Ok(())
}

fn lindex(ctx: &mut Ctx<'_>) -> Reply {
    let db = ctx.cl.db;
    let args = ctx.args;
    let Some(list) = read_list(ctx.srv, db, &args[1])? else {
        ctx.cl.out.null();
        return Ok(());
    };
    let index = args::int(&args[2])?;
    match list.index(index) {
        Some(v) => ctx.cl.out.bulk(v),
        None => ctx.cl.out.null(),
    }
    Ok(())
}

fn lrange(ctx: &mut Ctx<'_>) -> Reply {
    let db = ctx.cl.db;
    let args = ctx.args;
    let start = args::int(&args[2])?;
    let end = args::int(&args[3])?;
    let Some(list) = read_list(ctx.srv, db, &args[1])? else {
        ctx.cl.out.array(0);
        return Ok(());
    };
    match list.range_bounds(start, end) {
        None => ctx.cl.out.array(0),
        Some((s, e)) => {
            ctx.cl.out.array(e - s + 1);
            for v in list.items.range(s..=e) {
                ctx.cl.out.bulk(v);
            }
        }
    }
    Ok(())
}

fn lpos(ctx: &mut Ctx<'_>) -> Reply {
    let args = ctx.args;
    let mut rank: i64 = 1;
    let mut count: Option<i64> = None;
    let mut maxlen: i64 = 0;
    let mut j = 3;
    while j < args.len() {
        let more = j + 1 < args.len();
        if args::is(&args[j], "rank") && more {
            j += 1;
            rank = args::int(&args[j])?;
            if rank == 0 {
                return Err(Error::new(
                    "ERR RANK can't be zero: use 1 to start from the first match, 2 from the \
                     second ... or use negative to start from the end of the list",
                ));
            }
        } else if args::is(&args[j], "count") && more {
            j += 1;
            count = Some(ranged(
                &args[j],
                0,
                i64::MAX,
                "ERR COUNT can't be negative",
            )?);
        } else if args::is(&args[j], "maxlen") && more {
            j += 1;
            maxlen = ranged(&args[j], 0, i64::MAX, "ERR MAXLEN can't be negative")?;
        } else {
            return Err(Error::syntax());
        }
        j += 1;
    }
    let db = ctx.cl.db;
    let Some(list) = read_list(ctx.srv, db, &args[1])? else {
        match count {
            Some(_) => ctx.cl.out.array(0),
            None => ctx.cl.out.null(),
        }
        return Ok(());
    };
    // Redis negates a negative rank to scan from the tail; -LLONG_MIN stays LLONG_MIN there,
    // which then accepts the first match.
    let from_head = rank > 0;
    let skip = if rank == i64::MIN {
        0
    } else {
        rank.unsigned_abs() - 1
    };
    let found = list.positions(
        &args[2],
        from_head,
        skip,
        count.map_or(1, |c| c as u64),
        maxlen as u64,
    );
    match count {
        Some(_) => {
            ctx.cl.out.array(found.len());
            for p in found {
                ctx.cl.out.int(p as i64);
            }
        }
        None => match found.first() {
            Some(p) => ctx.cl.out.int(*p as i64),
            None => ctx.cl.out.null(),
        },
    }
    Ok(())
}

// ---- in-place writes ----

fn lset(ctx: &mut Ctx<'_>) -> Reply {
    let db = ctx.cl.db;
    let args = ctx.args;
    let key = &args[1];
    if !exists_for_write(ctx.srv, db, key)? {
        return Err(Error::no_such_key());
    }
    let index = args::int(&args[2])?;
    let ok = list_mut(ctx.srv, db, key).is_some_and(|l| l.set(index, &args[3]));
    if !ok {
        return Err(Error::out_of_range());
    }
    ctx.cl.out.ok();
    ctx.changed(db, key, 1);
    ctx.notify(notify::LIST, "lset", key);
    Ok(())
}

fn ltrim(ctx: &mut Ctx<'_>) -> Reply {
    let db = ctx.cl.db;
    let args = ctx.args;
    let key = &args[1];
    let start = args::int(&args[2])?;
    let end = args::int(&args[3])?;
    if !exists_for_write(ctx.srv, db, key)? {
        ctx.cl.out.ok();
        return Ok(());
    }
    let removed = list_mut(ctx.srv, db, key).map_or(0, |l| l.trim(start, end));
    ctx.notify(notify::LIST, "ltrim", key);
    delete_emptied(ctx, key);
    // Redis signals the key even when nothing was trimmed.
    ctx.changed(db, key, removed as u64);
    ctx.cl.out.ok();
    Ok(())
}

fn linsert(ctx: &mut Ctx<'_>) -> Reply {
    let db = ctx.cl.db;
    let args = ctx.args;
    let after = if args::is(&args[2], "after") {
        true
    } else if args::is(&args[2], "before") {
        false
    } else {
        return Err(Error::syntax());
    };
    let key = &args[1];
    if !exists_for_write(ctx.srv, db, key)? {
        ctx.cl.out.int(0);
        return Ok(());
    }
    let Some(list) = list_mut(ctx.srv, db, key) else {
        return Err(Error::wrongtype());
    };
    if !list.insert(after, &args[3], &args[4]) {
        ctx.cl.out.int(-1);
        return Ok(());
    }
    let len = list.len();
    ctx.cl.out.int(len as i64);
    ctx.changed(db, key, 1);
    ctx.notify(notify::LIST, "linsert", key);
    Ok(())
}

fn lrem(ctx: &mut Ctx<'_>) -> Reply {
    let db = ctx.cl.db;
    let args = ctx.args;
    let key = &args[1];
    let count = args::int(&args[2])?;
    if !exists_for_write(ctx.srv, db, key)? {
        ctx.cl.out.int(0);
        return Ok(());
    }
    let removed = list_mut(ctx.srv, db, key).map_or(0, |l| l.remove(count, &args[3]));
    if removed > 0 {
        ctx.notify(notify::LIST, "lrem", key);
        delete_emptied(ctx, key);
        ctx.changed(db, key, removed as u64);
    }
    ctx.cl.out.int(removed as i64);
    Ok(())
}

// ---- moves ----

fn rpoplpush(ctx: &mut Ctx<'_>) -> Reply {
    move_element(ctx, End::Right, End::Left)
}

fn lmove(ctx: &mut Ctx<'_>) -> Reply {
    let from = end_arg(&ctx.args[3])?;
    let to = end_arg(&ctx.args[4])?;
    move_element(ctx, from, to)
}

/// LMOVE's body: pops from the source (which the caller may have checked) and pushes to the
/// destination. Replies with the element, or a null bulk when the source does not exist.
fn move_element(ctx: &mut Ctx<'_>, from: End, to: End) -> Reply {
    let db = ctx.cl.db;
    let args = ctx.args;
    let (src, dst) = (&args[1], &args[2]);
    if !exists_for_write(ctx.srv, db, src)? {
        ctx.cl.out.null();
        return Ok(());
    }
    let dst_exists = exists_for_write(ctx.srv, db, dst)?;
    let Some(v) = list_mut(ctx.srv, db, src).and_then(|l| l.pop(from)) else {
        ctx.cl.out.null();
        return Ok(());
    };
    if !dst_exists && src != dst {
        ctx.srv
            .add_key(db, Key::from_slice(dst), Value::List(Arc::new(List::new())));
    }
    if let Some(l) = list_mut(ctx.srv, db, dst) {
        l.push(to, &v);
    }
    ctx.notify(notify::LIST, end_event(to, "lpush", "rpush"), dst);
    ctx.cl.out.bulk(&v);
    ctx.modified(db, dst);
    ctx.srv.signal_ready(db, dst);
    elements_removed(ctx, src, from);
    ctx.changed(db, src, 1);
    match ctx.cmd.name {
        "blmove" => {
            // A client served after blocking is propagated with Redis's own spelling of the
            // sides; a command that did not block keeps the arguments it came with.
            let (f, t) = if ctx.reprocessing {
                (
                    from.name().as_bytes().to_vec(),
                    to.name().as_bytes().to_vec(),
                )
            } else {
                (args[3].clone(), args[4].clone())
            };
            ctx.propagate(vec![b"LMOVE".to_vec(), src.clone(), dst.clone(), f, t]);
        }
        "brpoplpush" => {
            ctx.propagate(vec![b"RPOPLPUSH".to_vec(), src.clone(), dst.clone()]);
        }
        _ => {}
    }
    Ok(())
}

// ---- multi-key pops ----

/// LMPOP/BLMPOP arguments after the command name (and BLMPOP's timeout): numkeys, keys,
/// LEFT|RIGHT, [COUNT n]. Returns the keys, the side and the count.
fn mpop_args(args: &[Vec<u8>], numkeys_idx: usize) -> Result<(&[Vec<u8>], End, usize), Error> {
    let numkeys = ranged(
        &args[numkeys_idx],
        1,
        i64::MAX,
        "ERR numkeys should be greater than 0",
    )?;
    let where_idx = usize::try_from(numkeys)
        .ok()
        .and_then(|n| n.checked_add(numkeys_idx + 1))
        .filter(|i| *i < args.len())
        .ok_or_else(Error::syntax)?;
    let end = end_arg(&args[where_idx])?;
    let mut count: Option<i64> = None;
    let mut j = where_idx + 1;
    while j < args.len() {
        if count.is_none() && args::is(&args[j], "count") && j + 1 < args.len() {
            j += 1;
            count = Some(ranged(
                &args[j],
                1,
                i64::MAX,
                "ERR count should be greater than 0",
            )?);
        } else {
            return Err(Error::syntax());
        }
        j += 1;
    }
    let count = usize::try_from(count.unwrap_or(1)).unwrap_or(usize::MAX);
    Ok((&args[numkeys_idx + 1..where_idx], end, count))
}

/// Pops up to `count` elements from the first non-empty list among `keys` and replies
/// `[key, [elements]]`, propagated as `LPOP|RPOP key n`. Returns false (nothing written)
/// when every key is missing; a key of another type is an error.
fn mpop_from(ctx: &mut Ctx<'_>, keys: &[Vec<u8>], end: End, count: usize) -> Result<bool, Error> {
    let db = ctx.cl.db;
    for key in ctx.serving_first(keys) {
        if !exists_for_write(ctx.srv, db, key)? {
            continue;
        }
        let Some(list) = list_mut(ctx.srv, db, key) else {
            continue;
        };
        let n = count.min(list.len());
        let out = &mut ctx.cl.out;
        out.array(2);
        out.bulk(key);
        out.array(n);
        for _ in 0..n {
            if let Some(v) = list.pop(end) {
                out.bulk(&v);
            }
        }
        elements_removed(ctx, key, end);
        ctx.changed(db, key, n as u64);
        ctx.propagate(vec![
            pop_name(end).to_vec(),
            key.clone(),
            n.to_string().into_bytes(),
        ]);
        return Ok(true);
    }
    Ok(false)
}

fn lmpop(ctx: &mut Ctx<'_>) -> Reply {
    let args = ctx.args;
    let (keys, end, count) = mpop_args(args, 1)?;
    if !mpop_from(ctx, keys, end, count)? {
        ctx.cl.out.null_array();
    }
    Ok(())
}

// ---- blocking ----

fn null_array(out: &mut ReplyBuf) {
    out.null_array();
}

fn block_on(ctx: &mut Ctx<'_>, keys: &[Vec<u8>], timeout_ms: i64) {
    let keys = keys.iter().map(|k| Key::from_slice(k)).collect();
    // Redis 7.0 answers a timed-out BLPOP, BLMPOP, BLMOVE and BRPOPLPUSH alike: a null array.
    ctx.block(keys, timeout_ms, null_array);
}

fn blpop(ctx: &mut Ctx<'_>) -> Reply {
    blocking_pop(ctx, End::Left)
}

fn brpop(ctx: &mut Ctx<'_>) -> Reply {
    blocking_pop(ctx, End::Right)
}

fn blocking_pop(ctx: &mut Ctx<'_>, end: End) -> Reply {
    let args = ctx.args;
    let last = args.len() - 1;
    let timeout = args::timeout_secs(&args[last])?;
    let keys = &args[1..last];
    let db = ctx.cl.db;
    for key in ctx.serving_first(keys) {
        if !exists_for_write(ctx.srv, db, key)? {
            continue;
        }
        let Some(v) = list_mut(ctx.srv, db, key).and_then(|l| l.pop(end)) else {
            continue;
        };
        ctx.cl.out.array(2);
        ctx.cl.out.bulk(key);
        ctx.cl.out.bulk(&v);
        elements_removed(ctx, key, end);
        ctx.changed(db, key, 1);
        ctx.propagate(vec![pop_name(end).to_vec(), key.clone()]);
        return Ok(());
    }
    if !ctx.can_block() {
        ctx.cl.out.null_array();
        return Ok(());
    }
    block_on(ctx, keys, timeout);
    Ok(())
}

fn blmpop(ctx: &mut Ctx<'_>) -> Reply {
    let args = ctx.args;
    let (keys, end, count) = mpop_args(args, 2)?;
    let timeout = args::timeout_secs(&args[1])?;
    if mpop_from(ctx, keys, end, count)? {
        return Ok(());
    }
    if !ctx.can_block() {
        ctx.cl.out.null_array();
        return Ok(());
    }
    block_on(ctx, keys, timeout);
    Ok(())
}

fn brpoplpush(ctx: &mut Ctx<'_>) -> Reply {
    let timeout = args::timeout_secs(&ctx.args[3])?;
    blocking_move(ctx, End::Right, End::Left, timeout)
}

fn blmove(ctx: &mut Ctx<'_>) -> Reply {
    let from = end_arg(&ctx.args[3])?;
    let to = end_arg(&ctx.args[4])?;
    let timeout = args::timeout_secs(&ctx.args[5])?;
    blocking_move(ctx, from, to, timeout)
}

fn blocking_move(ctx: &mut Ctx<'_>, from: End, to: End, timeout: i64) -> Reply {
    let db = ctx.cl.db;
    let args = ctx.args;
    if exists_for_write(ctx.srv, db, &args[1])? {
        return move_element(ctx, from, to);
    }
    if !ctx.can_block() {
        // Inside MULTI: the null bulk LMOVE gives for a missing source.
        ctx.cl.out.null();
        return Ok(());
    }
    block_on(ctx, &args[1..2], timeout);
    Ok(())
}

#[cfg(test)]
mod tests {
    //! What the list commands propagate (for the AOF), checked against what Redis 7.0.15
    //! writes to its AOF for the same commands.

    use super::*;
    use crate::client::Client;
    use crate::config::{Config, LogLevel};
    use crate::sys::log::Logger;

    fn server() -> Option<(Server, Client)> {
        let log = Logger::open(LogLevel::Nothing, "").ok()?;
        let srv = Server::new(Config::default(), log);
        let cl = Client::new(1, "127.0.0.1:1".into(), "127.0.0.1:2".into(), -1, true);
        Some((srv, cl))
    }

    /// Runs one command straight through its handler, as served (`reprocessing`) or not, and
    /// returns what it propagated.
    fn run(srv: &mut Server, cl: &mut Client, line: &str, reprocessing: bool) -> Vec<String> {
        let args: Vec<Vec<u8>> = line.split(' ').map(|s| s.as_bytes().to_vec()).collect();
        let Some(cmd) = srv.commands.lookup(&args[0]) else {
            return vec!["unknown".into()];
        };
        srv.propagated.clear();
        let mut ctx = Ctx {
            srv,
            cl,
            args: &args,
            cmd,
            reprocessing,
            touched: false,
        };
        if (cmd.handler)(&mut ctx).is_err() {
            return vec!["error".into()];
        }
        srv.propagated
            .iter()
            .map(|(_, a)| {
                a.iter()
                    .map(|x| String::from_utf8_lossy(x).into_owned())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    }

    #[test]
    fn propagation_matches_redis_aof() {
        let Some((mut srv, mut cl)) = server() else {
            panic!("no server");
        };
        let s = &mut srv;
        let c = &mut cl;
        assert!(run(s, c, "RPUSH k a b c d e f", false).is_empty());
        assert_eq!(run(s, c, "LMPOP 1 k LEFT COUNT 2", false), ["LPOP k 2"]);
        assert_eq!(
            run(s, c, "BLMPOP 0 1 k right COUNT 10", false),
            ["RPOP k 4"]
        );
        assert!(run(s, c, "RPUSH k x y z w", false).is_empty());
        assert_eq!(run(s, c, "BLPOP k 0", false), ["LPOP k"]);
        assert_eq!(run(s, c, "BRPOP k 0", false), ["RPOP k"]);
        assert_eq!(
            run(s, c, "BLMOVE k d Left rIght 0", false),
            ["LMOVE k d Left rIght"]
        );
        assert_eq!(
            run(s, c, "BLMOVE d k Left rIght 0", true),
            ["LMOVE d k left right"]
        );
        assert_eq!(run(s, c, "BRPOPLPUSH k d 0", true), ["RPOPLPUSH k d"]);
        // Commands Redis propagates as received record nothing here.
        assert!(run(s, c, "LMOVE d k LEFT LEFT", false).is_empty());
        assert!(run(s, c, "LPOP k 1", false).is_empty());
        // Nothing popped, nothing propagated.
        assert!(run(s, c, "LMPOP 1 nokey LEFT", false).is_empty());
        cl.multi = Some(Default::default());
        assert!(run(&mut srv, &mut cl, "BLPOP nokey 0", false).is_empty());
        assert!(cl.blocked.is_none());
    }
}
