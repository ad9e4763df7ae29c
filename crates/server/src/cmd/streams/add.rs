//! XADD, XTRIM (with the trimming arguments they share), XDEL, XLEN, XSETID.

use amber_store::stream::{AddError, AddId, StreamId, TrimBy};

use super::super::{args, notify, Ctx, Error, Reply};
use super::{
    create, exists_for_write, node_limits, parse_add_id, parse_strict_id, read_stream, reply_id,
    stream_mut,
};

/// What streamParseAddOrTrimArgsOrReply parsed.
struct TrimArgs {
    by: Option<TrimBy>,
    approx: bool,
    limit: u64,
    /// Position of the MAXLEN/MINID value (rewritten for propagation when approximate).
    arg_idx: usize,
    no_mkstream: bool,
    /// XADD's ID and its position; `None` for `*`.
    id: Option<super::ParsedId>,
    id_pos: usize,
}

/// Whether the client must obey (a master or the AOF): LIMIT does not apply to it.
fn must_obey(ctx: &Ctx<'_>) -> bool {
    ctx.cl.is_master || ctx.cl.id == crate::durability::aof::load::AOF_CLIENT_ID
}

fn parse_trim_args(ctx: &Ctx<'_>, xadd: bool) -> Result<TrimArgs, Error> {
    let a = ctx.args;
    let mut t = TrimArgs {
        by: None,
        approx: false,
        limit: 0,
        arg_idx: 0,
        no_mkstream: false,
        id: None,
        id_pos: 0,
    };
    let mut limit_given = false;
    let mut i = 2;
    let conflict = "ERR syntax error, MAXLEN and MINID options at the same time are not compatible";
    while i < a.len() {
        let more = a.len() - 1 - i;
        let opt = &a[i];
        if xadd && opt.as_slice() == b"*" {
            break;
        } else if args::is(opt, "maxlen") && more > 0 {
            if t.by.is_some() {
                return Err(Error::new(conflict));
            }
            i += approx_mark(&mut t, &a[i + 1], more);
            let n = args::int(&a[i + 1])?;
            if n < 0 {
                return Err(Error::new("ERR The MAXLEN argument must be >= 0."));
            }
            i += 1;
            t.by = Some(TrimBy::MaxLen(n as u64));
            t.arg_idx = i;
        } else if args::is(opt, "minid") && more > 0 {
            if t.by.is_some() {
                return Err(Error::new(conflict));
            }
            i += approx_mark(&mut t, &a[i + 1], more);
            let id = parse_strict_id(&a[i + 1], 0)?;
            i += 1;
            t.by = Some(TrimBy::MinId(id));
            t.arg_idx = i;
        } else if args::is(opt, "limit") && more > 0 {
            let n = args::int(&a[i + 1])?;
            if n < 0 {
                return Err(Error::new("ERR The LIMIT argument must be >= 0."));
            }
            t.limit = n as u64;
            limit_given = true;
            i += 1;
        } else if xadd && args::is(opt, "nomkstream") {
            t.no_mkstream = true;
        } else if xadd {
            t.id = Some(parse_add_id(opt)?);
            break;
        } else {
            return Err(Error::syntax());
        }
        i += 1;
    }
    t.id_pos = i;
    if t.limit != 0 && t.by.is_none() {
        return Err(Error::new(
            "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy",
        ));
    }
    if !xadd && t.by.is_none() {
        return Err(Error::new(
            "ERR syntax error, XTRIM must be called with a trimming strategy",
        ));
    }
    if must_obey(ctx) {
        t.limit = 0;
    } else if limit_given {
        if !t.approx {
            return Err(Error::new(
                "ERR syntax error, LIMIT cannot be used without the special ~ option",
            ));
        }
    } else if t.approx {
        let per_node = node_limits(ctx.srv).max_entries as i64;
        let l = per_node.saturating_mul(100);
        t.limit = if l <= 0 { 10000 } else { l.min(1_000_000) } as u64;
    } else {
        t.limit = 0;
    }
    Ok(t)
}

/// The propagated arguments after approximate trimming: `~` becomes `=` and the value the
/// exact effect (streamRewriteApproxSpecifier / streamRewriteTrimArgument).
fn rewrite_trim(argv: &mut [Vec<u8>], t: &TrimArgs, s: &amber_store::stream::Stream) {
    argv[t.arg_idx - 1] = b"=".to_vec();
    argv[t.arg_idx] = match t.by {
        Some(TrimBy::MaxLen(_)) => s.length.to_string().into_bytes(),
        // The first entry, deleted or not (streamGetEdgeID without skipping tombstones).
        _ => s.first_slot_id().unwrap_or(StreamId::MAX).to_bytes(),
    };
}

pub(super) fn xadd(ctx: &mut Ctx<'_>) -> Reply {
    let t = parse_trim_args(ctx, true)?;
    let a = ctx.args;
    let field_pos = t.id_pos + 1;
    let nargs = a.len().saturating_sub(field_pos);
    if a.len() < field_pos || nargs < 2 || nargs % 2 == 1 {
        return Err(Error::new(
            "ERR wrong number of arguments for 'xadd' command",
        ));
    }
    if let Some(p) = &t.id {
        if p.seq_given && p.id.is_zero() {
            return Err(Error::new(
                "ERR The ID specified in XADD must be greater than 0-0",
            ));
        }
    }
    let db = ctx.cl.db;
    let key = &a[1];
    if !exists_for_write(ctx.srv, db, key)? {
        if t.no_mkstream {
            ctx.cl.out.null();
            return Ok(());
        }
        create(ctx.srv, db, key);
    }
    let limits = node_limits(ctx.srv);
    let now = ctx.now().max(0) as u64;
    let Some(s) = stream_mut(ctx.srv, db, key) else {
        return Ok(());
    };
    if s.last_id == StreamId::MAX {
        return Err(Error::new(
            "ERR The stream has exhausted the last possible ID, unable to add more items",
        ));
    }
    let want = match &t.id {
        None => AddId::Auto,
        Some(p) if !p.seq_given => AddId::Ms(p.id.ms),
        Some(p) => AddId::Exact(p.id),
    };
    let pairs: Vec<(&[u8], &[u8])> = a[field_pos..]
        .chunks_exact(2)
        .map(|p| (p[0].as_slice(), p[1].as_slice()))
        .collect();
    let id =
        match s.add(want, now, &pairs, limits) {
            Ok(id) => id,
            Err(AddError::NotGreater) => return Err(Error::new(
                "ERR The ID specified in XADD is equal or smaller than the target stream top item",
            )),
            Err(AddError::TooLarge) => {
                return Err(Error::new("ERR Elements are too large to be stored"))
            }
        };
    reply_id(&mut ctx.cl.out, id);
    ctx.changed(db, key, 1);
    ctx.notify(notify::STREAM, "xadd", key);
    let mut argv = a.to_vec();
    if let Some(by) = t.by {
        let Some(s) = stream_mut(ctx.srv, db, key) else {
            return Ok(());
        };
        let trimmed = s.trim(by, t.approx, t.limit);
        if t.approx {
            rewrite_trim(&mut argv, &t, s);
        }
        if trimmed > 0 {
            ctx.notify(notify::STREAM, "xtrim", key);
        }
    }
    if t.id.as_ref().is_none_or(|p| !p.seq_given) {
        argv[t.id_pos] = id.to_bytes();
    }
    if argv != a {
        ctx.propagate(argv);
    }
    ctx.srv.signal_ready(db, key);
    Ok(())
}

pub(super) fn xtrim(ctx: &mut Ctx<'_>) -> Reply {
    let t = parse_trim_args(ctx, false)?;
    let a = ctx.args;
    let db = ctx.cl.db;
    let key = &a[1];
    if !exists_for_write(ctx.srv, db, key)? {
        ctx.cl.out.int(0);
        return Ok(());
    }
    let Some(by) = t.by else { return Ok(()) };
    let Some(s) = stream_mut(ctx.srv, db, key) else {
        return Ok(());
    };
    let deleted = s.trim(by, t.approx, t.limit);
    if deleted > 0 {
        let mut argv = a.to_vec();
        if t.approx {
            rewrite_trim(&mut argv, &t, s);
        }
        ctx.notify(notify::STREAM, "xtrim", key);
        ctx.changed(db, key, deleted);
        if t.approx {
            ctx.propagate(argv);
        }
    }
    ctx.cl.out.int(deleted as i64);
    Ok(())
}

pub(super) fn xdel(ctx: &mut Ctx<'_>) -> Reply {
    let a = ctx.args;
    let db = ctx.cl.db;
    let key = &a[1];
    if !exists_for_write(ctx.srv, db, key)? {
        ctx.cl.out.int(0);
        return Ok(());
    }
    let ids = a[2..]
        .iter()
        .map(|x| parse_strict_id(x, 0))
        .collect::<Result<Vec<_>, _>>()?;
    let Some(s) = stream_mut(ctx.srv, db, key) else {
        return Ok(());
    };
    let mut deleted = 0u64;
    let mut first_entry = false;
    for id in ids {
        if s.delete(id) {
            if id == s.first_id {
                first_entry = true;
            }
            if id > s.max_deleted_entry_id {
                s.max_deleted_entry_id = id;
            }
            deleted += 1;
        }
    }
    if deleted > 0 {
        if s.length == 0 {
            s.first_id = StreamId::MIN;
        } else if first_entry {
            s.first_id = s.edge_id(true).unwrap_or(StreamId::MIN);
        }
        ctx.changed(db, key, deleted);
        ctx.notify(notify::STREAM, "xdel", key);
    }
    ctx.cl.out.int(deleted as i64);
    Ok(())
}

pub(super) fn xlen(ctx: &mut Ctx<'_>) -> Reply {
    let db = ctx.cl.db;
    let n = read_stream(ctx.srv, db, &ctx.args[1])?.map_or(0, |s| s.length);
    ctx.cl.out.int(n as i64);
    Ok(())
}

pub(super) fn xsetid(ctx: &mut Ctx<'_>) -> Reply {
    let a = ctx.args;
    let id = parse_strict_id(&a[2], 0)?;
    let mut entries_added: i64 = -1;
    let mut max_xdel = StreamId::MIN;
    let mut i = 3;
    while i < a.len() {
        let more = a.len() - 1 - i;
        if args::is(&a[i], "entriesadded") && more > 0 {
            entries_added = args::int(&a[i + 1])?;
            if entries_added < 0 {
                return Err(Error::new("ERR entries_added must be positive"));
            }
            i += 2;
        } else if args::is(&a[i], "maxdeletedid") && more > 0 {
            max_xdel = parse_strict_id(&a[i + 1], 0)?;
            if id < max_xdel {
                return Err(Error::new(
                    "ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id",
                ));
            }
            i += 2;
        } else {
            return Err(Error::syntax());
        }
    }
    let db = ctx.cl.db;
    let key = &a[1];
    if !exists_for_write(ctx.srv, db, key)? {
        return Err(Error::new("ERR no such key"));
    }
    let Some(s) = stream_mut(ctx.srv, db, key) else {
        return Ok(());
    };
    if s.length > 0 {
        let top = s.edge_id(false).unwrap_or(StreamId::MIN);
        if id < top {
            return Err(Error::new(
                "ERR The ID specified in XSETID is smaller than the target stream top item",
            ));
        }
        if entries_added != -1 && s.length > entries_added as u64 {
            return Err(Error::new(
                "ERR The entries_added specified in XSETID is smaller than the target stream length",
            ));
        }
    }
    s.last_id = id;
    if entries_added != -1 {
        s.entries_added = entries_added as u64;
    }
    if !max_xdel.is_zero() {
        s.max_deleted_entry_id = max_xdel;
    }
    ctx.cl.out.ok();
    ctx.dirty(1);
    ctx.notify(notify::STREAM, "xsetid", key);
    Ok(())
}

/// After MAXLEN or MINID: an optional `~` (approximate) or `=` (exact) before the threshold.
/// Returns how many arguments it took (0 or 1).
fn approx_mark(t: &mut TrimArgs, next: &[u8], more: usize) -> usize {
    t.approx = more >= 2 && next == b"~";
    usize::from(more >= 2 && (next == b"~" || next == b"="))
}
