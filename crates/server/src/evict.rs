//! maxmemory and eviction, as Redis 7.0's evict.c: the policies, the approximated LRU and
//! LFU kept in each entry's 24-bit clock word, the pool of the 16 best candidates filled from
//! a few sampled keys per database, and `perform_evictions`, which runs before a command
//! while memory is over the limit.
//!
//! The clock word of an entry (`Entry::lru`, 24 bits) holds, as Redis's `robj.lru`:
//!
//! ```text
//!   LRU policies (and noeviction, random, ttl):  [ 24-bit seconds clock            ]
//!   LFU policies:                                [ 16-bit minutes (ldt) | 8-bit log counter ]
//! ```
//!
//! What counts towards the limit is the allocator's count (INFO's used_memory) minus what
//! Redis does not count either: the AOF buffer and the replicas' output buffers (evicting
//! writes DELs into them, so counting them would feed evictions with evictions), and the
//! before-images a running snapshot still holds (Redis's fork keeps them in copy-on-write
//! pages it does not count).

use std::time::Instant;

use amber_store::Key;
use rand::rngs::SmallRng;
use rand::Rng;

use crate::cmd::notify;
use crate::config::Config;
use crate::lazyfree::Why;
use crate::server::Server;

/// maxmemory-policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Policy {
    VolatileLru,
    VolatileLfu,
    VolatileRandom,
    VolatileTtl,
    AllkeysLru,
    AllkeysLfu,
    AllkeysRandom,
    NoEviction,
}

impl Policy {
    /// In Redis's order (its error text lists them so).
    pub(crate) const NAMES: &'static [&'static str] = &[
        "volatile-lru",
        "volatile-lfu",
        "volatile-random",
        "volatile-ttl",
        "allkeys-lru",
        "allkeys-lfu",
        "allkeys-random",
        "noeviction",
    ];
    const ALL: [Policy; 8] = [
        Policy::VolatileLru,
        Policy::VolatileLfu,
        Policy::VolatileRandom,
        Policy::VolatileTtl,
        Policy::AllkeysLru,
        Policy::AllkeysLfu,
        Policy::AllkeysRandom,
        Policy::NoEviction,
    ];

    /// `name` is one of `NAMES`.
    pub(crate) fn from_name(name: &str) -> Policy {
        let i = Self::NAMES.iter().position(|n| *n == name).unwrap_or(7);
        Self::ALL[i]
    }

    pub(crate) fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    pub(crate) fn is_lfu(self) -> bool {
        matches!(self, Policy::VolatileLfu | Policy::AllkeysLfu)
    }

    pub(crate) fn is_lru(self) -> bool {
        matches!(self, Policy::VolatileLru | Policy::AllkeysLru)
    }

    fn allkeys(self) -> bool {
        matches!(
            self,
            Policy::AllkeysLru | Policy::AllkeysLfu | Policy::AllkeysRandom
        )
    }
}

/// Redis's shared.oomerr.
pub(crate) const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";

/// Candidates kept between evictions (Redis's EVPOOL_SIZE).
const POOL_SIZE: usize = 16;
/// The counter a new key starts with under LFU, so it survives a few samplings.
pub(crate) const LFU_INIT_VAL: u32 = 5;
const LRU_CLOCK_MAX: u32 = (1 << 24) - 1;

/// Eviction state and statistics.
#[derive(Default)]
pub(crate) struct Eviction {
    /// Best candidates, by ascending score (idle time, 255 - frequency, or inverse TTL).
    pool: Vec<Candidate>,
    /// The database the random policies look at next.
    next_db: usize,
    pub(crate) evicted_keys: u64,
    /// Since when memory is over the limit and not brought back (INFO's
    /// current_eviction_exceeded_time), and the total of the periods that ended.
    exceeded_since: Option<Instant>,
    total_exceeded_us: u64,
    /// Bytes of keys evicted while a snapshot ran whose memory the snapshot may still hold
    /// (see `evict_until`); not counted until no snapshot runs.
    snapshot_deferred: u64,
    /// A run stopped at its time limit with memory still over: the cron goes on evicting
    /// (Redis's evictionTimeProc), and commands are not refused meanwhile.
    pub(crate) running: bool,
    /// Memory was over the limit when the current top-level command started (Redis's
    /// pre_command_oom_state): a script's first deny-oom command is refused on it.
    pub(crate) pre_command_oom: bool,
}

struct Candidate {
    score: u64,
    db: usize,
    key: Key,
}

impl Eviction {
    /// INFO's total_eviction_exceeded_time and current_eviction_exceeded_time, in ms.
    pub(crate) fn exceeded_ms(&self) -> (u64, u64) {
        let current = self
            .exceeded_since
            .map_or(0, |t| t.elapsed().as_micros() as u64);
        ((self.total_exceeded_us + current) / 1000, current / 1000)
    }

    /// CONFIG RESETSTAT (resetServerStats).
    pub(crate) fn reset_stats(&mut self) {
        self.evicted_keys = 0;
        self.total_exceeded_us = 0;
        self.exceeded_since = None;
    }

    /// Adds a sampled key, keeping the pool sorted and at most POOL_SIZE long
    /// (evictionPoolPopulate's insertion).
    fn offer(&mut self, score: u64, db: usize, key: &Key) {
        let k = self.pool.partition_point(|c| c.score < score);
        let c = Candidate {
            score,
            db,
            key: key.clone(),
        };
        if self.pool.len() < POOL_SIZE {
            self.pool.insert(k, c);
        } else if k > 0 {
            // Full: the worst candidate makes room.
            self.pool.remove(0);
            self.pool.insert(k - 1, c);
        }
    }
}

/// The outcome of `perform_evictions` (EVICT_OK, EVICT_RUNNING, EVICT_FAIL).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Ok,
    Running,
    Fail,
}

/// Redis's LFUGetTimeInMinutes: 16 bits of Unix minutes.
fn lfu_minutes(now_ms: i64) -> u32 {
    ((now_ms / 1000 / 60) & 65535) as u32
}

/// LFUTimeElapsed: minutes since `ldt`, the 16-bit clock wrapping at most once.
fn lfu_elapsed(ldt: u32, now: u32) -> u32 {
    if now >= ldt {
        now - ldt
    } else {
        65535 - ldt + now
    }
}

/// LFUDecrAndReturn: the counter of clock word `word`, less one per lfu-decay-time minutes
/// since its last decrement.
pub(crate) fn lfu_counter(word: u32, decay_time: u32, now_ms: i64) -> u32 {
    let ldt = word >> 8;
    let counter = word & 255;
    // No decay when lfu-decay-time is 0.
    let periods = lfu_elapsed(ldt, lfu_minutes(now_ms))
        .checked_div(decay_time)
        .unwrap_or(0);
    counter.saturating_sub(periods)
}

/// LFULogIncr: counts an access with probability 1 / ((counter - LFU_INIT_VAL) * factor + 1).
fn lfu_log_incr(counter: u32, factor: u32, rng: &mut SmallRng) -> u32 {
    if counter >= 255 {
        return 255;
    }
    let r: f64 = rng.gen();
    let base = f64::from(counter.saturating_sub(LFU_INIT_VAL));
    let p = 1.0 / (base * f64::from(factor) + 1.0);
    if r < p {
        counter + 1
    } else {
        counter
    }
}

/// The seconds clock of LRU (getLRUClock).
pub(crate) fn lru_clock(now_ms: i64) -> u32 {
    ((now_ms / 1000) as u32) & LRU_CLOCK_MAX
}

/// The clock word of an entry read or written at `now_ms` whose word was `old` (Redis's
/// updateLFU under an LFU policy, the LRU clock otherwise).
#[inline]
pub(crate) fn accessed(cfg: &Config, rng: &mut SmallRng, now_ms: i64, old: u32) -> u32 {
    if cfg.maxmemory_policy.is_lfu() {
        let c = lfu_counter(old, cfg.lfu_decay_time, now_ms);
        let c = lfu_log_incr(c, cfg.lfu_log_factor, rng);
        (lfu_minutes(now_ms) << 8) | c
    } else {
        lru_clock(now_ms)
    }
}

/// The clock word of a new key (createObject).
pub(crate) fn initial(cfg: &Config, now_ms: i64) -> u32 {
    if cfg.maxmemory_policy.is_lfu() {
        (lfu_minutes(now_ms) << 8) | LFU_INIT_VAL
    } else {
        lru_clock(now_ms)
    }
}

/// estimateObjectIdleTime, in ms: the seconds clock wraps at 24 bits.
/// What a snapshot records of each key's accesses (rdbSaveKeyValuePair's savelru and
/// savelfu): IDLE seconds under an LRU policy, the FREQ counter under an LFU one.
#[derive(Clone, Copy)]
pub(crate) enum AccessSave {
    Nothing,
    Idle,
    Freq { decay_time: u32 },
}

impl AccessSave {
    pub(crate) fn of(cfg: &Config) -> Self {
        if cfg.maxmemory_policy.is_lfu() {
            AccessSave::Freq {
                decay_time: cfg.lfu_decay_time,
            }
        } else if cfg.maxmemory_policy.is_lru() {
            AccessSave::Idle
        } else {
            AccessSave::Nothing
        }
    }

    /// For an entry's access word, at `now_ms` (estimateObjectIdleTime, LFUDecrAndReturn).
    pub(crate) fn info(self, word: u32, now_ms: i64) -> Option<amber_persist::rdb::AccessInfo> {
        use amber_persist::rdb::AccessInfo;
        match self {
            AccessSave::Nothing => None,
            AccessSave::Idle => Some(AccessInfo::Idle(idle_ms(word, now_ms) / 1000)),
            AccessSave::Freq { decay_time } => Some(AccessInfo::Freq(
                lfu_counter(word, decay_time, now_ms).min(255) as u8,
            )),
        }
    }
}

pub(crate) fn idle_ms(word: u32, now_ms: i64) -> u64 {
    let clock = lru_clock(now_ms);
    let secs = if clock >= word {
        clock - word
    } else {
        clock + (LRU_CLOCK_MAX - word)
    };
    u64::from(secs) * 1000
}

/// objectSetLRUOrLFU for a key loaded from an RDB: under an LFU policy its saved FREQ
/// counter (with the current minutes), otherwise its saved IDLE seconds back from the LRU
/// clock; None when the file says nothing that applies.
pub(crate) fn loaded_word(
    lfu: bool,
    now_ms: i64,
    idle_s: Option<u64>,
    freq: Option<u8>,
) -> Option<u32> {
    if lfu {
        return freq.map(|f| (lfu_minutes(now_ms) << 8) | u32::from(f));
    }
    let idle = idle_s?;
    let clock = i64::from(lru_clock(now_ms));
    let idle = i64::try_from(idle)
        .unwrap_or(i64::MAX)
        .min(i64::from(LRU_CLOCK_MAX));
    let mut abs = clock - idle;
    if abs < 0 {
        abs += i64::from(LRU_CLOCK_MAX);
    }
    Some(abs as u32)
}

/// freeMemoryGetNotCountedMemory: the AOF buffer, the replicas' pending output and the
/// before-images held by running snapshots (INFO's mem_not_counted_for_evict).
pub(crate) fn not_counted(srv: &Server) -> u64 {
    let aof = srv.aof.as_ref().map_or(0, |a| a.buf.capacity());
    let replicas: usize = srv
        .repl
        .replicas
        .values()
        .map(|r| r.pending.allocated())
        .sum();
    let replica_out: usize = srv
        .clients
        .values()
        .filter_map(|c| c.try_borrow().ok())
        .filter(|c| c.replica)
        .map(|c| c.out.buf.capacity())
        .sum();
    let snapshots: usize = srv.dbs.iter().map(|d| d.snapshot_held_bytes()).sum();
    (aof + replicas + replica_out + snapshots) as u64 + srv.evict.snapshot_deferred
}

/// Whether a snapshot is walked or its writer still has entries to write.
fn snapshot_running(srv: &Server) -> bool {
    srv.dbs
        .iter()
        .any(|d| d.snapshot_in_progress() || d.snapshot_held_bytes() > 0)
}

/// Used memory less what running snapshots hold: the bytes an eviction frees or hands over.
fn counted_memory(srv: &Server) -> i64 {
    let held: usize = srv.dbs.iter().map(|d| d.snapshot_held_bytes()).sum();
    crate::sys::alloc::used_memory() as i64 - held as i64
}

/// getMaxmemoryState: bytes to free to be back under maxmemory, or `None` when under it.
fn to_free(srv: &Server) -> Option<u64> {
    let limit = srv.config.maxmemory;
    if limit == 0 {
        return None;
    }
    let reported = crate::sys::alloc::used_memory() as u64;
    if reported <= limit {
        return None;
    }
    let used = reported.saturating_sub(not_counted(srv));
    (used > limit).then(|| used - limit)
}

/// isSafeToPerformEvictions: not while loading or replaying the AOF, not on a replica that
/// ignores maxmemory (it follows its master's DELs), not while clients are paused.
fn safe_to_evict(srv: &Server) -> bool {
    if srv.loading.is_some() || srv.replaying_aof {
        return false;
    }
    let ignore = srv
        .config
        .accepted
        .get("replica-ignore-maxmemory")
        .is_none_or(|v| v == "yes");
    if srv.repl.link.is_some() && ignore {
        return false;
    }
    !crate::replication::failover::clients_paused(srv)
}

/// maxmemory-eviction-tenacity as a time limit (evictionTimeLimitUs).
fn time_limit_us(tenacity: u32) -> u64 {
    match tenacity {
        0..=10 => 50 * u64::from(tenacity),
        11..=99 => (500.0 * 1.15f64.powi(tenacity as i32 - 10)) as u64,
        _ => u64::MAX,
    }
}

/// performEvictions: when memory is over maxmemory, evicts keys by the policy until it is
/// under, nothing is left to evict, or the time limit passes (the cron then goes on).
/// Deletions are propagated as DELs (fed by the caller's next feed, see `flush`).
pub(crate) fn perform_evictions(srv: &mut Server) -> Outcome {
    if !safe_to_evict(srv) {
        return Outcome::Ok;
    }
    if srv.evict.snapshot_deferred > 0 && !snapshot_running(srv) {
        srv.evict.snapshot_deferred = 0;
    }
    let outcome = match to_free(srv) {
        None => Outcome::Ok,
        Some(_) if srv.config.maxmemory_policy == Policy::NoEviction => Outcome::Fail,
        Some(need) => evict_until(srv, need),
    };
    srv.evict.running = outcome == Outcome::Running;
    match outcome {
        Outcome::Ok => {
            if let Some(t) = srv.evict.exceeded_since.take() {
                srv.evict.total_exceeded_us += t.elapsed().as_micros() as u64;
            }
        }
        _ => {
            srv.evict.exceeded_since.get_or_insert_with(Instant::now);
        }
    }
    outcome
}

/// Sends what evictions propagated and announced: DELs to the AOF and the replicas,
/// keyspace events to subscribers (`current` is the client being served, if any).
pub(crate) fn flush(srv: &mut Server, current: &mut crate::client::Client) {
    if srv.propagated.is_empty() && srv.notifications.is_empty() {
        return;
    }
    crate::replication::feed(srv, None);
    crate::durability::aof::feed_propagated(srv);
    notify::flush(srv, Some(current));
}

/// CONFIG SET maxmemory (Redis's updateMaxmemory): a warning when the new limit is under what
/// is used, and evictions start at once on the event loop, not waiting for a command
/// (startEvictionTimeProc); the cron goes on while they are not done.
pub(crate) fn limit_changed(srv: &mut Server) {
    if srv.config.maxmemory == 0 {
        return;
    }
    let used = counted_memory(srv).max(0) as u64;
    if srv.config.maxmemory < used {
        srv.log.warning(&format!(
            "WARNING: the new maxmemory value set via CONFIG SET ({}) is smaller than the current memory usage ({used}). This will result in key eviction and/or the inability to accept new write commands depending on the maxmemory-policy.",
            srv.config.maxmemory
        ));
    }
    srv.evict.running = true;
    if let Some(rc) = srv.self_ref.upgrade() {
        // Runs once the command that changed the limit has returned the server.
        tokio::task::spawn_local(async move {
            if let Ok(mut s) = rc.try_borrow_mut() {
                cron(&mut s);
                crate::tracking::flush_outbox(&mut s, None);
            }
        });
    }
}

/// The cron's share (Redis's evictionTimeProc): goes on with evictions a command's run left
/// unfinished at its time limit.
pub(crate) fn cron(srv: &mut Server) {
    if !srv.evict.running {
        return;
    }
    perform_evictions(srv);
    if !srv.propagated.is_empty() || !srv.notifications.is_empty() {
        crate::replication::feed(srv, None);
        crate::durability::aof::feed_propagated(srv);
        notify::flush(srv, None);
    }
}

fn evict_until(srv: &mut Server, need: u64) -> Outcome {
    let start = Instant::now();
    let limit = time_limit_us(srv.config.maxmemory_eviction_tenacity);
    let mut freed: i64 = 0;
    let mut keys = 0u64;
    while freed < need as i64 {
        let Some((db, key)) = pick(srv) else {
            return Outcome::Fail;
        };
        // What the deletion freed, as Redis measures it around dbDelete; a key that a running
        // snapshot still needs is handed to it, and those bytes count as freed too (they are
        // not counted, see `not_counted`).
        let snapshot = snapshot_running(srv);
        let before = counted_memory(srv);
        let removed = srv.dbs[db].remove(key.as_slice());
        // A snapshot may still hold the value in its queue (a copy walked before the key was
        // evicted): its memory goes when the snapshot writes it. Count it as freed now, and
        // leave it out of used memory while snapshots run (Redis's fork keeps such pages too,
        // uncounted), or each command would evict again what is already on its way out.
        let estimate = match (&removed, snapshot) {
            (Some(e), true) => {
                (std::mem::size_of::<amber_store::Entry>()
                    + amber_store::memory::usage(&e.key, &e.value, 5)) as i64
            }
            _ => 0,
        };
        // lazyfree-lazy-eviction: a big value is freed on the drop thread; what it will give
        // back counts as freed now (Redis rechecks the limit instead as it goes).
        let lazy_estimate = match &removed {
            Some(e)
                if !snapshot && crate::lazyfree::will_drop_lazily(srv, &e.value, Why::Eviction) =>
            {
                (std::mem::size_of::<amber_store::Entry>()
                    + amber_store::memory::usage(&e.key, &e.value, 5)) as i64
            }
            _ => 0,
        };
        if let Some(e) = removed {
            srv.free_removed(e.value, Why::Eviction);
        }
        let delta = before - counted_memory(srv);
        if lazy_estimate > delta {
            freed += lazy_estimate;
        } else if estimate > delta {
            srv.evict.snapshot_deferred += (estimate - delta) as u64;
            freed += estimate;
        } else {
            freed += delta;
        }
        srv.evict.evicted_keys += 1;
        srv.signal_modified_key(db, &key, None);
        srv.notify(notify::EVICTED, "evicted", &key, db);
        srv.propagate_deletion(db, &key, crate::lazyfree::Why::Eviction);
        keys += 1;
        if keys.is_multiple_of(16) && start.elapsed().as_micros() as u64 > limit {
            return Outcome::Running;
        }
    }
    Outcome::Ok
}

/// The next key to evict by the policy, or `None` when no key can be evicted.
fn pick(srv: &mut Server) -> Option<(usize, Key)> {
    let policy = srv.config.maxmemory_policy;
    let volatile_only = !policy.allkeys();
    if matches!(policy, Policy::AllkeysRandom | Policy::VolatileRandom) {
        let n = srv.dbs.len();
        for _ in 0..n {
            srv.evict.next_db = (srv.evict.next_db + 1) % n;
            let db = srv.evict.next_db;
            let mut found = None;
            srv.dbs[db].sample(&mut srv.rng, 1, volatile_only, |e| {
                found = Some(e.key.clone());
            });
            if let Some(k) = found {
                return Some((db, k));
            }
        }
        return None;
    }
    loop {
        let mut total = 0usize;
        for db in 0..srv.dbs.len() {
            let d = &srv.dbs[db];
            let keys = if volatile_only {
                d.volatile_len()
            } else {
                d.len()
            };
            if keys == 0 {
                continue;
            }
            total += keys;
            populate(srv, db, policy);
        }
        if total == 0 {
            return None;
        }
        // Best first; a candidate deleted since it was sampled is a ghost, skipped.
        while let Some(c) = srv.evict.pool.pop() {
            let live = srv.dbs[c.db]
                .get(c.key.as_slice())
                .is_some_and(|e| !volatile_only || e.has_expire());
            if live {
                return Some((c.db, c.key));
            }
        }
    }
}

/// evictionPoolPopulate: samples maxmemory-samples keys of `db` into the pool.
fn populate(srv: &mut Server, db: usize, policy: Policy) {
    let now = srv.cmd_time_ms;
    let (samples, decay) = (
        srv.config.maxmemory_samples as usize,
        srv.config.lfu_decay_time,
    );
    let Server {
        dbs, rng, evict, ..
    } = srv;
    dbs[db].sample(rng, samples, !policy.allkeys(), |e| {
        let score = if policy.is_lru() {
            idle_ms(e.lru(), now)
        } else if policy.is_lfu() {
            u64::from(255 - lfu_counter(e.lru(), decay, now).min(255))
        } else {
            // volatile-ttl: the sooner the expiry, the better.
            u64::MAX - e.expire.max(0) as u64
        };
        evict.offer(score, db, &e.key);
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn policy_names_round_trip_in_redis_order() {
        for (i, n) in Policy::NAMES.iter().enumerate() {
            assert_eq!(Policy::from_name(n) as usize, i);
            assert_eq!(Policy::from_name(n).name(), *n);
        }
        assert!(Policy::AllkeysLfu.is_lfu() && !Policy::AllkeysLru.is_lfu());
    }

    #[test]
    fn lfu_counter_decays_one_per_period_and_wraps() {
        let now = 1_000 * 60 * 70_000; // minute 70000 (wraps 16 bits)
        let m = lfu_minutes(now);
        assert_eq!(lfu_counter((m << 8) | 20, 1, now), 20);
        assert_eq!(lfu_counter(((m - 3) << 8) | 20, 1, now), 17);
        assert_eq!(lfu_counter(((m - 3) << 8) | 20, 2, now), 19);
        assert_eq!(lfu_counter(((m - 30) << 8) | 20, 1, now), 0);
        assert_eq!(lfu_counter(((m - 30) << 8) | 20, 0, now), 20);
        // A decrement time "after" now wrapped once.
        assert_eq!(lfu_elapsed(65530, 4), 9);
    }

    #[test]
    fn lfu_log_incr_slows_down_with_the_counter() {
        let mut rng = SmallRng::seed_from_u64(1);
        let mut c = LFU_INIT_VAL;
        for _ in 0..1000 {
            c = lfu_log_incr(c, 10, &mut rng);
        }
        // Redis's table: factor 10, 1K hits -> about 18.
        assert!((12..=25).contains(&c), "{c}");
        assert_eq!(lfu_log_incr(255, 10, &mut rng), 255);
        assert_eq!(lfu_log_incr(3, 10, &mut rng), 4);
    }

    #[test]
    fn pool_keeps_the_best_sixteen_in_order() {
        let mut ev = Eviction::default();
        for s in [5u64, 1, 9, 3] {
            ev.offer(s, 0, &Key::from_slice(s.to_string().as_bytes()));
        }
        let scores: Vec<u64> = ev.pool.iter().map(|c| c.score).collect();
        assert_eq!(scores, vec![1, 3, 5, 9]);
        for s in 100..120u64 {
            ev.offer(s, 0, &Key::from_slice(b"k"));
        }
        assert_eq!(ev.pool.len(), POOL_SIZE);
        assert_eq!(ev.pool.first().map(|c| c.score), Some(104));
        assert_eq!(ev.pool.last().map(|c| c.score), Some(119));
        // Worse than all of a full pool: not taken.
        ev.offer(0, 0, &Key::from_slice(b"z"));
        assert_eq!(ev.pool.first().map(|c| c.score), Some(104));
    }

    #[test]
    fn tenacity_maps_to_redis_time_limits() {
        assert_eq!(time_limit_us(0), 0);
        assert_eq!(time_limit_us(10), 500);
        assert_eq!(time_limit_us(11), 575);
        assert_eq!(time_limit_us(100), u64::MAX);
    }
}
