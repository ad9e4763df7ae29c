//! XREAD and XREADGROUP, blocking included, and the delivery of entries to a consumer group
//! (streamReplyWithRange with a group, streamReplyWithRangeFromConsumerPEL).
//!
//! A client that blocks keeps its command with `$` replaced by the ID it stands for at that
//! moment; when a key it waits on gets an entry, the command runs again (blocking.rs), which
//! serves it as Redis's serveClientsBlockedOnStreamKey would.

use amber_resp::ReplyBuf;
use amber_store::stream::{Group, Stream, StreamId, INVALID_ENTRIES_READ};

use super::super::{args, notify, Ctx, Error, Reply};
use super::{lossy, parse_strict_id, read_stream, reply_entry, reply_id, stream_mut};

/// COUNT for a blocked client served without one (XREAD_BLOCKED_DEFAULT_COUNT).
const BLOCKED_DEFAULT_COUNT: usize = 1000;

struct ReadArgs {
    timeout_ms: Option<i64>,
    count: usize,
    streams_at: usize,
    nstreams: usize,
    group: Option<(Vec<u8>, Vec<u8>)>,
    noack: bool,
}

fn parse(ctx: &Ctx<'_>, group_cmd: bool) -> Result<ReadArgs, Error> {
    let a = ctx.args;
    let mut r = ReadArgs {
        timeout_ms: None,
        count: 0,
        streams_at: 0,
        nstreams: 0,
        group: None,
        noack: false,
    };
    let mut i = 1;
    while i < a.len() {
        let more = a.len() - i - 1;
        let o = &a[i];
        if args::is(o, "block") && more > 0 {
            i += 1;
            let t = args::int_msg(&a[i], "timeout is not an integer or out of range")?;
            if t < 0 {
                return Err(Error::new("ERR timeout is negative"));
            }
            r.timeout_ms = Some(t);
        } else if args::is(o, "count") && more > 0 {
            i += 1;
            r.count = args::int(&a[i])?.max(0) as usize;
        } else if args::is(o, "streams") && more > 0 {
            r.streams_at = i + 1;
            let n = a.len() - r.streams_at;
            if !n.is_multiple_of(2) {
                return Err(Error::new("ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified."));
            }
            r.nstreams = n / 2;
            break;
        } else if args::is(o, "group") && more >= 2 {
            if !group_cmd {
                return Err(Error::new(
                    "ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            r.group = Some((a[i + 1].clone(), a[i + 2].clone()));
            i += 2;
        } else if args::is(o, "noack") {
            if !group_cmd {
                return Err(Error::new(
                    "ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            r.noack = true;
        } else {
            return Err(Error::syntax());
        }
        i += 1;
    }
    if r.streams_at == 0 {
        return Err(Error::syntax());
    }
    if group_cmd && r.group.is_none() {
        return Err(Error::new("ERR Missing GROUP option for XREADGROUP"));
    }
    Ok(r)
}

/// When a blocked client runs again: the index of the stream key that woke it (its first
/// occurrence). Redis's serveClientsBlockedOnStreamKey serves a woken XREAD / XREADGROUP from
/// that key alone, even when other keys it waits on have entries too.
fn woken_by(ctx: &Ctx<'_>, r: &ReadArgs) -> Option<usize> {
    if !ctx.reprocessing {
        return None;
    }
    let ready = ctx.srv.blocking.serving.as_ref()?;
    ctx.args[r.streams_at..r.streams_at + r.nstreams]
        .iter()
        .position(|k| k.as_slice() == ready.as_slice())
}

/// The IDs to read after, `>` as MAX; in the order of the keys. Only key `only` (when given)
/// is looked up: the others keep the IDs their client blocked with.
fn resolve_ids(
    ctx: &mut Ctx<'_>,
    r: &ReadArgs,
    only: Option<usize>,
) -> Result<Vec<StreamId>, Error> {
    let a = ctx.args;
    let db = ctx.cl.db;
    let mut ids = Vec::with_capacity(r.nstreams);
    for k in 0..r.nstreams {
        let key = &a[r.streams_at + k];
        let arg = &a[r.streams_at + r.nstreams + k];
        if only.is_some_and(|i| i != k) {
            ids.push(if arg.as_slice() == b">" {
                StreamId::MAX
            } else {
                parse_strict_id(arg, 0)?
            });
            continue;
        }
        let s = match read_stream(ctx.srv, db, key) {
            // Woken because the stream was replaced by another type.
            Err(_) if ctx.reprocessing && r.group.is_some() => {
                return Err(Error::new("UNBLOCKED the stream key no longer exists"))
            }
            other => other?,
        };
        if let Some((g, _)) = &r.group {
            let has = s.is_some_and(|s| s.groups.contains_key(g));
            if !has {
                if ctx.reprocessing {
                    return Err(if s.is_none() {
                        Error::new("UNBLOCKED the stream key no longer exists")
                    } else {
                        Error::new(
                            "NOGROUP the consumer group this client was blocked on no longer exists",
                        )
                    });
                }
                return Err(Error::new(format!(
                    "NOGROUP No such key '{}' or consumer group '{}' in XREADGROUP with GROUP option",
                    lossy(key),
                    lossy(g)
                )));
            }
        }
        let last = s.map(|s| s.last_id);
        if arg.as_slice() == b"$" {
            if r.group.is_some() {
                return Err(Error::new("ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set."));
            }
            ids.push(last.unwrap_or(StreamId::MIN));
        } else if arg.as_slice() == b">" {
            if r.group.is_none() {
                return Err(Error::new("ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option."));
            }
            ids.push(StreamId::MAX);
        } else {
            ids.push(parse_strict_id(arg, 0)?);
        }
    }
    Ok(ids)
}

pub(super) fn xread(ctx: &mut Ctx<'_>) -> Reply {
    let group_cmd = ctx.cmd.name == "xreadgroup";
    let r = parse(ctx, group_cmd)?;
    let only = woken_by(ctx, &r);
    let ids = resolve_ids(ctx, &r, only)?;
    let a = ctx.args;
    let db = ctx.cl.db;
    let count = if r.count == 0 && ctx.reprocessing {
        BLOCKED_DEFAULT_COUNT
    } else {
        r.count
    };
    let resp3 = ctx.cl.out.resp3();
    let mut served = 0usize;
    let mut header = None;
    for (k, &id) in ids.iter().enumerate() {
        if only.is_some_and(|i| i != k) {
            continue;
        }
        let key = &a[r.streams_at + k];
        let Ok(Some(s)) = read_stream(ctx.srv, db, key) else {
            continue;
        };
        let mut gt = id;
        let (serve, history) = match &r.group {
            Some(_) if gt != StreamId::MAX => (true, true),
            Some((g, _)) => {
                let last = s.groups.get(g).map_or(StreamId::MAX, |g| g.last_id);
                // ">": what follows the group's last delivered ID.
                gt = last;
                (
                    s.length > 0 && s.edge_id(false).is_some_and(|m| m > last),
                    false,
                )
            }
            None => (
                s.length > 0 && s.edge_id(false).is_some_and(|m| m > gt),
                false,
            ),
        };
        if !serve {
            continue;
        }
        served += 1;
        if served == 1 {
            header = Some(if resp3 {
                ctx.cl.out.deferred_map()
            } else {
                ctx.cl.out.deferred_array()
            });
        }
        if !resp3 {
            ctx.cl.out.array(2);
        }
        ctx.cl.out.bulk(key);
        let start = gt.incr().unwrap_or(StreamId::MAX);
        match &r.group {
            None => {
                let s = read_stream(ctx.srv, db, key)?.ok_or_else(Error::syntax)?;
                super::reply_range(&mut ctx.cl.out, s, start, StreamId::MAX, count, false);
            }
            Some((g, c)) => {
                let (g, c) = (g.clone(), c.clone());
                deliver(ctx, key, &g, &c, start, count, r.noack, history);
                ctx.dirty(1);
            }
        }
    }
    if let Some(h) = header {
        ctx.cl.out.set_deferred(h, served);
        ctx.no_propagate();
        return Ok(());
    }
    if let Some(t) = r.timeout_ms {
        if !ctx.can_block() {
            ctx.cl.out.null_array();
            ctx.no_propagate();
            return Ok(());
        }
        // Block with `$` fixed to what it meant now.
        let mut argv = a.to_vec();
        for (k, id) in ids.iter().enumerate() {
            let at = r.streams_at + r.nstreams + k;
            if argv[at].as_slice() == b"$" {
                argv[at] = id.to_bytes();
            }
        }
        let keys = a[r.streams_at..r.streams_at + r.nstreams]
            .iter()
            .map(|k| amber_store::Key::from_slice(k))
            .collect();
        ctx.block_with_args(keys, t, ReplyBuf::null_array, argv);
        ctx.no_propagate();
        return Ok(());
    }
    ctx.cl.out.null_array();
    ctx.no_propagate();
    Ok(())
}

/// Serves one stream to a consumer of group `g`: new entries after `start` (`history` false)
/// or the consumer's own pending entries from `start`, updating the PELs and propagating
/// each delivery as XCLAIM (or the new last ID as XGROUP SETID under NOACK).
#[allow(clippy::too_many_arguments)]
fn deliver(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    gname: &[u8],
    cname: &[u8],
    start: StreamId,
    count: usize,
    noack: bool,
    history: bool,
) {
    let db = ctx.cl.db;
    let now = ctx.now();
    let Some(s) = stream_mut(ctx.srv, db, key) else {
        return;
    };
    let Some(mut g) = s.groups.remove(gname) else {
        return;
    };
    let created = match g.consumers.get_mut(cname) {
        Some(c) => {
            c.seen_time = now;
            false
        }
        None => g.create_consumer(cname, now),
    };
    let mut props: Vec<Vec<Vec<u8>>> = Vec::new();
    let out = &mut ctx.cl.out;
    if history {
        reply_history(out, s, &mut g, cname, start, count, now);
    } else {
        let mut moved = false;
        let d = out.deferred_array();
        let mut n = 0usize;
        let mut delivered: Vec<StreamId> = Vec::new();
        s.range(start, StreamId::MAX, false, |id, pairs| {
            reply_entry(out, id, pairs);
            delivered.push(id);
            n += 1;
            count == 0 || n < count
        });
        out.set_deferred(d, n);
        for id in delivered {
            if id > g.last_id {
                advance(s, &mut g, id);
                moved = true;
            }
            if !noack {
                g.assign(id, cname, now, 1);
                props.push(xclaim_argv(key, gname, cname, id, &id.to_bytes(), &g));
            }
        }
        if noack && moved {
            props.push(setid_argv(key, gname, &g));
        }
    }
    s.groups.insert(gname.to_vec(), g);
    if created {
        if noack {
            props.insert(
                0,
                vec![
                    b"XGROUP".to_vec(),
                    b"CREATECONSUMER".to_vec(),
                    key.to_vec(),
                    gname.to_vec(),
                    cname.to_vec(),
                ],
            );
        }
        ctx.dirty(1);
        ctx.notify(notify::STREAM, "xgroup-createconsumer", key);
    }
    for p in props {
        ctx.propagate(p);
    }
}

/// A group reads past `id`: its last ID and entries-read counter follow.
pub(super) fn advance(s: &Stream, g: &mut Group, id: StreamId) {
    if g.entries_read != INVALID_ENTRIES_READ && !s.range_has_tombstones(Some(id), None) {
        g.entries_read = g.entries_read.wrapping_add(1);
    } else if s.entries_added > 0 {
        g.entries_read = s.estimate_distance(id);
    }
    g.last_id = id;
}

fn reply_history(
    out: &mut ReplyBuf,
    s: &Stream,
    g: &mut Group,
    cname: &[u8],
    start: StreamId,
    count: usize,
    now: i64,
) {
    let ids: Vec<StreamId> = g
        .consumers
        .get(cname)
        .map(|c| {
            c.pel
                .range(start..)
                .take(if count == 0 { usize::MAX } else { count })
                .copied()
                .collect()
        })
        .unwrap_or_default();
    out.array(ids.len());
    for id in ids {
        let mut found = false;
        s.range(id, id, false, |id, pairs| {
            reply_entry(out, id, pairs);
            found = true;
            false
        });
        if found {
            if let Some(n) = g.pel.get_mut(&id) {
                n.delivery_time = now;
                n.delivery_count = n.delivery_count.wrapping_add(1);
            }
        } else {
            out.array(2);
            reply_id(out, id);
            out.null_array();
        }
    }
}

/// XCLAIM key group consumer 0 id TIME t RETRYCOUNT n FORCE JUSTID LASTID last
/// (streamPropagateXCLAIM).
pub(super) fn xclaim_argv(
    key: &[u8],
    gname: &[u8],
    cname: &[u8],
    id: StreamId,
    id_arg: &[u8],
    g: &Group,
) -> Vec<Vec<u8>> {
    let (time, count) = g
        .pel
        .get(&id)
        .map_or((0, 0), |n| (n.delivery_time, n.delivery_count));
    vec![
        b"XCLAIM".to_vec(),
        key.to_vec(),
        gname.to_vec(),
        cname.to_vec(),
        b"0".to_vec(),
        id_arg.to_vec(),
        b"TIME".to_vec(),
        time.to_string().into_bytes(),
        b"RETRYCOUNT".to_vec(),
        count.to_string().into_bytes(),
        b"FORCE".to_vec(),
        b"JUSTID".to_vec(),
        b"LASTID".to_vec(),
        g.last_id.to_bytes(),
    ]
}

/// XGROUP SETID key group last ENTRIESREAD n (streamPropagateGroupID).
pub(super) fn setid_argv(key: &[u8], gname: &[u8], g: &Group) -> Vec<Vec<u8>> {
    vec![
        b"XGROUP".to_vec(),
        b"SETID".to_vec(),
        key.to_vec(),
        gname.to_vec(),
        g.last_id.to_bytes(),
        b"ENTRIESREAD".to_vec(),
        g.entries_read.to_string().into_bytes(),
    ]
}
