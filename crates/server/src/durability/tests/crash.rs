//! Crash at random points, restart from what was synced, and check each fsync policy's
//! promise:
//!
//! - `always`: every acknowledged write is there;
//! - `everysec`: only writes acknowledged in the last two seconds (of the clock the fsync
//!   thread goes by) may be missing;
//! - every policy: the files load (a torn last command is cut, aof-load-truncated) and hold
//!   a prefix of the writes in execution order (never a later write without an earlier one).
//!
//! A round: a first start (base + incr + manifest are created), four clients writing (one
//! RPUSH, or two in MULTI/EXEC, now and then a read) in dbs 0 and 1, in half of the rounds
//! a BGREWRITEAOF in the middle; the machine crashes just before storage call k, k drawn
//! from the calls a round makes, so crash points fall in the first start, appends, fsyncs,
//! the rewrite's base, the manifest swap, the history removal. Half of the crashes are torn:
//! each file keeps part of what was appended since its last sync, so a restart may find a
//! command cut in two (and cuts it, aof-load-truncated).
//!
//! `a_reply_released_before_its_fsync_is_caught` runs the same check on clients that take
//! their replies without waiting for the AOF, and requires it to fail: the check sees a
//! reply that leaves before its fdatasync. The same was verified on the server itself by
//! breaking it by hand (not kept): with the writer thread's `always_step` storing `synced`
//! and ringing `synced_wake` before its `sync_data` instead of after, this file's
//! `always_loses_no_acknowledged_write` failed ("178 acknowledged writes lost under Always"
//! over 120 rounds, in most rounds). (Syncs take 50 µs here, as a fast disk's flush: a
//! reply released early has time to leave before the crash.)

#![allow(clippy::unwrap_used)]

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use amber_persist::storage::faulty::{Fault, FaultyFs, Image};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::harness::{req, restart, temp_root, Machine, Release};
use crate::config::AppendFsync;

const CLIENTS: usize = 4;
const OPS: usize = 150;
/// Fake milliseconds per turn of the driver (about one request per client).
const TICK_MS: u64 = 20;

/// One round's run: what was acknowledged before the crash, and what the disk holds.
struct Run {
    image: Image,
    /// (seq, fake ms) of the writes acknowledged before the crash.
    acked: Vec<(u64, u64)>,
    crashed: bool,
    /// The fake time of the crash (at least: the last time it had not happened yet).
    crash_ms: u64,
    calls: u64,
    violations: Vec<String>,
    /// The kind of call the crash came before ("write", "sync_data", "rename" ...).
    crash_op: Option<String>,
}

pub(super) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

async fn run(
    policy: AppendFsync,
    crash_at: Option<(u64, Fault)>,
    release: Release,
    seed: u64,
) -> Run {
    let root = temp_root("crash");
    let fs = FaultyFs::adopt(&root).unwrap();
    // A fast disk's flush: long enough for other threads to run meanwhile.
    fs.set_sync_latency(Duration::from_micros(50));
    if let Some((k, fault)) = crash_at {
        fs.inject(k, fault);
    }
    let mut m = Machine::boot(&root, policy, fs.clone()).unwrap();
    let mut rng = SmallRng::seed_from_u64(seed);
    let next_seq = Rc::new(Cell::new(0u64));
    let acked = Rc::new(RefCell::new(Vec::new()));
    let now = Rc::new(Cell::new(m.now_ms));
    let progress = Rc::new(Cell::new(0u64));
    let mut tasks = Vec::new();
    for i in 0..CLIENTS {
        let mut c = m.client(i % 2);
        let (srv, fs, next_seq, acked, now, progress) = (
            m.srv.clone(),
            fs.clone(),
            next_seq.clone(),
            acked.clone(),
            now.clone(),
            progress.clone(),
        );
        let mut rng = SmallRng::seed_from_u64(seed ^ (i as u64 + 1) << 32);
        tasks.push(tokio::task::spawn_local(async move {
            for _ in 0..OPS {
                let kind = rng.gen_range(0..100);
                let n = match kind {
                    0..=4 => 0,
                    5..=14 => 2,
                    _ => 1,
                };
                let first = next_seq.get();
                next_seq.set(first + n);
                let pushes: Vec<Vec<Vec<u8>>> = (first..first + n)
                    .map(|s| {
                        let pad = "x".repeat(rng.gen_range(0..300));
                        let v = format!("{s}:{pad}");
                        req(&[b"RPUSH", b"journal", v.as_bytes()])
                    })
                    .collect();
                let reqs = match n {
                    0 => vec![req(&[b"GET", b"journal-len"])],
                    1 => pushes,
                    _ => {
                        let mut r = vec![req(&[b"MULTI"])];
                        r.extend(pushes);
                        r.push(req(&[b"EXEC"]));
                        r
                    }
                };
                // The seqs were taken and the commands run in one step: seq order is
                // execution order.
                let reply = Machine::request(&srv, &mut c, &reqs, release).await;
                let text = String::from_utf8_lossy(&reply);
                assert!(
                    !text.starts_with('-') && !text.contains("\r\n-"),
                    "a write failed: {text}"
                );
                if !fs.crashed() {
                    let t = now.get();
                    acked
                        .borrow_mut()
                        .extend((first..first + n).map(|s| (s, t)));
                }
                progress.set(progress.get() + 1);
                tokio::task::yield_now().await;
            }
        }));
    }
    let turns = (OPS as u64) * 2;
    let rewrite_at = rng.gen_bool(0.5).then(|| rng.gen_range(0..turns / 2));
    let mut admin = m.client(0);
    let mut crash_ms = m.now_ms;
    let mut turn = 0u64;
    while !tasks.iter().all(|t| t.is_finished()) {
        if !fs.crashed() {
            crash_ms = m.now_ms;
        }
        m.advance(TICK_MS);
        now.set(m.now_ms);
        if Some(turn) == rewrite_at {
            let r = [req(&[b"BGREWRITEAOF"])];
            Machine::request(&m.srv, &mut admin, &r, Release::AfterWait).await;
        }
        turn += 1;
        let before = progress.get();
        tokio::task::yield_now().await;
        if progress.get() == before {
            tokio::time::sleep(Duration::from_micros(100)).await;
        }
    }
    m.finish_rewrite().await;
    if !fs.crashed() {
        crash_ms = m.now_ms;
    }
    let crashed = fs.crashed();
    let calls = fs.calls();
    let violations = fs.violations();
    let crash_op = fs
        .fired()
        .first()
        .and_then(|f| f.split(' ').nth(1).map(str::to_string));
    let root = m.root.clone();
    let image = m.power_off();
    let _ = std::fs::remove_dir_all(&root);
    let acked = acked.take();
    Run {
        image,
        acked,
        crashed,
        crash_ms,
        calls,
        violations,
        crash_op,
    }
}

#[derive(Debug, Default)]
struct Tally {
    rounds: u64,
    crashes: u64,
    acked: u64,
    recovered: u64,
    /// Acknowledged writes missing after the restart, and the oldest one's age (fake ms).
    lost: u64,
    oldest_lost_ms: u64,
    /// Restarts that cut a torn last command.
    cut: u64,
    /// Crash points by the kind of call they came before.
    ops: std::collections::BTreeMap<String, u64>,
    failures: Vec<String>,
}

/// `rounds` crash rounds under `policy`; the tally of what the restarts found, with every
/// broken promise in `failures`.
fn crash_rounds(policy: AppendFsync, rounds: u64, release: Release, seed: u64) -> Tally {
    let rt = runtime();
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let mut rng = SmallRng::seed_from_u64(seed);
        // A round without a crash tells how many storage calls a round makes.
        let calls = run(policy, None, release, seed).await.calls;
        let mut t = Tally::default();
        for round in 0..rounds {
            let k = rng.gen_range(0..calls + calls / 10);
            // Half of the crashes keep part of the unsynced appends (a torn command).
            let fault = if rng.gen_bool(0.5) {
                Fault::Crash
            } else {
                Fault::CrashTorn(rng.gen())
            };
            let r = run(policy, Some((k, fault)), release, rng.gen()).await;
            t.rounds += 1;
            t.crashes += u64::from(r.crashed);
            if let Some(op) = &r.crash_op {
                *t.ops.entry(op.clone()).or_default() += 1;
            }
            t.acked += r.acked.len() as u64;
            let at = format!("{policy:?} round {round}, {fault:?} before call {k}");
            if !r.violations.is_empty() {
                t.failures.push(format!("{at}: {:?}", r.violations));
            }
            let found = match restart(&r.image, policy).await {
                Ok(found) => found,
                Err(e) => {
                    t.failures.push(format!("{at}: {e}"));
                    continue;
                }
            };
            t.recovered += found.recovered;
            t.cut += u64::from(found.cut > 0);
            let lost: Vec<&(u64, u64)> = r
                .acked
                .iter()
                .filter(|(seq, _)| *seq >= found.recovered)
                .collect();
            t.lost += lost.len() as u64;
            let oldest = lost
                .iter()
                .map(|(_, ms)| r.crash_ms.saturating_sub(*ms))
                .max()
                .unwrap_or(0);
            t.oldest_lost_ms = t.oldest_lost_ms.max(oldest);
            let broken = match policy {
                AppendFsync::Always => !lost.is_empty(),
                AppendFsync::Everysec => oldest >= 2000,
                AppendFsync::No => false,
            };
            if broken {
                t.failures.push(format!(
                    "{at}: {} acknowledged writes lost under {policy:?} (the oldest {oldest} ms before the crash; {} found)",
                    lost.len(),
                    found.recovered
                ));
            }
        }
        t
    })
}

fn report(policy: AppendFsync, t: &Tally) {
    println!(
        "crash test, appendfsync {policy:?}: {} rounds, {} crash points (before: {:?}), {} acknowledged writes before the crash, {} found after restarts, {} acknowledged lost (oldest {} ms before its crash), {} restarts cut a torn last command",
        t.rounds, t.crashes, t.ops, t.acked, t.recovered, t.lost, t.oldest_lost_ms, t.cut
    );
}

#[test]
fn always_loses_no_acknowledged_write() {
    let t = crash_rounds(AppendFsync::Always, 120, Release::AfterWait, 0xA1);
    report(AppendFsync::Always, &t);
    assert!(t.failures.is_empty(), "{:#?}", t.failures);
    assert_eq!(t.lost, 0);
    assert!(t.crashes >= 100 && t.acked > 10_000, "{t:?}");
}

#[test]
fn everysec_loses_at_most_the_last_two_seconds() {
    let t = crash_rounds(AppendFsync::Everysec, 100, Release::AfterWait, 0xE5);
    report(AppendFsync::Everysec, &t);
    assert!(t.failures.is_empty(), "{:#?}", t.failures);
    // Some rounds crash after acknowledged writes that were not fsynced yet: the test
    // does reach the window it checks.
    assert!(t.lost > 0 && t.crashes >= 80, "{t:?}");
}

#[test]
fn no_fsync_still_loads_a_prefix() {
    let t = crash_rounds(AppendFsync::No, 60, Release::AfterWait, 0x70);
    report(AppendFsync::No, &t);
    assert!(t.failures.is_empty(), "{:#?}", t.failures);
}

/// The check catches a reply that leaves before the fdatasync covering it: clients that
/// take their replies at once (no `Wait`) lose acknowledged writes under `always`.
#[test]
fn a_reply_released_before_its_fsync_is_caught() {
    let t = crash_rounds(AppendFsync::Always, 30, Release::Immediately, 0xBAD);
    assert!(
        t.lost > 0 && t.failures.iter().any(|f| f.contains("lost under Always")),
        "the check missed replies released before their fsync: {t:?}"
    );
}
