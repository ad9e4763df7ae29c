//! When a reply may leave, and the batches that share one write (and under `always` one
//! fdatasync): the connection asks `wait_point` after running a client's commands and
//! awaits the `Wait`; the flush task writes once the ready clients have run; the relay
//! publishes, on the main thread, what the writer thread made durable; under `always` the
//! flush lingers (up to half an fsync) for the clients the last fsync acknowledged.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{watch, Notify};

use super::writer::{writer_failed, Shared};
use super::{drain_latency, Aof};
use crate::config::AppendFsync;
use crate::server::Server;

impl Aof {
    /// A command ran that appended nothing (see `unlogged_at_ms`).
    pub(crate) fn note_unlogged(&mut self, now_ms: i64) {
        self.unlogged_at_ms = now_ms;
    }
}

/// What a connection waits for before its replies may go out (see `wait_point`).
pub(crate) struct Wait {
    durable: watch::Receiver<u64>,
    write_blocked: watch::Receiver<bool>,
    flush: Arc<Notify>,
    need: u64,
    own: u64,
}

impl Wait {
    /// Asks for a flush and waits until the replies may go out: once `need` is durable; or,
    /// while a failed write waits for its retry, once `own` is (the client's own writes).
    pub(crate) async fn done(mut self) {
        self.flush.notify_one();
        loop {
            let durable = *self.durable.borrow_and_update();
            let blocked = *self.write_blocked.borrow_and_update();
            if durable >= self.need || (blocked && durable >= self.own) {
                return;
            }
            tokio::select! {
                r = self.durable.changed() => if r.is_err() { return },
                r = self.write_blocked.changed() => if r.is_err() { return },
            }
        }
    }
}

/// What a connection must wait for before its replies may go out: the AOF offset its
/// commands reached (`Client::aof_need`: what they may have seen), unless that is already
/// durable. While a failed write (a full disk) waits for its retry, only the client's own
/// writes are waited for (`own`): reads, INFO and admin commands answer from memory (as in
/// Redis, which keeps serving them), and may show the writes the failed one holds.
pub(crate) fn wait_point(srv: &mut Server, need: u64, own: u64, batch: &mut u64) -> Option<Wait> {
    let aof = srv.aof.as_mut()?;
    let durable = *aof.durable.borrow();
    if durable >= need || (aof.write_failure.is_some() && durable >= own) {
        return None;
    }
    if need > aof.written && *batch != aof.batch_seq {
        aof.batch_clients = aof.batch_clients.saturating_add(1);
        if *batch + 1 == aof.batch_seq {
            aof.returned_clients = aof.returned_clients.saturating_add(1);
        }
        *batch = aof.batch_seq;
    }
    Some(Wait {
        durable: aof.durable.clone(),
        write_blocked: aof.shared.write_blocked.subscribe(),
        flush: aof.flush_notify(),
        need,
        own,
    })
}

/// The AOF end offset now: what a client that just ran a command must wait for.
pub(crate) fn appended(srv: &Server) -> u64 {
    srv.aof.as_ref().map(|a| a.appended).unwrap_or(0)
}

/// Publishes, on the main thread, what the writer thread made durable under `always`, and
/// takes back what it could not write.
async fn durable_relay(srv: std::rc::Rc<std::cell::RefCell<Server>>, sh: Arc<Shared>) {
    loop {
        sh.synced_wake.notified().await;
        if sh.stop.load(Ordering::Relaxed) {
            return;
        }
        if writer_failed(&sh) {
            let mut s = srv.borrow_mut();
            if let Some(aof) = s.aof.as_mut().filter(|a| Arc::ptr_eq(&a.shared, &sh)) {
                aof.take_writer_failure();
            }
        }
        let synced = sh.synced.load(Ordering::Acquire);
        sh.durable.send_if_modified(|d| {
            let newer = synced > *d;
            if newer {
                *d = synced;
            }
            newer
        });
    }
}

/// The flush task: writes what was fed once the clients that are ready have run.
pub(crate) async fn flush_task(srv: std::rc::Rc<std::cell::RefCell<Server>>, notify: Arc<Notify>) {
    if let Some(sh) = srv.borrow().aof.as_ref().map(|a| a.shared.clone()) {
        tokio::task::spawn_local(durable_relay(srv.clone(), sh));
    }
    let timer = crate::net::timer::Timer::new().ok();
    loop {
        notify.notified().await;
        // Let every client that is ready run its batch first: one write for all of them.
        tokio::task::yield_now().await;
        if let Some(t) = &timer {
            linger(&srv, &notify, t).await;
        }
        let mut s = srv.borrow_mut();
        let policy = s.config.appendfsync;
        match s.aof.as_mut() {
            Some(aof) => aof.flush_or_postpone(policy),
            None => return,
        }
        drain_latency(&mut s);
    }
}

/// Under `always`, before an fsync on the main thread: the clients the last fsync
/// acknowledged are sending their next commands. While fewer of them are in this batch, wait
/// up to half an fsync for the rest, so that one fsync covers them all instead of the clients
/// splitting into groups that take turns (each group paying a whole fsync). A lone client, or
/// a batch as large as the last one, never waits; and when waiting brought fewer than half of
/// the missing clients (clients that think between commands), it is skipped for the next 1,
/// 2, 4 ... 64 batches.
async fn linger(
    srv: &std::rc::Rc<std::cell::RefCell<Server>>,
    notify: &Notify,
    timer: &crate::net::timer::Timer,
) {
    const MAX_LINGER: Duration = Duration::from_millis(1);
    const MAX_SKIP: u32 = 64;
    let (until, before) = {
        let mut s = srv.borrow_mut();
        let policy = s.config.appendfsync;
        let Some(aof) = s.aof.as_mut() else {
            return;
        };
        if policy != AppendFsync::Always
            || aof.returned_clients >= aof.last_batch_clients
            || !aof.sync_inline()
        {
            return;
        }
        if aof.linger_skip > 0 {
            aof.linger_skip -= 1;
            return;
        }
        let wait = (aof.last_sync / 2).min(MAX_LINGER);
        (Instant::now() + wait, aof.returned_clients)
    };
    loop {
        let now = Instant::now();
        if now >= until {
            break;
        }
        tokio::select! {
            _ = notify.notified() => {}
            _ = timer.sleep(until - now) => break,
        }
        tokio::task::yield_now().await;
        let s = srv.borrow();
        if s.aof
            .as_ref()
            .is_none_or(|a| a.returned_clients >= a.last_batch_clients)
        {
            break;
        }
    }
    let mut s = srv.borrow_mut();
    if let Some(aof) = s.aof.as_mut() {
        let missing = aof.last_batch_clients.saturating_sub(before);
        let came = aof.returned_clients.saturating_sub(before);
        if came.saturating_mul(2) >= missing {
            aof.linger_backoff = 0;
        } else {
            aof.linger_backoff = aof.linger_backoff.saturating_mul(2).clamp(1, MAX_SKIP);
            aof.linger_skip = aof.linger_backoff;
        }
    }
}
