//! The link to our master (replica side), as Redis 7.0's replica does it:
//!
//! ```text
//!  connect ─▶ PING ─▶ [AUTH] ─▶ REPLCONF listening-port, capa eof psync2
//!          ─▶ PSYNC <replid> <offset+1>   (our history)   or PSYNC ? -1
//!  +FULLRESYNC id off ─▶ $<len> or $EOF:<mark> payload ─▶ temp file ─▶ loaded on a
//!                        thread (clients get -LOADING) ─▶ our data, replid = id, offset = off
//!  +CONTINUE [id]     ─▶ nothing to load (a new id: the old becomes replid2)
//!  then: REPLCONF ACK <offset> at once and every second; the stream is parsed and applied
//!  by the master client; each applied command's bytes count in our offset and go on,
//!  unchanged, to our own replicas (chained replication)
//! ```
//!
//! Everything read is untrusted: lines are capped, a bad reply or protocol error ends the
//! session with a log line, and the link retries after a second. Our data stays as it was
//! (served as stale data) until a new full sync has loaded completely.

use std::cell::RefCell;
use std::io::Write as _;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

use amber_persist::aof::command::encode_command;
use amber_resp::{parse_request, Limits};
use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

use super::replica::{adopt_history, disconnect_replicas, LinkState};
use super::setting;
use crate::client::Client;
use crate::server::Server;

type Srv = Rc<RefCell<Server>>;

/// The longest status line accepted from a master.
const MAX_LINE: usize = 64 * 1024;

/// Runs the link of `generation` until a newer REPLICAOF replaces it.
pub(crate) async fn run(srv: Srv, generation: u64) {
    loop {
        let Some((host, port)) = current(&srv.borrow(), generation) else {
            return;
        };
        let r = session(&srv, generation, &host, port).await;
        let was_connected = {
            let mut s = srv.borrow_mut();
            if current(&s, generation).is_none() {
                return;
            }
            if let Err(e) = &r {
                s.log.warning(e);
            }
            link_down(&mut s)
        };
        if !was_connected {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

/// The master's address while `generation` is the link in force.
fn current(s: &Server, generation: u64) -> Option<(String, u16)> {
    let l = s.repl.link.as_ref()?;
    (l.generation == generation).then(|| (l.host.clone(), l.port))
}

fn set_state(srv: &Srv, generation: u64, state: LinkState) -> Result<(), String> {
    let mut s = srv.borrow_mut();
    if current(&s, generation).is_none() {
        return Err("replication link replaced".into());
    }
    if let Some(l) = s.repl.link.as_mut() {
        l.state = state;
        l.last_io = Instant::now();
    }
    Ok(())
}

/// The session ended: the master client goes, the link waits to reconnect. Returns whether
/// it was connected.
fn link_down(s: &mut Server) -> bool {
    let Some(l) = s.repl.link.as_mut() else {
        return false;
    };
    let was = l.state == LinkState::Connected;
    l.state = LinkState::Connect;
    // An unfinished transaction is dropped with the master client; it comes again.
    l.tx_bytes = Vec::new();
    if was {
        l.down_since = Some(Instant::now());
    }
    if let Some(id) = l.master_client.take() {
        if let Some(rc) = s.clients.remove(&id) {
            if let Ok(c) = rc.try_borrow() {
                l.master_db = c.db;
            }
        }
    }
    s.loading = None;
    if was {
        s.log.notice("Caching the disconnected master state.");
    }
    was
}

/// Reads lines and payloads from the master with a deadline per read.
struct Reader {
    rd: OwnedReadHalf,
    buf: BytesMut,
    timeout: Duration,
}

impl Reader {
    /// Reads more bytes; an error for end of stream or timeout.
    async fn fill(&mut self) -> Result<usize, String> {
        if self.buf.capacity() - self.buf.len() < 16 * 1024 {
            self.buf.reserve(64 * 1024);
        }
        match tokio::time::timeout(self.timeout, self.rd.read_buf(&mut self.buf)).await {
            Err(_) => Err("Timeout connecting to the MASTER...".into()),
            Ok(Ok(0)) => Err("Master closed the connection".into()),
            Ok(Ok(n)) => Ok(n),
            Ok(Err(e)) => Err(format!("Error condition on socket for SYNC: {e}")),
        }
    }

    /// One line without its \r\n; empty lines (the master's keep-alive newlines) are skipped.
    async fn line(&mut self) -> Result<String, String> {
        loop {
            if let Some(i) = self.buf.iter().position(|b| *b == b'\n') {
                let raw = self.buf.split_to(i + 1);
                let text = String::from_utf8_lossy(&raw[..i]);
                let text = text.trim_end_matches('\r');
                if text.is_empty() {
                    continue;
                }
                return Ok(text.to_string());
            }
            if self.buf.len() > MAX_LINE {
                return Err(format!(
                    "Bad protocol from MASTER: a line longer than {MAX_LINE} bytes"
                ));
            }
            self.fill().await?;
        }
    }
}

async fn send(wr: &mut OwnedWriteHalf, args: &[&[u8]]) -> Result<(), String> {
    let mut b = Vec::new();
    encode_command(&mut b, args);
    wr.write_all(&b)
        .await
        .map_err(|e| format!("Error writing to the MASTER: {e}"))
}

fn is_error(line: &str) -> bool {
    line.starts_with('-')
}

/// Connects, handshakes, synchronizes, then applies the stream until the link breaks.
async fn session(srv: &Srv, generation: u64, host: &str, port: u16) -> Result<(), String> {
    set_state(srv, generation, LinkState::Connecting)?;
    let (timeout, log) = {
        let s = srv.borrow();
        s.log.notice(&format!("Connecting to MASTER {host}:{port}"));
        s.log.notice("MASTER <-> REPLICA sync started");
        (
            Duration::from_secs(setting(&s, "repl-timeout").max(1) as u64),
            s.log.clone(),
        )
    };
    let stream = match tokio::time::timeout(timeout, TcpStream::connect((host, port))).await {
        Err(_) => return Err("Timeout connecting to the MASTER...".into()),
        Ok(Err(e)) => return Err(format!("Error condition on socket for SYNC: {e}")),
        Ok(Ok(s)) => s,
    };
    let _ = stream.set_nodelay(true);
    let laddr = stream
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    log.notice("Non blocking connect for SYNC fired the event.");
    let (rd, mut wr) = stream.into_split();
    let mut rd = Reader {
        rd,
        buf: BytesMut::with_capacity(64 * 1024),
        timeout,
    };
    handshake(srv, &mut rd, &mut wr).await?;
    let (replid, offset) = {
        let s = srv.borrow();
        if s.repl.backlog.is_some() {
            (s.repl.replid.clone(), (s.repl.offset + 1).to_string())
        } else {
            ("?".to_string(), "-1".to_string())
        }
    };
    if replid == "?" {
        log.notice("Partial resynchronization not possible (no cached master)");
    } else {
        log.notice(&format!(
            "Trying a partial resynchronization (request {replid}:{offset})."
        ));
    }
    // A master failing over to this target asks it to take over (PSYNC ... FAILOVER).
    let failover = super::failover::in_progress(&srv.borrow());
    let mut psync: Vec<&[u8]> = vec![b"PSYNC", replid.as_bytes(), offset.as_bytes()];
    if failover {
        psync.push(b"FAILOVER");
    }
    if let Err(e) = send(&mut wr, &psync).await {
        super::failover::write_error(&mut srv.borrow_mut());
        return Err(e);
    }
    let reply = rd.line().await?;
    if failover {
        let accepted = reply.starts_with("+FULLRESYNC") || reply.starts_with("+CONTINUE");
        super::failover::psync_answered(&mut srv.borrow_mut(), accepted);
    }
    if let Some(rest) = reply.strip_prefix("+FULLRESYNC") {
        let mut w = rest.split_whitespace();
        let (Some(id), Some(off)) = (w.next(), w.next().and_then(|o| o.parse::<u64>().ok())) else {
            return Err("Master replied with wrong +FULLRESYNC syntax.".into());
        };
        if id.len() != 40 {
            return Err("Master replied with wrong +FULLRESYNC syntax.".into());
        }
        log.notice(&format!("Full resync from master: {id}:{off}"));
        set_state(srv, generation, LinkState::Transfer)?;
        let db = full_sync(srv, generation, &mut rd, id.to_string(), off).await?;
        log.notice("MASTER <-> REPLICA sync: Finished with success");
        connected(srv, generation, host, port, &laddr, db)?;
    } else if let Some(rest) = reply.strip_prefix("+CONTINUE") {
        log.notice("Successful partial resynchronization with master.");
        continue_history(srv, rest.trim());
        log.notice("MASTER <-> REPLICA sync: Master accepted a Partial Resynchronization.");
        let db = srv.borrow().repl.link.as_ref().map_or(0, |l| l.master_db);
        connected(srv, generation, host, port, &laddr, db)?;
    } else if reply.starts_with("-NOMASTERLINK") || reply.starts_with("-LOADING") {
        return Err(format!(
            "Master is currently unable to PSYNC but should be in the future: {reply}"
        ));
    } else {
        return Err(format!("Unexpected reply to PSYNC from master: {reply}"));
    }
    stream_loop(srv, generation, &mut rd, &mut wr).await
}

/// PING, AUTH, REPLCONF listening-port and capa (syncWithMaster's steps).
async fn handshake(srv: &Srv, rd: &mut Reader, wr: &mut OwnedWriteHalf) -> Result<(), String> {
    send(wr, &[b"PING"]).await?;
    let pong = rd.line().await?;
    if is_error(&pong)
        && !pong.starts_with("-NOAUTH")
        && !pong.starts_with("-NOPERM")
        && !pong.starts_with("-ERR operation not permitted")
    {
        return Err(format!("Error reply to PING from master: '{pong}'"));
    }
    let (auth, user, port, ip, log) = {
        let s = srv.borrow();
        let get = |k: &str| s.config.accepted.get(k).cloned().unwrap_or_default();
        let announced = setting(&s, "replica-announce-port");
        let port = if announced > 0 {
            announced
        } else {
            i64::from(s.config.port)
        };
        (
            get("masterauth"),
            get("masteruser"),
            port,
            get("replica-announce-ip"),
            s.log.clone(),
        )
    };
    log.notice("Master replied to PING, replication can continue...");
    if !auth.is_empty() {
        if user.is_empty() {
            send(wr, &[b"AUTH", auth.as_bytes()]).await?;
        } else {
            send(wr, &[b"AUTH", user.as_bytes(), auth.as_bytes()]).await?;
        }
        let r = rd.line().await?;
        if is_error(&r) {
            return Err(format!("Unable to AUTH to MASTER: {r}"));
        }
    }
    let port = port.to_string();
    send(wr, &[b"REPLCONF", b"listening-port", port.as_bytes()]).await?;
    let r = rd.line().await?;
    if is_error(&r) {
        log.notice(&format!(
            "(Non critical) Master does not understand REPLCONF listening-port: {r}"
        ));
    }
    if !ip.is_empty() {
        send(wr, &[b"REPLCONF", b"ip-address", ip.as_bytes()]).await?;
        let r = rd.line().await?;
        if is_error(&r) {
            log.notice(&format!(
                "(Non critical) Master does not understand REPLCONF ip-address: {r}"
            ));
        }
    }
    send(wr, &[b"REPLCONF", b"capa", b"eof", b"capa", b"psync2"]).await?;
    let r = rd.line().await?;
    if is_error(&r) {
        log.notice(&format!(
            "(Non critical) Master does not understand REPLCONF capa: {r}"
        ));
    }
    Ok(())
}

/// +CONTINUE [id]: a new replication ID means our master was promoted; our old ID stays
/// valid up to here as replid2, and our replicas reconnect to learn the new one.
fn continue_history(srv: &Srv, new_id: &str) {
    let mut s = srv.borrow_mut();
    if new_id.len() == 40 && new_id != s.repl.replid {
        let old = std::mem::replace(&mut s.repl.replid, new_id.to_string());
        s.repl.replid2 = old;
        s.repl.second_offset = s.repl.offset as i64 + 1;
        s.log
            .notice(&format!("Master replication ID changed to {new_id}"));
        disconnect_replicas(&mut s);
    }
}

/// Receives the RDB into a temporary file, then loads it on a thread and installs it.
/// Returns the database the stream continues in (the RDB's repl-stream-db: a chained
/// master passes on a stream that selected it before the snapshot).
async fn full_sync(
    srv: &Srv,
    generation: u64,
    rd: &mut Reader,
    replid: String,
    offset: u64,
) -> Result<usize, String> {
    let head = rd.line().await?;
    if is_error(&head) {
        return Err(format!("MASTER aborted replication with an error: {head}"));
    }
    let Some(spec) = head.strip_prefix('$') else {
        return Err(format!("Bad protocol from MASTER, the first byte is not '$' (we received '{head}'), are you sure the host and port are right?"));
    };
    let (path, log) = {
        let s = srv.borrow();
        let name = format!(
            "temp-{}.{}.rdb",
            crate::server::unix_ms() / 1000,
            std::process::id()
        );
        (PathBuf::from(&s.config.dir).join(name), s.log.clone())
    };
    let r = receive(srv, generation, rd, spec, &path, &log).await;
    let r = match r {
        Ok(()) => load(srv, generation, &path, replid, offset).await,
        Err(e) => Err(e),
    };
    if r.is_err() || !super::resume::keep_synced_rdb(&mut srv.borrow_mut(), &path) {
        let _ = std::fs::remove_file(&path);
    }
    r
}

/// Writes the payload (`$<len>` or `$EOF:<mark>`) to `path`.
async fn receive(
    srv: &Srv,
    generation: u64,
    rd: &mut Reader,
    spec: &str,
    path: &PathBuf,
    log: &crate::sys::log::Logger,
) -> Result<(), String> {
    let mark = spec.strip_prefix("EOF:").map(|m| m.as_bytes().to_vec());
    let size = match &mark {
        Some(m) if m.len() == 40 => -1,
        Some(_) => {
            return Err(format!(
                "Bad protocol from MASTER: a bad EOF mark '${spec}'"
            ))
        }
        None => match spec.parse::<i64>() {
            Ok(n) if n >= 0 => n,
            _ => {
                return Err(format!(
                    "Bad protocol from MASTER: a bad payload length '${spec}'"
                ))
            }
        },
    };
    if size < 0 {
        log.notice("MASTER <-> REPLICA sync: receiving streamed RDB from master with EOF to disk");
    } else {
        log.notice(&format!(
            "MASTER <-> REPLICA sync: receiving {size} bytes from master to disk"
        ));
    }
    let mut file = std::fs::File::options()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| {
            format!("Opening the temp file needed for MASTER <-> REPLICA synchronization: {e}")
        })?;
    let mut read: u64 = 0;
    let mut tail: Vec<u8> = Vec::with_capacity(80);
    loop {
        if rd.buf.is_empty() {
            rd.fill().await.map_err(|e| {
                if e.starts_with("Timeout") {
                    "Timeout receiving bulk data from MASTER... If the problem persists try to set the 'repl-timeout' parameter in redis.conf to a larger value.".to_string()
                } else {
                    format!("I/O error trying to sync with MASTER: {e}")
                }
            })?;
        }
        let take = if size >= 0 {
            (size as u64 - read).min(rd.buf.len() as u64) as usize
        } else {
            rd.buf.len()
        };
        let chunk = rd.buf.split_to(take);
        file.write_all(&chunk).map_err(|e| {
            format!("Write error or short write writing to the DB dumped on disk: {e}")
        })?;
        read += chunk.len() as u64;
        if mark.is_some() {
            tail.extend_from_slice(&chunk[chunk.len().saturating_sub(40)..]);
            let cut = tail.len().saturating_sub(40);
            tail.drain(..cut);
        }
        {
            let mut s = srv.borrow_mut();
            if current(&s, generation).is_none() {
                return Err("replication link replaced".into());
            }
            if let Some(l) = s.repl.link.as_mut() {
                l.transfer_size = size;
                l.transfer_read = read;
                l.last_io = Instant::now();
            }
        }
        let done = match &mark {
            Some(m) => tail.as_slice() == m.as_slice(),
            None => read == size as u64,
        };
        if done {
            break;
        }
    }
    if mark.is_some() {
        file.set_len(read - 40)
            .map_err(|e| format!("Error truncating the RDB file received from the master: {e}"))?;
    }
    file.sync_all().map_err(|e| {
        format!(
            "Failed trying to sync the temp DB to disk in MASTER <-> REPLICA synchronization: {e}"
        )
    })?;
    Ok(())
}

/// Loads the received file on a thread (clients get -LOADING meanwhile) and installs it.
async fn load(
    srv: &Srv,
    generation: u64,
    path: &PathBuf,
    replid: String,
    offset: u64,
) -> Result<usize, String> {
    let (opts, log) = {
        let mut s = srv.borrow_mut();
        s.log.notice("MASTER <-> REPLICA sync: Flushing old data");
        s.log
            .notice("MASTER <-> REPLICA sync: Loading DB in memory");
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        s.loading = Some(crate::durability::rdb_load::LoadProgress::new(size));
        (
            crate::durability::rdb_load::LoadOptions::of(&s),
            s.log.clone(),
        )
    };
    let counter = srv
        .borrow()
        .loading
        .as_ref()
        .map(|p| p.loaded_bytes.clone())
        .unwrap_or_else(|| Arc::new(AtomicU64::new(0)));
    let (tx, rx) = tokio::sync::oneshot::channel();
    let p = path.clone();
    std::thread::Builder::new()
        .name("amber-repl-load".into())
        .spawn(move || {
            let r = std::fs::File::open(&p)
                .map_err(|e| e.to_string())
                .and_then(|f| {
                    // A replica keeps keys the master has not expired yet: its DELs will come.
                    crate::durability::rdb_load::load_stream(f, &opts, i64::MIN, counter)
                        .map_err(|e| e.to_string())
                });
            let _ = tx.send(r);
        })
        .map_err(|e| format!("can't start the loading thread: {e}"))?;
    let r = rx
        .await
        .unwrap_or_else(|_| Err("the loading thread stopped".into()));
    let mut s = srv.borrow_mut();
    s.loading = None;
    if current(&s, generation).is_none() {
        return Err("replication link replaced".into());
    }
    match r {
        Ok(loaded) => {
            let db = usize::try_from(loaded.history.stream_db).unwrap_or(0);
            // The old dataset goes (emptyData): on the drop thread under replica-lazy-flush,
            // and tracking clients are told every key is invalid.
            let lazy = crate::lazyfree::is_lazy(&s.config, crate::lazyfree::Why::ReplicaFlush);
            for i in 0..s.dbs.len() {
                s.empty_db(i, lazy);
            }
            crate::tracking::invalidate_all(&mut s, None);
            crate::durability::rdb_load::install(&mut s, loaded);
            adopt_history(&mut s, replid, offset);
            restart_aof(&mut s);
            disconnect_replicas(&mut s);
            Ok(db)
        }
        Err(e) => {
            log.warning(&format!("RDB from the master could not be loaded: {e}"));
            Err(
                "Failed trying to load the MASTER synchronization DB from disk, check server logs."
                    .into(),
            )
        }
    }
}

/// After a full sync with appendonly yes, the AOF must hold the new dataset: a rewrite
/// starts from it now (Redis's restartAOFAfterSYNC), and the stream follows in its incr file.
fn restart_aof(s: &mut Server) {
    if s.aof.is_none() {
        return;
    }
    if s.aof_rewrite.running.is_some() {
        crate::durability::aof::rewrite::cancel(s);
    }
    if let Err(e) = crate::durability::aof::rewrite::start(s) {
        s.log.warning(&format!(
            "Failed to restart the AOF after a full sync ({e}): a rewrite is scheduled"
        ));
        s.aof_rewrite.scheduled = true;
    }
}

/// The link is up: the master client is created, in database `db`.
fn connected(
    srv: &Srv,
    generation: u64,
    host: &str,
    port: u16,
    laddr: &str,
    db: usize,
) -> Result<(), String> {
    let mut s = srv.borrow_mut();
    if current(&s, generation).is_none() {
        return Err("replication link replaced".into());
    }
    let id = s.next_client_id;
    s.next_client_id += 1;
    let mut c = Client::new(id, format!("{host}:{port}"), laddr.to_string(), -1, true);
    c.is_master = true;
    c.db = db.min(s.dbs.len().saturating_sub(1));
    s.clients.insert(id, Rc::new(RefCell::new(c)));
    if let Some(l) = s.repl.link.as_mut() {
        l.master_client = Some(id);
        l.state = LinkState::Connected;
        l.down_since = None;
        l.last_io = Instant::now();
        l.ack_due = true;
    }
    Ok(())
}

/// Applies the master's stream; acknowledges every second and when asked.
async fn stream_loop(
    srv: &Srv,
    generation: u64,
    rd: &mut Reader,
    wr: &mut OwnedWriteHalf,
) -> Result<(), String> {
    let notify = {
        let s = srv.borrow();
        let id = s.repl.link.as_ref().and_then(|l| l.master_client);
        match id.and_then(|id| s.clients.get(&id)) {
            Some(c) => c.borrow().notify.clone(),
            None => return Err("replication link replaced".into()),
        }
    };
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        let ack = apply(srv, generation, &mut rd.buf)?;
        if let Some(off) = ack {
            let off = off.to_string();
            send(wr, &[b"REPLCONF", b"ACK", off.as_bytes()]).await?;
        }
        tokio::select! {
            r = rd.rd.read_buf(&mut rd.buf) => match r {
                Ok(0) | Err(_) => return Err("Connection with master lost.".into()),
                Ok(_) => {}
            },
            _ = tick.tick() => {
                let silent = srv
                    .borrow()
                    .repl
                    .link
                    .as_ref()
                    .is_some_and(|l| l.last_io.elapsed() > rd.timeout);
                if silent {
                    return Err("MASTER timeout: no data nor PING received...".into());
                }
                send_ack(srv, wr).await?;
            }
            _ = notify.notified() => {}
        }
        if rd.buf.capacity() - rd.buf.len() < 16 * 1024 {
            rd.buf.reserve(64 * 1024);
        }
    }
}

/// Counts the bytes of one applied command in our offset and passes them on, unless they
/// belong to a transaction still open (then they wait for its end).
fn count_applied(s: &mut Server, in_multi: bool, bytes: &[u8], limit: super::master::OutputLimit) {
    let Some(l) = s.repl.link.as_mut() else {
        return;
    };
    if in_multi {
        l.tx_bytes.extend_from_slice(bytes);
        return;
    }
    let tx = std::mem::take(&mut l.tx_bytes);
    if !tx.is_empty() {
        s.repl.append_stream(&tx, limit);
    }
    s.repl.append_stream(bytes, limit);
}

async fn send_ack(srv: &Srv, wr: &mut OwnedWriteHalf) -> Result<(), String> {
    let off = srv.borrow().repl.offset.to_string();
    send(wr, &[b"REPLCONF", b"ACK", off.as_bytes()]).await
}

/// Runs every complete command in `buf` as the master client; each one's bytes join our
/// offset and our own replicas' stream. Returns the offset to acknowledge now, if asked.
fn apply(srv: &Srv, generation: u64, buf: &mut BytesMut) -> Result<Option<u64>, String> {
    let mut s = srv.borrow_mut();
    let mid = match s.repl.link.as_ref() {
        Some(l) if l.generation == generation => l.master_client,
        _ => None,
    };
    let Some(rc) = mid.and_then(|id| s.clients.get(&id).cloned()) else {
        return Err("replication link replaced".into());
    };
    let mut mc = rc.borrow_mut();
    if mc.close_asap {
        return Err("Connection with master lost (killed).".into());
    }
    let limits = Limits {
        max_bulk_len: s.config.proto_max_bulk_len,
        unauthenticated: false,
    };
    let limit = super::master::output_limit(&s);
    s.cmd_time_ms = crate::server::unix_ms();
    let mut pos = 0;
    let mut applied = false;
    loop {
        match parse_request(&buf[pos..], &limits) {
            Ok(None) => break,
            Ok(Some(p)) => {
                let start = pos;
                pos += p.consumed;
                if !p.args.is_empty() {
                    s.repl.applying = true;
                    crate::cmd::process(&mut s, &mut mc, p.args);
                    s.repl.applying = false;
                    crate::cmd::handle_ready_keys(&mut s, &mut mc);
                    mc.out.buf.clear();
                }
                count_applied(&mut s, mc.in_multi(), &buf[start..pos], limit);
                applied = true;
            }
            Err(e) => {
                buf.advance(pos);
                return Err(format!(
                    "Protocol error from the MASTER ({}): closing the link",
                    e.0
                ));
            }
        }
    }
    buf.advance(pos);
    if applied {
        super::master::wake_replicas(&s);
    }
    let offset = s.repl.offset;
    let Some(l) = s.repl.link.as_mut() else {
        return Ok(None);
    };
    if pos > 0 {
        l.last_io = Instant::now();
    }
    Ok(std::mem::take(&mut l.ack_due).then_some(offset))
}
