//! One connection: reads requests, runs them, writes replies, and waits while blocked.
//!
//! The task never holds the server borrowed across an await. Output queued for this client by
//! others (pub/sub messages, a key that unblocked it) arrives in its buffer together with a
//! `notify` wake-up.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use amber_resp::{parse_request, Limits};
use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::client::Client;
use crate::cmd::{self, After};
use crate::server::Server;

const READ_CHUNK: usize = 16 * 1024;

/// What the connection loop does next.
enum Next {
    /// Wait for input or a wake-up; the deadline is for a blocked client's timeout.
    Wait {
        deadline: Option<Instant>,
    },
    Close,
}

/// Serves one connection until it closes. The client is already registered in the server.
pub(crate) async fn serve<S>(srv: Rc<RefCell<Server>>, client: Rc<RefCell<Client>>, stream: S)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (mut rd, mut wr) = tokio::io::split(stream);
    let mut rbuf = BytesMut::with_capacity(READ_CHUNK);
    let mut wbuf: Vec<u8> = Vec::with_capacity(READ_CHUNK);
    let notify = client.borrow().notify.clone();
    loop {
        let (next, durable) = {
            let mut s = srv.borrow_mut();
            let mut c = client.borrow_mut();
            if !c.busy_in.is_empty() {
                // Input a busy script read for us (scripting/busy.rs) comes first.
                let mut pending = std::mem::take(&mut c.busy_in);
                pending.extend_from_slice(&rbuf);
                rbuf.clear();
                rbuf.extend_from_slice(&pending);
            }
            let next = process_input(&mut s, &mut c, &mut rbuf);
            std::mem::swap(&mut c.out.buf, &mut wbuf);
            if c.replica {
                crate::replication::master::take_stream(&mut s, &mut c, &mut wbuf);
            }
            let next = if c.close_asap { Next::Close } else { next };
            s.stats.total_net_output_bytes += wbuf.len() as u64;
            let (need, own) = (c.aof_need, c.aof_own);
            let w = crate::durability::aof::wait_point(&mut s, need, own, &mut c.aof_batch);
            (next, w)
        };
        // No reply leaves before the AOF holds what it acknowledges (appendfsync policy).
        if let Some(w) = durable {
            w.done().await;
        }
        if !wbuf.is_empty() {
            // A peer that reads nothing (a stopped replica over its output-buffer limit,
            // CLIENT KILL) must not keep the connection open: closing wins over the write.
            client.borrow_mut().out_writing = wbuf.len();
            let failed = tokio::select! {
                r = wr.write_all(&wbuf) => r.is_err(),
                _ = closing(&client, &notify) => true,
            };
            client.borrow_mut().out_writing = 0;
            if failed {
                break;
            }
            wbuf.clear();
            if wbuf.capacity() > 1024 * 1024 {
                wbuf.shrink_to(READ_CHUNK);
            }
        }
        let stream = client.borrow_mut().rdb_stream.take();
        if let Some(mut rx) = stream {
            // SYNC: the snapshot goes out as it is encoded; then the stream follows (a replica)
            // or the connection closes (an rdb-only transfer).
            let mut ok = true;
            while let Some(chunk) = rx.recv().await {
                if wr.write_all(&chunk).await.is_err() {
                    ok = false;
                    break;
                }
            }
            let _ = wr.flush().await;
            let mut s = srv.borrow_mut();
            let mut c = client.borrow_mut();
            if crate::replication::master::rdb_sent(&mut s, &mut c, ok) {
                // A replica: the stream follows.
                continue;
            }
            break;
        }
        let deadline = match next {
            Next::Close => break,
            Next::Wait { deadline } => deadline,
        };
        let idle_timeout = idle_deadline(&srv, &client);
        if rbuf.capacity() - rbuf.len() < READ_CHUNK / 4 {
            rbuf.reserve(READ_CHUNK);
        }
        tokio::select! {
            r = rd.read_buf(&mut rbuf) => {
                match r {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let mut s = srv.borrow_mut();
                        s.stats.total_net_input_bytes += n as u64;
                        let mut c = client.borrow_mut();
                        c.last_interaction = Instant::now();
                        let limit = s.config.client_query_buffer_limit;
                        if rbuf.len() as i64 > limit {
                            s.log.warning(&format!(
                                "Closing client that reached max query buffer length: id={} addr={} qbuf={}",
                                c.id, c.addr, rbuf.len()
                            ));
                            break;
                        }
                        c.qbuf_len = rbuf.len();
                        if crate::net::client_eviction::evict(&mut s, Some(&mut c)) {
                            break;
                        }
                    }
                }
            }
            _ = notify.notified() => {}
            _ = sleep_until_opt(deadline) => {
                let mut s = srv.borrow_mut();
                let mut c = client.borrow_mut();
                if let Some(b) = c.blocked.as_ref() {
                    if b.deadline.is_some_and(|d| d <= Instant::now()) {
                        let on_timeout = b.on_timeout;
                        // A block on keys counts its call when it ends; one on nothing
                        // (WAIT) was counted when it ran.
                        if !b.keys.is_empty() {
                            s.stats.commands.entry(cmd::CmdName::of(None, b.cmd)).or_default().calls += 1;
                        }
                        cmd::unregister_blocked(&mut s, &mut c);
                        let mark = c.out.len();
                        on_timeout(&mut c.out);
                        c.end_command(mark);
                    }
                }
            }
            _ = sleep_until_opt(idle_timeout) => {
                let c = client.borrow();
                let s = srv.borrow();
                let limit = Duration::from_secs(s.config.timeout);
                if s.config.timeout > 0 && c.blocked.is_none() && c.subscriptions() == 0
                    && c.last_interaction.elapsed() >= limit {
                    s.log.verbose("Closing idle client");
                    break;
                }
            }
        }
    }
    let mut s = srv.borrow_mut();
    let mut c = client.borrow_mut();
    free_client(&mut s, &mut c);
}

/// Returns once the client is marked to close (it is notified when it is).
async fn closing(client: &Rc<RefCell<Client>>, notify: &tokio::sync::Notify) {
    loop {
        notify.notified().await;
        if client.borrow().close_asap {
            return;
        }
    }
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}

fn idle_deadline(srv: &Rc<RefCell<Server>>, client: &Rc<RefCell<Client>>) -> Option<Instant> {
    let t = srv.borrow().config.timeout;
    if t == 0 {
        return None;
    }
    Some(client.borrow().last_interaction + Duration::from_secs(t))
}

/// Runs every complete request in `rbuf` unless the client is waiting.
fn process_input(srv: &mut Server, cl: &mut Client, rbuf: &mut BytesMut) -> Next {
    // One clock reading per batch, as Redis caches its time per event loop iteration.
    srv.cmd_time_ms = crate::server::unix_ms();
    let mut pos = 0;
    let mut deadline = None;
    loop {
        if cl.close_asap {
            return Next::Close;
        }
        if let Some(b) = &cl.blocked {
            deadline = b.deadline;
            break;
        }
        if cl.close_after_reply || cl.rdb_stream.is_some() {
            break;
        }
        if let Some(until) = paused_until(srv, cl, &rbuf[pos..]) {
            deadline = Some(until);
            break;
        }
        let limits = Limits {
            max_bulk_len: srv.config.proto_max_bulk_len,
            unauthenticated: crate::acl::auth_required(srv, cl),
        };
        match parse_request(&rbuf[pos..], &limits) {
            Ok(None) => break,
            Ok(Some(p)) => {
                pos += p.consumed;
                if p.args.is_empty() {
                    continue;
                }
                let after = cmd::process(srv, cl, p.args);
                cmd::handle_ready_keys(srv, cl);
                if after == After::Wait {
                    deadline = cl.blocked.as_ref().and_then(|b| b.deadline);
                    break;
                }
            }
            Err(e) => {
                srv.log.verbose(&format!(
                    "Protocol error ({}) from client: id={} addr={}",
                    e.0, cl.id, cl.addr
                ));
                cl.out.error(&format!("ERR {}", e.0));
                cl.close_after_reply = true;
                pos = rbuf.len();
                break;
            }
        }
    }
    rbuf.advance(pos);
    cl.qbuf_len = rbuf.len();
    crate::tracking::after_batch(srv, cl);
    if cl.close_after_reply && cl.blocked.is_none() {
        return Next::Close;
    }
    Next::Wait { deadline }
}

/// When CLIENT PAUSE, or a FAILOVER's write pause, holds back the next request of this
/// client, the time it ends (a failover's: far ahead; its end wakes the clients).
fn paused_until(srv: &mut Server, cl: &Client, pending: &[u8]) -> Option<Instant> {
    let now = Instant::now();
    if srv.pause.is_some_and(|p| p.until <= now) {
        srv.pause = None;
    }
    // The failover's pause is its own: CLIENT UNPAUSE leaves it (as Redis's pause purposes).
    let failover = crate::replication::failover::pausing(srv).then(|| crate::server::Pause {
        until: now + Duration::from_secs(3600),
        write_only: true,
    });
    if srv.pause.is_none() && failover.is_none() {
        return None;
    }
    let limits = Limits::default();
    let Ok(Some(p)) = parse_request(pending, &limits) else {
        return None;
    };
    let name = p.args.first()?;
    let cmd = srv.commands.lookup(name)?;
    if crate::acl::auth_required(srv, cl) {
        return None;
    }
    let lname = cmd.name;
    // Commands that manage the pause itself, and connection housekeeping, are never held.
    if matches!(
        lname,
        "client" | "ping" | "quit" | "reset" | "auth" | "hello"
    ) {
        return None;
    }
    let writes = cmd.is_write() || cmd.flags & cmd::MAY_REPLICATE != 0 || lname == "exec";
    [srv.pause, failover]
        .into_iter()
        .flatten()
        .filter(|p| !p.write_only || writes)
        .map(|p| p.until)
        .max()
}

/// Removes every trace of a client from the server (freeClient).
pub(crate) fn free_client(srv: &mut Server, cl: &mut Client) {
    cmd::unregister_blocked(srv, cl);
    cmd::tx::unwatch_all(srv, cl);
    cmd::pubsub::unsubscribe_all(srv, cl);
    cmd::monitor::forget(srv, cl);
    crate::replication::forget_client(srv, cl);
    crate::tracking::forget_client(srv, cl);
    crate::net::client_eviction::forget(srv, cl);
    srv.clients.remove(&cl.id);
}
