//! XCLAIM and XAUTOCLAIM: pending entries change owner. Each claim propagates as XCLAIM ...
//! FORCE JUSTID LASTID (as Redis), a pending entry whose stream entry is gone is dropped.

use amber_resp::ReplyBuf;
use amber_store::stream::{Group, Stream, StreamId};

use super::super::{args, notify, Ctx, Error, Reply};
use super::read::{setid_argv, xclaim_argv};
use super::{lossy, parse_bound, parse_strict_id, read_stream, reply_entry, reply_id, stream_mut};

fn nogroup(a: &[Vec<u8>]) -> Error {
    Error::new(format!(
        "NOGROUP No such key '{}' or consumer group '{}'",
        lossy(&a[1]),
        lossy(&a[2])
    ))
}

/// Takes group `name` out of the stream at `key` (put back with `put_back`).
fn take_group(ctx: &mut Ctx<'_>, key: &[u8], name: &[u8]) -> Option<Group> {
    let db = ctx.cl.db;
    stream_mut(ctx.srv, db, key)?.groups.remove(name)
}

fn put_back(ctx: &mut Ctx<'_>, key: &[u8], name: &[u8], g: Group) {
    let db = ctx.cl.db;
    if let Some(s) = stream_mut(ctx.srv, db, key) {
        s.groups.insert(name.to_vec(), g);
    }
}

/// The consumer `name` exists (created with its event and a change counted when not):
/// streamLookupConsumer, else streamCreateConsumer.
fn ensure_consumer(g: &mut Group, name: &[u8], now: i64, created: &mut bool) {
    match g.consumers.get_mut(name) {
        Some(c) => c.seen_time = now,
        None => {
            g.create_consumer(name, now);
            *created = true;
        }
    }
}

pub(super) fn xclaim(ctx: &mut Ctx<'_>) -> Reply {
    let a = ctx.args;
    let db = ctx.cl.db;
    let has = read_stream(ctx.srv, db, &a[1])?.is_some_and(|s| s.groups.contains_key(&a[2]));
    if !has {
        return Err(nogroup(a));
    }
    let minidle = args::int_msg(&a[4], "Invalid min-idle-time argument for XCLAIM")?.max(0);
    let mut ids = Vec::new();
    let mut j = 5;
    while j < a.len() {
        match parse_strict_id(&a[j], 0) {
            Ok(id) => ids.push((id, j)),
            Err(_) => break,
        }
        j += 1;
    }
    let now = ctx.now();
    let (mut force, mut justid) = (false, false);
    let mut retrycount: i64 = -1;
    let mut deliverytime: i64 = -1;
    let mut last_id = StreamId::MIN;
    while j < a.len() {
        let more = a.len() - 1 - j;
        let opt = &a[j];
        if args::is(opt, "force") {
            force = true;
        } else if args::is(opt, "justid") {
            justid = true;
        } else if args::is(opt, "idle") && more > 0 {
            j += 1;
            let v = args::int_msg(&a[j], "Invalid IDLE option argument for XCLAIM")?;
            deliverytime = now.wrapping_sub(v);
        } else if args::is(opt, "time") && more > 0 {
            j += 1;
            deliverytime = args::int_msg(&a[j], "Invalid TIME option argument for XCLAIM")?;
        } else if args::is(opt, "retrycount") && more > 0 {
            j += 1;
            retrycount = args::int_msg(&a[j], "Invalid RETRYCOUNT option argument for XCLAIM")?;
        } else if args::is(opt, "lastid") && more > 0 {
            j += 1;
            last_id = parse_strict_id(&a[j], 0)?;
        } else {
            return Err(Error::new(format!(
                "ERR Unrecognized XCLAIM option '{}'",
                lossy(opt)
            )));
        }
        j += 1;
    }
    let (key, gname, cname) = (&a[1], &a[2], &a[3]);
    let Some(mut g) = take_group(ctx, key, gname) else {
        return Err(nogroup(a));
    };
    let mut propagate_last_id = false;
    if last_id > g.last_id {
        g.last_id = last_id;
        propagate_last_id = true;
    }
    if deliverytime == -1 || deliverytime < 0 || deliverytime > now {
        deliverytime = now;
    }
    let mut created = false;
    let mut props = Vec::new();
    let mut dirty = 0u64;
    let mut replies: Vec<StreamId> = Vec::new();
    {
        let db = ctx.cl.db;
        let Some(s) = stream_mut(ctx.srv, db, key).map(|s| &*s) else {
            return Ok(());
        };
        for &(id, at) in &ids {
            let id_arg = &a[at];
            let pending = g.pel.contains_key(&id);
            if !s.exists(id) {
                if pending {
                    props.push(xclaim_argv(key, gname, &owner(&g, id), id, id_arg, &g));
                    propagate_last_id = false;
                    dirty += 1;
                    g.ack(id);
                }
                continue;
            }
            let forced = !pending && force;
            if !pending && !forced {
                continue;
            }
            if !forced && minidle > 0 {
                if let Some(n) = g.pel.get(&id) {
                    if now - n.delivery_time < minidle {
                        continue;
                    }
                }
            }
            ensure_consumer(&mut g, cname, now, &mut created);
            let prev = g.pel.get(&id).map_or(0, |n| n.delivery_count);
            let count = if retrycount >= 0 {
                retrycount as u64
            } else if !justid {
                prev.wrapping_add(1)
            } else {
                prev
            };
            // A forced entry starts from a fresh NACK (count 1 before this delivery).
            let count = if forced && retrycount < 0 && !justid {
                2
            } else if forced && retrycount < 0 {
                1
            } else {
                count
            };
            g.assign(id, cname, deliverytime, count);
            replies.push(id);
            props.push(xclaim_argv(key, gname, cname, id, id_arg, &g));
            propagate_last_id = false;
            dirty += 1;
        }
        let out = &mut ctx.cl.out;
        reply_claimed(out, s, &replies, justid);
    }
    if propagate_last_id {
        props.push(setid_argv(key, gname, &g));
        dirty += 1;
    }
    put_back(ctx, key, gname, g);
    if created {
        ctx.dirty(1);
        ctx.notify(notify::STREAM, "xgroup-createconsumer", key);
    }
    ctx.dirty(dirty);
    for p in props {
        ctx.propagate(p);
    }
    ctx.no_propagate();
    Ok(())
}

fn owner(g: &Group, id: StreamId) -> Vec<u8> {
    g.pel
        .get(&id)
        .map(|n| n.consumer.clone())
        .unwrap_or_default()
}

pub(super) fn xautoclaim(ctx: &mut Ctx<'_>) -> Reply {
    let a = ctx.args;
    let minidle = args::int_msg(&a[4], "Invalid min-idle-time argument for XAUTOCLAIM")?.max(0);
    let start = parse_bound(&a[5], 0, true)?;
    let mut count: i64 = 100;
    let mut justid = false;
    let mut j = 6;
    // LONG_MAX / max(sizeof(streamID), attempts_factor)
    let max_count = i64::MAX / 16;
    while j < a.len() {
        let more = a.len() - 1 - j;
        if args::is(&a[j], "count") && more > 0 {
            // getRangeLongFromObjectOrReply: one message for both a bad number and a bad range.
            count = args::int(&a[j + 1])
                .ok()
                .filter(|v| (1..=max_count).contains(v))
                .ok_or_else(|| Error::new("ERR COUNT must be > 0"))?;
            j += 1;
        } else if args::is(&a[j], "justid") {
            justid = true;
        } else {
            return Err(Error::syntax());
        }
        j += 1;
    }
    let db = ctx.cl.db;
    let has = read_stream(ctx.srv, db, &a[1])?.is_some_and(|s| s.groups.contains_key(&a[2]));
    if !has {
        return Err(nogroup(a));
    }
    let (key, gname, cname) = (&a[1], &a[2], &a[3]);
    let Some(mut g) = take_group(ctx, key, gname) else {
        return Err(nogroup(a));
    };
    let now = ctx.now();
    let mut attempts = count.saturating_mul(10);
    let mut created = false;
    let mut props = Vec::new();
    let mut claimed: Vec<StreamId> = Vec::new();
    let mut deleted: Vec<StreamId> = Vec::new();
    let mut next = StreamId::MIN;
    {
        let db = ctx.cl.db;
        let Some(s) = stream_mut(ctx.srv, db, key).map(|s| &*s) else {
            return Ok(());
        };
        let mut cursor = Some(start);
        while let Some(from) = cursor {
            let Some((&id, nack)) = g.pel.range(from..).next() else {
                cursor = None;
                break;
            };
            if attempts == 0 || count == 0 {
                break;
            }
            attempts -= 1;
            cursor = id.incr();
            if !s.exists(id) {
                let owner = nack.consumer.clone();
                props.push(xclaim_argv(key, gname, &owner, id, &id.to_bytes(), &g));
                g.ack(id);
                deleted.push(id);
                count -= 1;
                continue;
            }
            if minidle > 0 && now - nack.delivery_time < minidle {
                continue;
            }
            let prev = nack.delivery_count;
            ensure_consumer(&mut g, cname, now, &mut created);
            g.assign(
                id,
                cname,
                now,
                if justid { prev } else { prev.wrapping_add(1) },
            );
            claimed.push(id);
            count -= 1;
            props.push(xclaim_argv(key, gname, cname, id, &id.to_bytes(), &g));
        }
        if let Some(from) = cursor {
            if let Some((&id, _)) = g.pel.range(from..).next() {
                next = id;
            }
        }
        let out = &mut ctx.cl.out;
        out.array(3);
        reply_id(out, next);
        reply_claimed(out, s, &claimed, justid);
        out.array(deleted.len());
        for id in &deleted {
            reply_id(out, *id);
        }
    }
    put_back(ctx, key, gname, g);
    if created {
        ctx.dirty(1);
        ctx.notify(notify::STREAM, "xgroup-createconsumer", key);
    }
    ctx.dirty((claimed.len() + deleted.len()) as u64);
    for p in props {
        ctx.propagate(p);
    }
    ctx.no_propagate();
    Ok(())
}

/// The claimed entries, as IDs (JUSTID) or as entries.
fn reply_claimed(out: &mut ReplyBuf, s: &Stream, ids: &[StreamId], justid: bool) {
    out.array(ids.len());
    for id in ids {
        if justid {
            reply_id(out, *id);
        } else {
            s.range(*id, *id, false, |id, pairs| {
                reply_entry(out, id, pairs);
                false
            });
        }
    }
}
