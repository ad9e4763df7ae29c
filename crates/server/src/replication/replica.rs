//! The replica side: REPLICAOF, the state of the link to our master, what it refuses while
//! a replica (READONLY, MASTERDOWN, NOMASTERLINK), promotion, INFO and ROLE as a replica.
//! The link itself (handshake, RDB, stream) is link.rs.

use std::time::Instant;

use super::{random_id, setting, NULL_REPLID};
use crate::client::Client;
use crate::cmd::{Ctx, Error, Reply};
use crate::server::Server;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum LinkState {
    /// Waiting to (re)connect.
    Connect,
    /// Connecting and handshaking.
    Connecting,
    /// Receiving the RDB.
    Transfer,
    Connected,
}

/// The link to our master.
pub(crate) struct Link {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) state: LinkState,
    /// Tells the link task of a newer REPLICAOF: it stops when this differs from its own.
    pub(crate) generation: u64,
    pub(crate) task: Option<tokio::task::AbortHandle>,
    /// The client applying the master's stream, while connected.
    pub(crate) master_client: Option<crate::client::ClientId>,
    /// The database the master's stream last selected (kept for a partial resync).
    pub(crate) master_db: usize,
    pub(crate) down_since: Option<Instant>,
    pub(crate) last_io: Instant,
    pub(crate) transfer_size: i64,
    pub(crate) transfer_read: u64,
    /// REPLCONF GETACK arrived: the link sends an ACK after the batch.
    pub(crate) ack_due: bool,
    /// The bytes of a transaction the master has not finished (MULTI ... not yet EXEC):
    /// they count in our offset, and go on to our replicas, only with its EXEC, so that a
    /// link lost in the middle resumes before the MULTI (as Redis's reploff).
    pub(crate) tx_bytes: Vec<u8>,
}

/// Whether this server replicates a master.
pub(crate) fn is_replica(srv: &Server) -> bool {
    srv.repl.link.is_some()
}

/// The database our master's stream continues in (Redis's master or cached master db):
/// the master client's (the stream selected it), or the one it had when the link went
/// down; 0 on a master.
pub(crate) fn stream_db(srv: &Server) -> usize {
    let Some(l) = srv.repl.link.as_ref() else {
        return 0;
    };
    l.master_client
        .and_then(|id| srv.clients.get(&id))
        .and_then(|c| c.try_borrow().ok().map(|c| c.db))
        .unwrap_or(l.master_db)
}

/// Why SYNC/PSYNC cannot be served now (a replica without its master link).
pub(crate) fn sync_refusal(srv: &Server) -> Option<String> {
    match &srv.repl.link {
        Some(l) if l.state != LinkState::Connected => {
            Some("NOMASTERLINK Can't SYNC while not connected with my master".to_string())
        }
        _ => None,
    }
}

/// REPLCONF GETACK from our master: an ACK goes out after this batch.
pub(crate) fn send_ack_now(srv: &mut Server) {
    if let Some(l) = srv.repl.link.as_mut() {
        l.ack_due = true;
    }
}

/// What a replica refuses (processCommand): writes from clients (replica-read-only), and
/// everything but STALE commands while the link is down with replica-serve-stale-data no.
pub(crate) fn refusal(srv: &Server, cl: &Client, is_write: bool, stale_ok: bool) -> Option<String> {
    let link = srv.repl.link.as_ref()?;
    if cl.is_master || cl.id == crate::durability::aof::load::AOF_CLIENT_ID {
        return None;
    }
    if is_write && setting(srv, "replica-read-only") != 0 {
        return Some("READONLY You can't write against a read only replica.".to_string());
    }
    if link.state != LinkState::Connected
        && setting(srv, "replica-serve-stale-data") == 0
        && !stale_ok
    {
        return Some(
            "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'."
                .to_string(),
        );
    }
    None
}

/// REPLICAOF host port | NO ONE (replicaofCommand).
pub(crate) fn replicaof(ctx: &mut Ctx<'_>) -> Reply {
    if super::failover::pausing(ctx.srv) {
        return Err(Error::new("ERR REPLICAOF not allowed while failing over."));
    }
    let (a1, a2) = (&ctx.args[1], &ctx.args[2]);
    if a1.eq_ignore_ascii_case(b"no") && a2.eq_ignore_ascii_case(b"one") {
        if is_replica(ctx.srv) {
            promote(ctx.srv);
            let msg = format!(
                "MASTER MODE enabled (user request from '{}')",
                client_brief(ctx.cl)
            );
            ctx.srv.log.notice(&msg);
        }
        ctx.cl.out.ok();
        return Ok(());
    }
    if ctx.cl.replica {
        return Err(Error::new(
            "ERR Command is not valid when client is a replica.",
        ));
    }
    let port = crate::cmd::args::int(a2)?;
    let Ok(port) = u16::try_from(port) else {
        return Err(Error::new("ERR Invalid master port"));
    };
    let host = String::from_utf8_lossy(a1).into_owned();
    if let Some(l) = &ctx.srv.repl.link {
        if l.host.eq_ignore_ascii_case(&host) && l.port == port {
            ctx.srv
                .log
                .notice("REPLICAOF would result into synchronization with the master we are already connected with. No operation performed.");
            ctx.cl
                .out
                .simple("OK Already connected to specified master");
            return Ok(());
        }
    }
    set_master(ctx.srv, host.clone(), port);
    let msg = format!(
        "REPLICAOF {host}:{port} enabled (user request from '{}')",
        client_brief(ctx.cl)
    );
    ctx.srv.log.notice(&msg);
    ctx.cl.out.ok();
    Ok(())
}

/// Who asked, in log lines (the start of Redis's client info string).
pub(crate) fn client_brief(cl: &Client) -> String {
    format!("id={} addr={} laddr={}", cl.id, cl.addr, cl.laddr)
}

/// Starts replicating `host:port` (replicationSetMaster): any previous link ends and the
/// link task starts. Our replicas stay: they are disconnected when our history changes (a
/// new replid with +CONTINUE, or a full sync loaded), else they continue with us.
pub(crate) fn set_master(srv: &mut Server, host: String, port: u16) {
    // Our own history is what we offer the new master to continue (PSYNC with our replid
    // and offset): it accepts when it was our replica, or shares our old master's history.
    if !is_replica(srv) {
        srv.log.notice("Before turning into a replica, using my own master parameters to synthesize a cached master: I may be able to synchronize with the new master with just a partial transfer.");
    }
    let generation = drop_link(srv).wrapping_add(1);
    disconnect_blocked(srv);
    srv.repl.link = Some(Link::new(host.clone(), port, generation));
    crate::sys::log::set_replica(true);
    srv.config
        .accepted
        .insert("replicaof", format!("{host} {port}"));
    spawn_link(srv);
}

impl Link {
    pub(crate) fn new(host: String, port: u16, generation: u64) -> Link {
        Link {
            host,
            port,
            state: LinkState::Connect,
            generation,
            task: None,
            master_client: None,
            master_db: 0,
            down_since: Some(Instant::now()),
            last_io: Instant::now(),
            transfer_size: -1,
            transfer_read: 0,
            ack_due: false,
            tx_bytes: Vec::new(),
        }
    }

    /// The link the replicaof directive asks for (`host port`), before anything runs.
    pub(crate) fn from_directive(value: Option<&String>) -> Option<Link> {
        let (host, port) = value?.split_once(' ')?;
        Some(Link::new(host.to_string(), port.parse().ok()?, 1))
    }
}

/// Starts the task of the link in force, unless it runs.
pub(crate) fn spawn_link(srv: &mut Server) {
    let Some(rc) = srv.self_ref.upgrade() else {
        return;
    };
    let Some(l) = srv.repl.link.as_mut() else {
        return;
    };
    if l.task.is_none() {
        let h = tokio::task::spawn_local(super::link::run(rc, l.generation));
        l.task = Some(h.abort_handle());
    }
}

/// Ends the link (task and master client); returns its generation.
fn drop_link(srv: &mut Server) -> u64 {
    let Some(l) = srv.repl.link.take() else {
        return srv.repl.link_generation;
    };
    crate::sys::log::set_replica(false);
    if let Some(t) = l.task {
        t.abort();
    }
    if let Some(id) = l.master_client {
        if let Some(rc) = srv.clients.remove(&id) {
            if let Ok(mut c) = rc.try_borrow_mut() {
                crate::cmd::unregister_blocked(srv, &mut c);
                crate::cmd::tx::unwatch_all(srv, &mut c);
            }
        }
    }
    srv.loading = None;
    srv.repl.link_generation = l.generation;
    l.generation
}

/// Clients blocked in a command (BLPOP, WAIT ...) on what was a master are answered with
/// an error and closed (disconnectAllBlockedClients).
fn disconnect_blocked(srv: &mut Server) {
    let clients: Vec<_> = srv.clients.values().cloned().collect();
    for rc in clients {
        let Ok(mut c) = rc.try_borrow_mut() else {
            continue;
        };
        if c.blocked.is_none() {
            continue;
        }
        crate::cmd::unregister_blocked(srv, &mut c);
        c.out.error("UNBLOCKED force unblock from blocking operation, instance state changed (master -> replica?)");
        c.close_after_reply = true;
        c.notify.notify_one();
    }
}

/// Closes the connections of our replicas (they reconnect and resync).
pub(crate) fn disconnect_replicas(srv: &mut Server) {
    let ids: Vec<_> = srv.repl.replicas.keys().copied().collect();
    for id in ids {
        if let Some(rc) = srv.clients.get(&id) {
            if let Ok(mut c) = rc.try_borrow_mut() {
                c.close_asap = true;
                c.notify.notify_one();
            }
        }
    }
}

/// REPLICAOF NO ONE (replicationUnsetMaster): the link ends; a new history starts under a
/// new replid, and the old one stays valid as replid2 up to our offset, so replicas of the
/// same old master continue with +CONTINUE.
pub(crate) fn promote(srv: &mut Server) {
    drop_link(srv);
    srv.config.accepted.remove("replicaof");
    let repl = &mut srv.repl;
    repl.replid2 = std::mem::replace(&mut repl.replid, random_id(&mut srv.rng));
    repl.second_offset = repl.offset as i64 + 1;
    repl.stream_db = None;
    if repl.backlog.is_none() {
        let size = setting(srv, "repl-backlog-size").max(1) as usize;
        srv.repl.backlog = Some(super::backlog::Backlog::new(size, srv.repl.offset + 1));
    }
    let msg = format!(
        "Setting secondary replication ID to {}, valid up to offset: {}. New replication ID is {}",
        srv.repl.replid2, srv.repl.second_offset, srv.repl.replid
    );
    srv.log.notice(&msg);
    disconnect_replicas(srv);
}

/// A full resynchronization from our master installed its data at `offset` under `replid`.
pub(crate) fn adopt_history(srv: &mut Server, replid: String, offset: u64) {
    let size = setting(srv, "repl-backlog-size").max(1) as usize;
    let repl = &mut srv.repl;
    repl.replid = replid;
    repl.replid2 = NULL_REPLID.to_string();
    repl.second_offset = -1;
    repl.offset = offset;
    repl.backlog = Some(super::backlog::Backlog::new(size, offset + 1));
}

/// INFO replication's lines for a replica (after role).
pub(crate) fn info(srv: &Server, l: &Link, out: &mut String) {
    use std::fmt::Write as _;
    let connected = l.state == LinkState::Connected;
    let off = srv.repl.offset.max(1);
    let _ = write!(
        out,
        "master_host:{}\r\nmaster_port:{}\r\nmaster_link_status:{}\r\nmaster_last_io_seconds_ago:{}\r\nmaster_sync_in_progress:{}\r\nslave_read_repl_offset:{off}\r\nslave_repl_offset:{off}\r\n",
        l.host,
        l.port,
        if connected { "up" } else { "down" },
        if connected { l.last_io.elapsed().as_secs() as i64 } else { -1 },
        u8::from(l.state == LinkState::Transfer),
    );
    if l.state == LinkState::Transfer {
        let size = l.transfer_size.max(0) as u64;
        let perc = if size > 0 {
            l.transfer_read as f64 * 100.0 / size as f64
        } else {
            0.0
        };
        let _ = write!(
            out,
            "master_sync_total_bytes:{}\r\nmaster_sync_read_bytes:{}\r\nmaster_sync_left_bytes:{}\r\nmaster_sync_perc:{perc:.2}\r\nmaster_sync_last_io_seconds_ago:{}\r\n",
            l.transfer_size,
            l.transfer_read,
            l.transfer_size - l.transfer_read as i64,
            l.last_io.elapsed().as_secs()
        );
    }
    if !connected {
        let since = l.down_since.map_or(-1, |d| d.elapsed().as_secs() as i64);
        let _ = write!(out, "master_link_down_since_seconds:{since}\r\n");
    }
    let _ = write!(
        out,
        "slave_priority:{}\r\nslave_read_only:{}\r\nreplica_announced:{}\r\n",
        setting(srv, "replica-priority"),
        setting(srv, "replica-read-only"),
        setting(srv, "replica-announced"),
    );
}

/// ROLE as a replica: slave, master host and port, link state, offset.
pub(crate) fn role(srv: &Server, l: &Link, out: &mut amber_resp::ReplyBuf) {
    out.array(5);
    out.bulk(b"slave");
    out.bulk(l.host.as_bytes());
    out.int(i64::from(l.port));
    out.bulk(match l.state {
        LinkState::Connect => b"connect".as_slice(),
        LinkState::Connecting => b"connecting",
        LinkState::Transfer => b"sync",
        LinkState::Connected => b"connected",
    });
    out.int(if l.state == LinkState::Connected {
        srv.repl.offset as i64
    } else {
        -1
    });
}
