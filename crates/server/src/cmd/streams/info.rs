//! XINFO STREAM [FULL [COUNT n]], GROUPS, CONSUMERS, HELP.

use amber_resp::ReplyBuf;
use amber_store::stream::{Stream, StreamId};

use super::super::{args, Ctx, Error, Reply};
use super::{lossy, read_stream, reply_entry, reply_id, reply_range, subcommand_syntax};

const XINFO_HELP: &[&str] = &[
    "XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CONSUMERS <key> <groupname>",
    "    Show consumers of <groupname>.",
    "GROUPS <key>",
    "    Show the stream consumer groups.",
    "STREAM <key> [FULL [COUNT <count>]",
    "    Show information about the stream.",
    "HELP",
    "    Prints this help.",
];

pub(super) fn xinfo(ctx: &mut Ctx<'_>) -> Reply {
    let a = ctx.args;
    if args::is(&a[1], "help") {
        if a.len() != 2 {
            return Err(subcommand_syntax("XINFO", &a[1]));
        }
        return ctx.help_lines(XINFO_HELP);
    }
    if a.len() < 3 {
        return Err(subcommand_syntax("XINFO", &a[1]));
    }
    let db = ctx.cl.db;
    let now = ctx.now();
    let Some(s) = read_stream(ctx.srv, db, &a[2])? else {
        return Err(Error::new("ERR no such key"));
    };
    let out = &mut ctx.cl.out;
    if args::is(&a[1], "consumers") && a.len() == 4 {
        let Some(g) = s.groups.get(&a[3]) else {
            return Err(Error::new(format!(
                "NOGROUP No such consumer group '{}' for key name '{}'",
                lossy(&a[3]),
                lossy(&a[2])
            )));
        };
        out.array(g.consumers.len());
        for (name, c) in &g.consumers {
            out.map(3);
            out.bulk(b"name");
            out.bulk(name);
            out.bulk(b"pending");
            out.int(c.pel.len() as i64);
            out.bulk(b"idle");
            out.int((now - c.seen_time).max(0));
        }
        Ok(())
    } else if args::is(&a[1], "groups") && a.len() == 3 {
        out.array(s.groups.len());
        for (name, g) in &s.groups {
            out.map(6);
            out.bulk(b"name");
            out.bulk(name);
            out.bulk(b"consumers");
            out.int(g.consumers.len() as i64);
            out.bulk(b"pending");
            out.int(g.pel.len() as i64);
            out.bulk(b"last-delivered-id");
            reply_id(out, g.last_id);
            out.bulk(b"entries-read");
            entries_read(out, g.entries_read);
            out.bulk(b"lag");
            lag(out, s, g);
        }
        Ok(())
    } else if args::is(&a[1], "stream") {
        stream_info(out, s, &a[3..])
    } else {
        Err(subcommand_syntax("XINFO", &a[1]))
    }
}

fn entries_read(out: &mut ReplyBuf, n: i64) {
    if n != amber_store::stream::INVALID_ENTRIES_READ {
        out.int(n);
    } else {
        out.null();
    }
}

fn lag(out: &mut ReplyBuf, s: &Stream, g: &amber_store::stream::Group) {
    match s.lag(g) {
        Some(l) => out.int(l),
        None => out.null(),
    }
}

fn stream_info(out: &mut ReplyBuf, s: &Stream, opts: &[Vec<u8>]) -> Reply {
    let mut count: i64 = 10;
    let full = !opts.is_empty();
    if full {
        if opts.len() != 1 && opts.len() != 3 {
            return Err(subcommand_syntax("XINFO", b"STREAM"));
        }
        if !args::is(&opts[0], "full") {
            return Err(subcommand_syntax("XINFO", b"STREAM"));
        }
        if opts.len() == 3 {
            if !args::is(&opts[1], "count") {
                return Err(subcommand_syntax("XINFO", b"STREAM"));
            }
            count = args::int(&opts[2])?;
            if count < 0 {
                count = 10;
            }
        }
    }
    let count = count as usize;
    out.map(if full { 9 } else { 10 });
    out.bulk(b"length");
    out.int(s.length as i64);
    out.bulk(b"radix-tree-keys");
    out.int(s.node_count() as i64);
    out.bulk(b"radix-tree-nodes");
    out.int(rax_nodes(s) as i64);
    out.bulk(b"last-generated-id");
    reply_id(out, s.last_id);
    out.bulk(b"max-deleted-entry-id");
    reply_id(out, s.max_deleted_entry_id);
    out.bulk(b"entries-added");
    out.int(s.entries_added as i64);
    out.bulk(b"recorded-first-entry-id");
    reply_id(out, s.first_id);
    if !full {
        out.bulk(b"groups");
        out.int(s.groups.len() as i64);
        for (name, rev) in [(b"first-entry".as_slice(), false), (b"last-entry", true)] {
            out.bulk(name);
            let mut found = false;
            s.range(StreamId::MIN, StreamId::MAX, rev, |id, pairs| {
                reply_entry(out, id, pairs);
                found = true;
                false
            });
            if !found {
                out.null();
            }
        }
        return Ok(());
    }
    out.bulk(b"entries");
    reply_range(out, s, StreamId::MIN, StreamId::MAX, count, false);
    out.bulk(b"groups");
    out.array(s.groups.len());
    let limit = if count == 0 { usize::MAX } else { count };
    for (name, g) in &s.groups {
        out.map(7);
        out.bulk(b"name");
        out.bulk(name);
        out.bulk(b"last-delivered-id");
        reply_id(out, g.last_id);
        out.bulk(b"entries-read");
        entries_read(out, g.entries_read);
        out.bulk(b"lag");
        lag(out, s, g);
        out.bulk(b"pel-count");
        out.int(g.pel.len() as i64);
        out.bulk(b"pending");
        let shown = g.pel.len().min(limit);
        out.array(shown);
        for (id, n) in g.pel.iter().take(shown) {
            out.array(4);
            reply_id(out, *id);
            out.bulk(&n.consumer);
            out.int(n.delivery_time);
            out.int(n.delivery_count as i64);
        }
        out.bulk(b"consumers");
        out.array(g.consumers.len());
        for (cname, c) in &g.consumers {
            out.map(4);
            out.bulk(b"name");
            out.bulk(cname);
            out.bulk(b"seen-time");
            out.int(c.seen_time);
            out.bulk(b"pel-count");
            out.int(c.pel.len() as i64);
            out.bulk(b"pending");
            let shown = c.pel.len().min(limit);
            out.array(shown);
            for id in c.pel.iter().take(shown) {
                let (t, k) = g
                    .pel
                    .get(id)
                    .map_or((0, 0), |n| (n.delivery_time, n.delivery_count));
                out.array(3);
                reply_id(out, *id);
                out.int(t);
                out.int(k as i64);
            }
        }
    }
    Ok(())
}

/// The nodes of Redis's radix tree holding the stream's node keys (16-byte big-endian master
/// IDs) in its compressed form: a node where keys branch, one per chain of single-child
/// positions, one per key end.
fn rax_nodes(s: &Stream) -> usize {
    let keys: Vec<[u8; 16]> = s.nodes().map(|(id, _)| id.encode()).collect();
    if keys.is_empty() {
        return 1;
    }
    count_from(&keys, 0)
}

fn count_from(keys: &[[u8; 16]], depth: usize) -> usize {
    if depth == 16 {
        return 1;
    }
    let first = keys[0][depth];
    if keys.iter().all(|k| k[depth] == first) {
        // A compressed node up to where the keys differ (or end).
        let mut d = depth;
        while d < 16 && keys.iter().all(|k| k[d] == keys[0][d]) {
            d += 1;
        }
        return 1 + count_from(keys, d);
    }
    let mut n = 1;
    let mut i = 0;
    while i < keys.len() {
        let b = keys[i][depth];
        let j = i + keys[i..].iter().take_while(|k| k[depth] == b).count();
        n += count_from(&keys[i..j], depth + 1);
        i = j;
    }
    n
}
