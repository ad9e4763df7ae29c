//! Client-side caching: key tracking and invalidation, as Redis 7.0's tracking.c.
//!
//! A client with `CLIENT TRACKING ON` is remembered, for every key its read-only commands
//! fetch, in the invalidation table (key → client IDs). When a key is modified
//! (`Server::signal_modified_key`, the one hook every write, expiry and eviction passes) the
//! clients remembered for it get an `invalidate` message and the entry goes. In BCAST mode
//! nothing is remembered: a modified key is noted under every registered prefix it matches,
//! and the prefixes' clients get the keys in one message per prefix after each batch of input
//! (Redis's beforeSleep). A flush sends a null ("everything").
//!
//! Where a message goes (`send`, Redis's sendTrackingMessage): a RESP3 client gets a push
//! `invalidate`; with REDIRECT the message goes to that client instead, as a push when it
//! speaks RESP3 or as a `message` on `__redis__:invalidate` when it is a RESP2 subscriber; a
//! redirect client that is gone marks the tracking client broken and tells it (RESP3) with
//! `tracking-redir-broken`.
//!
//! Order: a message for the client whose command is running waits until the command's reply
//! is written (`pending`, flushed after the top-level call, as Redis's
//! trackingHandlePendingKeyInvalidations), so it never lands inside a reply or a transaction's
//! replies. Messages for other clients are written at once; one whose receiver is borrowed
//! further up the stack waits in `outbox` until that client is at hand.

pub(crate) mod command;

use std::collections::{BTreeMap, BTreeSet};

use amber_resp::ReplyBuf;
use hashbrown::{HashMap, HashSet};

use crate::client::{Client, ClientId};
use crate::cmd::CmdName;
use crate::server::Server;

const CHANNEL: &[u8] = b"__redis__:invalidate";

/// One client's tracking mode (Redis's CLIENT_TRACKING_* flags and redirection).
#[derive(Default, Debug)]
pub(crate) struct ClientTracking {
    pub(crate) on: bool,
    pub(crate) bcast: bool,
    pub(crate) optin: bool,
    pub(crate) optout: bool,
    /// CLIENT CACHING YES (OPTIN) or NO (OPTOUT) given for the next command or transaction.
    pub(crate) caching: bool,
    pub(crate) noloop: bool,
    /// The redirect client is gone (CLIENT LIST's `R`).
    pub(crate) broken_redir: bool,
    /// The client messages go to; 0 for none.
    pub(crate) redirect: ClientId,
    /// BCAST prefixes.
    pub(crate) prefixes: BTreeSet<Vec<u8>>,
}

/// The keys modified under one BCAST prefix since the last broadcast (each with the client
/// that last changed it, for NOLOOP), and the clients registered for it.
#[derive(Default)]
struct Bcast {
    keys: BTreeMap<Vec<u8>, Option<ClientId>>,
    clients: Vec<ClientId>,
}

/// What an invalidation message carries.
#[derive(Clone)]
enum Payload {
    /// One key (an array of one).
    Key(Vec<u8>),
    /// Already encoded: an array of keys (BCAST) or a null (a flush).
    Raw(Vec<u8>),
    /// A flush: a null in the tracking client's protocol.
    Null,
}

/// Which checks a message to a tracking client makes when it is sent.
#[derive(Clone, Copy)]
enum Check {
    None,
    /// A key invalidation: only for a tracking client not in BCAST mode, and not for a
    /// NOLOOP client that is the one being served (`current` at the time of the change).
    Key(Option<ClientId>),
    /// A flush: only for a tracking client.
    On,
}

/// A message that could not be written yet: its client is borrowed up the stack.
enum Waiting {
    /// To a tracking client (redirection not resolved yet).
    Tracker(ClientId, Payload, Check),
    /// To the client a tracking client redirects to.
    Receiver(ClientId, Payload),
}

/// The client whose read-only script commands remember the script's keys.
struct Caller {
    id: ClientId,
    name: String,
    args: Vec<Vec<u8>>,
    optin: bool,
    optout: bool,
    caching: bool,
}

/// The server-wide tracking state.
#[derive(Default)]
pub(crate) struct Tracking {
    table: HashMap<Vec<u8>, HashSet<ClientId>>,
    /// Client IDs across the table (INFO tracking_total_items).
    total_items: u64,
    prefixes: BTreeMap<Vec<u8>, Bcast>,
    /// Clients with tracking on (INFO tracking_clients).
    pub(crate) clients: u64,
    /// Invalidations for the client being served, sent after its command: a key, or None
    /// for a flush.
    pending: Vec<Option<Vec<u8>>>,
    outbox: Vec<Waiting>,
    /// The client being served (Redis's server.current_client).
    current: Option<ClientId>,
    /// The client running a script, while it runs.
    script_caller: Option<Caller>,
    /// Runs of `limit` that could not get under the limit (its effort grows with them).
    limit_rounds: u32,
}

impl Tracking {
    pub(crate) fn total_keys(&self) -> usize {
        self.table.len()
    }

    pub(crate) fn total_items(&self) -> u64 {
        self.total_items
    }

    pub(crate) fn total_prefixes(&self) -> usize {
        self.prefixes.len()
    }

    /// Marks `id` the client being served; returns the one before (to restore).
    pub(crate) fn set_current(&mut self, id: Option<ClientId>) -> Option<ClientId> {
        std::mem::replace(&mut self.current, id)
    }
}

/// Access to a client by id: `cur` (the one at hand) or one in the server's table.
enum Access<R> {
    Done(R),
    /// Borrowed further up the stack.
    Busy,
    Gone,
}

fn access<R>(
    srv: &Server,
    cur: Option<&mut Client>,
    id: ClientId,
    f: impl FnOnce(&mut Client) -> R,
) -> Access<R> {
    if let Some(c) = cur.filter(|c| c.id == id) {
        return Access::Done(f(c));
    }
    let Some(rc) = srv.clients.get(&id) else {
        return Access::Gone;
    };
    let Ok(mut c) = rc.try_borrow_mut() else {
        return Access::Busy;
    };
    let before = c.out.len();
    let r = f(&mut c);
    if c.out.len() != before && !crate::net::output_limit::enforce(srv, &mut c) {
        c.notify.notify_one();
    }
    Access::Done(r)
}

fn write_payload(out: &mut ReplyBuf, p: &Payload) {
    match p {
        Payload::Key(k) => {
            out.array(1);
            out.bulk(k);
        }
        Payload::Raw(b) => out.raw(b),
        // Resolved by the tracking client before it reaches a receiver.
        Payload::Null => out.raw(b"_\r\n"),
    }
}

fn null_of(c: &Client) -> Payload {
    Payload::Raw(if c.out.resp3() {
        b"_\r\n".to_vec()
    } else {
        b"$-1\r\n".to_vec()
    })
}

/// sendTrackingMessage from the tracking client `id`'s side: checks, redirection, and the
/// message itself when it does not redirect.
fn send(srv: &mut Server, mut cur: Option<&mut Client>, id: ClientId, p: Payload, check: Check) {
    let redirect = {
        let clients = &srv.clients;
        let p = &p;
        access(srv, cur.as_deref_mut(), id, |c| {
            let t = &mut c.tracking;
            let skip = match check {
                Check::None => false,
                Check::On => !t.on,
                Check::Key(current) => !t.on || t.bcast || (t.noloop && current == Some(c.id)),
            };
            if skip {
                return None;
            }
            let p = match p {
                Payload::Null => null_of(c),
                p => p.clone(),
            };
            let redir = c.tracking.redirect;
            if redir != 0 {
                if !clients.contains_key(&redir) {
                    c.tracking.broken_redir = true;
                    if c.out.resp3() {
                        c.out.push(2);
                        c.out.bulk(b"tracking-redir-broken");
                        c.out.int(redir as i64);
                    }
                    return None;
                }
                return Some((redir, p));
            }
            if c.out.resp3() {
                c.out.push(2);
                c.out.bulk(b"invalidate");
                write_payload(&mut c.out, &p);
            }
            None
        })
    };
    match redirect {
        Access::Done(Some((rid, p))) => deliver(srv, cur, rid, p),
        Access::Done(None) | Access::Gone => {}
        Access::Busy => srv.tracking.outbox.push(Waiting::Tracker(id, p, check)),
    }
}

/// The redirected half of sendTrackingMessage: a push to a RESP3 client, a pub/sub message
/// to a RESP2 subscriber, nothing to anyone else.
fn deliver(srv: &mut Server, cur: Option<&mut Client>, rid: ClientId, p: Payload) {
    let r = access(srv, cur, rid, |r| {
        if r.out.resp3() {
            r.out.push(2);
            r.out.bulk(b"invalidate");
        } else if r.subscriptions() > 0 {
            r.out.push(3);
            r.out.bulk(b"message");
            r.out.bulk(CHANNEL);
        } else {
            return;
        }
        write_payload(&mut r.out, &p);
    });
    if let Access::Busy = r {
        srv.tracking.outbox.push(Waiting::Receiver(rid, p));
    }
}

/// trackingInvalidateKey: `key` changed (by the client `by`, if a client changed it). With
/// `bcast` the change is also noted for the BCAST prefixes it matches.
pub(crate) fn invalidate_key(
    srv: &mut Server,
    key: &[u8],
    by: Option<ClientId>,
    bcast: bool,
    mut cur: Option<&mut Client>,
) {
    let t = &mut srv.tracking;
    if bcast && !t.prefixes.is_empty() {
        for (prefix, bs) in t.prefixes.iter_mut() {
            if key.starts_with(prefix) {
                bs.keys.insert(key.to_vec(), by);
            }
        }
    }
    if t.table.is_empty() {
        return;
    }
    let Some(ids) = t.table.remove(key) else {
        return;
    };
    t.total_items -= ids.len() as u64;
    let mut ids: Vec<ClientId> = ids.into_iter().collect();
    // Redis keeps the IDs in a radix tree of their in-memory (little-endian) bytes.
    ids.sort_by_key(|id| id.to_le_bytes());
    let current = t.current;
    for id in ids {
        if Some(id) == current {
            // Sent after the command's reply (and checked then).
            srv.tracking.pending.push(Some(key.to_vec()));
        } else {
            send(
                srv,
                cur.as_deref_mut(),
                id,
                Payload::Key(key.to_vec()),
                Check::Key(current),
            );
        }
    }
}

/// trackingInvalidateKeysOnFlush: every tracking client is told that all keys are invalid
/// (a null), and the table is emptied.
pub(crate) fn invalidate_all(srv: &mut Server, mut cur: Option<&mut Client>) {
    if srv.tracking.clients > 0 {
        let ids: Vec<ClientId> = srv.clients.keys().copied().collect();
        let current = srv.tracking.current;
        for id in ids {
            if Some(id) == current {
                srv.tracking.pending.push(None);
            } else {
                send(srv, cur.as_deref_mut(), id, Payload::Null, Check::On);
            }
        }
    }
    srv.tracking.table = HashMap::new();
    srv.tracking.total_items = 0;
}

/// trackingHandlePendingKeyInvalidations: the messages for `cl` (the client served) that
/// waited for its reply; then anything waiting for a client that is at hand now.
pub(crate) fn flush_pending(srv: &mut Server, cl: &mut Client) {
    if !srv.tracking.pending.is_empty() {
        let pending = std::mem::take(&mut srv.tracking.pending);
        let id = cl.id;
        for k in pending {
            match k {
                Some(k) => send(srv, Some(cl), id, Payload::Key(k), Check::Key(Some(id))),
                None => send(srv, Some(cl), id, Payload::Null, Check::On),
            }
        }
    }
    flush_outbox(srv, Some(cl));
}

/// Retries the messages whose client was borrowed when they were made.
pub(crate) fn flush_outbox(srv: &mut Server, mut cur: Option<&mut Client>) {
    if srv.tracking.outbox.is_empty() {
        return;
    }
    for w in std::mem::take(&mut srv.tracking.outbox) {
        match w {
            Waiting::Tracker(id, p, check) => send(srv, cur.as_deref_mut(), id, p, check),
            Waiting::Receiver(id, p) => deliver(srv, cur.as_deref_mut(), id, p),
        }
    }
}

/// trackingRememberKeys: the keys of a read-only command `name` (Redis's full name) that
/// the client `id` ran, unless OPTIN without CACHING YES or OPTOUT with CACHING NO.
fn remember_keys(
    t: &mut Tracking,
    id: ClientId,
    mode: (bool, bool, bool),
    name: &str,
    args: &[Vec<u8>],
) {
    let (optin, optout, caching) = mode;
    if (optin && !caching) || (optout && caching) {
        return;
    }
    for (pos, _) in crate::cmd::getkeys::keys_of(name, args) {
        let Some(key) = args.get(pos) else {
            continue;
        };
        let ids = t.table.entry_ref(key.as_slice()).or_default();
        if ids.insert(id) {
            t.total_items += 1;
        }
    }
}

/// The commands that run scripts: their read-only commands remember the script's keys for
/// the caller (EVAL_RO and friends are read-only themselves and remember nothing directly).
fn runs_scripts(name: CmdName) -> bool {
    name.parent.is_none()
        && matches!(
            name.name,
            "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro"
        )
}

/// Before a command runs (`cmd::call`): a tracking client about to run a script is noted as
/// the caller its script's reads remember keys for. Returns what to restore after.
pub(crate) fn before_call(srv: &mut Server, cl: &Client, name: CmdName, args: &[Vec<u8>]) -> bool {
    let t = &cl.tracking;
    if !runs_scripts(name) || !t.on || t.bcast {
        return false;
    }
    let caller = Caller {
        id: cl.id,
        name: name.name.to_string(),
        args: args.to_vec(),
        optin: t.optin,
        optout: t.optout,
        caching: t.caching,
    };
    srv.tracking.script_caller = Some(caller);
    true
}

/// After a command ran (Redis's call): a read-only command remembers its keys for a tracking
/// client, or, run by a script, the script's keys for the script's caller.
pub(crate) fn after_call(
    srv: &mut Server,
    cl: &Client,
    name: CmdName,
    flags: u32,
    args: &[Vec<u8>],
    set_caller: bool,
) {
    if set_caller {
        srv.tracking.script_caller = None;
    }
    if flags & crate::cmd::READONLY == 0
        || (name.parent.is_none() && matches!(name.name, "eval_ro" | "evalsha_ro" | "fcall_ro"))
    {
        return;
    }
    let t = &mut srv.tracking;
    if cl.id == crate::scripting::SCRIPT_CLIENT_ID {
        if let Some(c) = t.script_caller.take() {
            remember_keys(t, c.id, (c.optin, c.optout, c.caching), &c.name, &c.args);
            t.script_caller = Some(c);
        }
        return;
    }
    let ct = &cl.tracking;
    if ct.on && !ct.bcast && flags & crate::cmd::PUBSUB == 0 {
        let full = name.to_string();
        remember_keys(t, cl.id, (ct.optin, ct.optout, ct.caching), &full, args);
    }
}

/// trackingBroadcastInvalidationMessages: after a batch of input (Redis's beforeSleep), the
/// keys modified under each prefix go to its clients, one message per prefix.
pub(crate) fn broadcast(srv: &mut Server, mut cur: Option<&mut Client>) {
    if srv.tracking.clients == 0 || srv.tracking.prefixes.values().all(|b| b.keys.is_empty()) {
        return;
    }
    let mut sends = Vec::new();
    for bs in srv.tracking.prefixes.values_mut() {
        if bs.keys.is_empty() {
            continue;
        }
        let keys = std::mem::take(&mut bs.keys);
        sends.push((keys, bs.clients.clone()));
    }
    for (keys, clients) in sends {
        let all = encode_keys(&keys, None);
        for id in clients {
            let noloop = match access(srv, cur.as_deref_mut(), id, |c| c.tracking.noloop) {
                Access::Done(n) => n,
                Access::Busy => false,
                Access::Gone => continue,
            };
            let p = if noloop {
                match encode_keys(&keys, Some(id)) {
                    Some(b) => b,
                    None => continue,
                }
            } else {
                all.clone().unwrap_or_default()
            };
            send(srv, cur.as_deref_mut(), id, Payload::Raw(p), Check::None);
        }
    }
}

/// trackingBuildBroadcastReply: the keys as a RESP array, without those `except` changed
/// last; None when that leaves none.
fn encode_keys(
    keys: &BTreeMap<Vec<u8>, Option<ClientId>>,
    except: Option<ClientId>,
) -> Option<Vec<u8>> {
    let chosen: Vec<&Vec<u8>> = keys
        .iter()
        .filter(|(_, by)| except.is_none() || **by != except)
        .map(|(k, _)| k)
        .collect();
    if chosen.is_empty() {
        return None;
    }
    let mut b = ReplyBuf::new(amber_resp::Proto::Resp2);
    b.array(chosen.len());
    for k in chosen {
        b.bulk(k);
    }
    Some(b.buf)
}

/// trackingLimitUsedSlots: over tracking-table-max-keys, entries are dropped (their clients
/// told, as if the keys changed), with an effort that grows while the table stays over.
pub(crate) fn limit(srv: &mut Server, mut cur: Option<&mut Client>) {
    if srv.tracking.clients == 0 || srv.tracking.table.is_empty() {
        return;
    }
    let max = srv
        .config
        .accepted
        .get("tracking-table-max-keys")
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(1_000_000);
    if max == 0 {
        return;
    }
    if srv.tracking.table.len() as u64 <= max {
        srv.tracking.limit_rounds = 0;
        return;
    }
    let mut effort = 100 * (u64::from(srv.tracking.limit_rounds) + 1);
    while effort > 0 {
        effort -= 1;
        let Some(key) = srv.tracking.table.keys().next().cloned() else {
            break;
        };
        invalidate_key(srv, &key, None, false, cur.as_deref_mut());
        if srv.tracking.table.len() as u64 <= max {
            srv.tracking.limit_rounds = 0;
            return;
        }
    }
    srv.tracking.limit_rounds = srv.tracking.limit_rounds.saturating_add(1);
}

/// disableTracking: off, out of its prefixes (a prefix without clients goes). Its table
/// entries are dropped lazily, as Redis does.
pub(crate) fn disable(srv: &mut Server, cl: &mut Client) {
    let t = &mut cl.tracking;
    if t.bcast {
        for p in std::mem::take(&mut t.prefixes) {
            if let Some(bs) = srv.tracking.prefixes.get_mut(&p) {
                bs.clients.retain(|id| *id != cl.id);
                if bs.clients.is_empty() {
                    srv.tracking.prefixes.remove(&p);
                }
            }
        }
    }
    if t.on {
        srv.tracking.clients = srv.tracking.clients.saturating_sub(1);
        let redirect = t.redirect;
        *t = ClientTracking {
            redirect,
            ..Default::default()
        };
    }
}

/// A client leaves (freeClient): tracking off, and nothing more waits for it.
pub(crate) fn forget_client(srv: &mut Server, cl: &mut Client) {
    disable(srv, cl);
    let id = cl.id;
    srv.tracking.outbox.retain(|w| match w {
        Waiting::Tracker(i, ..) | Waiting::Receiver(i, _) => *i != id,
    });
}

/// After a batch of one client's input (Redis's beforeSleep share): BCAST messages and
/// anything still waiting.
pub(crate) fn after_batch(srv: &mut Server, cl: &mut Client) {
    broadcast(srv, Some(&mut *cl));
    flush_outbox(srv, Some(cl));
}

/// The cron's share: the table's limit, BCAST messages for keys expired or evicted by the
/// cron, and anything still waiting.
pub(crate) fn cron(srv: &mut Server) {
    limit(srv, None);
    broadcast(srv, None);
    flush_outbox(srv, None);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_reply_leaves_out_what_a_noloop_client_changed() {
        let mut keys = BTreeMap::new();
        keys.insert(b"a:2".to_vec(), Some(7));
        keys.insert(b"a:1".to_vec(), None);
        assert_eq!(
            encode_keys(&keys, None).unwrap(),
            b"*2\r\n$3\r\na:1\r\n$3\r\na:2\r\n".to_vec()
        );
        assert_eq!(
            encode_keys(&keys, Some(7)).unwrap(),
            b"*1\r\n$3\r\na:1\r\n".to_vec()
        );
        keys.remove(b"a:1".as_slice());
        assert_eq!(encode_keys(&keys, Some(7)), None);
    }

    #[test]
    fn remembered_keys_follow_optin_and_optout() {
        let mut t = Tracking::default();
        let args: Vec<Vec<u8>> = vec![b"MGET".to_vec(), b"x".to_vec(), b"y".to_vec()];
        remember_keys(&mut t, 1, (true, false, false), "mget", &args);
        assert_eq!(t.total_keys(), 0);
        remember_keys(&mut t, 1, (false, true, true), "mget", &args);
        assert_eq!(t.total_keys(), 0);
        remember_keys(&mut t, 1, (true, false, true), "mget", &args);
        remember_keys(&mut t, 2, (false, false, false), "mget", &args[..2]);
        remember_keys(&mut t, 2, (false, false, false), "mget", &args[..2]);
        assert_eq!((t.total_keys(), t.total_items()), (2, 3));
    }
}
