//! A "machine" for crash tests: a server whose durable writes go through a `FaultyFs` on a
//! temp directory (its disk), clients that run commands through the real dispatch
//! (`cmd::process`) and release a reply exactly when a connection would (`aof::wait_point`,
//! `Wait::done`, with the real flush task and durable relay running), and what a restart
//! from the crash image finds.
//!
//! Every write is `RPUSH journal <seq>:<padding>` (or two in a MULTI/EXEC), with `seq`
//! numbered in execution order, in db 0 or 1 by client. A restart must find a prefix of
//! that order: every seq below some n, each list increasing, nothing else.

#![allow(clippy::unwrap_used)]

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use amber_persist::storage::faulty::{FaultyFs, Image};

use crate::client::Client;
use crate::config::{AppendFsync, Config, LogLevel};
use crate::durability::aof;
use crate::server::Server;
use crate::sys::log::Logger;

/// When a client takes its reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Release {
    /// As a connection does: once `wait_point`'s wait is over.
    AfterWait,
    /// Deliberately broken: at once, before the AOF holds the write.
    Immediately,
}

/// A fresh, empty directory.
pub(super) fn temp_root(tag: &str) -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let d = std::env::temp_dir().join(format!("amber-{tag}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub(super) fn config(root: &Path, policy: AppendFsync) -> Config {
    Config {
        appendonly: true,
        appendfsync: policy,
        appenddirname: root.join("appendonlydir").display().to_string(),
        dbfilename: root.join("dump.rdb").display().to_string(),
        aof_load_truncated: true,
        save_params: Vec::new(),
        ..Config::default()
    }
}

pub(super) fn req(parts: &[&[u8]]) -> Vec<Vec<u8>> {
    parts.iter().map(|p| p.to_vec()).collect()
}

/// A server on `root` through `fs`.
pub(super) struct Machine {
    pub(super) root: PathBuf,
    pub(super) fs: Arc<FaultyFs>,
    pub(super) srv: Rc<RefCell<Server>>,
    pub(super) policy: AppendFsync,
    next_client: u64,
    /// The fake time of the everysec clock, in ms.
    pub(super) now_ms: u64,
}

impl Machine {
    /// Starts a server on the files under `root` (as a start after a crash would find
    /// them): loads the AOF (creating it on a first start) and starts the flush task. Runs
    /// inside a `LocalSet`. The everysec clock is held at 1 ms until `advance`.
    pub(super) fn boot(
        root: &Path,
        policy: AppendFsync,
        fs: Arc<FaultyFs>,
    ) -> Result<Machine, String> {
        let log = Logger::open(
            LogLevel::Warning,
            &root.join("server.log").display().to_string(),
        )
        .map_err(|e| e.to_string())?;
        let mut srv = Server::new(config(root, policy), log);
        srv.storage = fs.clone();
        let rc = Rc::new(RefCell::new(srv));
        rc.borrow_mut().self_ref = Rc::downgrade(&rc);
        aof::load::load(&mut rc.borrow_mut())?;
        if let Some(a) = rc.borrow().aof.as_ref() {
            a.clock().set_manual(1);
        }
        aof::load::spawn_flush(&rc);
        Ok(Machine {
            root: root.to_path_buf(),
            fs,
            srv: rc,
            policy,
            next_client: 1,
            now_ms: 1,
        })
    }

    pub(super) fn client(&mut self, db: usize) -> Client {
        let id = self.next_client;
        self.next_client += 1;
        let mut c = Client::new(id, "127.0.0.1:1".into(), String::new(), -1, true);
        c.db = db;
        c
    }

    /// Runs `reqs` as one batch of a connection, then releases the replies as `release`
    /// says. Returns the reply bytes.
    pub(super) async fn request(
        srv: &Rc<RefCell<Server>>,
        c: &mut Client,
        reqs: &[Vec<Vec<u8>>],
        release: Release,
    ) -> Vec<u8> {
        let w = {
            let mut s = srv.borrow_mut();
            for r in reqs {
                crate::cmd::process(&mut s, c, r.clone());
            }
            let (need, own) = (c.aof_need, c.aof_own);
            aof::wait_point(&mut s, need, own, &mut c.aof_batch)
        };
        if release == Release::AfterWait {
            if let Some(w) = w {
                w.done().await;
            }
        }
        std::mem::take(&mut c.out.buf)
    }

    /// Moves the fake clock by `ms`, and does what the server's loop does meanwhile: one
    /// snapshot step, and the cron every 100 ms. Under everysec, each time the clock passes
    /// a tenth of a second, waits until the fsync thread has looked at it, so that its
    /// once-a-second fsync runs at most 100 ms late (as on a machine where that thread gets
    /// the CPU in time: the window the policy promises assumes it).
    pub(super) fn advance(&mut self, ms: u64) {
        let before = self.now_ms;
        self.now_ms += ms;
        let s = self.srv.borrow();
        let Some(a) = s.aof.as_ref() else {
            return;
        };
        a.clock().set_manual(self.now_ms);
        if self.policy == AppendFsync::Everysec && before / 100 != self.now_ms / 100 {
            let t = a.ticks();
            let deadline = Instant::now() + Duration::from_secs(10);
            while a.ticks() < t + 2 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_micros(200));
            }
        }
        drop(s);
        let mut s = self.srv.borrow_mut();
        crate::durability::save::snapshot_step(
            &mut s,
            Some(Instant::now() + crate::durability::save::STEP_TIME),
        );
        if before / 100 != self.now_ms / 100 {
            aof::cron(&mut s);
        }
    }

    /// Runs the loop's work until no rewrite runs (or 30 s pass).
    pub(super) async fn finish_rewrite(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.srv.borrow().aof_rewrite.running.is_some() && Instant::now() < deadline {
            self.advance(1);
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_micros(100)).await;
        }
    }

    /// Stops the server (no shutdown: the AOF's threads just end, as in a crash) and
    /// returns what the disk holds: the crash image, or what a crash now would leave.
    pub(super) fn power_off(self) -> Image {
        {
            let mut s = self.srv.borrow_mut();
            aof::rewrite::cancel(&mut s);
            s.aof = None;
        }
        self.fs.image()
    }
}

/// The journal a server holds: the seqs of each db's list.
pub(super) async fn journal(m: &mut Machine) -> Vec<Vec<u64>> {
    let mut out = Vec::new();
    for db in 0..2 {
        let mut c = m.client(db);
        let reply = Machine::request(
            &m.srv,
            &mut c,
            &[req(&[b"LRANGE", b"journal", b"0", b"-1"])],
            Release::AfterWait,
        )
        .await;
        out.push(parse_seqs(&reply));
    }
    out
}

/// The seqs of an LRANGE reply (`*n`, then `$len` `<seq>:<padding>` each).
fn parse_seqs(reply: &[u8]) -> Vec<u64> {
    let text = String::from_utf8_lossy(reply);
    let mut lines = text.split("\r\n");
    let head = lines.next().unwrap_or_default();
    assert!(head.starts_with('*'), "not an array: {text:.200}");
    let mut seqs = Vec::new();
    while let Some(l) = lines.next() {
        if l.starts_with('$') {
            let item = lines.next().unwrap_or_default();
            let seq = item.split(':').next().unwrap_or_default();
            seqs.push(seq.parse().unwrap());
        }
    }
    seqs
}

/// What a restart from a crash image found.
#[derive(Debug, Default)]
pub(super) struct Restart {
    /// Writes found: every seq below this.
    pub(super) recovered: u64,
    /// Bytes the load cut from a torn last command (aof-load-truncated).
    pub(super) cut: u64,
}

/// Starts a server from `image` (on a fresh directory) and checks that it loads and holds
/// a prefix of the writes in execution order. `Err` says what is wrong.
pub(super) async fn restart(image: &Image, policy: AppendFsync) -> Result<Restart, String> {
    let root = temp_root("restart");
    image.materialize(&root).map_err(|e| e.to_string())?;
    let before = dir_bytes(&root.join("appendonlydir"));
    let fs = FaultyFs::adopt(&root).map_err(|e| e.to_string())?;
    let mut m = Machine::boot(&root, policy, fs).map_err(|e| format!("the restart fails: {e}"))?;
    let lists = journal(&mut m).await;
    let after = dir_bytes(&root.join("appendonlydir"));
    drop(m.power_off());
    let mut all: Vec<u64> = Vec::new();
    for (db, l) in lists.iter().enumerate() {
        if l.windows(2).any(|w| w[0] >= w[1]) {
            return Err(format!("db {db}'s journal is out of order: {l:?}"));
        }
        all.extend(l);
    }
    all.sort_unstable();
    let n = all.len() as u64;
    if all.iter().enumerate().any(|(i, s)| *s != i as u64) {
        return Err(format!(
            "the writes found are not a prefix of the writes run: {all:?}"
        ));
    }
    let _ = std::fs::remove_dir_all(&root);
    Ok(Restart {
        recovered: n,
        cut: before.saturating_sub(after),
    })
}

fn dir_bytes(d: &Path) -> u64 {
    std::fs::read_dir(d)
        .map(|it| {
            it.flatten()
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// Files whose name starts with `temp-` under `dir` (what a failed save or manifest write
/// must not leave).
pub(super) fn temp_files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if e.file_name().to_string_lossy().starts_with("temp-") {
                out.push(p.display().to_string());
            }
        }
    }
    out
}
