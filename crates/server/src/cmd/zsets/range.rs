//! The ZRANGE family (ZRANGE ZRANGESTORE ZREVRANGE Z[REV]RANGEBYSCORE Z[REV]RANGEBYLEX) and
//! ZREMRANGEBY{RANK,SCORE,LEX}, which share its bounds.

use amber_store::zset::{LexRange, ScoreRange, ZSet};
use amber_store::{Blob, Limits, Value};

use super::parse::{parse_lex_range, parse_score_range};
use super::{after_removal, read_zset, reply_entries, write_zset};
use crate::cmd::args::{self, is};
use crate::cmd::{Ctx, Error, Reply};

#[derive(Clone, Copy, PartialEq, Eq)]
enum RangeKind {
    Auto,
    Rank,
    Score,
    Lex,
}

pub(super) fn zrange(ctx: &mut Ctx<'_>) -> Reply {
    zrange_generic(ctx, 1, false, RangeKind::Auto, None)
}
pub(super) fn zrangestore(ctx: &mut Ctx<'_>) -> Reply {
    zrange_generic(ctx, 2, true, RangeKind::Auto, None)
}
pub(super) fn zrevrange(ctx: &mut Ctx<'_>) -> Reply {
    zrange_generic(ctx, 1, false, RangeKind::Rank, Some(true))
}
pub(super) fn zrangebyscore(ctx: &mut Ctx<'_>) -> Reply {
    zrange_generic(ctx, 1, false, RangeKind::Score, Some(false))
}
pub(super) fn zrevrangebyscore(ctx: &mut Ctx<'_>) -> Reply {
    zrange_generic(ctx, 1, false, RangeKind::Score, Some(true))
}
pub(super) fn zrangebylex(ctx: &mut Ctx<'_>) -> Reply {
    zrange_generic(ctx, 1, false, RangeKind::Lex, Some(false))
}
pub(super) fn zrevrangebylex(ctx: &mut Ctx<'_>) -> Reply {
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
    store_result(ctx, db, dst, items, "zrangestore", |items, limits| {
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
        ZSet::Skip(Default::default())
    };
    for (m, s) in items {
        z.insert(&m, s, limits);
    }
    z
}

/// Replaces `dst` with the zset `build` makes of the entries (or deletes it when there are
/// none) and replies the count.
pub(super) fn store_result(
    ctx: &mut Ctx<'_>,
    db: usize,
    dst: &[u8],
    items: Vec<(Blob, f64)>,
    event: &str,
    build: impl FnOnce(Vec<(Blob, f64)>, &Limits) -> ZSet,
) {
    let n = items.len();
    if n == 0 {
        if ctx.srv.delete_key(db, dst) {
            ctx.changed(db, dst, 1);
            ctx.notify(crate::cmd::notify::GENERIC, "del", dst);
        }
        ctx.cl.out.int(0);
        return;
    }
    let limits = ctx.srv.config.limits;
    let z = build(items, &limits);
    ctx.srv.set_key(db, dst, Value::ZSet(z), false);
    ctx.changed(db, dst, 1);
    ctx.notify(crate::cmd::notify::ZSET, event, dst);
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

pub(super) fn zremrangebyrank(ctx: &mut Ctx<'_>) -> Reply {
    let start = args::int(&ctx.args[2])?;
    let end = args::int(&ctx.args[3])?;
    zremrange_generic(ctx, Bounds::Rank(start, end))
}

pub(super) fn zremrangebyscore(ctx: &mut Ctx<'_>) -> Reply {
    let r = parse_score_range(&ctx.args[2], &ctx.args[3])?;
    zremrange_generic(ctx, Bounds::Score(r))
}

pub(super) fn zremrangebylex(ctx: &mut Ctx<'_>) -> Reply {
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
    let event = match b {
        Bounds::Rank(..) => "zremrangebyrank",
        Bounds::Score(_) => "zremrangebyscore",
        Bounds::Lex(_) => "zremrangebylex",
    };
    after_removal(ctx, db, key, n, event);
    ctx.cl.out.int(n as i64);
    Ok(())
}
