//! Diskless full syncs that wait for their snapshot, as Redis 7.0 does with
//! repl-diskless-sync-delay and repl-diskless-sync-max-replicas: replicas that arrive within
//! the delay share one snapshot, encoded once and sent to each of them.
//!
//! ```text
//!  PSYNC → full sync, diskless, capa eof, delay > 0 ─▶ waiting (INFO: wait_bgsave; no
//!          reply yet, no stream)
//!  cron: the oldest has waited `delay` seconds, or max-replicas are waiting
//!          ─▶ one snapshot; each: +FULLRESYNC <replid> <offset>, the same $EOF: stream
//! ```

use std::time::Instant;

use super::transfer::Framing;
use super::{random_id, setting};
use crate::client::ClientId;
use crate::server::Server;

/// A client waiting for the next shared snapshot.
pub(crate) struct Waiting {
    id: ClientId,
    /// Came with PSYNC: +FULLRESYNC goes out first.
    psync: bool,
    since: Instant,
    /// When it last got a keep-alive newline (one a second, as Redis sends to replicas
    /// waiting for their snapshot: their PSYNC reply timeout restarts).
    newline: Instant,
}

/// Puts a full sync in the queue of the next shared snapshot.
pub(crate) fn wait(srv: &mut Server, id: ClientId, psync: bool) {
    srv.repl.sync_waiting.push(Waiting {
        id,
        psync,
        since: Instant::now(),
        newline: Instant::now(),
    });
    srv.log.notice("Delay next BGSAVE for diskless SYNC");
}

/// From the cron: starts the shared snapshot when it is due (shouldStartChildReplication).
pub(crate) fn start_due(srv: &mut Server) {
    let clients = &srv.clients;
    srv.repl
        .sync_waiting
        .retain(|w| clients.contains_key(&w.id));
    let waiting = &srv.repl.sync_waiting;
    let Some(idle) = waiting.iter().map(|w| w.since.elapsed()).max() else {
        return;
    };
    let delay = setting(srv, "repl-diskless-sync-delay").max(0) as u64;
    let max = setting(srv, "repl-diskless-sync-max-replicas");
    let full = max > 0 && waiting.len() as i64 >= max;
    if !full && idle.as_secs() < delay {
        keep_alive(srv);
        return;
    }
    let waiting = std::mem::take(&mut srv.repl.sync_waiting);
    let mark = random_id(&mut srv.rng);
    let rxs = match super::master::snapshot(srv, Framing::Eof(mark), waiting.len()) {
        Ok(rxs) => rxs,
        Err(e) => {
            srv.log
                .warning(&format!("Can't start the snapshot for SYNC: {e}"));
            for w in &waiting {
                super::master::close_client(srv, w.id);
            }
            return;
        }
    };
    for (w, rx) in waiting.into_iter().zip(rxs) {
        let Some(rc) = srv.clients.get(&w.id).cloned() else {
            continue;
        };
        let Ok(mut c) = rc.try_borrow_mut() else {
            continue;
        };
        super::master::attach(srv, &mut c, w.psync, rx);
        c.notify.notify_one();
    }
}

/// A newline to each waiting client, once a second (replicas skip empty lines before the
/// PSYNC reply; the newline is not part of the stream).
fn keep_alive(srv: &mut Server) {
    for w in srv.repl.sync_waiting.iter_mut() {
        if w.newline.elapsed().as_secs() < 1 {
            continue;
        }
        w.newline = Instant::now();
        if let Some(Ok(mut c)) = srv.clients.get(&w.id).map(|rc| rc.try_borrow_mut()) {
            c.out.buf.push(b'\n');
            c.notify.notify_one();
        }
    }
}
