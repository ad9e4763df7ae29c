//! Replication, as Redis 7.0's PSYNC2: one stream of effects, numbered by byte offset, that
//! replicas apply in order.
//!
//! ```text
//!  master side
//!   call() ─▶ srv.propagated (effects: the AOF's rules) ─▶ feed(): SELECT when the db
//!             changes, RESP commands ─▶ backlog (ring, last repl-backlog-size bytes)
//!                                    ─▶ each replica's pending bytes ─▶ its connection
//!   PSYNC replid offset
//!     replid is ours (or replid2 up to second_offset) and the backlog holds offset:
//!         +CONTINUE replid, the backlog from offset, then the live stream
//!     else +FULLRESYNC replid offset: a fork-less snapshot goes out ($EOF:<mark>
//!         diskless, shared by the replicas that arrive within repl-diskless-sync-delay
//!         (pending.rs); or $<len> from a temporary file, taken at once); the stream fed
//!         meanwhile waits in pending, and goes out after it (diskless: after the
//!         replica's first REPLCONF ACK, so its EOF-mark detection sees the RDB's end)
//!   replicas ─REPLCONF ACK offset─▶ ack offsets ─▶ WAIT, INFO, ROLE, FAILOVER (failover.rs)
//!   cron: PING every repl-ping-replica-period (a master only), WAIT timeouts,
//!         repl-timeout, backlog ttl, delayed snapshots, the failover's progress
//! ```

pub(crate) mod backlog;
pub(crate) mod failover;
mod link;
pub(crate) mod master;
mod outbox;
mod pending;
pub(crate) mod replica;
pub(crate) mod resume;
mod transfer;

use std::collections::BTreeMap;
use std::time::Instant;

use amber_persist::aof::command::encode_command;

use crate::client::{Client, ClientId};
use crate::server::Server;
use backlog::Backlog;

/// Replication state of this server (the master side; the replica side joins it).
pub(crate) struct Repl {
    /// Our replication ID, and the one we had before the last promotion (accepted for
    /// PSYNC up to `second_offset`).
    pub(crate) replid: String,
    pub(crate) replid2: String,
    /// master_repl_offset: the offset of the last byte of the stream.
    pub(crate) offset: u64,
    /// second_repl_offset: -1 when replid2 is not valid.
    pub(crate) second_offset: i64,
    pub(crate) backlog: Option<Backlog>,
    pub(crate) replicas: BTreeMap<ClientId, master::Replica>,
    /// The database the stream last selected (Redis's slaveseldb): None forces a SELECT.
    pub(crate) stream_db: Option<usize>,
    /// Clients blocked in WAIT.
    pub(crate) waiters: Vec<master::Waiter>,
    pub(crate) sync_full: u64,
    pub(crate) sync_partial_ok: u64,
    pub(crate) sync_partial_err: u64,
    /// Since when no replica is connected (the backlog is freed after repl-backlog-ttl).
    pub(crate) no_replicas_since: Instant,
    pub(crate) last_ping: Instant,
    /// The link to our master, when we are a replica (REPLICAOF).
    pub(crate) link: Option<replica::Link>,
    /// The generation of the last link (each REPLICAOF starts a newer one).
    pub(crate) link_generation: u64,
    /// The master's stream is being applied: keys do not expire under it.
    pub(crate) applying: bool,
    /// FAILOVER in force.
    pub(crate) failover: failover::Failover,
    /// Full syncs waiting for a shared diskless snapshot (repl-diskless-sync-delay).
    pub(crate) sync_waiting: Vec<pending::Waiting>,
}

pub(crate) const NULL_REPLID: &str = "0000000000000000000000000000000000000000";

impl Repl {
    /// `replicaof`: the directive's value (`host port`), if any.
    pub(crate) fn new(rng: &mut impl rand::Rng, replicaof: Option<&String>) -> Repl {
        let now = Instant::now();
        let link = replica::Link::from_directive(replicaof);
        crate::sys::log::set_replica(link.is_some());
        Repl {
            replid: random_id(rng),
            replid2: NULL_REPLID.to_string(),
            offset: 0,
            second_offset: -1,
            backlog: None,
            replicas: BTreeMap::new(),
            stream_db: None,
            waiters: Vec::new(),
            sync_full: 0,
            sync_partial_ok: 0,
            sync_partial_err: 0,
            no_replicas_since: now,
            last_ping: now,
            link,
            link_generation: 1,
            applying: false,
            failover: failover::Failover::default(),
            sync_waiting: Vec::new(),
        }
    }

    /// Appends bytes to the stream: the backlog, and every replica.
    pub(crate) fn append_stream(&mut self, bytes: &[u8], limit: master::OutputLimit) {
        let Some(b) = self.backlog.as_mut() else {
            return;
        };
        b.append(bytes);
        self.offset += bytes.len() as u64;
        for r in self.replicas.values_mut() {
            r.push(bytes, limit);
        }
    }
}

/// 40 random hex digits (run ids, replication ids, EOF marks).
pub(crate) fn random_id(rng: &mut impl rand::Rng) -> String {
    (0..40)
        .map(|_| char::from(b"0123456789abcdef"[rng.gen_range(0..16)]))
        .collect()
}

/// A directive of the accepted table as a number, yes/no as 1/0 (its default when unset).
pub(crate) fn setting(srv: &Server, name: &str) -> i64 {
    let v = srv.config.accepted.get(name).map(String::as_str);
    let v = v.or_else(|| crate::config::accepted::find(name).map(|a| a.default));
    match v {
        Some("yes") => 1,
        Some("no") => 0,
        v => v.and_then(|v| v.parse().ok()).unwrap_or(0),
    }
}

/// After a top-level command (and the active expire cycle): what it propagated joins the
/// replication stream, before the AOF takes it. `cl` remembers where the stream ended (WAIT).
pub(crate) fn feed(srv: &mut Server, cl: Option<&mut Client>) {
    // A replica does not encode its own stream: it passes on its master's (link.rs).
    if !srv.propagated.is_empty() && srv.repl.backlog.is_some() && srv.repl.link.is_none() {
        let mut bytes = Vec::new();
        for (db, args) in &srv.propagated {
            if srv.repl.stream_db != Some(*db) {
                let n = db.to_string();
                encode_command(&mut bytes, &[b"SELECT", n.as_bytes()]);
                srv.repl.stream_db = Some(*db);
            }
            let parts: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
            encode_command(&mut bytes, &parts);
        }
        let limit = master::output_limit(srv);
        srv.repl.append_stream(&bytes, limit);
        master::wake_replicas(srv);
    }
    if let Some(cl) = cl {
        cl.repl_woff = srv.repl.offset;
    }
}

/// A client is going away: if it was a replica, it is one no more.
pub(crate) fn forget_client(srv: &mut Server, cl: &Client) {
    if cl.replica {
        master::remove_replica(srv, cl);
    }
}

/// Why a command may not run because of replication: a replica's READONLY / MASTERDOWN, a
/// master's NOREPLICAS (min-replicas-to-write).
pub(crate) fn refusal(srv: &Server, cl: &Client, is_write: bool, stale_ok: bool) -> Option<String> {
    if srv.repl.link.is_some() {
        return replica::refusal(srv, cl, is_write, stale_ok);
    }
    if is_write && cl.id != crate::durability::aof::load::AOF_CLIENT_ID {
        return master::min_replicas_refusal(srv);
    }
    None
}

/// ROLE: as a master or as a replica.
pub(crate) fn role(srv: &Server, out: &mut amber_resp::ReplyBuf) {
    match &srv.repl.link {
        None => master::role(srv, out),
        Some(l) => replica::role(srv, l, out),
    }
}

/// Once per cron tick: the failover's progress, pings to replicas, WAIT timeouts, dead
/// replicas, the backlog's ttl.
pub(crate) fn cron(srv: &mut Server) {
    failover::update(srv);
    // The replicaof directive's link starts once the dataset is loaded (cron waits for it).
    replica::spawn_link(srv);
    master::cron(srv);
}

/// INFO's replication section, after its header.
pub(crate) fn info(srv: &Server, out: &mut String) {
    match &srv.repl.link {
        None => out.push_str("role:master\r\n"),
        Some(l) => {
            out.push_str("role:slave\r\n");
            replica::info(srv, l, out);
        }
    }
    master::info_replicas(srv, out);
    master::info_stream(srv, out);
}
