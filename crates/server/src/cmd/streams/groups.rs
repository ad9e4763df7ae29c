//! XGROUP (CREATE SETID DESTROY CREATECONSUMER DELCONSUMER HELP), XACK, XPENDING.

use amber_store::stream::{Group, StreamId, INVALID_ENTRIES_READ};

use super::super::{args, notify, Ctx, Error, Reply};
use super::{
    create, lossy, parse_bound, parse_id, parse_strict_id, read_stream, reply_id, stream_mut,
    subcommand_syntax,
};

const XGROUP_HELP: &[&str] = &[
    "XGROUP <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CREATE <key> <groupname> <id|$> [option]",
    "    Create a new consumer group. Options are:",
    "    * MKSTREAM",
    "      Create the empty stream if it does not exist.",
    "    * ENTRIESREAD entries_read",
    "      Set the group's entries_read counter (internal use).",
    "CREATECONSUMER <key> <groupname> <consumer>",
    "    Create a new consumer in the specified group.",
    "DELCONSUMER <key> <groupname> <consumer>",
    "    Remove the specified consumer.",
    "DESTROY <key> <groupname>",
    "    Remove the specified group.",
    "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
    "    Set the current group ID and entries_read counter.",
    "HELP",
    "    Prints this help.",
];

pub(super) fn xgroup(ctx: &mut Ctx<'_>) -> Reply {
    let a = ctx.args;
    let opt = String::from_utf8_lossy(&a[1]).to_ascii_lowercase();
    let db = ctx.cl.db;
    let mut mkstream = false;
    let mut entries_read = INVALID_ENTRIES_READ;
    let mut exists = false;
    if a.len() >= 4 {
        let create_sub = opt == "create";
        let setid_sub = opt == "setid";
        let mut i = 5;
        while i < a.len() {
            if create_sub && args::is(&a[i], "mkstream") {
                mkstream = true;
                i += 1;
            } else if (create_sub || setid_sub) && args::is(&a[i], "entriesread") && i + 1 < a.len()
            {
                entries_read = args::int(&a[i + 1])?;
                if entries_read < 0 && entries_read != INVALID_ENTRIES_READ {
                    return Err(Error::new(
                        "ERR value for ENTRIESREAD must be positive or -1",
                    ));
                }
                i += 2;
            } else {
                return Err(subcommand_syntax("XGROUP", &a[1]));
            }
        }
        exists = super::exists_for_write(ctx.srv, db, &a[2])?;
    }
    let mut has_group = false;
    if a.len() >= 4 {
        has_group =
            exists && stream_mut(ctx.srv, db, &a[2]).is_some_and(|s| s.groups.contains_key(&a[3]));
    }
    if a.len() >= 4 && !mkstream {
        if !exists {
            return Err(Error::new("ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically."));
        }
        if !has_group && matches!(opt.as_str(), "setid" | "createconsumer" | "delconsumer") {
            return Err(Error::new(format!(
                "NOGROUP No such consumer group '{}' for key name '{}'",
                lossy(&a[3]),
                lossy(&a[2])
            )));
        }
    }
    let key = if a.len() >= 3 { a[2].as_slice() } else { &[] };
    match opt.as_str() {
        "help" if a.len() == 2 => ctx.help_lines(XGROUP_HELP),
        "create" if (5..=8).contains(&a.len()) => {
            let id = if a[4].as_slice() == b"$" {
                if exists {
                    stream_mut(ctx.srv, db, key).map_or(StreamId::MIN, |s| s.last_id)
                } else {
                    StreamId::MIN
                }
            } else {
                parse_strict_id(&a[4], 0)?
            };
            if !exists {
                create(ctx.srv, db, key);
                ctx.modified(db, key);
            }
            let Some(s) = stream_mut(ctx.srv, db, key) else {
                return Ok(());
            };
            if s.groups.contains_key(&a[3]) {
                return Err(Error::new("BUSYGROUP Consumer Group name already exists"));
            }
            s.groups.insert(a[3].clone(), Group::new(id, entries_read));
            ctx.cl.out.ok();
            ctx.dirty(1);
            ctx.notify(notify::STREAM, "xgroup-create", key);
            Ok(())
        }
        "setid" if a.len() == 5 || a.len() == 7 => {
            let id = if a[4].as_slice() == b"$" {
                stream_mut(ctx.srv, db, key).map_or(StreamId::MIN, |s| s.last_id)
            } else {
                parse_id(&a[4], 0)?
            };
            if let Some(g) = stream_mut(ctx.srv, db, key).and_then(|s| s.groups.get_mut(&a[3])) {
                g.last_id = id;
                g.entries_read = entries_read;
            }
            ctx.cl.out.ok();
            ctx.dirty(1);
            ctx.notify(notify::STREAM, "xgroup-setid", key);
            Ok(())
        }
        "destroy" if a.len() == 4 => {
            let removed = stream_mut(ctx.srv, db, key)
                .and_then(|s| s.groups.remove(&a[3]))
                .is_some();
            if removed {
                ctx.cl.out.int(1);
                ctx.dirty(1);
                ctx.notify(notify::STREAM, "xgroup-destroy", key);
                ctx.srv.signal_ready(db, key);
            } else {
                ctx.cl.out.int(0);
            }
            Ok(())
        }
        "createconsumer" if a.len() == 5 => {
            let now = ctx.now();
            let created = stream_mut(ctx.srv, db, key)
                .and_then(|s| s.groups.get_mut(&a[3]))
                .is_some_and(|g| g.create_consumer(&a[4], now));
            if created {
                ctx.dirty(1);
                ctx.notify(notify::STREAM, "xgroup-createconsumer", key);
            }
            ctx.cl.out.int(i64::from(created));
            Ok(())
        }
        "delconsumer" if a.len() == 5 => {
            let pending = stream_mut(ctx.srv, db, key)
                .and_then(|s| s.groups.get_mut(&a[3]))
                .and_then(|g| g.delete_consumer(&a[4]));
            if pending.is_some() {
                ctx.dirty(1);
                ctx.notify(notify::STREAM, "xgroup-delconsumer", key);
            }
            ctx.cl.out.int(pending.unwrap_or(0) as i64);
            Ok(())
        }
        _ => Err(subcommand_syntax("XGROUP", &a[1])),
    }
}

pub(super) fn xack(ctx: &mut Ctx<'_>) -> Reply {
    let a = ctx.args;
    let db = ctx.cl.db;
    let has = read_stream(ctx.srv, db, &a[1])?.is_some_and(|s| s.groups.contains_key(&a[2]));
    if !has {
        ctx.cl.out.int(0);
        return Ok(());
    }
    let ids = a[3..]
        .iter()
        .map(|x| parse_strict_id(x, 0))
        .collect::<Result<Vec<_>, _>>()?;
    let mut acked = 0u64;
    if let Some(g) = stream_mut(ctx.srv, db, &a[1]).and_then(|s| s.groups.get_mut(&a[2])) {
        for id in ids {
            if g.ack(id) {
                acked += 1;
            }
        }
    }
    ctx.dirty(acked);
    ctx.cl.out.int(acked as i64);
    Ok(())
}

pub(super) fn xpending(ctx: &mut Ctx<'_>) -> Reply {
    let a = ctx.args;
    let justinfo = a.len() == 3;
    if a.len() != 3 && !(6..=9).contains(&a.len()) {
        return Err(Error::syntax());
    }
    let mut range = None;
    let mut consumer: Option<&[u8]> = None;
    let mut minidle = 0i64;
    if a.len() >= 6 {
        let mut at = 3;
        if args::is(&a[3], "idle") {
            minidle = args::int(&a[4])?;
            if a.len() < 8 {
                return Err(Error::syntax());
            }
            at += 2;
        }
        let count = args::int(&a[at + 2])?.max(0);
        let start = parse_bound(&a[at], 0, true)?;
        let end = parse_bound(&a[at + 1], u64::MAX, false)?;
        if at + 3 < a.len() {
            consumer = Some(&a[at + 3]);
        }
        range = Some((start, end, count));
    }
    let db = ctx.cl.db;
    let now = ctx.now();
    let s = read_stream(ctx.srv, db, &a[1])?;
    let Some(g) = s.and_then(|s| s.groups.get(&a[2])) else {
        return Err(Error::new(format!(
            "NOGROUP No such key '{}' or consumer group '{}'",
            lossy(&a[1]),
            lossy(&a[2])
        )));
    };
    let out = &mut ctx.cl.out;
    if justinfo {
        out.array(4);
        out.int(g.pel.len() as i64);
        match (g.pel.keys().next(), g.pel.keys().next_back()) {
            (Some(first), Some(last)) => {
                reply_id(out, *first);
                reply_id(out, *last);
                let owners: Vec<(&Vec<u8>, usize)> = g
                    .consumers
                    .iter()
                    .filter(|(_, c)| !c.pel.is_empty())
                    .map(|(n, c)| (n, c.pel.len()))
                    .collect();
                out.array(owners.len());
                for (n, k) in owners {
                    out.array(2);
                    out.bulk(n);
                    out.bulk(k.to_string().as_bytes());
                }
            }
            _ => {
                out.null();
                out.null();
                out.null_array();
            }
        }
        return Ok(());
    }
    let Some((start, end, mut count)) = range else {
        return Ok(());
    };
    let ids: Vec<StreamId> = match consumer {
        Some(c) => match g.consumers.get(c) {
            Some(c) => c.pel.range(start..).copied().collect(),
            None => {
                out.array(0);
                return Ok(());
            }
        },
        None => g.pel.range(start..).map(|(id, _)| *id).collect(),
    };
    let d = out.deferred_array();
    let mut n = 0;
    for id in ids {
        if count == 0 || id > end {
            break;
        }
        let Some(nack) = g.pel.get(&id) else { continue };
        if minidle != 0 && now - nack.delivery_time < minidle {
            continue;
        }
        n += 1;
        count -= 1;
        out.array(4);
        reply_id(out, id);
        out.bulk(&nack.consumer);
        out.int((now - nack.delivery_time).max(0));
        out.int(nack.delivery_count as i64);
    }
    out.set_deferred(d, n);
    Ok(())
}
