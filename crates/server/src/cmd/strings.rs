//! String commands: GET SET SETNX SETEX PSETEX MGET MSET MSETNX GETSET GETDEL GETEX APPEND
//! STRLEN INCR DECR INCRBY DECRBY INCRBYFLOAT GETRANGE SETRANGE SUBSTR LCS.
//!
//! Encodings follow Redis 7.0: values written whole go through `Value::string` (int, embstr or
//! raw, as tryObjectEncoding), APPEND and SETRANGE leave "raw", the INCR family "int" and
//! INCRBYFLOAT "embstr" (or "raw" beyond 44 bytes).

use super::notify;
use std::borrow::Cow;

use amber_resp::ReplyBuf;
use amber_store::db::NO_EXPIRE;
use amber_store::{Key, Value};

use super::{Command, Ctx, Error, Reply, DENYOOM, FAST, READONLY, WRITE};
use crate::cmd::ldouble::{self, Current};

const STR: &[&str] = &["@string"];

pub(crate) static COMMANDS: &[Command] = &[
    Command::new("get", 2, READONLY | FAST, (1, 1, 1), STR, get),
    Command::new("set", -3, WRITE | DENYOOM, (1, 1, 1), STR, set),
    Command::new("setnx", 3, WRITE | DENYOOM | FAST, (1, 1, 1), STR, setnx),
    Command::new("setex", 4, WRITE | DENYOOM, (1, 1, 1), STR, setex),
    Command::new("psetex", 4, WRITE | DENYOOM, (1, 1, 1), STR, psetex),
    Command::new("mget", -2, READONLY | FAST, (1, -1, 1), STR, mget),
    Command::new("mset", -3, WRITE | DENYOOM, (1, -1, 2), STR, mset),
    Command::new("msetnx", -3, WRITE | DENYOOM, (1, -1, 2), STR, msetnx),
    Command::new("getset", 3, WRITE | DENYOOM | FAST, (1, 1, 1), STR, getset),
    Command::new("getdel", 2, WRITE | FAST, (1, 1, 1), STR, getdel),
    Command::new("getex", -2, WRITE | FAST, (1, 1, 1), STR, getex),
    Command::new("append", 3, WRITE | DENYOOM | FAST, (1, 1, 1), STR, append),
    Command::new("strlen", 2, READONLY | FAST, (1, 1, 1), STR, strlen),
    Command::new("incr", 2, WRITE | DENYOOM | FAST, (1, 1, 1), STR, incr),
    Command::new("decr", 2, WRITE | DENYOOM | FAST, (1, 1, 1), STR, decr),
    Command::new("incrby", 3, WRITE | DENYOOM | FAST, (1, 1, 1), STR, incrby),
    Command::new("decrby", 3, WRITE | DENYOOM | FAST, (1, 1, 1), STR, decrby),
    Command::new(
        "incrbyfloat",
        3,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        STR,
        incrbyfloat,
    ),
    Command::new("getrange", 4, READONLY, (1, 1, 1), STR, getrange),
    Command::new("substr", 4, READONLY, (1, 1, 1), STR, getrange),
    Command::new("setrange", 4, WRITE | DENYOOM, (1, 1, 1), STR, setrange),
    Command::new("lcs", -3, READONLY, (1, 2, 1), STR, lcs),
];

/// Writes a string value as a bulk reply; other types are WRONGTYPE.
fn reply_value(out: &mut ReplyBuf, v: &Value) -> Reply {
    match v {
        Value::Int(n) => out.bulk_i64(*n),
        Value::Emb(b) => out.bulk(b),
        Value::Raw(b) => out.bulk(b),
        _ => return Err(Error::wrongtype()),
    }
    Ok(())
}

/// GET's body (getGenericCommand): replies with the value or null. Returns whether the key
/// existed.
fn get_generic(ctx: &mut Ctx<'_>) -> Result<bool, Error> {
    let db = ctx.cl.db;
    match ctx.srv.lookup_read(db, &ctx.args[1]) {
        None => {
            ctx.cl.out.null();
            Ok(false)
        }
        Some(e) => reply_value(&mut ctx.cl.out, &e.value).map(|_| true),
    }
}

fn get(ctx: &mut Ctx<'_>) -> Reply {
    get_generic(ctx).map(|_| ())
}

// Option flags of SET and GETEX (Redis's OBJ_* flags).
const NX: u32 = 1 << 0;
const XX: u32 = 1 << 1;
const EX: u32 = 1 << 2;
const PX: u32 = 1 << 3;
const KEEPTTL: u32 = 1 << 4;
const GET: u32 = 1 << 5;
const EXAT: u32 = 1 << 6;
const PXAT: u32 = 1 << 7;
const PERSIST: u32 = 1 << 8;
const ANY_EXPIRE: u32 = EX | PX | EXAT | PXAT;

/// An option word as C's string functions see it: up to the first NUL byte.
fn c_str(a: &[u8]) -> &[u8] {
    match a.iter().position(|b| *b == 0) {
        Some(i) => &a[..i],
        None => a,
    }
}

/// Parses SET's (`for_set`) or GETEX's options from `args[start..]`, with Redis's rules on which
/// options exclude which (an excluded combination is a syntax error).
/// Returns the flags and the expire argument.
fn parse_ext(args: &[Vec<u8>], start: usize, for_set: bool) -> Result<(u32, Option<&[u8]>), Error> {
    let mut flags = 0u32;
    let mut expire = None;
    let mut j = start;
    while j < args.len() {
        let opt = c_str(&args[j]).to_ascii_uppercase();
        let next = args.get(j + 1).map(|v| v.as_slice());
        let excl = |mask: u32| flags & mask == 0;
        let new = match opt.as_slice() {
            b"NX" if for_set && excl(XX) => NX,
            b"XX" if for_set && excl(NX) => XX,
            b"GET" if for_set => GET,
            b"KEEPTTL" if for_set && excl(PERSIST | ANY_EXPIRE) => KEEPTTL,
            b"PERSIST" if !for_set && excl(ANY_EXPIRE | KEEPTTL) => PERSIST,
            b"EX" if next.is_some() && excl(KEEPTTL | PERSIST | EXAT | PX | PXAT) => EX,
            b"PX" if next.is_some() && excl(KEEPTTL | PERSIST | EX | EXAT | PXAT) => PX,
            b"EXAT" if next.is_some() && excl(KEEPTTL | PERSIST | EX | PX | PXAT) => EXAT,
            b"PXAT" if next.is_some() && excl(KEEPTTL | PERSIST | EX | EXAT | PX) => PXAT,
            _ => return Err(Error::syntax()),
        };
        flags |= new;
        if new & ANY_EXPIRE != 0 {
            expire = next;
            j += 1;
        }
        j += 1;
    }
    Ok((flags, expire))
}

fn expire_error(ctx: &Ctx<'_>) -> Error {
    Error::new(format!(
        "ERR invalid expire time in '{}' command",
        ctx.cmd.name
    ))
}

/// The absolute expiry in Unix ms from an EX/PX/EXAT/PXAT argument
/// (getExpireMillisecondsOrReply).
fn expire_at_ms(ctx: &Ctx<'_>, arg: &[u8], flags: u32) -> Result<i64, Error> {
    let v = super::args::int(arg)?;
    let seconds = flags & (EX | EXAT) != 0;
    if v <= 0 || (seconds && v > i64::MAX / 1000) {
        return Err(expire_error(ctx));
    }
    let mut ms = if seconds { v * 1000 } else { v };
    if flags & (EX | PX) != 0 {
        ms = ms.checked_add(ctx.now()).ok_or_else(|| expire_error(ctx))?;
    }
    Ok(ms)
}

/// What SETNX and SET NX/XX answer when the condition fails, and on success.
enum SetReplies {
    /// SET: OK, or null when aborted.
    Set,
    /// SETNX: 1, or 0 when aborted.
    SetNx,
}

/// setGenericCommand: `value_at` is the index of the value argument.
fn set_generic(
    ctx: &mut Ctx<'_>,
    flags: u32,
    value_at: usize,
    expire: Option<&[u8]>,
    replies: SetReplies,
) -> Reply {
    let db = ctx.cl.db;
    let when = match expire {
        Some(arg) => Some(expire_at_ms(ctx, arg, flags)?),
        None => None,
    };
    if flags & GET != 0 {
        get_generic(ctx)?;
    }
    let key = &ctx.args[1];
    // As Redis's lookupKeyWrite: an expired key is deleted (and the DEL propagated) first.
    // Without NX/XX whether the key exists does not matter, so the entry is looked up once
    // more only when it does (each lookup is a cache miss on a large keyspace).
    let found = if flags & (NX | XX) != 0 {
        ctx.srv.lookup_write(db, key).is_some()
    } else {
        ctx.srv.expire_if_needed(db, key);
        false
    };
    if (flags & NX != 0 && found) || (flags & XX != 0 && !found) {
        if flags & GET == 0 {
            match replies {
                SetReplies::Set => ctx.cl.out.null(),
                SetReplies::SetNx => ctx.cl.out.int(0),
            }
        }
        return Ok(());
    }
    let value = Value::string(&ctx.args[value_at]);
    ctx.srv.set_key(db, key, value, flags & KEEPTTL != 0);
    ctx.changed(db, key, 1);
    ctx.notify(notify::STRING, "set", key);
    if let Some(ms) = when {
        ctx.srv.db_mut(db).set_expire(key, ms);
        ctx.notify(notify::GENERIC, "expire", key);
        // As Redis, every expiry option is logged in one spelling (a PXAT sent as `pxat`
        // included), without GET or the client's other options.
        let argv = vec![
            b"SET".to_vec(),
            key.clone(),
            ctx.args[value_at].clone(),
            b"PXAT".to_vec(),
            ms.to_string().into_bytes(),
        ];
        ctx.propagate(argv);
    }
    if flags & GET == 0 {
        match replies {
            SetReplies::Set => ctx.cl.out.ok(),
            SetReplies::SetNx => ctx.cl.out.int(1),
        }
    } else if when.is_none() {
        // Replicas do not need the old value: propagate without GET.
        let argv = ctx
            .args
            .iter()
            .enumerate()
            .filter(|(j, a)| *j < 3 || !c_str(a).eq_ignore_ascii_case(b"GET"))
            .map(|(_, a)| a.clone())
            .collect();
        ctx.propagate(argv);
    }
    Ok(())
}

fn set(ctx: &mut Ctx<'_>) -> Reply {
    let (flags, expire) = parse_ext(ctx.args, 3, true)?;
    set_generic(ctx, flags, 2, expire, SetReplies::Set)
}

fn setnx(ctx: &mut Ctx<'_>) -> Reply {
    set_generic(ctx, NX, 2, None, SetReplies::SetNx)
}

fn setex(ctx: &mut Ctx<'_>) -> Reply {
    let args = ctx.args;
    set_generic(ctx, EX, 3, Some(&args[2]), SetReplies::Set)
}

fn psetex(ctx: &mut Ctx<'_>) -> Reply {
    let args = ctx.args;
    set_generic(ctx, PX, 3, Some(&args[2]), SetReplies::Set)
}

fn getex(ctx: &mut Ctx<'_>) -> Reply {
    let (flags, expire) = parse_ext(ctx.args, 2, false)?;
    let db = ctx.cl.db;
    let key = &ctx.args[1];
    let Some(e) = ctx.srv.lookup_read(db, key) else {
        ctx.cl.out.null();
        return Ok(());
    };
    if !e.value.is_string() {
        return Err(Error::wrongtype());
    }
    let has_ttl = e.has_expire();
    let when = match expire {
        Some(arg) => Some(expire_at_ms(ctx, arg, flags)?),
        None => None,
    };
    if let Some(e) = ctx.srv.db(db).get(key) {
        reply_value(&mut ctx.cl.out, &e.value)?;
    }
    match when {
        Some(ms) if flags & (EXAT | PXAT) != 0 && ctx.already_expired(ms) => {
            // An absolute time already past: the key goes now.
            ctx.srv.db_mut(db).remove(key);
            ctx.propagate(vec![b"DEL".to_vec(), key.clone()]);
            ctx.changed(db, key, 1);
            ctx.notify(notify::GENERIC, "del", key);
        }
        Some(ms) => {
            ctx.srv.db_mut(db).set_expire(key, ms);
            let argv = vec![
                b"PEXPIREAT".to_vec(),
                key.clone(),
                ms.to_string().into_bytes(),
            ];
            ctx.propagate(argv);
            ctx.changed(db, key, 1);
            ctx.notify(notify::GENERIC, "expire", key);
        }
        None if flags & PERSIST != 0 && has_ttl => {
            ctx.srv.db_mut(db).set_expire(key, NO_EXPIRE);
            ctx.propagate(vec![b"PERSIST".to_vec(), key.clone()]);
            ctx.changed(db, key, 1);
            ctx.notify(notify::GENERIC, "persist", key);
        }
        None => {}
    }
    Ok(())
}

fn getdel(ctx: &mut Ctx<'_>) -> Reply {
    if !get_generic(ctx)? {
        return Ok(());
    }
    let db = ctx.cl.db;
    let key = &ctx.args[1];
    if ctx.srv.db_mut(db).remove(key).is_some() {
        ctx.propagate(vec![b"DEL".to_vec(), key.clone()]);
        ctx.changed(db, key, 1);
        ctx.notify(notify::GENERIC, "del", key);
    }
    Ok(())
}

fn getset(ctx: &mut Ctx<'_>) -> Reply {
    get_generic(ctx)?;
    let db = ctx.cl.db;
    let key = &ctx.args[1];
    ctx.srv.set_key(db, key, Value::string(&ctx.args[2]), false);
    ctx.changed(db, key, 1);
    ctx.notify(notify::STRING, "set", key);
    let argv = vec![b"SET".to_vec(), key.clone(), ctx.args[2].clone()];
    ctx.propagate(argv);
    Ok(())
}

fn mget(ctx: &mut Ctx<'_>) -> Reply {
    let db = ctx.cl.db;
    ctx.cl.out.array(ctx.args.len() - 1);
    for k in &ctx.args[1..] {
        match ctx.srv.lookup_read(db, k).map(|e| &e.value) {
            Some(v) if v.is_string() => reply_value(&mut ctx.cl.out, v)?,
            _ => ctx.cl.out.null(),
        }
    }
    Ok(())
}

fn mset_generic(ctx: &mut Ctx<'_>, nx: bool) -> Reply {
    if ctx.args.len() & 1 == 0 {
        return Err(Error::new(format!(
            "ERR wrong number of arguments for '{}' command",
            ctx.cmd.name
        )));
    }
    let db = ctx.cl.db;
    if nx {
        for pair in ctx.args[1..].chunks(2) {
            if ctx.srv.lookup_write(db, &pair[0]).is_some() {
                ctx.cl.out.int(0);
                return Ok(());
            }
        }
    }
    for pair in ctx.args[1..].chunks(2) {
        ctx.srv
            .set_key(db, &pair[0], Value::string(&pair[1]), false);
        ctx.modified(db, &pair[0]);
        ctx.notify(notify::STRING, "set", &pair[0]);
    }
    ctx.dirty(((ctx.args.len() - 1) / 2) as u64);
    if nx {
        ctx.cl.out.int(1);
    } else {
        ctx.cl.out.ok();
    }
    Ok(())
}

fn mset(ctx: &mut Ctx<'_>) -> Reply {
    mset_generic(ctx, false)
}

fn msetnx(ctx: &mut Ctx<'_>) -> Reply {
    mset_generic(ctx, true)
}

/// checkStringLength: a string may not grow beyond proto-max-bulk-len.
fn check_len(ctx: &Ctx<'_>, total: Option<u64>) -> Reply {
    let max = u64::try_from(ctx.srv.config.proto_max_bulk_len).unwrap_or(u64::MAX);
    match total {
        Some(t) if t <= max => Ok(()),
        _ => Err(Error::new(
            "ERR string exceeds maximum allowed size (proto-max-bulk-len)",
        )),
    }
}

/// The bytes of a string value as a mutable raw buffer (dbUnshareStringValue): the value
/// becomes raw-encoded.
pub(super) fn unshare(v: &mut Value) -> &mut amber_store::RawStr {
    if !matches!(v, Value::Raw(_)) {
        let bytes = v.as_bytes().map(|b| b.into_owned()).unwrap_or_default();
        *v = Value::raw(bytes);
    }
    match v {
        Value::Raw(r) => r,
        // Just made raw above.
        _ => unreachable!("value was made raw"),
    }
}

fn string_len(v: &Value) -> usize {
    match v {
        Value::Int(n) => n.to_string().len(),
        Value::Emb(b) => b.len(),
        Value::Raw(r) => r.len(),
        _ => 0,
    }
}

fn append(ctx: &mut Ctx<'_>) -> Reply {
    let db = ctx.cl.db;
    let key = &ctx.args[1];
    let add = &ctx.args[2];
    let total = match ctx.srv.lookup_write(db, key) {
        None => {
            let v = Value::string(add);
            ctx.srv.add_key(db, Key::from_slice(key), v);
            add.len()
        }
        Some(e) => {
            if !e.value.is_string() {
                return Err(Error::wrongtype());
            }
            let total = (string_len(&e.value) as u64).checked_add(add.len() as u64);
            check_len(ctx, total)?;
            let Some(e) = ctx.srv.db_mut(db).get_mut(key) else {
                return Ok(());
            };
            let buf = unshare(&mut e.value);
            buf.extend_from_slice(add);
            buf.len()
        }
    };
    ctx.changed(db, key, 1);
    ctx.notify(notify::STRING, "append", key);
    ctx.cl.out.int(total as i64);
    Ok(())
}

fn strlen(ctx: &mut Ctx<'_>) -> Reply {
    let db = ctx.cl.db;
    let n = match ctx.srv.lookup_read(db, &ctx.args[1]) {
        None => 0,
        Some(e) if e.value.is_string() => string_len(&e.value),
        Some(_) => return Err(Error::wrongtype()),
    };
    ctx.cl.out.int(n as i64);
    Ok(())
}

fn incr_decr(ctx: &mut Ctx<'_>, by: i64) -> Reply {
    let db = ctx.cl.db;
    let key = &ctx.args[1];
    let current = match ctx.srv.lookup_write(db, key) {
        None => None,
        Some(e) => Some(match &e.value {
            Value::Int(n) => *n,
            Value::Emb(b) => super::args::int(b)?,
            Value::Raw(r) => super::args::int(r)?,
            _ => return Err(Error::wrongtype()),
        }),
    };
    let old = current.unwrap_or(0);
    let new = old
        .checked_add(by)
        .ok_or_else(|| Error::new("ERR increment or decrement would overflow"))?;
    match ctx.srv.db_mut(db).get_mut(key) {
        Some(e) if current.is_some() => e.value = Value::Int(new),
        _ => ctx.srv.add_key(db, Key::from_slice(key), Value::Int(new)),
    }
    ctx.changed(db, key, 1);
    ctx.notify(notify::STRING, "incrby", key);
    ctx.cl.out.int(new);
    Ok(())
}

fn incr(ctx: &mut Ctx<'_>) -> Reply {
    incr_decr(ctx, 1)
}

fn decr(ctx: &mut Ctx<'_>) -> Reply {
    incr_decr(ctx, -1)
}

fn incrby(ctx: &mut Ctx<'_>) -> Reply {
    let by = super::args::int(&ctx.args[2])?;
    incr_decr(ctx, by)
}

fn decrby(ctx: &mut Ctx<'_>) -> Reply {
    let by = super::args::int(&ctx.args[2])?;
    let by = by
        .checked_neg()
        .ok_or_else(|| Error::new("ERR decrement would overflow"))?;
    incr_decr(ctx, by)
}

fn incrbyfloat(ctx: &mut Ctx<'_>) -> Reply {
    let db = ctx.cl.db;
    let key = &ctx.args[1];
    let (exists, new) = match ctx.srv.lookup_write(db, key) {
        None => (
            false,
            ldouble::incr_by_float(Current::Missing, &ctx.args[2])?,
        ),
        Some(e) => {
            let cur = match &e.value {
                Value::Int(n) => Current::Int(*n),
                Value::Emb(b) => Current::Bytes(b),
                Value::Raw(r) => Current::Bytes(r),
                _ => return Err(Error::wrongtype()),
            };
            (true, ldouble::incr_by_float(cur, &ctx.args[2])?)
        }
    };
    let value = Value::string_no_int(&new);
    match ctx.srv.db_mut(db).get_mut(key) {
        Some(e) if exists => e.value = value,
        _ => ctx.srv.add_key(db, Key::from_slice(key), value),
    }
    ctx.changed(db, key, 1);
    ctx.notify(notify::STRING, "incrbyfloat", key);
    ctx.cl.out.bulk(&new);
    let argv = vec![b"SET".to_vec(), key.clone(), new, b"KEEPTTL".to_vec()];
    ctx.propagate(argv);
    Ok(())
}

fn getrange(ctx: &mut Ctx<'_>) -> Reply {
    let start = super::args::int(&ctx.args[2])?;
    let end = super::args::int(&ctx.args[3])?;
    let db = ctx.cl.db;
    let Some(e) = ctx.srv.lookup_read(db, &ctx.args[1]) else {
        ctx.cl.out.bulk(b"");
        return Ok(());
    };
    let s: Cow<'_, [u8]> = e.value.as_bytes().ok_or_else(Error::wrongtype)?;
    let out = &mut ctx.cl.out;
    if start < 0 && end < 0 && start > end {
        out.bulk(b"");
        return Ok(());
    }
    let len = s.len() as i64;
    let mut start = if start < 0 {
        len.wrapping_add(start)
    } else {
        start
    };
    let mut end = if end < 0 { len.wrapping_add(end) } else { end };
    start = start.max(0);
    end = end.max(0);
    if end >= len {
        end = len - 1;
    }
    if start > end || len == 0 {
        out.bulk(b"");
    } else {
        out.bulk(&s[start as usize..=end as usize]);
    }
    Ok(())
}

fn setrange(ctx: &mut Ctx<'_>) -> Reply {
    let offset = super::args::int(&ctx.args[2])?;
    if offset < 0 {
        return Err(Error::new("ERR offset is out of range"));
    }
    let db = ctx.cl.db;
    let key = &ctx.args[1];
    let value = &ctx.args[3];
    let total = (offset as u64).checked_add(value.len() as u64);
    let exists = match ctx.srv.lookup_write(db, key) {
        None => {
            if value.is_empty() {
                ctx.cl.out.int(0);
                return Ok(());
            }
            check_len(ctx, total)?;
            false
        }
        Some(e) => {
            if !e.value.is_string() {
                return Err(Error::wrongtype());
            }
            if value.is_empty() {
                let n = string_len(&e.value);
                ctx.cl.out.int(n as i64);
                return Ok(());
            }
            check_len(ctx, total)?;
            true
        }
    };
    // check_len bounded the total by proto-max-bulk-len, so it fits in memory terms.
    let offset = offset as usize;
    let end = offset + value.len();
    if !exists {
        let mut buf = vec![0u8; end];
        buf[offset..].copy_from_slice(value);
        ctx.srv.add_key(db, Key::from_slice(key), Value::raw(buf));
    } else if let Some(e) = ctx.srv.db_mut(db).get_mut(key) {
        let buf = unshare(&mut e.value);
        if buf.len() < end {
            buf.resize(end, 0);
        }
        buf[offset..end].copy_from_slice(value);
        let n = buf.len().max(end);
        ctx.changed(db, key, 1);
        ctx.notify(notify::STRING, "setrange", key);
        ctx.cl.out.int(n as i64);
        return Ok(());
    }
    ctx.changed(db, key, 1);
    ctx.notify(notify::STRING, "setrange", key);
    ctx.cl.out.int(end as i64);
    Ok(())
}

fn lcs(ctx: &mut Ctx<'_>) -> Reply {
    let db = ctx.cl.db;
    let fetch = |ctx: &mut Ctx<'_>, i: usize| -> Result<Vec<u8>, ()> {
        match ctx.srv.lookup_read(db, &ctx.args[i]) {
            None => Ok(Vec::new()),
            Some(e) => e.value.as_bytes().map(|b| b.into_owned()).ok_or(()),
        }
    };
    let a = fetch(ctx, 1);
    let b = fetch(ctx, 2);
    let (Ok(a), Ok(b)) = (a, b) else {
        return Err(Error::new(
            "ERR The specified keys must contain string values",
        ));
    };
    let (mut getidx, mut getlen, mut withmatchlen) = (false, false, false);
    let mut minmatchlen: i64 = 0;
    let mut j = 3;
    while j < ctx.args.len() {
        let opt = c_str(&ctx.args[j]);
        let more = j + 1 < ctx.args.len();
        if opt.eq_ignore_ascii_case(b"IDX") {
            getidx = true;
        } else if opt.eq_ignore_ascii_case(b"LEN") {
            getlen = true;
        } else if opt.eq_ignore_ascii_case(b"WITHMATCHLEN") {
            withmatchlen = true;
        } else if opt.eq_ignore_ascii_case(b"MINMATCHLEN") && more {
            minmatchlen = super::args::int(&ctx.args[j + 1])?.max(0);
            j += 1;
        } else {
            return Err(Error::syntax());
        }
        j += 1;
    }
    if getidx && getlen {
        return Err(Error::new(
            "ERR If you want both the length and indexes, please just use IDX.",
        ));
    }
    let (alen, blen) = (a.len(), b.len());
    if alen >= u32::MAX as usize - 1 || blen >= u32::MAX as usize - 1 {
        return Err(Error::new("ERR String too long for LCS"));
    }
    // The table holds (alen+1)*(blen+1) u32 cells; Redis refuses a table larger than
    // proto-max-bulk-len.
    let oom = || Error::new("ERR Insufficient memory, failed allocating transient memory for LCS");
    let cells = (alen + 1).checked_mul(blen + 1).ok_or_else(oom)?;
    let bytes = cells.checked_mul(4).ok_or_else(oom)?;
    if bytes as u64 > u64::try_from(ctx.srv.config.proto_max_bulk_len).unwrap_or(u64::MAX) {
        return Err(Error::new(
            "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len",
        ));
    }
    let mut dp: Vec<u32> = Vec::new();
    if dp.try_reserve_exact(cells).is_err() {
        return Err(oom());
    }
    dp.resize(cells, 0);
    let w = blen + 1;
    for i in 1..=alen {
        for k in 1..=blen {
            dp[i * w + k] = if a[i - 1] == b[k - 1] {
                dp[(i - 1) * w + k - 1] + 1
            } else {
                dp[(i - 1) * w + k].max(dp[i * w + k - 1])
            };
        }
    }
    let total = dp[alen * w + blen];
    let out = &mut ctx.cl.out;
    if getlen && !getidx {
        out.int(i64::from(total));
        return Ok(());
    }
    // Walk back from the end, collecting the LCS and the matching ranges (as Redis: ranges
    // are reported from the end of the strings backwards).
    let mut result = vec![0u8; total as usize];
    let mut idx = total as usize;
    let mut ranges: Vec<(usize, usize, usize, usize)> = Vec::new();
    let mut cur: Option<(usize, usize, usize, usize)> = None; // a_start a_end b_start b_end
    let (mut i, mut k) = (alen, blen);
    while i > 0 && k > 0 {
        let mut emit = false;
        if a[i - 1] == b[k - 1] {
            result[idx - 1] = a[i - 1];
            match &mut cur {
                None => cur = Some((i - 1, i - 1, k - 1, k - 1)),
                Some(r) if r.0 == i && r.2 == k => {
                    r.0 -= 1;
                    r.2 -= 1;
                }
                Some(_) => emit = true,
            }
            if let Some(r) = cur {
                if r.0 == 0 || r.2 == 0 {
                    emit = true;
                }
            }
            idx -= 1;
            i -= 1;
            k -= 1;
        } else {
            if dp[(i - 1) * w + k] > dp[i * w + k - 1] {
                i -= 1;
            } else {
                k -= 1;
            }
            if cur.is_some() {
                emit = true;
            }
        }
        if emit {
            if let Some(r) = cur.take() {
                let len = r.1 - r.0 + 1;
                if minmatchlen == 0 || len as i64 >= minmatchlen {
                    ranges.push(r);
                }
            }
        }
    }
    if !getidx {
        out.bulk(&result);
        return Ok(());
    }
    out.map(2);
    out.bulk(b"matches");
    out.array(ranges.len());
    for r in &ranges {
        out.array(if withmatchlen { 3 } else { 2 });
        out.array(2);
        out.int(r.0 as i64);
        out.int(r.1 as i64);
        out.array(2);
        out.int(r.2 as i64);
        out.int(r.3 as i64);
        if withmatchlen {
            out.int((r.1 - r.0 + 1) as i64);
        }
    }
    out.bulk(b"len");
    out.int(i64::from(total));
    Ok(())
}
