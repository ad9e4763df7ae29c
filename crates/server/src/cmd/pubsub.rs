//! Pub/sub commands: SUBSCRIBE UNSUBSCRIBE PSUBSCRIBE PUNSUBSCRIBE PUBLISH PUBSUB, and the
//! sharded ones, SSUBSCRIBE SUNSUBSCRIBE SPUBLISH (without cluster mode a server is one
//! shard: shard channels are channels of their own that patterns never match).
//!
//! The server keeps, per channel, its subscribers in subscription order, and one list of
//! (pattern, client) pairs in subscription order; a client keeps the sets of its channels and
//! patterns. Confirmations and messages are pushes (`>` in RESP3, arrays in RESP2). A message for
//! another client goes straight into its output buffer, followed by a `notify` so that its
//! connection task writes it out.
//!
//! Redis 7.0 answers UNSUBSCRIBE without arguments in its hash order and PUNSUBSCRIBE without
//! arguments in subscription order; Amber does the same (the former in its own hash order).

use amber_resp::ReplyBuf;
use amber_store::Blob;

use super::{
    Command, Ctx, Error, Reply, FAST, LOADING, MAY_REPLICATE, NOSCRIPT, PUBSUB, SENTINEL, STALE,
};
use crate::client::{Client, ClientId};
use crate::cmd::glob;
use crate::server::Server;
use hashbrown::{HashMap, HashSet};

const SUB_FLAGS: u32 = PUBSUB | NOSCRIPT | LOADING | STALE | SENTINEL;
const SHARD_SUB_FLAGS: u32 = PUBSUB | NOSCRIPT | LOADING | STALE;

pub(crate) static COMMANDS: &[Command] = &[
    Command::new("subscribe", -2, SUB_FLAGS, (0, 0, 0), &[], subscribe),
    Command::new("unsubscribe", -1, SUB_FLAGS, (0, 0, 0), &[], unsubscribe),
    Command::new("psubscribe", -2, SUB_FLAGS, (0, 0, 0), &[], psubscribe),
    Command::new("punsubscribe", -1, SUB_FLAGS, (0, 0, 0), &[], punsubscribe),
    Command::new(
        "publish",
        3,
        PUBSUB | LOADING | STALE | FAST | MAY_REPLICATE | SENTINEL,
        (0, 0, 0),
        &[],
        publish,
    ),
    Command::new(
        "ssubscribe",
        -2,
        SHARD_SUB_FLAGS,
        (1, -1, 1),
        &[],
        ssubscribe,
    ),
    Command::new(
        "sunsubscribe",
        -1,
        SHARD_SUB_FLAGS,
        (1, -1, 1),
        &[],
        sunsubscribe,
    ),
    Command::new(
        "spublish",
        3,
        PUBSUB | LOADING | STALE | FAST | MAY_REPLICATE,
        (1, 1, 1),
        &[],
        spublish,
    ),
    Command::container("pubsub", -2, 0, PUBSUB_SUBCOMMANDS),
];

const INTROSPECT: u32 = PUBSUB | LOADING | STALE;

static PUBSUB_SUBCOMMANDS: &[Command] = &[
    Command::new("channels", -2, INTROSPECT, (0, 0, 0), &[], pubsub_channels),
    Command::new("numsub", -2, INTROSPECT, (0, 0, 0), &[], pubsub_numsub),
    Command::new("numpat", 2, INTROSPECT, (0, 0, 0), &[], pubsub_numpat),
    Command::new(
        "shardchannels",
        -2,
        INTROSPECT,
        (0, 0, 0),
        &[],
        pubsub_shardchannels,
    ),
    Command::new(
        "shardnumsub",
        -2,
        INTROSPECT,
        (0, 0, 0),
        &[],
        pubsub_numsub_shard,
    ),
    Command::new("help", 2, LOADING | STALE, (0, 0, 0), &[], pubsub_help),
];

/// `[kind, name, count]`: the confirmation of one (un)subscription. `name` is None for a mass
/// unsubscribe of nothing (a null in its place).
fn confirm(out: &mut ReplyBuf, kind: &[u8], name: Option<&[u8]>, count: usize) {
    out.push(3);
    out.bulk(kind);
    match name {
        Some(n) => out.bulk(n),
        None => out.null(),
    }
    out.int(count as i64);
}

fn subscribe(ctx: &mut Ctx<'_>) -> Reply {
    for ch in &ctx.args[1..] {
        add_sub(
            &mut ctx.cl.channels,
            &mut ctx.srv.pubsub.channels,
            ctx.cl.id,
            ch,
        );
        let n = ctx.cl.global_subscriptions();
        confirm(&mut ctx.cl.out, b"subscribe", Some(ch), n);
    }
    Ok(())
}

/// Adds `ch` to a client's channels and to the server's registry of them (channels, or
/// shard channels), unless already there.
fn add_sub(
    mine: &mut HashSet<Blob>,
    registry: &mut HashMap<Blob, Vec<ClientId>>,
    id: ClientId,
    ch: &[u8],
) {
    let blob = Blob::from_slice(ch);
    if mine.insert(blob.clone()) {
        registry.entry(blob).or_default().push(id);
    }
}

/// Removes `ch` from a client's channels and from the server's registry of them; false if
/// the client was not subscribed.
fn remove_sub(
    mine: &mut HashSet<Blob>,
    registry: &mut HashMap<Blob, Vec<ClientId>>,
    id: ClientId,
    ch: &[u8],
) -> bool {
    if !mine.remove(ch) {
        return false;
    }
    if let Some(ids) = registry.get_mut(ch) {
        ids.retain(|i| *i != id);
        if ids.is_empty() {
            registry.remove(ch);
        }
    }
    true
}

/// Removes `ch` from the client and from the server's registry; false if not subscribed.
fn drop_channel(srv: &mut Server, cl: &mut Client, ch: &[u8]) -> bool {
    remove_sub(&mut cl.channels, &mut srv.pubsub.channels, cl.id, ch)
}

/// Removes `pat` from the client and from the server's registry; false if not subscribed.
fn drop_pattern(srv: &mut Server, cl: &mut Client, pat: &[u8]) -> bool {
    if !cl.patterns.remove(pat) {
        return false;
    }
    let id = cl.id;
    srv.pubsub
        .patterns
        .retain(|(p, owner)| !(*owner == id && p.as_slice() == pat));
    true
}

fn unsubscribe(ctx: &mut Ctx<'_>) -> Reply {
    if ctx.args.len() == 1 {
        let all: Vec<Blob> = ctx.cl.channels.iter().cloned().collect();
        if all.is_empty() {
            let n = ctx.cl.global_subscriptions();
            confirm(&mut ctx.cl.out, b"unsubscribe", None, n);
        }
        for ch in all {
            drop_channel(ctx.srv, ctx.cl, &ch);
            let n = ctx.cl.global_subscriptions();
            confirm(&mut ctx.cl.out, b"unsubscribe", Some(&ch), n);
        }
    } else {
        for ch in &ctx.args[1..] {
            drop_channel(ctx.srv, ctx.cl, ch);
            let n = ctx.cl.global_subscriptions();
            confirm(&mut ctx.cl.out, b"unsubscribe", Some(ch), n);
        }
    }
    Ok(())
}

fn psubscribe(ctx: &mut Ctx<'_>) -> Reply {
    for pat in &ctx.args[1..] {
        let blob = Blob::from_slice(pat);
        if ctx.cl.patterns.insert(blob.clone()) {
            ctx.srv.pubsub.patterns.push((blob, ctx.cl.id));
        }
        let n = ctx.cl.global_subscriptions();
        confirm(&mut ctx.cl.out, b"psubscribe", Some(pat), n);
    }
    Ok(())
}

fn punsubscribe(ctx: &mut Ctx<'_>) -> Reply {
    if ctx.args.len() == 1 {
        // Subscription order, as Redis 7.0's per-client pattern list.
        let id = ctx.cl.id;
        let all: Vec<Blob> = ctx
            .srv
            .pubsub
            .patterns
            .iter()
            .filter(|(_, owner)| *owner == id)
            .map(|(p, _)| p.clone())
            .collect();
        if all.is_empty() {
            let n = ctx.cl.global_subscriptions();
            confirm(&mut ctx.cl.out, b"punsubscribe", None, n);
        }
        for pat in all {
            drop_pattern(ctx.srv, ctx.cl, &pat);
            let n = ctx.cl.global_subscriptions();
            confirm(&mut ctx.cl.out, b"punsubscribe", Some(&pat), n);
        }
    } else {
        for pat in &ctx.args[1..] {
            drop_pattern(ctx.srv, ctx.cl, pat);
            let n = ctx.cl.global_subscriptions();
            confirm(&mut ctx.cl.out, b"punsubscribe", Some(pat), n);
        }
    }
    Ok(())
}

fn ssubscribe(ctx: &mut Ctx<'_>) -> Reply {
    // EXEC denies blocking; unlike SUBSCRIBE, SSUBSCRIBE has no exception for it (Redis 7.0).
    if ctx.cl.in_multi() {
        return Err(Error::new(
            "ERR SSUBSCRIBE isn't allowed for a DENY BLOCKING client",
        ));
    }
    for ch in &ctx.args[1..] {
        add_sub(
            &mut ctx.cl.shard_channels,
            &mut ctx.srv.pubsub.shard_channels,
            ctx.cl.id,
            ch,
        );
        let n = ctx.cl.shard_channels.len();
        confirm(&mut ctx.cl.out, b"ssubscribe", Some(ch), n);
    }
    Ok(())
}

/// Removes `ch` from the client's shard channels and from the server's; false if absent.
fn drop_shard_channel(srv: &mut Server, cl: &mut Client, ch: &[u8]) -> bool {
    remove_sub(
        &mut cl.shard_channels,
        &mut srv.pubsub.shard_channels,
        cl.id,
        ch,
    )
}

fn sunsubscribe(ctx: &mut Ctx<'_>) -> Reply {
    let named: Vec<Blob> = if ctx.args.len() == 1 {
        let all: Vec<Blob> = ctx.cl.shard_channels.iter().cloned().collect();
        if all.is_empty() {
            confirm(&mut ctx.cl.out, b"sunsubscribe", None, 0);
        }
        all
    } else {
        ctx.args[1..].iter().map(|c| Blob::from_slice(c)).collect()
    };
    for ch in named {
        drop_shard_channel(ctx.srv, ctx.cl, &ch);
        let n = ctx.cl.shard_channels.len();
        confirm(&mut ctx.cl.out, b"sunsubscribe", Some(&ch), n);
    }
    Ok(())
}

fn spublish(ctx: &mut Ctx<'_>) -> Reply {
    let (channel, msg) = (&ctx.args[1], &ctx.args[2]);
    let mut receivers = 0i64;
    if let Some(ids) = ctx.srv.pubsub.shard_channels.get(channel.as_slice()) {
        for &id in ids {
            deliver(ctx.srv, Some(&mut *ctx.cl), id, |out| {
                out.push(3);
                out.bulk(b"smessage");
                out.bulk(channel);
                out.bulk(msg);
            });
            receivers += 1;
        }
    }
    ctx.srv.stats.pubsub_messages += receivers as u64;
    propagate_to_replicas(ctx);
    ctx.cl.out.int(receivers);
    Ok(())
}

/// Queues one message for client `id`: into `current`'s own buffer when it is the publisher,
/// otherwise into the other client's buffer with a wake-up. `write` renders the push.
pub(crate) fn deliver(
    srv: &Server,
    current: Option<&mut Client>,
    id: u64,
    write: impl FnOnce(&mut ReplyBuf),
) {
    if let Some(current) = current.filter(|c| c.id == id) {
        write(&mut current.out);
        return;
    }
    let Some(rc) = srv.clients.get(&id) else {
        return;
    };
    // A client already borrowed is one being served right now further up the stack; it
    // cannot be a subscriber that waits for output, so nothing is lost by skipping it.
    let Ok(mut other) = rc.try_borrow_mut() else {
        return;
    };
    // A client closed for its output-buffer limit gets nothing more.
    if other.close_asap {
        return;
    }
    write(&mut other.out);
    crate::net::client_eviction::account(srv, &mut other);
    if !crate::net::output_limit::enforce(srv, &mut other) {
        other.notify.notify_one();
    }
}

/// Sends `msg` on `channel` to its subscribers and to the matching patterns' subscribers;
/// returns how many messages were queued.
pub(crate) fn publish_message(
    srv: &mut Server,
    mut current: Option<&mut Client>,
    channel: &[u8],
    msg: &[u8],
) -> i64 {
    let mut receivers = 0i64;
    if let Some(ids) = srv.pubsub.channels.get(channel) {
        for &id in ids {
            deliver(srv, current.as_deref_mut(), id, |out| {
                out.push(3);
                out.bulk(b"message");
                out.bulk(channel);
                out.bulk(msg);
            });
            receivers += 1;
        }
    }
    for (pat, id) in &srv.pubsub.patterns {
        if !glob::matches(pat, channel, false) {
            continue;
        }
        deliver(srv, current.as_deref_mut(), *id, |out| {
            out.push(4);
            out.bulk(b"pmessage");
            out.bulk(pat);
            out.bulk(channel);
            out.bulk(msg);
        });
        receivers += 1;
    }
    srv.stats.pubsub_messages += receivers as u64;
    receivers
}

/// PUBLISH and SPUBLISH go to replicas as received (their subscribers get the message), not
/// to the AOF (durability::aof::feed_propagated), as Redis.
fn propagate_to_replicas(ctx: &mut Ctx<'_>) {
    if ctx.srv.repl.backlog.is_some() {
        ctx.propagate(ctx.args.to_vec());
    }
}

fn publish(ctx: &mut Ctx<'_>) -> Reply {
    let n = publish_message(ctx.srv, Some(&mut *ctx.cl), &ctx.args[1], &ctx.args[2]);
    propagate_to_replicas(ctx);
    ctx.cl.out.int(n);
    Ok(())
}

fn pubsub_channels(ctx: &mut Ctx<'_>) -> Reply {
    if ctx.args.len() > 3 {
        return Err(subcommand_syntax(&ctx.args[1]));
    }
    let pat = ctx.args.get(2);
    let names: Vec<&Blob> = ctx
        .srv
        .pubsub
        .channels
        .keys()
        .filter(|ch| pat.is_none_or(|p| glob::matches(p, ch, false)))
        .collect();
    let out = &mut ctx.cl.out;
    out.array(names.len());
    for ch in names {
        out.bulk(ch);
    }
    Ok(())
}

fn pubsub_numsub(ctx: &mut Ctx<'_>) -> Reply {
    let out = &mut ctx.cl.out;
    // A flat array in both protocols, as Redis 7.0 replies.
    out.array((ctx.args.len() - 2) * 2);
    for ch in &ctx.args[2..] {
        out.bulk(ch);
        let n = ctx
            .srv
            .pubsub
            .channels
            .get(ch.as_slice())
            .map_or(0, Vec::len);
        out.int(n as i64);
    }
    Ok(())
}

fn pubsub_numpat(ctx: &mut Ctx<'_>) -> Reply {
    // Distinct patterns, whoever subscribed to them.
    let mut seen: hashbrown::HashSet<&[u8]> = hashbrown::HashSet::new();
    for (p, _) in &ctx.srv.pubsub.patterns {
        seen.insert(p.as_slice());
    }
    ctx.cl.out.int(seen.len() as i64);
    Ok(())
}

fn pubsub_shardchannels(ctx: &mut Ctx<'_>) -> Reply {
    if ctx.args.len() > 3 {
        return Err(subcommand_syntax(&ctx.args[1]));
    }
    let pat = ctx.args.get(2);
    let names: Vec<&Blob> = ctx
        .srv
        .pubsub
        .shard_channels
        .keys()
        .filter(|ch| pat.is_none_or(|p| glob::matches(p, ch, false)))
        .collect();
    let out = &mut ctx.cl.out;
    out.array(names.len());
    for ch in names {
        out.bulk(ch);
    }
    Ok(())
}

fn pubsub_numsub_shard(ctx: &mut Ctx<'_>) -> Reply {
    let out = &mut ctx.cl.out;
    out.array((ctx.args.len() - 2) * 2);
    for ch in &ctx.args[2..] {
        out.bulk(ch);
        let n = ctx
            .srv
            .pubsub
            .shard_channels
            .get(ch.as_slice())
            .map_or(0, Vec::len);
        out.int(n as i64);
    }
    Ok(())
}

fn subcommand_syntax(sub: &[u8]) -> super::Error {
    super::Error::new(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try PUBSUB HELP.",
        String::from_utf8_lossy(sub)
    ))
}

const HELP: &[&str] = &[
    "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CHANNELS [<pattern>]",
    "    Return the currently active channels matching a <pattern> (default: '*').",
    "NUMPAT",
    "    Return number of subscriptions to patterns.",
    "NUMSUB [<channel> ...]",
    "    Return the number of subscribers for the specified channels, excluding",
    "    pattern subscriptions(default: no channels).",
    "SHARDCHANNELS [<pattern>]",
    "    Return the currently active shard level channels matching a <pattern> (default: '*').",
    "SHARDNUMSUB [<shardchannel> ...]",
    "    Return the number of subscribers for the specified shard level channel(s)",
    "HELP",
    "    Prints this help.",
];

fn pubsub_help(ctx: &mut Ctx<'_>) -> Reply {
    let out = &mut ctx.cl.out;
    out.array(HELP.len());
    for line in HELP {
        out.simple(line);
    }
    Ok(())
}

/// Drops every subscription of a client that goes away (or RESETs), without notifying it.
pub(crate) fn unsubscribe_all(srv: &mut Server, cl: &mut Client) {
    for ch in cl.channels.clone() {
        drop_channel(srv, cl, &ch);
    }
    cl.patterns.clear();
    srv.pubsub.patterns.retain(|(_, id)| *id != cl.id);
    for ch in cl.shard_channels.clone() {
        drop_shard_channel(srv, cl, &ch);
    }
}
