//! The archiver: attach to the source as a replica, store the full-sync RDB as a timeline's
//! base, then file the stream into segments closed every `--flush-ms` (or `--segment-bytes`),
//! spooled locally and uploaded by a second thread (see `spool`).
//!
//! ```text
//! start:  resume point = newest timeline's last segment (repository, then spool)
//! loop:   PSYNC replid offset+1 ── +CONTINUE ──► same timeline, next segment at offset
//!                              └─ +FULLRESYNC ─► base stored, timeline entry, new timeline
//!         read ─► whole commands ─► segment ─► (closed) spool ─► uploader ─► repository
//!         REPLCONF ACK <offset> every second and on GETACK
//!         link lost: the open segment is closed, reconnect with backoff (1 s doubling to 30 s)
//!         --base-every: once the timeline's base is that old (outside a transaction), the open
//!         segment is closed and the next connection asks for a full resync: a new timeline
//!         starts where the old one ends, so `archive prune` can expire the old one
//! SIGTERM/SIGINT: close the open segment, let the uploader drain (at most 30 s), exit 0
//! ```

use std::io::{self, BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use amber_persist::rdb::RdbError;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::layout::{self, Base, Segment, Timeline};
use super::link::{self, Link, Start};
use super::segment::{Builder, Closing};
use super::spool::{self, Spool, Stats};
use super::stream::Stream;
use super::RunArgs;
use crate::backup::catalog;
use crate::backup::create::source_from_info;
use crate::backup::repo::Repo;
use crate::backup::stream::{self as snapshot, hex};
use crate::backup::sync::{Payload, Transfer};
use crate::client::Client;
use crate::progress::Progress;
use crate::{Failure, Outcome};

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

fn stopping() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// Where the archive stands: the timeline being extended and the last byte archived.
#[derive(Clone, Debug)]
struct Position {
    timeline: String,
    replid: String,
    offset: u64,
    /// When the timeline's base was taken (Unix ms).
    base_ms: i64,
}

/// Why a connection's stream ended without an error.
#[derive(PartialEq)]
enum Ended {
    /// SIGTERM or SIGINT.
    Stop,
    /// The base is --base-every old: start a new timeline.
    NewBase,
}

struct Archiver {
    a: RunArgs,
    addr: String,
    repo: Arc<Repo>,
    spool: Arc<Spool>,
    stats: Arc<Mutex<Stats>>,
    wake: Sender<()>,
    link_state: &'static str,
    received: Option<Position>,
    last_status: Instant,
    base_every_ms: Option<i64>,
}

pub(super) fn archive(a: RunArgs) -> Result<Outcome, Failure> {
    let addr = a.from.clone().unwrap_or_default();
    let base_every_ms = a
        .base_every
        .as_deref()
        .map(crate::backup::retention::parse_duration)
        .transpose()
        .map_err(Failure)?;
    if base_every_ms.is_some_and(|ms| ms < 1000) {
        return Err(Failure("--base-every must be at least 1s".into()));
    }
    let spool_dir = a.spool.clone().unwrap_or_default();
    let repo = Arc::new(Repo::open(&a.repo_arg(), true)?);
    let spool = Arc::new(
        Spool::open(&spool_dir)
            .map_err(|e| Failure(format!("can't open the spool {}: {e}", spool_dir.display())))?,
    );
    // SAFETY: the handler only stores to an atomic.
    unsafe {
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
    }
    let stats = Arc::new(Mutex::new(Stats::default()));
    let leftovers = spool
        .pending()
        .map_err(|e| Failure(format!("can't read the spool: {e}")))?;
    {
        let mut st = stats.lock().unwrap_or_else(|p| p.into_inner());
        for s in &leftovers {
            st.queued
                .push_back((s.timeline.clone(), s.end_offset, s.first_ms, s.stored_size));
            st.queued_bytes += s.stored_size;
        }
    }
    let mut at = resume_point(&repo, &leftovers)?;
    let (wake, wake_rx) = mpsc::channel();
    let up_stop = Arc::new(AtomicBool::new(false));
    let uploader = {
        let (s, r, st, us) = (spool.clone(), repo.clone(), stats.clone(), up_stop.clone());
        std::thread::Builder::new()
            .name("upload".into())
            .spawn(move || spool::uploader(s, r, st, wake_rx, us))
            .map_err(|e| Failure(format!("can't start the uploader: {e}")))?
    };
    let mut ar = Archiver {
        a,
        addr,
        repo,
        spool,
        stats,
        wake,
        link_state: "connecting",
        received: at.clone(),
        last_status: Instant::now(),
        base_every_ms,
    };
    if let Some(p) = &at {
        ar.say(format!(
            "resuming timeline {} at offset {} (replid {})",
            p.timeline, p.offset, p.replid
        ));
    }
    let mut backoff = Duration::from_secs(1);
    while !stopping() {
        let began = Instant::now();
        match ar.session(&mut at) {
            Ok(Ended::Stop) => break,
            Ok(Ended::NewBase) => {
                ar.say(
                    "the base is --base-every old: asking for a full resync (a new timeline)"
                        .into(),
                );
                at = None;
                backoff = Duration::from_secs(1);
                continue;
            }
            Err(e) => {
                ar.link_state = "down";
                eprintln!("amber archive: {e}; reconnecting in {}s", backoff.as_secs());
                ar.status();
            }
        }
        if began.elapsed() > Duration::from_secs(30) {
            backoff = Duration::from_secs(1);
        }
        let until = Instant::now() + backoff;
        while Instant::now() < until && !stopping() {
            std::thread::sleep(Duration::from_millis(50));
            ar.status_every_second();
        }
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
    ar.link_state = "stopped";
    up_stop.store(true, Ordering::SeqCst);
    let _ = ar.wake.send(());
    let deadline = Instant::now() + Duration::from_secs(30);
    while !uploader.is_finished() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    ar.status();
    let left = ar.stats.lock().map(|s| s.queued.len()).unwrap_or(0);
    if left > 0 {
        eprintln!(
            "amber archive: stopped with {left} segments still in the spool {} (uploaded at the next start)",
            ar.spool.dir.display()
        );
    }
    Ok(Outcome::Ok)
}

/// The newest timeline and how far it reaches (listed segments, then spooled ones).
fn resume_point(repo: &Repo, spooled: &[Segment]) -> Result<Option<Position>, Failure> {
    let (tls, _) = layout::timelines(repo)?;
    let Some(tl) = tls.last() else {
        return Ok(None);
    };
    let (segs, _) = layout::segments(repo, &tl.id)?;
    let (n, mut end) = layout::contiguous(tl.start_offset, &segs);
    let mut replid = segs[..n]
        .last()
        .map_or(tl.replid.clone(), |s| s.replid.clone());
    for s in spooled.iter().filter(|s| s.timeline == tl.id) {
        if s.start_offset == end {
            end = s.end_offset;
            replid = s.replid.clone();
        }
    }
    Ok(Some(Position {
        timeline: tl.id.clone(),
        replid,
        offset: end,
        base_ms: tl.time_ms,
    }))
}

impl Archiver {
    fn say(&self, msg: String) {
        if !self.a.quiet {
            eprintln!("amber archive: {msg}");
        }
    }

    /// One connection: handshake, base when needed, then the stream until it ends.
    fn session(&mut self, at: &mut Option<Position>) -> Result<Ended, String> {
        let wait = Duration::from_secs(self.a.timeout.max(1));
        self.link_state = "connecting";
        let resume = at.as_ref().map(|p| (p.replid.as_str(), p.offset));
        let (mut link, start) =
            link::open(&self.addr, &self.a.auth, self.a.announce_port, resume, wait)?;
        match start {
            Start::Full {
                replid,
                offset,
                transfer,
            } => {
                let tl = self.store_base(&mut link, &replid, offset, transfer)?;
                self.say(format!(
                    "new timeline {} (replid {replid}, offset {offset})",
                    tl.id
                ));
                *at = Some(Position {
                    timeline: tl.id,
                    replid,
                    offset,
                    base_ms: tl.time_ms,
                });
            }
            Start::Continue { replid } => {
                if let (Some(p), Some(r)) = (at.as_mut(), replid) {
                    p.replid = r;
                }
                if let Some(p) = at.as_ref() {
                    self.say(format!(
                        "continuing timeline {} at offset {}",
                        p.timeline, p.offset
                    ));
                }
            }
        }
        let Some(pos) = at.as_mut() else {
            return Err("no position after the handshake".into());
        };
        self.link_state = "up";
        self.stream(link, pos)
    }

    /// Receives the RDB into the repository as a new timeline's base, then writes the
    /// timeline's entry.
    fn store_base(
        &mut self,
        link: &mut Link,
        replid: &str,
        offset: u64,
        transfer: Transfer,
    ) -> Result<Timeline, String> {
        let started = catalog::now_ms();
        let id = catalog::new_id(started);
        let key = layout::base_key(&id);
        let total = match transfer {
            Transfer::Length(n) => n,
            Transfer::Mark(_) => 0,
        };
        let w = self
            .repo
            .writer(&key)
            .map_err(|e| format!("can't store the base: {e}"))?;
        let mut bar = Progress::new("base", total, self.a.quiet);
        let mut payload = Payload::new(&mut link.client.reader, transfer);
        let (taken, w) = snapshot::take(&mut payload, w, self.a.zstd_level, &mut bar)
            .map_err(|e| format!("receiving the base: {e}"))?;
        bar.finish();
        let (summary, unsupported) = match taken.summary {
            Ok(s) => (s, None),
            Err(e @ RdbError::Unsupported { .. }) => (Default::default(), Some(e.to_string())),
            Err(e) => return Err(format!("the base is not a valid RDB: {e}")),
        };
        w.finish()
            .map_err(|e| format!("can't store the base {key}: {e}"))?;
        let mut source = source_from_info(&self.addr, "archive", &link.info);
        source.replid = Some(replid.to_string());
        source.repl_offset = i64::try_from(offset).ok();
        let tl = Timeline {
            format: layout::FORMAT,
            id: id.clone(),
            time: catalog::rfc3339(started),
            time_ms: started,
            replid: replid.to_string(),
            start_offset: offset,
            source,
            base: Base {
                object: key,
                rdb_version: summary.rdb_version,
                keys: summary.keys,
                raw_size: taken.raw_size,
                raw_sha256: taken.raw_sha256,
                stored_size: taken.stored_size,
                stored_sha256: taken.stored_sha256,
                unsupported,
            },
        };
        self.repo
            .put(&layout::timeline_key(&id), layout::to_json(&tl), true)
            .map_err(|e| format!("can't write the timeline entry: {e}"))?;
        Ok(tl)
    }

    /// The stream, until the link is lost (Err) or a stop is asked (Ok). A reader thread
    /// stamps each read with its arrival time as it happens (whatever this thread is doing:
    /// compressing, spooling), so times are those of the socket, not of the processing.
    fn stream(&mut self, link: Link, pos: &mut Position) -> Result<Ended, String> {
        let silence = Duration::from_secs(self.a.timeout.max(1));
        let Link { client, .. } = link;
        let Client { reader, writer } = client;
        let mut writer = writer;
        let sock = writer.get_ref().try_clone().map_err(|e| e.to_string())?;
        // The reader's own bound; the shutdown below ends it sooner.
        let _ = sock.set_read_timeout(Some(silence + Duration::from_secs(5)));
        // At most 256 reads of at most 1 MiB (the buffer's size) wait for processing.
        let (tx, rx) = mpsc::sync_channel::<io::Result<(i64, Vec<u8>)>>(256);
        let reader = std::thread::Builder::new()
            .name("receive".into())
            .spawn(move || receive(reader, tx))
            .map_err(|e| format!("can't start the reader: {e}"))?;
        let mut st = Stream::new(pos.offset);
        let mut seg = Builder::new(pos.offset);
        let mut last_data = Instant::now();
        let mut last_ack = Instant::now();
        let mut closing =
            Closing::new(self.a.segment_bytes, Duration::from_millis(self.a.flush_ms));
        let result = loop {
            if stopping() {
                break Ok(Ended::Stop);
            }
            if self
                .base_every_ms
                .is_some_and(|e| catalog::now_ms() - pos.base_ms >= e)
                && !st.in_tx()
            {
                break Ok(Ended::NewBase);
            }
            if self.spooled_bytes() > self.a.spool_max_bytes {
                // Back-pressure: the source keeps the stream in its buffer meanwhile.
                std::thread::sleep(Duration::from_millis(50));
                last_data = Instant::now();
            } else {
                match rx.recv_timeout(Duration::from_millis(20)) {
                    Ok(Ok((ms, data))) => {
                        last_data = Instant::now();
                        let getack = match st.feed(&data, ms, &mut seg) {
                            Ok(g) => g,
                            Err(e) => break Err(e),
                        };
                        closing.filed(&seg, Instant::now());
                        pos.offset = st.offset;
                        if getack {
                            last_ack = Instant::now();
                            if let Err(e) = ack(&mut writer, st.offset) {
                                break Err(format!("the link failed: {e}"));
                            }
                        }
                    }
                    Ok(Err(e)) => break Err(format!("the link failed: {e}")),
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    Err(mpsc::RecvTimeoutError::Disconnected) => {
                        break Err("the link's reader stopped".into())
                    }
                }
            }
            if last_data.elapsed() > silence {
                break Err(format!(
                    "nothing from the source for {}s",
                    silence.as_secs()
                ));
            }
            if !st.in_tx() && closing.due(&seg, Instant::now()) {
                if let Err(e) = self.close(&mut seg, pos) {
                    break Err(e);
                }
                closing.closed();
            }
            if last_ack.elapsed() >= Duration::from_secs(1) {
                last_ack = Instant::now();
                if let Err(e) = ack(&mut writer, st.offset) {
                    break Err(format!("the link failed: {e}"));
                }
            }
            self.received = Some(pos.clone());
            self.status_every_second();
        };
        let _ = sock.shutdown(std::net::Shutdown::Both);
        drop(rx);
        let _ = reader.join();
        // What was filed is whole: keep it (an open transaction is received again).
        st.reset_partial();
        self.close(&mut seg, pos)?;
        result
    }

    fn spooled_bytes(&self) -> u64 {
        self.stats.lock().map(|s| s.queued_bytes).unwrap_or(0)
    }

    /// Compresses the segment, spools it, wakes the uploader; the next one starts at its end.
    fn close(&mut self, seg: &mut Builder, pos: &Position) -> Result<(), String> {
        if seg.is_empty() {
            return Ok(());
        }
        let stored = zstd::bulk::compress(&seg.raw, self.a.zstd_level)
            .map_err(|e| format!("compressing a segment: {e}"))?;
        let entry = Segment {
            format: layout::FORMAT,
            timeline: pos.timeline.clone(),
            replid: pos.replid.clone(),
            start_offset: seg.start_offset,
            end_offset: seg.end_offset,
            first_ms: seg.first_ms,
            last_ms: seg.last_ms,
            commands: seg.commands,
            object: layout::segment_key(&pos.timeline, seg.start_offset),
            raw_size: seg.raw.len() as u64,
            raw_sha256: hex(&Sha256::digest(&seg.raw)),
            stored_size: stored.len() as u64,
            stored_sha256: hex(&Sha256::digest(&stored)),
        };
        // A full disk here is fatal for this session: the stream is received again.
        self.spool
            .put(&entry, &stored)
            .map_err(|e| format!("can't spool a segment: {e}"))?;
        {
            let mut st = self.stats.lock().unwrap_or_else(|p| p.into_inner());
            st.queued.push_back((
                entry.timeline.clone(),
                entry.end_offset,
                entry.first_ms,
                entry.stored_size,
            ));
            st.queued_bytes += entry.stored_size;
        }
        let _ = self.wake.send(());
        *seg = Builder::new(seg.end_offset);
        Ok(())
    }

    fn status_every_second(&mut self) {
        if self.last_status.elapsed() >= Duration::from_secs(1) {
            self.status();
        }
    }

    fn status(&mut self) {
        self.last_status = Instant::now();
        let st = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        let s = LiveStatus {
            pid: std::process::id(),
            source: self.addr.clone(),
            repository: self.repo.location.clone(),
            link: self.link_state,
            timeline: self.received.as_ref().map(|p| p.timeline.clone()),
            replid: self.received.as_ref().map(|p| p.replid.clone()),
            received_offset: self.received.as_ref().map(|p| p.offset),
            archived_timeline: st.archived.as_ref().map(|a| a.0.clone()),
            archived_offset: st.archived.as_ref().map(|a| a.1),
            spooled_segments: st.queued.len(),
            spooled_bytes: st.queued_bytes,
            oldest_unarchived_ms: st.queued.front().map(|q| q.2),
            uploads: st.uploads,
            last_upload: st.last_upload_ms.map(catalog::rfc3339),
            last_upload_ms: st.last_upload_ms,
            last_error: st.last_error.clone(),
            failing_since_ms: st.failing_since_ms,
            updated_ms: catalog::now_ms(),
        };
        drop(st);
        if let Err(e) = self.spool.write_status(&layout::to_json(&s)) {
            eprintln!("amber archive: can't write the status file: {e}");
        }
    }
}

/// The reader thread: each read (first what the handshake's buffer holds) with its arrival
/// time, until the connection ends (sent as an error) or the receiver goes away.
fn receive(mut r: BufReader<TcpStream>, tx: mpsc::SyncSender<io::Result<(i64, Vec<u8>)>>) {
    loop {
        let got = match r.fill_buf() {
            Ok([]) => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the source closed the connection",
            )),
            Ok(b) => Ok((catalog::now_ms(), b.to_vec())),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the source went silent",
                ))
            }
            Err(e) => Err(e),
        };
        let end = got.is_err();
        if let Ok((_, b)) = &got {
            r.consume(b.len());
        }
        if tx.send(got).is_err() || end {
            return;
        }
    }
}

/// REPLCONF ACK <offset>, which the source shows as the replica's offset (and WAIT counts).
fn ack(w: &mut io::BufWriter<TcpStream>, offset: u64) -> io::Result<()> {
    let o = offset.to_string();
    let mut buf = Vec::new();
    amber_resp::encode_command(&mut buf, &[b"REPLCONF", b"ACK", o.as_bytes()]);
    w.write_all(&buf)?;
    w.flush()
}

/// `SPOOL/status.json`: the running archiver's state, rewritten every second.
#[derive(Serialize)]
pub struct LiveStatus {
    pub pid: u32,
    pub source: String,
    pub repository: String,
    /// connecting, up, down (reconnecting), stopped.
    pub link: &'static str,
    pub timeline: Option<String>,
    pub replid: Option<String>,
    /// The last stream byte received whole (filed in a segment, maybe not uploaded yet).
    pub received_offset: Option<u64>,
    pub archived_timeline: Option<String>,
    /// The last stream byte stored in the repository.
    pub archived_offset: Option<u64>,
    pub spooled_segments: usize,
    pub spooled_bytes: u64,
    /// Arrival time of the oldest byte not yet in the repository.
    pub oldest_unarchived_ms: Option<i64>,
    pub uploads: u64,
    pub last_upload: Option<String>,
    pub last_upload_ms: Option<i64>,
    pub last_error: Option<String>,
    pub failing_since_ms: Option<i64>,
    pub updated_ms: i64,
}
