//! Blocking operations (BLPOP, BLMOVE, BZPOPMIN, ...): a command that finds nothing blocks its
//! client on keys; a write that makes a key ready wakes the clients waiting on it, in the order
//! they blocked, and runs their command again (Redis's blocked.c).

use amber_resp::ReplyBuf;

use super::*;
use crate::client::{BlockState, Client};
use crate::server::Server;

impl Ctx<'_> {
    /// The keys a blocking command should try, in order: when a woken client runs again, the
    /// key that became ready comes first (Redis 7.0 serves a woken client from that key).
    pub(crate) fn serving_first<'k>(&self, keys: &'k [Vec<u8>]) -> Vec<&'k Vec<u8>> {
        let mut order: Vec<&Vec<u8>> = keys.iter().collect();
        if self.reprocessing {
            if let Some(ready) = &self.srv.blocking.serving {
                if let Some(i) = order.iter().position(|k| k.as_slice() == ready.as_slice()) {
                    let k = order.remove(i);
                    order.insert(0, k);
                }
            }
        }
        order
    }

    /// Whether a blocking command may wait (not inside MULTI, not from a script).
    pub(crate) fn can_block(&self) -> bool {
        !self.cl.in_multi() && !self.cl.deny_blocking
    }

    /// Blocks the client on `keys` until one is ready or `timeout_ms` passes (0 = forever).
    /// The command runs again, with `reprocessing` set, when a key becomes ready.
    pub(crate) fn block(
        &mut self,
        keys: Vec<amber_store::Key>,
        timeout_ms: i64,
        on_timeout: fn(&mut ReplyBuf),
    ) {
        let args = self.args.to_vec();
        self.block_with_args(keys, timeout_ms, on_timeout, args);
    }

    /// As `block`, running `args` (not the command as received) when woken: XREAD keeps
    /// the IDs `$` stood for when it blocked.
    pub(crate) fn block_with_args(
        &mut self,
        keys: Vec<amber_store::Key>,
        timeout_ms: i64,
        on_timeout: fn(&mut ReplyBuf),
        args: Vec<Vec<u8>>,
    ) {
        let deadline = match &self.cl.blocked {
            // Keep the original deadline when re-blocking after a wake-up.
            Some(b) if self.reprocessing => b.deadline,
            // A timeout too far to represent is no timeout (Redis blocks as long).
            _ if timeout_ms > 0 => std::time::Instant::now()
                .checked_add(std::time::Duration::from_millis(timeout_ms as u64)),
            _ => None,
        };
        self.cl.blocked = Some(BlockState {
            db: self.cl.db,
            keys,
            deadline,
            cmd: self.cmd,
            args,
            on_timeout,
        });
    }
}

/// Adds a client that just blocked to the per-key wait lists.
pub(super) fn register_blocked(srv: &mut Server, cl: &mut Client) {
    let Some(b) = cl.blocked.as_ref() else { return };
    for k in &b.keys {
        let list = srv.blocking.by_key.entry((b.db, k.clone())).or_default();
        if !list.contains(&cl.id) {
            list.push(cl.id);
        }
    }
    srv.blocking.count += 1;
}

/// Removes a client from the per-key wait lists.
pub(crate) fn unregister_blocked(srv: &mut Server, cl: &mut Client) {
    let Some(b) = cl.blocked.take() else { return };
    for k in &b.keys {
        let key = (b.db, k.clone());
        if let Some(list) = srv.blocking.by_key.get_mut(&key) {
            list.retain(|id| *id != cl.id);
            if list.is_empty() {
                srv.blocking.by_key.remove(&key);
            }
        }
    }
    srv.blocking.count = srv.blocking.count.saturating_sub(1);
}

/// Serves clients blocked on keys that became ready, in the order they blocked
/// (Redis's handleClientsBlockedOnKeys). `current` is the client whose command made them ready.
pub(crate) fn handle_ready_keys(srv: &mut Server, current: &mut Client) {
    while !srv.blocking.ready.is_empty() {
        let ready = std::mem::take(&mut srv.blocking.ready);
        srv.blocking.ready_set.clear();
        for key in ready {
            let waiting = srv.blocking.by_key.get(&key).cloned().unwrap_or_default();
            for id in waiting {
                if id == current.id {
                    continue;
                }
                let Some(rc) = srv.clients.get(&id).cloned() else {
                    continue;
                };
                let Ok(mut other) = rc.try_borrow_mut() else {
                    continue;
                };
                let Some((cmd, args, db, deadline)) = other
                    .blocked
                    .as_ref()
                    .map(|b| (b.cmd, b.args.clone(), b.db, b.deadline))
                else {
                    continue;
                };
                // As Redis 7.0: a client is served only while the key holds a value of the type
                // it waits for. Otherwise it keeps waiting, in its place in the queue (a key
                // pushed then emptied or overwritten in a transaction wakes nobody).
                let kind = srv.lookup_quiet(key.0, &key.1).map(|e| e.value.kind());
                // XREADGROUP also runs when its stream is gone (and fails with UNBLOCKED).
                let readgroup = cmd.name == "xreadgroup";
                match (kind, blocked_kind(cmd)) {
                    (None, _) if readgroup => {}
                    (None, _) => break,
                    (Some(k), Some(want)) if k != want && !readgroup => continue,
                    _ => {}
                }
                unregister_blocked(srv, &mut other);
                let saved_db = other.db;
                other.db = db;
                // A placeholder that carries the deadline in case the command blocks again.
                other.blocked = Some(BlockState {
                    db,
                    keys: Vec::new(),
                    deadline,
                    cmd,
                    args: Vec::new(),
                    on_timeout: |_| {},
                });
                srv.cmd_time_ms = crate::server::unix_ms();
                srv.blocking.serving = Some(key.1.clone());
                let mark = other.out.len();
                call(srv, &mut other, cmd, &args, true);
                srv.blocking.serving = None;
                if other.blocked.as_ref().is_some_and(|b| b.keys.is_empty()) {
                    other.blocked = None;
                }
                other.db = saved_db;
                if other.blocked.is_some() {
                    register_blocked(srv, &mut other);
                } else {
                    other.end_command(mark);
                    other.notify.notify_one();
                }
            }
        }
    }
}

/// The type of value a blocking command waits for, when it waits for one type only.
fn blocked_kind(cmd: &Command) -> Option<amber_store::value::Kind> {
    use amber_store::value::Kind;
    match cmd.name {
        "blpop" | "brpop" | "brpoplpush" | "blmove" | "blmpop" => Some(Kind::List),
        "bzpopmin" | "bzpopmax" | "bzmpop" => Some(Kind::ZSet),
        "xread" | "xreadgroup" => Some(Kind::Stream),
        _ => None,
    }
}
