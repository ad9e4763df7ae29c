//! Simple reads and removal: ZREM ZSCORE ZMSCORE ZCARD ZCOUNT ZLEXCOUNT ZRANK ZREVRANK, and ZSCAN.

use super::parse::{parse_lex_range, parse_score_range};
use super::{after_removal, read_zset, read_zset_arc, write_zset};
use crate::cmd::{Ctx, Reply};

pub(super) fn zrem(ctx: &mut Ctx<'_>) -> Reply {
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
    after_removal(ctx, db, key, n, "zrem");
    ctx.cl.out.int(n as i64);
    Ok(())
}

pub(super) fn zscore(ctx: &mut Ctx<'_>) -> Reply {
    let db = ctx.cl.db;
    match read_zset(ctx.srv, db, &ctx.args[1])?.and_then(|z| z.score(&ctx.args[2])) {
        Some(s) => ctx.cl.out.double(s),
        None => ctx.cl.out.null(),
    }
    Ok(())
}

pub(super) fn zmscore(ctx: &mut Ctx<'_>) -> Reply {
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

pub(super) fn zcard(ctx: &mut Ctx<'_>) -> Reply {
    let db = ctx.cl.db;
    let n = read_zset(ctx.srv, db, &ctx.args[1])?.map_or(0, |z| z.len());
    ctx.cl.out.int(n as i64);
    Ok(())
}

pub(super) fn zcount(ctx: &mut Ctx<'_>) -> Reply {
    let r = parse_score_range(&ctx.args[2], &ctx.args[3])?;
    let db = ctx.cl.db;
    let n = read_zset(ctx.srv, db, &ctx.args[1])?.map_or(0, |z| z.score_range(&r).len());
    ctx.cl.out.int(n as i64);
    Ok(())
}

pub(super) fn zlexcount(ctx: &mut Ctx<'_>) -> Reply {
    let r = parse_lex_range(&ctx.args[2], &ctx.args[3])?;
    let db = ctx.cl.db;
    let n = read_zset(ctx.srv, db, &ctx.args[1])?.map_or(0, |z| z.lex_range(&r, false).len());
    ctx.cl.out.int(n as i64);
    Ok(())
}

pub(super) fn zrank(ctx: &mut Ctx<'_>) -> Reply {
    rank_generic(ctx, false)
}

pub(super) fn zrevrank(ctx: &mut Ctx<'_>) -> Reply {
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

pub(super) fn zscan(ctx: &mut Ctx<'_>) -> Reply {
    let cursor = crate::cmd::scan::parse_cursor(&ctx.args[2])?;
    let db = ctx.cl.db;
    let Some(z) = read_zset_arc(ctx.srv, db, &ctx.args[1])? else {
        let out = &mut ctx.cl.out;
        out.array(2);
        out.bulk(b"0");
        out.array(0);
        return Ok(());
    };
    let opts = crate::cmd::scan::parse(ctx.args, 2, false)?;
    let packed = matches!(z, amber_store::zset::ZSet::Pack(_));
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
