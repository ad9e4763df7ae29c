//! The master side: replicas (SYNC/PSYNC, REPLCONF), full and partial resynchronization,
//! the stream to each replica, acknowledgements and WAIT, and what INFO and ROLE show.
//! Texts and rules follow Redis 7.0's replication.c.

use std::rc::Rc;
use std::time::{Duration, Instant};

use amber_persist::aof::command::encode_command;
use tokio::sync::Notify;

use super::outbox::Outbox;
use super::transfer::{self, Framing};
use super::{random_id, setting, NULL_REPLID};
use crate::client::{Client, ClientId};
use crate::cmd::{Ctx, Error, Reply};
use crate::server::Server;

/// What a client told us with REPLCONF before its PSYNC.
#[derive(Default, Clone)]
pub(crate) struct Handshake {
    pub(crate) listening_port: i64,
    pub(crate) ip: Option<String>,
    pub(crate) capa_eof: bool,
    pub(crate) capa_psync2: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum State {
    /// Waiting for the snapshot it will share with the replicas that arrive within
    /// repl-diskless-sync-delay (pending.rs): nothing is sent to it yet.
    WaitStart,
    /// The snapshot is being sent (INFO: wait_bgsave, as Redis during a diskless transfer).
    SendingRdb,
    Online,
}

/// One connected replica.
pub(crate) struct Replica {
    pub(crate) hs: Handshake,
    /// The connection's peer address (ip:port).
    pub(crate) addr: String,
    pub(crate) state: State,
    pub(crate) ack_off: u64,
    pub(crate) ack_time: Instant,
    /// Stream bytes not yet handed to the connection.
    pub(crate) pending: Outbox,
    /// Whether `pending` may go out (after the RDB; diskless: after the first ACK).
    pub(crate) streaming: bool,
    /// The RDB went out EOF-marked: the stream starts at the first ACK.
    pub(crate) diskless: bool,
    /// Came with SYNC: sends no ACKs.
    pre_psync: bool,
    /// Its pending output passed the replica output-buffer limit: it is dropped.
    pub(crate) over_limit: bool,
    /// Since when its pending output is at or over the soft limit.
    soft_since: Option<Instant>,
    /// Its closing for the limit was logged.
    limit_logged: bool,
    /// The PSYNC reply went out: any later reply to it is dropped (Redis does not answer
    /// its replicas), so that only the stream reaches it.
    replied: bool,
    /// Its waiting stream could not go to a file (logged by the cron, once).
    spill_warning: Option<String>,
    notify: Rc<Notify>,
}

impl Replica {
    /// Queues stream bytes; past the output-buffer limit (checkClientOutputBufferLimits:
    /// the hard limit at once, the soft one when still reached more than its seconds after
    /// it was first seen) the replica is to be dropped.
    pub(crate) fn push(&mut self, bytes: &[u8], limit: OutputLimit) {
        // Its stream starts with its snapshot, which is not taken yet.
        if self.over_limit || self.state == State::WaitStart {
            return;
        }
        if let Some(w) = self.pending.push(bytes) {
            self.spill_warning = Some(w);
        }
        if limit.reached(self.pending.len() as u64, &mut self.soft_since) {
            self.over_limit = true;
            self.pending = Outbox::default();
        }
    }

    /// The address replicas are known by: the announced or peer ip, and the listening port.
    pub(crate) fn ip(&self) -> String {
        match &self.hs.ip {
            Some(ip) => ip.clone(),
            None => peer_ip(&self.addr).to_string(),
        }
    }

    fn name(&self) -> String {
        if self.hs.listening_port > 0 {
            format!("{}:{}", self.ip(), self.hs.listening_port)
        } else {
            format!("{} ({})", self.ip(), self.addr)
        }
    }
}

fn peer_ip(addr: &str) -> &str {
    match addr.rfind(':') {
        Some(i) => addr[..i].trim_start_matches('[').trim_end_matches(']'),
        None => addr,
    }
}

/// A client blocked in WAIT.
pub(crate) struct Waiter {
    id: ClientId,
    offset: u64,
    wanted: i64,
    deadline: Option<Instant>,
}

pub(crate) use crate::net::output_limit::OutputLimit;

/// The replica class of client-output-buffer-limit (Redis's default: 256mb 64mb 60).
pub(crate) fn output_limit(srv: &Server) -> OutputLimit {
    crate::net::output_limit::limit(srv, crate::net::output_limit::Class::Replica)
}

/// Wakes the connections of replicas that have stream bytes to send.
pub(crate) fn wake_replicas(srv: &Server) {
    for r in srv.repl.replicas.values() {
        if (r.streaming && !r.pending.is_empty()) || r.over_limit {
            r.notify.notify_one();
        }
    }
}

/// For a replica's connection: appends its stream bytes ready to go out to `wbuf`. A replica
/// over its output-buffer limit is marked to close.
pub(crate) fn take_stream(srv: &mut Server, cl: &mut Client, wbuf: &mut Vec<u8>) {
    let Some(r) = srv.repl.replicas.get_mut(&cl.id) else {
        return;
    };
    if r.over_limit {
        log_over_limit(srv, cl.id);
        cl.close_asap = true;
        return;
    }
    // The PSYNC's reply (+FULLRESYNC) comes with its snapshot, later.
    if r.state == State::WaitStart {
        return;
    }
    if std::mem::replace(&mut r.replied, true) {
        wbuf.clear();
    }
    if !r.streaming || r.pending.is_empty() {
        return;
    }
    if let Err(e) = r.pending.take_into(wbuf, HANDOUT) {
        let msg = format!(
            "Can't read back the stream waiting for replica {} from its temporary file ({e}): closing it, it will resynchronize.",
            r.addr
        );
        srv.log.warning(&msg);
        cl.close_asap = true;
        return;
    }
    if !r.pending.is_empty() {
        // The rest goes out in the next round, after other clients had their turn.
        r.notify.notify_one();
    }
}

/// Logs, once, that replica `id` is closed for its output-buffer limit.
fn log_over_limit(srv: &mut Server, id: ClientId) {
    let Some(r) = srv.repl.replicas.get_mut(&id) else {
        return;
    };
    if std::mem::replace(&mut r.limit_logged, true) {
        return;
    }
    let msg = format!(
        "Client id={id} addr={} scheduled to be closed ASAP for overcoming of output buffer limits.",
        r.addr
    );
    srv.log.warning(&msg);
}

/// The most stream bytes a replica's connection takes in one round.
const HANDOUT: usize = 4 * 1024 * 1024;

/// SYNC and PSYNC <replid> <offset> (syncCommand).
pub(crate) fn sync_command(ctx: &mut Ctx<'_>, psync: bool) -> Reply {
    if ctx.cl.replica {
        // Already a replica: ignored, as Redis does.
        return Ok(());
    }
    if psync && ctx.args.len() > 3 && crate::cmd::args::is(&ctx.args[3], "failover") {
        super::failover::psync_request(ctx)?;
    }
    if super::failover::pausing(ctx.srv) {
        return Err(Error::new("NOMASTERLINK Can't SYNC while failing over"));
    }
    if let Some(e) = super::replica::sync_refusal(ctx.srv) {
        return Err(Error::new(e));
    }
    if !ctx.cl.out.is_empty() {
        return Err(Error::new(
            "ERR SYNC and PSYNC are invalid with pending output",
        ));
    }
    let hs = ctx.cl.repl_hs.as_deref().cloned().unwrap_or_default();
    let r = fresh(ctx, &hs, psync);
    ctx.srv
        .log
        .notice(&format!("Replica {} asks for synchronization", r.name()));
    if psync {
        let Ok(offset) = crate::cmd::args::int(&ctx.args[2]) else {
            ctx.srv.log.warning(&format!(
                "Replica {} asks for synchronization but with a wrong offset",
                r.name()
            ));
            return Err(Error::new("ERR value is not an integer or out of range"));
        };
        let replid = String::from_utf8_lossy(&ctx.args[1]).into_owned();
        if !ctx.cl.rdb_only && try_partial(ctx, &hs, &replid, offset) {
            return Ok(());
        }
        if !replid.starts_with('?') {
            ctx.srv.repl.sync_partial_err += 1;
        }
    }
    full_sync(ctx, r, psync)
}

fn fresh(ctx: &Ctx<'_>, hs: &Handshake, psync: bool) -> Replica {
    Replica {
        hs: hs.clone(),
        addr: ctx.cl.addr.clone(),
        state: State::SendingRdb,
        ack_off: 0,
        ack_time: Instant::now(),
        pending: Outbox::default(),
        streaming: false,
        diskless: false,
        pre_psync: !psync,
        over_limit: false,
        soft_since: None,
        limit_logged: false,
        replied: false,
        spill_warning: None,
        notify: ctx.cl.notify.clone(),
    }
}

/// masterTryPartialResynchronization: +CONTINUE and the backlog from `offset` when our
/// history holds it.
fn try_partial(ctx: &mut Ctx<'_>, hs: &Handshake, replid: &str, offset: i64) -> bool {
    let mut r = fresh(ctx, hs, true);
    let repl = &ctx.srv.repl;
    let ours = replid.eq_ignore_ascii_case(&repl.replid);
    let previous = replid.eq_ignore_ascii_case(&repl.replid2) && offset <= repl.second_offset;
    if !ours && !previous {
        let msg = if replid.starts_with('?') {
            format!("Full resync requested by replica {}", r.name())
        } else if !ours && !replid.eq_ignore_ascii_case(&repl.replid2) {
            format!(
                "Partial resynchronization not accepted: Replication ID mismatch (Replica asked for '{}', my replication IDs are '{}' and '{}')",
                replid, repl.replid, repl.replid2
            )
        } else {
            format!(
                "Partial resynchronization not accepted: Requested offset for second ID was {}, but I can reply up to {}",
                offset, repl.second_offset
            )
        };
        ctx.srv.log.notice(&msg);
        return false;
    }
    let held = u64::try_from(offset)
        .ok()
        .and_then(|o| repl.backlog.as_ref().and_then(|b| b.since(o)));
    let Some(bytes) = held else {
        ctx.srv.log.notice(&format!(
            "Unable to partial resync with replica {} for lack of backlog (Replica request was: {}).",
            r.name(),
            offset
        ));
        if offset > 0 && offset as u64 > repl.offset {
            ctx.srv.log.warning(&format!(
                "Warning: replica {} tried to PSYNC with an offset that is greater than the master replication offset.",
                r.name()
            ));
        }
        return false;
    };
    let line = if r.hs.capa_psync2 {
        format!("+CONTINUE {}\r\n", repl.replid)
    } else {
        "+CONTINUE\r\n".to_string()
    };
    ctx.cl.out.buf.extend_from_slice(line.as_bytes());
    ctx.srv.log.notice(&format!(
        "Partial resynchronization request from {} accepted. Sending {} bytes of backlog starting from offset {}.",
        r.name(),
        bytes.len(),
        offset
    ));
    r.state = State::Online;
    r.streaming = true;
    r.spill_warning = r.pending.push(&bytes);
    ctx.srv.repl.sync_partial_ok += 1;
    add_replica(ctx, r);
    true
}

fn add_replica(ctx: &mut Ctx<'_>, r: Replica) {
    ctx.cl.replica = true;
    let repl = &mut ctx.srv.repl;
    if repl.backlog.is_none() && repl.replicas.is_empty() {
        // The first replica creates the backlog, under fresh IDs (a new history starts).
        repl.replid = random_id(&mut ctx.srv.rng);
        repl.replid2 = NULL_REPLID.to_string();
        repl.second_offset = -1;
        let size = setting(ctx.srv, "repl-backlog-size").max(1) as usize;
        let repl = &mut ctx.srv.repl;
        repl.backlog = Some(super::backlog::Backlog::new(size, repl.offset + 1));
        let msg = format!(
            "Replication backlog created, my new replication IDs are '{}' and '{}'",
            repl.replid, repl.replid2
        );
        ctx.srv.log.notice(&msg);
    }
    ctx.srv.repl.replicas.insert(ctx.cl.id, r);
}

/// The full resynchronization: +FULLRESYNC (PSYNC only), then a snapshot, taken now, or
/// (diskless, repl-diskless-sync-delay) after the wait that lets more replicas share it.
fn full_sync(ctx: &mut Ctx<'_>, mut r: Replica, psync: bool) -> Reply {
    ctx.srv.repl.sync_full += 1;
    let diskless = r.hs.capa_eof && setting(ctx.srv, "repl-diskless-sync") != 0 || ctx.cl.rdb_only;
    let wait = diskless && r.hs.capa_eof && setting(ctx.srv, "repl-diskless-sync-delay") > 0;
    if !ctx.cl.rdb_only {
        r.diskless = diskless;
        if wait {
            r.state = State::WaitStart;
        }
        add_replica(ctx, r);
    }
    if wait {
        super::pending::wait(ctx.srv, ctx.cl.id, psync);
        return Ok(());
    }
    let framing = if diskless {
        Framing::Eof(random_id(&mut ctx.srv.rng))
    } else {
        let name = format!("temp-repl-{}-{}.rdb", std::process::id(), ctx.cl.id);
        Framing::Disk(std::path::Path::new(&ctx.srv.config.dir).join(name))
    };
    let rx = snapshot(ctx.srv, framing, 1)
        .map_err(|e| Error::new(format!("ERR can't start the snapshot: {e}")))?;
    for rx in rx {
        attach(ctx.srv, ctx.cl, psync, rx);
    }
    Ok(())
}

/// Takes the snapshot of a full sync for `outputs` connections; the stream fed from now on
/// follows it (starting with a SELECT).
pub(crate) fn snapshot(
    srv: &mut Server,
    framing: Framing,
    outputs: usize,
) -> std::io::Result<Vec<tokio::sync::mpsc::Receiver<Vec<u8>>>> {
    let target = match framing {
        Framing::Eof(_) => "replicas sockets",
        Framing::Disk(_) => "disk",
    };
    srv.log.notice(&format!(
        "Starting BGSAVE for SYNC with target: {target} (fork-less snapshot)"
    ));
    srv.repl.stream_db = None;
    transfer::start(srv, framing, outputs)
}

/// Hands a client its snapshot: +FULLRESYNC <replid> <offset> (PSYNC), then the RDB.
pub(crate) fn attach(
    srv: &mut Server,
    cl: &mut Client,
    psync: bool,
    rx: tokio::sync::mpsc::Receiver<Vec<u8>>,
) {
    if psync {
        let line = format!("+FULLRESYNC {} {}\r\n", srv.repl.replid, srv.repl.offset);
        cl.out.buf.extend_from_slice(line.as_bytes());
    }
    if let Some(r) = srv.repl.replicas.get_mut(&cl.id) {
        r.state = State::SendingRdb;
    }
    cl.rdb_stream = Some(rx);
}

/// The connection finished sending the snapshot (`ok`: all of it). Returns whether the
/// connection goes on (a replica, now online) or closes (an rdb-only transfer, a failure).
pub(crate) fn rdb_sent(srv: &mut Server, cl: &mut Client, ok: bool) -> bool {
    let Some(r) = srv.repl.replicas.get_mut(&cl.id) else {
        if ok {
            srv.log.notice(&format!(
                "Synchronization with replica {} succeeded",
                cl.addr
            ));
        } else {
            srv.log.warning(&format!(
                "Synchronization with replica {} failed: connection lost",
                cl.addr
            ));
        }
        return false;
    };
    if !ok {
        let name = r.name();
        srv.log.warning(&format!(
            "Synchronization with replica {name} failed: connection lost"
        ));
        return false;
    }
    r.state = State::Online;
    r.ack_time = Instant::now();
    let name = r.name();
    if r.diskless && !r.pre_psync {
        srv.log.notice(&format!("Streamed RDB transfer with replica {name} succeeded (socket). Waiting for REPLCONF ACK from replica to enable streaming"));
    } else {
        r.streaming = true;
        srv.log
            .notice(&format!("Synchronization with replica {name} succeeded"));
    }
    true
}

/// A replica's connection closed.
pub(crate) fn remove_replica(srv: &mut Server, cl: &Client) {
    if let Some(r) = srv.repl.replicas.remove(&cl.id) {
        if r.state == State::Online {
            srv.log
                .notice(&format!("Connection with replica {} lost.", r.name()));
        }
    }
    if srv.repl.replicas.is_empty() {
        srv.repl.no_replicas_since = Instant::now();
    }
}

/// REPLCONF <option> <value> ... (replconfCommand).
pub(crate) fn replconf(ctx: &mut Ctx<'_>) -> Reply {
    use crate::cmd::args::is;
    let a = ctx.args;
    if a.len().is_multiple_of(2) {
        return Err(Error::syntax());
    }
    for pair in a[1..].chunks(2) {
        let (opt, val) = (&pair[0], &pair[1]);
        if is(opt, "listening-port") {
            let port = crate::cmd::args::int(val)?;
            ctx.cl
                .repl_hs
                .get_or_insert_with(Default::default)
                .listening_port = port;
        } else if is(opt, "ip-address") {
            if val.len() >= 46 {
                return Err(Error::new(format!(
                    "ERR REPLCONF ip-address provided by replica instance is too long: {} bytes",
                    val.len()
                )));
            }
            ctx.cl.repl_hs.get_or_insert_with(Default::default).ip =
                Some(String::from_utf8_lossy(val).into_owned());
        } else if is(opt, "capa") {
            let hs = ctx.cl.repl_hs.get_or_insert_with(Default::default);
            if is(val, "eof") {
                hs.capa_eof = true;
            } else if is(val, "psync2") {
                hs.capa_psync2 = true;
            }
        } else if is(opt, "ack") {
            // No reply, whatever happens.
            if let Ok(off) = crate::cmd::args::int(val) {
                ack(ctx.srv, ctx.cl.id, off);
            }
            return Ok(());
        } else if is(opt, "getack") {
            super::replica::send_ack_now(ctx.srv);
            return Ok(());
        } else if is(opt, "rdb-only") {
            match val.as_slice() {
                b"0" => ctx.cl.rdb_only = false,
                b"1" => ctx.cl.rdb_only = true,
                _ => return Err(Error::new("ERR rdb-only must be 0 or 1")),
            }
        } else if is(opt, "rdb-filter-only") {
        } else {
            return Err(Error::new(format!(
                "ERR Unrecognized REPLCONF option: {}",
                String::from_utf8_lossy(opt)
            )));
        }
    }
    ctx.cl.out.ok();
    Ok(())
}

/// REPLCONF ACK <offset> from a replica.
fn ack(srv: &mut Server, id: ClientId, off: i64) {
    let Some(r) = srv.repl.replicas.get_mut(&id) else {
        return;
    };
    if off > 0 && off as u64 > r.ack_off {
        r.ack_off = off as u64;
    }
    r.ack_time = Instant::now();
    if r.state == State::Online && !r.streaming {
        r.streaming = true;
        let name = r.name();
        srv.log
            .notice(&format!("Synchronization with replica {name} succeeded"));
        wake_replicas(srv);
    }
    release_waiters(srv);
    // The acknowledgement may be the one a failover waits for.
    super::failover::update(srv);
}

/// Online replicas that acknowledged `offset` (replicationCountAcksByOffset).
fn count_acks(srv: &Server, offset: u64) -> i64 {
    srv.repl
        .replicas
        .values()
        .filter(|r| r.state == State::Online && r.ack_off >= offset)
        .count() as i64
}

/// WAIT numreplicas timeout.
pub(crate) fn wait(ctx: &mut Ctx<'_>) -> Reply {
    if super::replica::is_replica(ctx.srv) {
        return Err(Error::new("ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated."));
    }
    let wanted = crate::cmd::args::int(&ctx.args[1])?;
    let ms = crate::cmd::args::int_msg(&ctx.args[2], "timeout is not an integer or out of range")?;
    if ms < 0 {
        return Err(Error::new("ERR timeout is negative"));
    }
    let offset = ctx.cl.repl_woff;
    let acked = count_acks(ctx.srv, offset);
    if acked >= wanted || !ctx.can_block() {
        ctx.cl.out.int(acked);
        return Ok(());
    }
    // The timeout is kept here, not in the block: the reply is the count at that time.
    ctx.block(Vec::new(), 0, |out| out.int(0));
    let deadline = (ms > 0)
        .then(|| Instant::now().checked_add(Duration::from_millis(ms as u64)))
        .flatten();
    ctx.srv.repl.waiters.push(Waiter {
        id: ctx.cl.id,
        offset,
        wanted,
        deadline,
    });
    request_acks(ctx.srv);
    Ok(())
}

/// REPLCONF GETACK * into the stream: replicas answer with their offset at once.
fn request_acks(srv: &mut Server) {
    // Not while clients are paused: the offsets must stay put (a failover waits for them);
    // replicas acknowledge every second anyway.
    if srv.repl.replicas.is_empty() || super::failover::clients_paused(srv) {
        return;
    }
    let mut b = Vec::new();
    encode_command(&mut b, &[b"REPLCONF", b"GETACK", b"*"]);
    let limit = output_limit(srv);
    srv.repl.append_stream(&b, limit);
    wake_replicas(srv);
}

/// Answers the WAIT clients whose replicas acknowledged enough, or whose time is up.
fn release_waiters(srv: &mut Server) {
    if srv.repl.waiters.is_empty() {
        return;
    }
    let now = Instant::now();
    let waiters = std::mem::take(&mut srv.repl.waiters);
    let mut keep = Vec::new();
    for w in waiters {
        let Some(rc) = srv.clients.get(&w.id).cloned() else {
            continue;
        };
        let Ok(mut c) = rc.try_borrow_mut() else {
            keep.push(w);
            continue;
        };
        if c.blocked.as_ref().is_none_or(|b| b.cmd.name != "wait") {
            continue;
        }
        let acked = count_acks(srv, w.offset);
        if acked >= w.wanted || w.deadline.is_some_and(|d| d <= now) {
            crate::cmd::unregister_blocked(srv, &mut c);
            let mark = c.out.len();
            c.out.int(acked);
            c.end_command(mark);
            c.notify.notify_one();
        } else {
            keep.push(w);
        }
    }
    srv.repl.waiters.extend(keep);
}

/// Asks the connection of client `id` to close.
pub(crate) fn close_client(srv: &Server, id: ClientId) {
    if let Some(rc) = srv.clients.get(&id) {
        if let Ok(mut c) = rc.try_borrow_mut() {
            c.close_asap = true;
            c.notify.notify_one();
        }
    }
}

pub(crate) fn cron(srv: &mut Server) {
    super::pending::start_due(srv);
    let period = Duration::from_secs(setting(srv, "repl-ping-replica-period").max(1) as u64);
    if !srv.repl.replicas.is_empty() && srv.repl.last_ping.elapsed() >= period {
        srv.repl.last_ping = Instant::now();
        // A replica passes on its master's stream only (its own PING would move its
        // offset away from its master's), as Redis's replicationFeedSlaves.
        if !super::failover::hold_pings(srv) && !super::replica::is_replica(srv) {
            let limit = output_limit(srv);
            srv.repl.append_stream(b"*1\r\n$4\r\nPING\r\n", limit);
            wake_replicas(srv);
        }
    }
    let warnings: Vec<String> = srv
        .repl
        .replicas
        .values_mut()
        .filter_map(|r| r.spill_warning.take())
        .collect();
    for w in warnings {
        srv.log.warning(&w);
    }
    let timeout = Duration::from_secs(setting(srv, "repl-timeout").max(1) as u64);
    let dead: Vec<(ClientId, String)> = srv
        .repl
        .replicas
        .iter()
        .filter(|(_, r)| r.state == State::Online && !r.pre_psync)
        .filter(|(_, r)| r.ack_time.elapsed() > timeout)
        .map(|(id, r)| (*id, r.name()))
        .collect();
    for (id, name) in dead {
        srv.log.warning(&format!(
            "Disconnecting timedout replica (streaming sync): {name}"
        ));
        close_client(srv, id);
    }
    // Its connection may be stuck writing to a replica that reads nothing: closing it
    // from here interrupts that write.
    let over: Vec<ClientId> = srv
        .repl
        .replicas
        .iter()
        .filter(|(_, r)| r.over_limit)
        .map(|(id, _)| *id)
        .collect();
    for id in over {
        log_over_limit(srv, id);
        close_client(srv, id);
    }
    release_waiters(srv);
    backlog_upkeep(srv);
}

/// repl-backlog-size changes apply to the backlog; repl-backlog-ttl frees it after that long
/// without replicas (a master only: a replica keeps it for its own promotion).
fn backlog_upkeep(srv: &mut Server) {
    let size = setting(srv, "repl-backlog-size").max(1) as usize;
    if let Some(b) = srv.repl.backlog.as_mut() {
        if b.size() != size {
            b.resize(size);
        }
    }
    let ttl = setting(srv, "repl-backlog-ttl");
    let repl = &srv.repl;
    if ttl > 0
        && repl.backlog.is_some()
        && repl.replicas.is_empty()
        && !super::replica::is_replica(srv)
        && repl.no_replicas_since.elapsed() >= Duration::from_secs(ttl as u64)
    {
        let repl = &mut srv.repl;
        repl.backlog = None;
        repl.replid = random_id(&mut srv.rng);
        repl.replid2 = NULL_REPLID.to_string();
        repl.second_offset = -1;
        srv.log.notice(&format!(
            "Replication backlog freed after {ttl} seconds without connected replicas."
        ));
    }
}

/// ROLE as a master: offset and the online replicas (ip, port, acked offset).
pub(crate) fn role(srv: &Server, out: &mut amber_resp::ReplyBuf) {
    let online: Vec<&Replica> = srv
        .repl
        .replicas
        .values()
        .filter(|r| r.state == State::Online)
        .collect();
    out.array(3);
    out.bulk(b"master");
    out.int(srv.repl.offset as i64);
    out.array(online.len());
    for r in online {
        out.array(3);
        out.bulk(r.ip().as_bytes());
        out.bulk(r.hs.listening_port.to_string().as_bytes());
        out.bulk(r.ack_off.to_string().as_bytes());
    }
}

/// INFO replication's connected_slaves and slaveN lines.
pub(crate) fn info_replicas(srv: &Server, out: &mut String) {
    use std::fmt::Write as _;
    let _ = write!(out, "connected_slaves:{}\r\n", srv.repl.replicas.len());
    let min = srv.config.min_replicas_to_write;
    let lag = srv.config.min_replicas_max_lag;
    if min > 0 && lag > 0 {
        let _ = write!(
            out,
            "min_slaves_good_slaves:{}\r\n",
            good_replicas(srv, lag)
        );
    }
    for (i, r) in srv.repl.replicas.values().enumerate() {
        let (state, lag) = match r.state {
            State::WaitStart | State::SendingRdb => ("wait_bgsave", 0),
            State::Online => ("online", r.ack_time.elapsed().as_secs()),
        };
        let _ = write!(
            out,
            "slave{i}:ip={},port={},state={state},offset={},lag={lag}\r\n",
            r.ip(),
            r.hs.listening_port,
            r.ack_off
        );
    }
}

/// min-replicas-to-write N with min-replicas-max-lag M: writes are refused while fewer
/// than N replicas acknowledged within M seconds.
pub(crate) fn min_replicas_refusal(srv: &Server) -> Option<String> {
    let min = srv.config.min_replicas_to_write;
    let lag = srv.config.min_replicas_max_lag;
    if min > 0 && lag > 0 && (good_replicas(srv, lag) as i64) < min {
        return Some("NOREPLICAS Not enough good replicas to write.".to_string());
    }
    None
}

/// Online replicas whose last ACK is at most `max_lag` seconds old.
fn good_replicas(srv: &Server, max_lag: i64) -> usize {
    srv.repl
        .replicas
        .values()
        .filter(|r| r.state == State::Online && r.ack_time.elapsed().as_secs() as i64 <= max_lag)
        .count()
}

/// INFO replication's lines from master_failover_state to the backlog's.
pub(crate) fn info_stream(srv: &Server, out: &mut String) {
    use std::fmt::Write as _;
    let repl = &srv.repl;
    let b = repl.backlog.as_ref();
    let _ = write!(
        out,
        "master_failover_state:{}\r\nmaster_replid:{}\r\nmaster_replid2:{}\r\nmaster_repl_offset:{}\r\nsecond_repl_offset:{}\r\nrepl_backlog_active:{}\r\nrepl_backlog_size:{}\r\nrepl_backlog_first_byte_offset:{}\r\nrepl_backlog_histlen:{}\r\n",
        super::failover::state_name(srv),
        repl.replid,
        repl.replid2,
        repl.offset,
        repl.second_offset,
        u8::from(b.is_some()),
        setting(srv, "repl-backlog-size"),
        b.map_or(0, |b| b.first()),
        b.map_or(0, |b| b.histlen()),
    );
}
