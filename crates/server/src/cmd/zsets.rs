//! Sorted set commands: ZADD ZINCRBY ZREM ZSCORE ZMSCORE ZCARD ZCOUNT ZLEXCOUNT, the ZRANGE
//! family (ZRANGE ZRANGESTORE ZREVRANGE Z[REV]RANGEBYSCORE Z[REV]RANGEBYLEX), ZRANK ZREVRANK,
//! ZREMRANGEBY{RANK,SCORE,LEX}, the pops (ZPOPMIN ZPOPMAX ZMPOP and their blocking forms),
//! ZRANDMEMBER, the set operations (ZUNION ZINTER ZDIFF, their STORE forms, ZINTERCARD) and
//! ZSCAN, with Redis 7.0's replies and errors (t_zset.c).

use std::sync::Arc;

use amber_resp::ReplyBuf;
use amber_store::set::Set;
use amber_store::zset::{LexBound, LexRange, ScoreRange, ZSet};
use amber_store::{Blob, Key, Limits, Value};
use rand::Rng;

use super::args::{self, is};
use super::{Command, Ctx, Error, Reply, BLOCKING, DENYOOM, FAST, NOSCRIPT, READONLY, WRITE};
use crate::server::Server;

const ZS: &[&str] = &["@sortedset"];

pub(crate) static COMMANDS: &[Command] = &[
    Command::new("zadd", -4, WRITE | DENYOOM | FAST, (1, 1, 1), ZS, zadd),
    Command::new("zincrby", 4, WRITE | DENYOOM | FAST, (1, 1, 1), ZS, zincrby),
    Command::new("zrem", -3, WRITE | FAST, (1, 1, 1), ZS, zrem),
    Command::new("zscore", 3, READONLY | FAST, (1, 1, 1), ZS, zscore),
    Command::new("zmscore", -3, READONLY | FAST, (1, 1, 1), ZS, zmscore),
    Command::new("zcard", 2, READONLY | FAST, (1, 1, 1), ZS, zcard),
    Command::new("zcount", 4, READONLY | FAST, (1, 1, 1), ZS, zcount),
    Command::new("zlexcount", 4, READONLY | FAST, (1, 1, 1), ZS, zlexcount),
    Command::new("zrange", -4, READONLY, (1, 1, 1), ZS, zrange),
    Command::new(
        "zrangestore",
        -5,
        WRITE | DENYOOM,
        (1, 2, 1),
        ZS,
        zrangestore,
    ),
    Command::new("zrevrange", -4, READONLY, (1, 1, 1), ZS, zrevrange),
    Command::new("zrangebyscore", -4, READONLY, (1, 1, 1), ZS, zrangebyscore),
    Command::new(
        "zrevrangebyscore",
        -4,
        READONLY,
        (1, 1, 1),
        ZS,
        zrevrangebyscore,
    ),
    Command::new("zrangebylex", -4, READONLY, (1, 1, 1), ZS, zrangebylex),
    Command::new(
        "zrevrangebylex",
        -4,
        READONLY,
        (1, 1, 1),
        ZS,
        zrevrangebylex,
    ),
    Command::new("zrank", 3, READONLY | FAST, (1, 1, 1), ZS, zrank),
    Command::new("zrevrank", 3, READONLY | FAST, (1, 1, 1), ZS, zrevrank),
    Command::new("zremrangebyrank", 4, WRITE, (1, 1, 1), ZS, zremrangebyrank),
    Command::new(
        "zremrangebyscore",
        4,
        WRITE,
        (1, 1, 1),
        ZS,
        zremrangebyscore,
    ),
    Command::new("zremrangebylex", 4, WRITE, (1, 1, 1), ZS, zremrangebylex),
    Command::new("zpopmin", -2, WRITE | FAST, (1, 1, 1), ZS, zpopmin),
    Command::new("zpopmax", -2, WRITE | FAST, (1, 1, 1), ZS, zpopmax),
    Command::new(
        "bzpopmin",
        -3,
        WRITE | NOSCRIPT | BLOCKING | FAST,
        (1, -2, 1),
        ZS,
        bzpopmin,
    ),
    Command::new(
        "bzpopmax",
        -3,
        WRITE | NOSCRIPT | BLOCKING | FAST,
        (1, -2, 1),
        ZS,
        bzpopmax,
    ),
    Command::new(
        "zmpop",
        -4,
        WRITE | super::MOVABLEKEYS,
        (0, 0, 0),
        ZS,
        zmpop,
    ),
    Command::new(
        "bzmpop",
        -5,
        WRITE | BLOCKING | super::MOVABLEKEYS,
        (0, 0, 0),
        ZS,
        bzmpop,
    ),
    Command::new("zrandmember", -2, READONLY, (1, 1, 1), ZS, zrandmember),
    Command::new(
        "zunion",
        -3,
        READONLY | super::MOVABLEKEYS,
        (0, 0, 0),
        ZS,
        zunion,
    ),
    Command::new(
        "zinter",
        -3,
        READONLY | super::MOVABLEKEYS,
        (0, 0, 0),
        ZS,
        zinter,
    ),
    Command::new(
        "zdiff",
        -3,
        READONLY | super::MOVABLEKEYS,
        (0, 0, 0),
        ZS,
        zdiff,
    ),
    Command::new(
        "zunionstore",
        -4,
        WRITE | DENYOOM | super::MOVABLEKEYS,
        (1, 1, 1),
        ZS,
        zunionstore,
    ),
    Command::new(
        "zinterstore",
        -4,
        WRITE | DENYOOM | super::MOVABLEKEYS,
        (1, 1, 1),
        ZS,
        zinterstore,
    ),
    Command::new(
        "zdiffstore",
        -4,
        WRITE | DENYOOM | super::MOVABLEKEYS,
        (1, 1, 1),
        ZS,
        zdiffstore,
    ),
    Command::new(
        "zintercard",
        -3,
        READONLY | super::MOVABLEKEYS,
        (0, 0, 0),
        ZS,
        zintercard,
    ),
    Command::new("zscan", -3, READONLY, (1, 1, 1), ZS, zscan),
];

// ---- lookups -------------------------------------------------------------------------------

fn read_zset<'a>(srv: &'a mut Server, db: usize, key: &[u8]) -> Result<Option<&'a ZSet>, Error> {
    match srv.lookup_read(db, key) {
        None => Ok(None),
        Some(e) => match &e.value {
            Value::ZSet(z) => Ok(Some(z)),
            _ => Err(Error::wrongtype()),
        },
    }
}

/// The set behind `key` as a shared handle (cheap), for commands that also need `srv`.
fn read_zset_arc(srv: &mut Server, db: usize, key: &[u8]) -> Result<Option<Arc<ZSet>>, Error> {
    match srv.lookup_read(db, key) {
        None => Ok(None),
        Some(e) => match &e.value {
            Value::ZSet(z) => Ok(Some(z.clone())),
            _ => Err(Error::wrongtype()),
        },
    }
}

fn write_zset<'a>(
    srv: &'a mut Server,
    db: usize,
    key: &[u8],
) -> Result<Option<&'a mut ZSet>, Error> {
    match srv.lookup_write(db, key) {
        None => Ok(None),
        Some(e) => match &mut e.value {
            Value::ZSet(z) => Ok(Some(Arc::make_mut(z))),
            _ => Err(Error::wrongtype()),
        },
    }
}

/// After removing elements: deletes the key when the set became empty, and records the change.
fn after_removal(ctx: &mut Ctx<'_>, db: usize, key: &[u8], removed: usize) {
    if removed == 0 {
        return;
    }
    let empty = matches!(ctx.srv.db(db).get(key).map(|e| &e.value),
        Some(Value::ZSet(z)) if z.is_empty());
    if empty {
        ctx.srv.db_mut(db).remove(key);
    }
    ctx.changed(db, key, removed as u64);
}

// ---- parsing -------------------------------------------------------------------------------

/// A range end as Redis's zslParseRange reads it with strtod: leading spaces allowed, overflow
/// to infinity allowed, an empty string is 0, NaN refused, and the C string ends at a NUL.
fn strtod_whole(s: &[u8]) -> Option<f64> {
    let s = match s.iter().position(|&b| b == 0) {
        Some(p) => &s[..p],
        None => s,
    };
    if s.is_empty() {
        return Some(0.0);
    }
    let t = match s.iter().position(|b| !b" \t\n\x0b\x0c\r".contains(b)) {
        Some(p) => &s[p..],
        None => return None,
    };
    let st = std::str::from_utf8(t).ok()?;
    let lower = st.to_ascii_lowercase();
    let body = lower.trim_start_matches(['+', '-']);
    if body.len() + 1 < lower.len() {
        return None; // more than one sign
    }
    if body.starts_with("0x") {
        return args::parse_f64(t);
    }
    if body.starts_with("nan") {
        return None;
    }
    st.parse::<f64>().ok().filter(|v| !v.is_nan())
}

fn parse_score_bound(a: &[u8]) -> Option<(f64, bool)> {
    match a.first() {
        Some(b'(') => strtod_whole(&a[1..]).map(|v| (v, true)),
        _ => strtod_whole(a).map(|v| (v, false)),
    }
}

fn parse_score_range(min: &[u8], max: &[u8]) -> Result<ScoreRange, Error> {
    match (parse_score_bound(min), parse_score_bound(max)) {
        (Some((min, minex)), Some((max, maxex))) => Ok(ScoreRange {
            min,
            max,
            minex,
            maxex,
        }),
        _ => Err(Error::new("ERR min or max is not a float")),
    }
}

fn parse_lex_bound(a: &[u8]) -> Option<LexBound> {
    let single = a.len() == 1 || a.get(1) == Some(&0);
    match a.first() {
        Some(b'+') if single => Some(LexBound::Max),
        Some(b'-') if single => Some(LexBound::Min),
        Some(b'(') => Some(LexBound::Excl(a[1..].to_vec())),
        Some(b'[') => Some(LexBound::Incl(a[1..].to_vec())),
        _ => None,
    }
}

fn parse_lex_range(min: &[u8], max: &[u8]) -> Result<LexRange, Error> {
    match (parse_lex_bound(min), parse_lex_bound(max)) {
        (Some(min), Some(max)) => Ok(LexRange { min, max }),
        _ => Err(Error::new("ERR min or max not valid string range item")),
    }
}

/// A long in [min, max] with Redis's getRangeLongFromObjectOrReply messages.
fn range_long(a: &[u8], min: i64, max: i64, msg: Option<&'static str>) -> Result<i64, Error> {
    let err = |generic: Error| match msg {
        Some(m) => Error::new(format!("ERR {m}")),
        None => generic,
    };
    let v = args::int(a).map_err(err)?;
    if v < min || v > max {
        return Err(match msg {
            Some(m) => Error::new(format!("ERR {m}")),
            None => Error::new(format!(
                "ERR value is out of range, value must between {min} and {max}"
            )),
        });
    }
    Ok(v)
}

// ---- replies -------------------------------------------------------------------------------

/// Writes (member, score) pairs: flat in RESP2, [member, score] pairs in RESP3 with scores.
fn reply_entries(out: &mut ReplyBuf, items: &[(Blob, f64)], withscores: bool) {
    if withscores && !out.resp3() {
        out.array(items.len() * 2);
    } else {
        out.array(items.len());
    }
    for (m, s) in items {
        if withscores && out.resp3() {
            out.array(2);
        }
        out.bulk(m);
        if withscores {
            out.double(*s);
        }
    }
}

// ---- ZADD / ZINCRBY ------------------------------------------------------------------------

fn zadd(ctx: &mut Ctx<'_>) -> Reply {
    zadd_generic(ctx, false)
}

fn zincrby(ctx: &mut Ctx<'_>) -> Reply {
    zadd_generic(ctx, true)
}

fn zadd_generic(ctx: &mut Ctx<'_>, zincrby: bool) -> Reply {
    let a = ctx.args;
    let (mut nx, mut xx, mut gt, mut lt, mut ch, mut incr) =
        (false, false, false, false, false, zincrby);
    let mut idx = 2;
    if !zincrby {
        while idx < a.len() {
            let o = &a[idx];
            if is(o, "nx") {
                nx = true;
            } else if is(o, "xx") {
                xx = true;
            } else if is(o, "ch") {
                ch = true;
            } else if is(o, "incr") {
                incr = true;
            } else if is(o, "gt") {
                gt = true;
            } else if is(o, "lt") {
                lt = true;
            } else {
                break;
            }
            idx += 1;
        }
    }
    let elements = a.len() - idx;
    if !elements.is_multiple_of(2) || elements == 0 {
        return Err(Error::syntax());
    }
    let elements = elements / 2;
    if nx && xx {
        return Err(Error::new(
            "ERR XX and NX options at the same time are not compatible",
        ));
    }
    if (nx && (gt || lt)) || (gt && lt) {
        return Err(Error::new(
            "ERR GT, LT, and/or NX options at the same time are not compatible",
        ));
    }
    if incr && elements > 1 {
        return Err(Error::new(
            "ERR INCR option supports a single increment-element pair",
        ));
    }
    let mut scores = Vec::with_capacity(elements);
    for j in 0..elements {
        scores.push(args::float(&a[idx + j * 2])?);
    }
    let db = ctx.cl.db;
    let key = &a[1];
    let limits = ctx.srv.config.limits;
    let exists = match ctx.srv.lookup_write(db, key) {
        None => false,
        Some(e) if matches!(e.value, Value::ZSet(_)) => true,
        Some(_) => return Err(Error::wrongtype()),
    };
    if !exists {
        if xx {
            if incr {
                ctx.cl.out.null();
            } else {
                ctx.cl.out.int(0);
            }
            return Ok(());
        }
        let z = ZSet::for_new_key(&limits, a[idx + 1].len());
        ctx.srv
            .add_key(db, Key::from_slice(key), Value::ZSet(Arc::new(z)));
    }
    let Some(z) = write_zset(ctx.srv, db, key)? else {
        return Ok(());
    };
    let (mut added, mut updated, mut processed) = (0i64, 0i64, 0i64);
    let mut last = 0.0;
    let mut nan = false;
    for (j, &score0) in scores.iter().enumerate() {
        let member = &a[idx + 1 + j * 2];
        let mut score = score0;
        match z.score(member) {
            Some(cur) => {
                if nx {
                    continue;
                }
                if incr {
                    score += cur;
                    if score.is_nan() {
                        nan = true;
                        break;
                    }
                }
                if (lt && score >= cur) || (gt && score <= cur) {
                    continue;
                }
                if score != cur {
                    z.update(member, score);
                    updated += 1;
                }
                processed += 1;
                last = score;
            }
            None => {
                if xx {
                    continue;
                }
                z.insert(member, score, &limits);
                added += 1;
                processed += 1;
                last = score;
            }
        }
    }
    if added + updated > 0 {
        ctx.changed(db, key, (added + updated) as u64);
        ctx.srv.signal_ready(db, key);
    }
    if nan {
        return Err(Error::new("ERR resulting score is not a number (NaN)"));
    }
    if incr {
        if processed > 0 {
            ctx.cl.out.double(last);
        } else {
            ctx.cl.out.null();
        }
    } else {
        ctx.cl.out.int(if ch { added + updated } else { added });
    }
    Ok(())
}

// ---- simple reads and removal ---------------------------------------------------------------

fn zrem(ctx: &mut Ctx<'_>) -> Reply {
    let db = ctx.cl.db;
    let key = &ctx.args[1];
    let Some(z) = write_zset(ctx.srv, db, key)? else {
        ctx.cl.out.int(0);
        return Ok(());
    };
    let mut n = 0;
    for m in &ctx.args[2..] {
        if z.remove(m).is_some() {
            n += 1;
            if z.is_empty() {
                break;
            }
        }
    }
    after_removal(ctx, db, key, n);
    ctx.cl.out.int(n as i64);
    Ok(())
}

fn zscore(ctx: &mut Ctx<'_>) -> Reply {
    let db = ctx.cl.db;
    match read_zset(ctx.srv, db, &ctx.args[1])?.and_then(|z| z.score(&ctx.args[2])) {
        Some(s) => ctx.cl.out.double(s),
        None => ctx.cl.out.null(),
    }
    Ok(())
}

fn zmscore(ctx: &mut Ctx<'_>) -> Reply {
    let db = ctx.cl.db;
    let z = read_zset(ctx.srv, db, &ctx.args[1])?;
    let out = &mut ctx.cl.out;
    out.array(ctx.args.len() - 2);
    for m in &ctx.args[2..] {
        match z.and_then(|z| z.score(m)) {
            Some(s) => out.double(s),
            None => out.null(),
        }
    }
    Ok(())
}

fn zcard(ctx: &mut Ctx<'_>) -> Reply {
    let db = ctx.cl.db;
    let n = read_zset(ctx.srv, db, &ctx.args[1])?.map_or(0, |z| z.len());
    ctx.cl.out.int(n as i64);
    Ok(())
}

fn zcount(ctx: &mut Ctx<'_>) -> Reply {
    let r = parse_score_range(&ctx.args[2], &ctx.args[3])?;
    let db = ctx.cl.db;
    let n = read_zset(ctx.srv, db, &ctx.args[1])?.map_or(0, |z| z.score_range(&r).len());
    ctx.cl.out.int(n as i64);
    Ok(())
}

fn zlexcount(ctx: &mut Ctx<'_>) -> Reply {
    let r = parse_lex_range(&ctx.args[2], &ctx.args[3])?;
    let db = ctx.cl.db;
    let n = read_zset(ctx.srv, db, &ctx.args[1])?.map_or(0, |z| z.lex_range(&r, false).len());
    ctx.cl.out.int(n as i64);
    Ok(())
}

fn zrank(ctx: &mut Ctx<'_>) -> Reply {
    rank_generic(ctx, false)
}

fn zrevrank(ctx: &mut Ctx<'_>) -> Reply {
    rank_generic(ctx, true)
}

fn rank_generic(ctx: &mut Ctx<'_>, rev: bool) -> Reply {
    let db = ctx.cl.db;
    let z = read_zset(ctx.srv, db, &ctx.args[1])?;
    match z.and_then(|z| z.rank(&ctx.args[2]).map(|r| (r, z.len()))) {
        Some((r, n)) => ctx.cl.out.int(if rev { n - 1 - r } else { r } as i64),
        None => ctx.cl.out.null(),
    }
    Ok(())
}

// ---- the ZRANGE family ---------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum RangeKind {
    Auto,
    Rank,
    Score,
    Lex,
}

fn zrange(ctx: &mut Ctx<'_>) -> Reply {
    zrange_generic(ctx, 1, false, RangeKind::Auto, None)
}
fn zrangestore(ctx: &mut Ctx<'_>) -> Reply {
    zrange_generic(ctx, 2, true, RangeKind::Auto, None)
}
fn zrevrange(ctx: &mut Ctx<'_>) -> Reply {
    zrange_generic(ctx, 1, false, RangeKind::Rank, Some(true))
}
fn zrangebyscore(ctx: &mut Ctx<'_>) -> Reply {
    zrange_generic(ctx, 1, false, RangeKind::Score, Some(false))
}
fn zrevrangebyscore(ctx: &mut Ctx<'_>) -> Reply {
    zrange_generic(ctx, 1, false, RangeKind::Score, Some(true))
}
fn zrangebylex(ctx: &mut Ctx<'_>) -> Reply {
    zrange_generic(ctx, 1, false, RangeKind::Lex, Some(false))
}
fn zrevrangebylex(ctx: &mut Ctx<'_>) -> Reply {
    zrange_generic(ctx, 1, false, RangeKind::Lex, Some(true))
}

enum Bounds {
    Rank(i64, i64),
    Score(ScoreRange),
    Lex(LexRange),
}

/// Redis's zrangeGenericCommand: `src` is at `argc_start`, the range follows; for ZRANGESTORE
/// the destination is at `argc_start - 1`.
fn zrange_generic(
    ctx: &mut Ctx<'_>,
    argc_start: usize,
    store: bool,
    mut kind: RangeKind,
    mut rev: Option<bool>,
) -> Reply {
    let a = ctx.args;
    let key = &a[argc_start];
    let (mut minidx, mut maxidx) = (argc_start + 1, argc_start + 2);
    let mut withscores = false;
    let (mut offset, mut limit) = (0i64, -1i64);
    let mut j = argc_start + 3;
    while j < a.len() {
        let left = a.len() - j - 1;
        let o = &a[j];
        if !store && is(o, "withscores") {
            withscores = true;
        } else if is(o, "limit") && left >= 2 {
            offset = args::int(&a[j + 1])?;
            limit = args::int(&a[j + 2])?;
            j += 2;
        } else if rev.is_none() && is(o, "rev") {
            rev = Some(true);
        } else if kind == RangeKind::Auto && is(o, "bylex") {
            kind = RangeKind::Lex;
        } else if kind == RangeKind::Auto && is(o, "byscore") {
            kind = RangeKind::Score;
        } else {
            return Err(Error::syntax());
        }
        j += 1;
    }
    let rev = rev.unwrap_or(false);
    if kind == RangeKind::Auto {
        kind = RangeKind::Rank;
    }
    if limit != -1 && kind == RangeKind::Rank {
        return Err(Error::new(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if withscores && kind == RangeKind::Lex {
        return Err(Error::new(
            "ERR syntax error, WITHSCORES not supported in combination with BYLEX",
        ));
    }
    if rev && kind != RangeKind::Rank {
        std::mem::swap(&mut minidx, &mut maxidx);
    }
    let bounds = match kind {
        RangeKind::Score => Bounds::Score(parse_score_range(&a[minidx], &a[maxidx])?),
        RangeKind::Lex => Bounds::Lex(parse_lex_range(&a[minidx], &a[maxidx])?),
        _ => Bounds::Rank(args::int(&a[minidx])?, args::int(&a[maxidx])?),
    };
    let db = ctx.cl.db;
    let items = match read_zset(ctx.srv, db, key)? {
        None => Vec::new(),
        Some(z) => select_range(z, &bounds, rev, offset, limit),
    };
    if !store {
        reply_entries(&mut ctx.cl.out, &items, withscores);
        return Ok(());
    }
    let dst = &a[1];
    // The length Redis knows before emitting: a rank range's; none (0) for score and lex ranges.
    let hint = match bounds {
        Bounds::Rank(..) => items.len(),
        _ => 0,
    };
    store_result(ctx, db, dst, items, |items, limits| {
        range_store_set(items, hint, limits)
    });
    Ok(())
}

/// ZRANGESTORE's destination, built as Redis 7.0 builds it: it starts as a listpack when the
/// length known in advance fits `zset-max-listpack-entries` (a skiplist otherwise), then takes
/// the elements one by one in reply order, converting when one does not fit. The difference
/// with `ZSet::from_entries` shows in the scores: the elements that went in before a conversion
/// passed through the listpack, which turns -0 into 0; a skiplist keeps -0.
fn range_store_set(items: Vec<(Blob, f64)>, hint: usize, limits: &Limits) -> ZSet {
    let mut z = if hint <= limits.zset_max_listpack_entries {
        ZSet::Pack(Default::default())
    } else {
        ZSet::Skip(Box::default())
    };
    for (m, s) in items {
        z.insert(&m, s, limits);
    }
    z
}

/// Replaces `dst` with the zset `build` makes of the entries (or deletes it when there are
/// none) and replies the count.
fn store_result(
    ctx: &mut Ctx<'_>,
    db: usize,
    dst: &[u8],
    items: Vec<(Blob, f64)>,
    build: impl FnOnce(Vec<(Blob, f64)>, &Limits) -> ZSet,
) {
    let n = items.len();
    if n == 0 {
        if ctx.srv.delete_key(db, dst) {
            ctx.changed(db, dst, 1);
        }
        ctx.cl.out.int(0);
        return;
    }
    let limits = ctx.srv.config.limits;
    let z = build(items, &limits);
    ctx.srv.set_key(db, dst, Value::ZSet(Arc::new(z)), false);
    ctx.changed(db, dst, 1);
    ctx.srv.signal_ready(db, dst);
    ctx.cl.out.int(n as i64);
}

/// The elements a range selects, in reply order.
fn select_range(z: &ZSet, b: &Bounds, rev: bool, offset: i64, limit: i64) -> Vec<(Blob, f64)> {
    let len = z.len() as i64;
    let ranks: Vec<usize> = match b {
        Bounds::Rank(start, end) => {
            let (mut start, mut end) = (*start, *end);
            if start < 0 {
                start = start.saturating_add(len);
            }
            if end < 0 {
                end = end.saturating_add(len);
            }
            start = start.max(0);
            if start > end || start >= len {
                return Vec::new();
            }
            end = end.min(len - 1);
            if rev {
                ((len - 1 - end) as usize..=(len - 1 - start) as usize)
                    .rev()
                    .collect()
            } else {
                (start as usize..=end as usize).collect()
            }
        }
        Bounds::Score(_) | Bounds::Lex(_) => {
            let r = match b {
                Bounds::Score(r) => z.score_range(r),
                Bounds::Lex(r) => z.lex_range(r, rev),
                Bounds::Rank(..) => 0..0,
            };
            // A negative offset walks past every element, as in Redis.
            if offset < 0 {
                return Vec::new();
            }
            let take = if limit < 0 {
                usize::MAX
            } else {
                limit as usize
            };
            let skip = usize::try_from(offset).unwrap_or(usize::MAX);
            if rev {
                r.rev().skip(skip).take(take).collect()
            } else {
                r.skip(skip).take(take).collect()
            }
        }
    };
    ranks
        .into_iter()
        .filter_map(|i| z.entry(i).map(|(m, s)| (Blob::from_slice(m), s)))
        .collect()
}

// ---- ZREMRANGEBY* --------------------------------------------------------------------------

fn zremrangebyrank(ctx: &mut Ctx<'_>) -> Reply {
    let start = args::int(&ctx.args[2])?;
    let end = args::int(&ctx.args[3])?;
    zremrange_generic(ctx, Bounds::Rank(start, end))
}

fn zremrangebyscore(ctx: &mut Ctx<'_>) -> Reply {
    let r = parse_score_range(&ctx.args[2], &ctx.args[3])?;
    zremrange_generic(ctx, Bounds::Score(r))
}

fn zremrangebylex(ctx: &mut Ctx<'_>) -> Reply {
    let r = parse_lex_range(&ctx.args[2], &ctx.args[3])?;
    zremrange_generic(ctx, Bounds::Lex(r))
}

fn zremrange_generic(ctx: &mut Ctx<'_>, b: Bounds) -> Reply {
    let db = ctx.cl.db;
    let key = &ctx.args[1];
    let Some(z) = write_zset(ctx.srv, db, key)? else {
        ctx.cl.out.int(0);
        return Ok(());
    };
    let range = match &b {
        Bounds::Rank(start, end) => {
            let len = z.len() as i64;
            let (mut start, mut end) = (*start, *end);
            if start < 0 {
                start = start.saturating_add(len);
            }
            if end < 0 {
                end = end.saturating_add(len);
            }
            start = start.max(0);
            if start > end || start >= len {
                0..0
            } else {
                start as usize..(end.min(len - 1) + 1) as usize
            }
        }
        Bounds::Score(r) => z.score_range(r),
        Bounds::Lex(r) => z.lex_range(r, false),
    };
    let n = z.remove_ranks(range);
    after_removal(ctx, db, key, n);
    ctx.cl.out.int(n as i64);
    Ok(())
}

// ---- pops ----------------------------------------------------------------------------------

fn zpopmin(ctx: &mut Ctx<'_>) -> Reply {
    zpop_cmd(ctx, false)
}

fn zpopmax(ctx: &mut Ctx<'_>) -> Reply {
    zpop_cmd(ctx, true)
}

fn zpop_cmd(ctx: &mut Ctx<'_>, max: bool) -> Reply {
    if ctx.args.len() > 3 {
        return Err(Error::syntax());
    }
    let count = match ctx.args.get(2) {
        // getPositiveLongFromObjectOrReply: one message for both failures.
        Some(c) => args::int(c)
            .ok()
            .filter(|v| *v >= 0)
            .ok_or_else(|| Error::new("ERR value is out of range, must be positive"))?,
        None => -1,
    };
    let nested = ctx.cl.out.resp3() && count != -1;
    let keys = [ctx.args[1].clone()];
    zpop_generic(ctx, &keys, max, false, count, nested, false)?;
    Ok(())
}

/// Redis's genericZpopCommand: pops from the first existing key. Returns the key popped from.
fn zpop_generic(
    ctx: &mut Ctx<'_>,
    keys: &[Vec<u8>],
    max: bool,
    emitkey: bool,
    count: i64,
    nested: bool,
    nil_when_empty: bool,
) -> Result<Option<Vec<u8>>, Error> {
    let db = ctx.cl.db;
    let mut found = None;
    for k in keys {
        match ctx.srv.lookup_write(db, k) {
            None => continue,
            Some(e) if matches!(e.value, Value::ZSet(_)) => {
                found = Some(k);
                break;
            }
            Some(_) => return Err(Error::wrongtype()),
        }
    }
    let Some(key) = found else {
        if nil_when_empty {
            ctx.cl.out.null_array();
        } else {
            ctx.cl.out.array(0);
        }
        return Ok(None);
    };
    if count == 0 {
        ctx.cl.out.array(0);
        return Ok(None);
    }
    let count = if count < 0 { 1 } else { count as usize };
    let Some(z) = write_zset(ctx.srv, db, key)? else {
        return Ok(None);
    };
    let n = count.min(z.len());
    let range = if max { z.len() - n..z.len() } else { 0..n };
    let mut items: Vec<(Blob, f64)> = range
        .clone()
        .filter_map(|i| z.entry(i).map(|(m, s)| (Blob::from_slice(m), s)))
        .collect();
    if max {
        items.reverse();
    }
    z.remove_ranks(range);
    let out = &mut ctx.cl.out;
    match (nested, emitkey) {
        (false, false) => out.array(n * 2),
        (true, false) => out.array(n),
        (false, true) => {
            out.array(n * 2 + 1);
            out.bulk(key);
        }
        (true, true) => {
            out.array(2);
            out.bulk(key);
            out.array(n);
        }
    }
    for (m, s) in &items {
        if nested {
            out.array(2);
        }
        out.bulk(m);
        out.double(*s);
    }
    after_removal(ctx, db, key, n);
    Ok(Some(key.clone()))
}

fn pop_name(max: bool) -> Vec<u8> {
    if max {
        b"ZPOPMAX".to_vec()
    } else {
        b"ZPOPMIN".to_vec()
    }
}

fn bzpopmin(ctx: &mut Ctx<'_>) -> Reply {
    bzpop_cmd(ctx, false)
}

fn bzpopmax(ctx: &mut Ctx<'_>) -> Reply {
    bzpop_cmd(ctx, true)
}

fn bzpop_cmd(ctx: &mut Ctx<'_>, max: bool) -> Reply {
    let n = ctx.args.len();
    let timeout = args::timeout_secs(&ctx.args[n - 1])?;
    let keys = ctx.args[1..n - 1].to_vec();
    blocking_pop(ctx, &keys, max, timeout, -1, false)
}

/// Redis's blockingGenericZpopCommand: pops from the first non-empty key, or blocks.
/// `count` -1 is BZPOPMIN/BZPOPMAX (propagated as ZPOPMIN key), else BZMPOP (ZPOPMIN key count).
fn blocking_pop(
    ctx: &mut Ctx<'_>,
    keys: &[Vec<u8>],
    max: bool,
    timeout: i64,
    count: i64,
    nested: bool,
) -> Reply {
    let db = ctx.cl.db;
    for k in ctx.serving_first(keys) {
        match ctx.srv.lookup_write(db, k) {
            None => continue,
            Some(e) => match &e.value {
                Value::ZSet(z) if !z.is_empty() => {}
                Value::ZSet(_) => continue,
                // A key that changed type while we waited does not serve us (Redis only
                // serves zset keys), but it is an error up front.
                _ if ctx.reprocessing => continue,
                _ => return Err(Error::wrongtype()),
            },
        }
        let one = [k.clone()];
        zpop_generic(ctx, &one, max, true, count, nested, false)?;
        let mut argv = vec![pop_name(max), k.clone()];
        if count != -1 {
            argv.push(count.max(1).to_string().into_bytes());
        }
        ctx.propagate(argv);
        return Ok(());
    }
    if !ctx.can_block() {
        ctx.cl.out.null_array();
        return Ok(());
    }
    let keys: Vec<Key> = keys.iter().map(|k| Key::from_slice(k)).collect();
    ctx.block(keys, timeout, |out| out.null_array());
    Ok(())
}

/// Parses `numkeys key... MIN|MAX [COUNT count]` from `numkeys_idx`.
fn parse_mpop(a: &[Vec<u8>], numkeys_idx: usize) -> Result<(Vec<Vec<u8>>, bool, i64), Error> {
    let numkeys = range_long(
        &a[numkeys_idx],
        1,
        i64::MAX,
        Some("numkeys should be greater than 0"),
    )?;
    let where_idx = usize::try_from(numkeys)
        .ok()
        .and_then(|n| n.checked_add(numkeys_idx + 1))
        .filter(|w| *w < a.len())
        .ok_or_else(Error::syntax)?;
    let max = if is(&a[where_idx], "min") {
        false
    } else if is(&a[where_idx], "max") {
        true
    } else {
        return Err(Error::syntax());
    };
    let mut count = -1;
    let mut j = where_idx + 1;
    while j < a.len() {
        let more = j + 1 < a.len();
        if count == -1 && is(&a[j], "count") && more {
            j += 1;
            count = range_long(&a[j], 1, i64::MAX, Some("count should be greater than 0"))?;
        } else {
            return Err(Error::syntax());
        }
        j += 1;
    }
    if count == -1 {
        count = 1;
    }
    Ok((a[numkeys_idx + 1..where_idx].to_vec(), max, count))
}

fn zmpop(ctx: &mut Ctx<'_>) -> Reply {
    let (keys, max, count) = parse_mpop(ctx.args, 1)?;
    if let Some(key) = zpop_generic(ctx, &keys, max, true, count, true, true)? {
        ctx.propagate(vec![pop_name(max), key, count.to_string().into_bytes()]);
    }
    Ok(())
}

fn bzmpop(ctx: &mut Ctx<'_>) -> Reply {
    let timeout = args::timeout_secs(&ctx.args[1])?;
    let (keys, max, count) = parse_mpop(ctx.args, 2)?;
    blocking_pop(ctx, &keys, max, timeout, count, true)
}

// ---- ZRANDMEMBER ---------------------------------------------------------------------------

fn zrandmember(ctx: &mut Ctx<'_>) -> Reply {
    let a = ctx.args;
    let db = ctx.cl.db;
    if a.len() < 3 {
        let Some(z) = read_zset(ctx.srv, db, &a[1])? else {
            ctx.cl.out.null();
            return Ok(());
        };
        let n = z.len();
        let i = ctx.srv.rng.gen_range(0..n.max(1));
        let m = ctx
            .srv
            .db(db)
            .get(&a[1])
            .and_then(|e| match &e.value {
                Value::ZSet(z) => z.entry(i).map(|e| Blob::from_slice(e.0)),
                _ => None,
            })
            .unwrap_or_default();
        ctx.cl.out.bulk(&m);
        return Ok(());
    }
    let l = range_long(&a[2], -i64::MAX, i64::MAX, None)?;
    let mut withscores = false;
    if a.len() > 4 || (a.len() == 4 && !is(&a[3], "withscores")) {
        return Err(Error::syntax());
    } else if a.len() == 4 {
        withscores = true;
        if !(-i64::MAX / 2..=i64::MAX / 2).contains(&l) {
            return Err(Error::new("ERR value is out of range"));
        }
    }
    let Some(z) = read_zset_arc(ctx.srv, db, &a[1])? else {
        ctx.cl.out.array(0);
        return Ok(());
    };
    let size = z.len();
    let (count, uniq) = if l >= 0 {
        (l as u64, true)
    } else {
        (l.unsigned_abs(), false)
    };
    if count == 0 {
        ctx.cl.out.array(0);
        return Ok(());
    }
    let rng = &mut ctx.srv.rng;
    let out = &mut ctx.cl.out;
    let emit = |out: &mut ReplyBuf, i: usize| {
        if let Some((m, s)) = z.entry(i) {
            if withscores && out.resp3() {
                out.array(2);
            }
            out.bulk(m);
            if withscores {
                out.double(s);
            }
        }
    };
    let header = |out: &mut ReplyBuf, n: usize| {
        if withscores && !out.resp3() {
            out.array(n * 2);
        } else {
            out.array(n);
        }
    };
    if !uniq || count == 1 {
        let n = usize::try_from(count).unwrap_or(usize::MAX);
        header(out, n);
        for _ in 0..n {
            let i = rng.gen_range(0..size);
            emit(out, i);
        }
        return Ok(());
    }
    if count >= size as u64 {
        // The whole set, highest first, as Redis 7.0 replies.
        header(out, size);
        for i in (0..size).rev() {
            emit(out, i);
        }
        return Ok(());
    }
    let count = count as usize;
    let picks = rand::seq::index::sample(rng, size, count).into_vec();
    header(out, count);
    for i in picks {
        emit(out, i);
    }
    Ok(())
}

// ---- set operations ------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum SetOp {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

enum Src {
    Empty,
    Z(Arc<ZSet>),
    S(Arc<Set>),
}

impl Src {
    fn len(&self) -> usize {
        match self {
            Src::Empty => 0,
            Src::Z(z) => z.len(),
            Src::S(s) => s.len(),
        }
    }

    fn for_each(&self, mut f: impl FnMut(&[u8], f64) -> bool) {
        match self {
            Src::Empty => {}
            Src::Z(z) => {
                for (m, s) in z.iter() {
                    if !f(m, s) {
                        return;
                    }
                }
            }
            Src::S(s) => match &**s {
                Set::Ints(v) => {
                    for n in v.iter() {
                        if !f(n.to_string().as_bytes(), 1.0) {
                            return;
                        }
                    }
                }
                Set::Table(t) => {
                    for (m, _) in t.iter() {
                        if !f(m, 1.0) {
                            return;
                        }
                    }
                }
            },
        }
    }

    fn find(&self, m: &[u8]) -> Option<f64> {
        match self {
            Src::Empty => None,
            Src::Z(z) => z.score(m),
            Src::S(s) => {
                let found = match &**s {
                    Set::Ints(v) => amber_store::value::parse_i64(m).is_some_and(|n| v.contains(n)),
                    Set::Table(t) => t.contains(m),
                };
                found.then_some(1.0)
            }
        }
    }
}

fn aggregate(target: &mut f64, val: f64, how: Aggregate) {
    match how {
        Aggregate::Sum => {
            *target += val;
            if target.is_nan() {
                *target = 0.0;
            }
        }
        Aggregate::Min => {
            if val < *target {
                *target = val;
            }
        }
        Aggregate::Max => {
            if val > *target {
                *target = val;
            }
        }
    }
}

fn zunion(ctx: &mut Ctx<'_>) -> Reply {
    setop_generic(ctx, None, 1, SetOp::Union, false)
}
fn zinter(ctx: &mut Ctx<'_>) -> Reply {
    setop_generic(ctx, None, 1, SetOp::Inter, false)
}
fn zdiff(ctx: &mut Ctx<'_>) -> Reply {
    setop_generic(ctx, None, 1, SetOp::Diff, false)
}
fn zunionstore(ctx: &mut Ctx<'_>) -> Reply {
    let dst = ctx.args[1].clone();
    setop_generic(ctx, Some(dst), 2, SetOp::Union, false)
}
fn zinterstore(ctx: &mut Ctx<'_>) -> Reply {
    let dst = ctx.args[1].clone();
    setop_generic(ctx, Some(dst), 2, SetOp::Inter, false)
}
fn zdiffstore(ctx: &mut Ctx<'_>) -> Reply {
    let dst = ctx.args[1].clone();
    setop_generic(ctx, Some(dst), 2, SetOp::Diff, false)
}
fn zintercard(ctx: &mut Ctx<'_>) -> Reply {
    setop_generic(ctx, None, 1, SetOp::Inter, true)
}

/// Redis's zunionInterDiffGenericCommand.
fn setop_generic(
    ctx: &mut Ctx<'_>,
    dst: Option<Vec<u8>>,
    numkeys_idx: usize,
    op: SetOp,
    card_only: bool,
) -> Reply {
    let a = ctx.args;
    let setnum = args::int(&a[numkeys_idx])?;
    if setnum < 1 {
        return Err(Error::new(format!(
            "ERR at least 1 input key is needed for '{}' command",
            ctx.cmd.name
        )));
    }
    let avail = (a.len() - numkeys_idx - 1) as i64;
    if setnum > avail {
        return Err(Error::syntax());
    }
    let setnum = setnum as usize;
    let db = ctx.cl.db;
    let mut srcs: Vec<(Src, f64)> = Vec::with_capacity(setnum);
    for k in &a[numkeys_idx + 1..numkeys_idx + 1 + setnum] {
        let e = if dst.is_some() {
            ctx.srv.lookup_write(db, k).map(|e| &*e)
        } else {
            ctx.srv.lookup_read(db, k)
        };
        let src = match e.map(|e| &e.value) {
            None => Src::Empty,
            Some(Value::ZSet(z)) => Src::Z(z.clone()),
            Some(Value::Set(s)) => Src::S(s.clone()),
            Some(_) => return Err(Error::wrongtype()),
        };
        srcs.push((src, 1.0));
    }
    let mut j = numkeys_idx + 1 + setnum;
    let mut how = Aggregate::Sum;
    let mut withscores = false;
    let mut limit: i64 = 0;
    while j < a.len() {
        let remaining = a.len() - j;
        let o = &a[j];
        if op != SetOp::Diff && !card_only && remaining > setnum && is(o, "weights") {
            j += 1;
            for src in srcs.iter_mut() {
                src.1 = args::parse_f64(&a[j])
                    .ok_or_else(|| Error::new("ERR weight value is not a float"))?;
                j += 1;
            }
        } else if op != SetOp::Diff && !card_only && remaining >= 2 && is(o, "aggregate") {
            let v = &a[j + 1];
            how = if is(v, "sum") {
                Aggregate::Sum
            } else if is(v, "min") {
                Aggregate::Min
            } else if is(v, "max") {
                Aggregate::Max
            } else {
                return Err(Error::syntax());
            };
            j += 2;
        } else if dst.is_none() && !card_only && is(o, "withscores") {
            withscores = true;
            j += 1;
        } else if card_only && remaining >= 2 && is(o, "limit") {
            limit = args::int(&a[j + 1])
                .ok()
                .filter(|v| *v >= 0)
                .ok_or_else(|| Error::new("ERR LIMIT can't be negative"))?;
            j += 2;
        } else {
            return Err(Error::syntax());
        }
    }
    if op != SetOp::Diff {
        srcs.sort_by_key(|s| s.0.len());
    }
    let mut result: Vec<(Blob, f64)> = Vec::new();
    let mut cardinality: i64 = 0;
    match op {
        SetOp::Inter => {
            let (first, w0) = &srcs[0];
            if first.len() > 0 {
                first.for_each(|m, s| {
                    let mut score = w0 * s;
                    if score.is_nan() {
                        score = 0.0;
                    }
                    for (src, w) in &srcs[1..] {
                        match src.find(m) {
                            // Unlike the first set's score, a NaN product (inf x 0) goes into
                            // the aggregate as it is, as in Redis: SUM turns it into 0, MIN and
                            // MAX ignore it.
                            Some(v) => aggregate(&mut score, v * w, how),
                            None => return true,
                        }
                    }
                    if card_only {
                        cardinality += 1;
                        return !(limit > 0 && cardinality >= limit);
                    }
                    result.push((Blob::from_slice(m), score));
                    true
                });
            }
        }
        SetOp::Union => {
            let mut acc: hashbrown::HashMap<Blob, usize> = hashbrown::HashMap::new();
            for (src, w) in &srcs {
                src.for_each(|m, s| {
                    let mut score = w * s;
                    if score.is_nan() {
                        score = 0.0;
                    }
                    match acc.get(m) {
                        Some(&i) => aggregate(&mut result[i].1, score, how),
                        None => {
                            acc.insert(Blob::from_slice(m), result.len());
                            result.push((Blob::from_slice(m), score));
                        }
                    }
                    true
                });
            }
        }
        SetOp::Diff => {
            let (first, _) = &srcs[0];
            first.for_each(|m, s| {
                if !srcs[1..].iter().any(|(src, _)| src.find(m).is_some()) {
                    result.push((Blob::from_slice(m), s));
                }
                true
            });
        }
    }
    drop(srcs);
    if card_only {
        ctx.cl.out.int(cardinality);
        return Ok(());
    }
    if let Some(dst) = dst {
        store_result(ctx, db, &dst, result, ZSet::from_entries);
        return Ok(());
    }
    result.sort_by(|x, y| amber_store::zset::cmp_entry(x.1, &x.0, y.1, &y.0));
    reply_entries(&mut ctx.cl.out, &result, withscores);
    Ok(())
}

// ---- ZSCAN ---------------------------------------------------------------------------------

/// A score as a listpack holds it (Redis's d2string): integers within ±(2^62 - 1) as
/// integers, anything else as `%.17g`. ZSCAN replies listpack scores this way.
fn pack_score_text(s: f64) -> String {
    const LIM: f64 = (i64::MAX / 2) as f64;
    if s.is_finite() && s.fract() == 0.0 && (-LIM..=LIM).contains(&s) {
        (s as i64).to_string()
    } else {
        amber_resp::format_double(s)
    }
}

fn zscan(ctx: &mut Ctx<'_>) -> Reply {
    let cursor = super::scan::parse_cursor(&ctx.args[2])?;
    let db = ctx.cl.db;
    let Some(z) = read_zset_arc(ctx.srv, db, &ctx.args[1])? else {
        let out = &mut ctx.cl.out;
        out.array(2);
        out.bulk(b"0");
        out.array(0);
        return Ok(());
    };
    let opts = super::scan::parse(ctx.args, 2, false)?;
    let packed = matches!(&*z, ZSet::Pack(_));
    let (items, next) = z.scan(cursor, opts.count);
    let out = &mut ctx.cl.out;
    out.array(2);
    out.bulk(next.to_string().as_bytes());
    let kept: Vec<&(&[u8], f64)> = items.iter().filter(|e| opts.matches(e.0)).collect();
    out.array(kept.len() * 2);
    for (m, s) in kept {
        out.bulk(m);
        let text = if packed {
            pack_score_text(*s)
        } else {
            amber_resp::format_double(*s)
        };
        out.bulk(text.as_bytes());
    }
    Ok(())
}
