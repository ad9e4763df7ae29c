//! XRANGE and XREVRANGE.

use super::super::{args, Ctx, Error, Reply};
use super::{parse_bound, read_stream, reply_range};

pub(super) fn xrange(ctx: &mut Ctx<'_>) -> Reply {
    range(ctx, false)
}

pub(super) fn xrevrange(ctx: &mut Ctx<'_>) -> Reply {
    range(ctx, true)
}

fn range(ctx: &mut Ctx<'_>, rev: bool) -> Reply {
    let a = ctx.args;
    let (start_arg, end_arg) = if rev { (&a[3], &a[2]) } else { (&a[2], &a[3]) };
    let start = parse_bound(start_arg, 0, true)?;
    let end = parse_bound(end_arg, u64::MAX, false)?;
    let mut count: i64 = -1;
    let mut j = 4;
    while j < a.len() {
        if args::is(&a[j], "count") && a.len() - j > 1 {
            count = args::int(&a[j + 1])?.max(0);
            j += 2;
        } else {
            return Err(Error::syntax());
        }
    }
    let db = ctx.cl.db;
    let Some(s) = read_stream(ctx.srv, db, &a[1])? else {
        ctx.cl.out.array(0);
        return Ok(());
    };
    if count == 0 {
        ctx.cl.out.null_array();
        return Ok(());
    }
    let count = if count < 0 { 0 } else { count as usize };
    reply_range(&mut ctx.cl.out, s, start, end, count, rev);
    Ok(())
}
