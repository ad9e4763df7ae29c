//! The server's shared state: databases, clients, configuration, statistics, and the registries
//! of watched keys, blocked clients and pub/sub subscriptions. One thread owns it: commands run
//! one at a time, as in Redis, so every command is atomic.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use amber_store::{Blob, Db, Key};
use hashbrown::{HashMap, HashSet};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::client::{Client, ClientId};
use crate::cmd::CommandTable;
use crate::config::Config;
use crate::sys::log::Logger;

/// Unix time in milliseconds.
pub(crate) fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Unix time in microseconds.
pub(crate) fn unix_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// Per-command counters for INFO commandstats.
#[derive(Default)]
pub(crate) struct CmdStat {
    pub(crate) calls: u64,
    pub(crate) usec: u64,
    pub(crate) rejected_calls: u64,
    pub(crate) failed_calls: u64,
    /// LATENCY HISTOGRAM and INFO latencystats: from the first call timed.
    pub(crate) latency: Option<crate::cmd::latency_hist::LatencyHist>,
}

#[derive(Default)]
pub(crate) struct Stats {
    /// Microseconds the main thread spent starting the latest snapshot (INFO's
    /// latest_fork_usec: the pause Redis's fork causes, which is what tools watch it for).
    pub(crate) latest_snapshot_start_usec: u64,
    pub(crate) total_connections_received: u64,
    /// Clients disconnected by maxmemory-clients (net/client_eviction.rs).
    pub(crate) evicted_clients: u64,
    pub(crate) total_commands_processed: u64,
    pub(crate) rejected_connections: u64,
    pub(crate) expired_keys: u64,
    pub(crate) expired_stale_perc: f64,
    pub(crate) keyspace_hits: u64,
    pub(crate) keyspace_misses: u64,
    pub(crate) total_net_input_bytes: u64,
    pub(crate) total_net_output_bytes: u64,
    pub(crate) total_error_replies: u64,
    pub(crate) unexpected_error_replies: u64,
    pub(crate) error_codes: BTreeMap<Vec<u8>, u64>,
    pub(crate) commands: HashMap<crate::cmd::CmdName, CmdStat>,
    pub(crate) pubsub_messages: u64,
    pub(crate) inst_ops: InstMetric,
    pub(crate) inst_input: InstMetric,
    pub(crate) inst_output: InstMetric,
}

/// Redis's instantaneous metrics: a value sampled every cron run, averaged over the last 16.
#[derive(Default)]
pub(crate) struct InstMetric {
    last_time_ms: i64,
    last_value: u64,
    samples: [f64; 16],
    idx: usize,
}

impl InstMetric {
    /// Records the counter's current value; the sample is its rate per second since the last.
    pub(crate) fn sample(&mut self, now_ms: i64, value: u64) {
        if self.last_time_ms > 0 && now_ms > self.last_time_ms {
            let rate = (value.saturating_sub(self.last_value)) as f64 * 1000.0
                / (now_ms - self.last_time_ms) as f64;
            self.samples[self.idx] = rate;
            self.idx = (self.idx + 1) % self.samples.len();
        }
        self.last_time_ms = now_ms;
        self.last_value = value;
    }

    pub(crate) fn value(&self) -> f64 {
        self.samples.iter().sum::<f64>() / self.samples.len() as f64
    }
}

/// Clients blocked on keys, per (db, key), in arrival order.
#[derive(Default)]
pub(crate) struct Blocking {
    pub(crate) by_key: HashMap<(usize, Key), Vec<ClientId>>,
    /// Keys that received data while clients wait on them; served after the current command.
    pub(crate) ready: Vec<(usize, Key)>,
    pub(crate) ready_set: HashSet<(usize, Key)>,
    pub(crate) count: usize,
    /// While a blocked command runs again: the ready key that woke it. Redis 7.0 serves a
    /// client from the key that became ready, not from the first of its keys holding data.
    pub(crate) serving: Option<Key>,
}

/// Pub/sub subscriptions.
#[derive(Default)]
pub(crate) struct PubSub {
    pub(crate) channels: HashMap<Blob, Vec<ClientId>>,
    pub(crate) patterns: Vec<(Blob, ClientId)>,
    /// Shard channels (SSUBSCRIBE) and their subscribers; patterns never see them.
    pub(crate) shard_channels: HashMap<Blob, Vec<ClientId>>,
}

/// CLIENT PAUSE in force.
#[derive(Clone, Copy)]
pub(crate) struct Pause {
    pub(crate) until: Instant,
    /// Only write commands are held back (PAUSE ... WRITE).
    pub(crate) write_only: bool,
}

pub(crate) struct Server {
    pub(crate) config: Config,
    /// ACL users and the ACL log.
    pub(crate) acl: crate::acl::Acl,
    pub(crate) dbs: Vec<Db>,
    pub(crate) clients: BTreeMap<ClientId, Rc<RefCell<Client>>>,
    pub(crate) next_client_id: ClientId,
    pub(crate) stats: Stats,
    pub(crate) commands: CommandTable,
    pub(crate) slowlog: crate::cmd::slowlog::SlowLog,
    /// Clients in MONITOR mode.
    pub(crate) monitors: Vec<ClientId>,
    pub(crate) latency: crate::cmd::latency::LatencyMonitor,
    pub(crate) run_id: String,
    pub(crate) started: Instant,
    /// Time of the command being executed (Unix ms): expiry is judged against it, so a key
    /// cannot expire in the middle of a command or a transaction.
    pub(crate) cmd_time_ms: i64,
    /// Modifications since the last save (rdb_changes_since_last_save).
    pub(crate) dirty: u64,
    pub(crate) rng: SmallRng,
    pub(crate) blocking: Blocking,
    pub(crate) pubsub: PubSub,
    /// Keyspace notifications waiting for delivery: (channel, message).
    pub(crate) notifications: Vec<(Vec<u8>, Vec<u8>)>,
    pub(crate) watched: HashMap<(usize, Key), Vec<ClientId>>,
    /// (client, db, key) for watched keys that existed when WATCH ran: their expiry fails EXEC.
    pub(crate) watch_live: HashSet<(ClientId, usize, Key)>,
    pub(crate) pause: Option<Pause>,
    pub(crate) shutdown_asap: bool,
    pub(crate) expire_cursor: Vec<usize>,
    pub(crate) log: Logger,
    pub(crate) executable: String,
    /// The accept loops in service, replaced when CONFIG SET changes port or bind.
    pub(crate) listeners: Vec<tokio::task::AbortHandle>,
    /// The listening sockets (descriptor, is the unix socket), for accepting while a busy
    /// script holds the thread (net::accept_while_busy).
    pub(crate) listen_fds: Vec<(i32, bool)>,
    /// The running command replied an error without returning one (a script's error reply):
    /// it counts as failed (commandstats' failed_calls).
    pub(crate) reply_failed: bool,
    /// This server's own handle, for work that must spawn tasks (rebinding listeners).
    pub(crate) self_ref: std::rc::Weak<RefCell<Server>>,
    /// Commands propagated (effects, for the AOF) by the command being executed.
    pub(crate) propagated: Vec<(usize, Vec<Vec<u8>>)>,
    /// The running command replaced its own propagation (`propagate`), so `call` must not
    /// also propagate it as received.
    pub(crate) propagation_replaced: bool,
    /// Nesting of `cmd::call` (EXEC runs its commands inside its own call).
    pub(crate) call_depth: u32,
    /// Lua: the interpreter, the script cache.
    pub(crate) scripting: crate::scripting::Scripting,
    /// What the AOF, the RDB save and the manifest write through (the file system; a
    /// fault-injecting model in the crash tests).
    pub(crate) storage: std::sync::Arc<dyn amber_persist::storage::Storage>,
    /// The append-only file, when appendonly is on.
    pub(crate) aof: Option<crate::durability::aof::Aof>,
    /// AOF state that outlives turning it off (INFO's aof_* status fields).
    pub(crate) aof_status: crate::durability::aof::AofStatus,
    /// The AOF rewrite in progress or scheduled (BGREWRITEAOF works with appendonly no too).
    pub(crate) aof_rewrite: crate::durability::aof::rewrite::RewriteState,
    /// The logical AOF offset reached when it was last turned off.
    pub(crate) aof_offset: u64,
    /// The AOF is being replayed: keys do not expire meanwhile.
    pub(crate) replaying_aof: bool,
    /// DEBUG SET-ACTIVE-EXPIRE switches the active expire cycle.
    pub(crate) active_expire_enabled: bool,
    /// RDB snapshots: the BGSAVE in progress and the status of the last saves.
    pub(crate) rdb: crate::durability::save::RdbState,
    /// Loading the dataset at start: commands without the LOADING flag are refused.
    pub(crate) loading: Option<crate::durability::rdb_load::LoadProgress>,
    /// Wakes the task that walks running snapshots (`net::snapshot_pump`).
    pub(crate) snapshot_wake: Rc<tokio::sync::Notify>,
    /// An RDB file present at start and not loaded (appendonly yes, empty AOF).
    pub(crate) rdb_not_loaded: Option<crate::durability::rdb_guard::NotLoaded>,
    /// Replication: IDs, offsets, backlog, replicas.
    pub(crate) repl: crate::replication::Repl,
    /// maxmemory: the eviction pool and statistics.
    pub(crate) evict: crate::evict::Eviction,
    /// The largest client output buffers of the last seconds (INFO clients).
    pub(crate) obuf_peaks: crate::net::output_limit::Peaks,
    /// What the clients client eviction counts hold, as last accounted per client (Redis's
    /// per-type client memory sums): checked per command instead of a scan of every client.
    pub(crate) clients_mem: std::cell::Cell<u64>,
    /// The same for the clients' query buffers (client_recent_max_input_buffer).
    pub(crate) qbuf_peaks: crate::net::output_limit::Peaks,
    /// Client-side caching: the invalidation table, BCAST prefixes, messages waiting.
    pub(crate) tracking: crate::tracking::Tracking,
    /// The drop thread big values and flushed databases are freed on (lazyfree.rs).
    pub(crate) lazyfree: crate::lazyfree::LazyFree,
}

impl Server {
    pub(crate) fn new(config: Config, log: Logger) -> Self {
        let mut rng = SmallRng::from_entropy();
        let run_id: String = (0..40)
            .map(|_| char::from(b"0123456789abcdef"[rng.gen_range(0..16)]))
            .collect();
        let repl = crate::replication::Repl::new(&mut rng, config.accepted.get("replicaof"));
        let dbs = (0..config.databases).map(|_| Db::new()).collect();
        let expire_cursor = vec![0; config.databases];
        Server {
            dbs,
            clients: BTreeMap::new(),
            next_client_id: 1,
            stats: Stats::default(),
            // The renames were checked when the config was read.
            commands: CommandTable::with_renames(&config.renamed_commands).unwrap_or_default(),
            slowlog: Default::default(),
            monitors: Vec::new(),
            latency: Default::default(),
            run_id,
            started: Instant::now(),
            cmd_time_ms: unix_ms(),
            dirty: 0,
            rng,
            blocking: Blocking::default(),
            pubsub: PubSub::default(),
            notifications: Vec::new(),
            watched: HashMap::new(),
            watch_live: HashSet::new(),
            pause: None,
            shutdown_asap: false,
            expire_cursor,
            log,
            executable: std::env::current_exe()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            listeners: Vec::new(),
            listen_fds: Vec::new(),
            reply_failed: false,
            self_ref: std::rc::Weak::new(),
            propagated: Vec::new(),
            propagation_replaced: false,
            call_depth: 0,
            scripting: crate::scripting::Scripting::new(),
            storage: amber_persist::storage::real(),
            aof: None,
            aof_status: crate::durability::aof::AofStatus::default(),
            aof_rewrite: Default::default(),
            aof_offset: 0,
            replaying_aof: false,
            active_expire_enabled: true,
            rdb: crate::durability::save::RdbState::new(unix_ms() / 1000),
            loading: None,
            snapshot_wake: Rc::new(tokio::sync::Notify::new()),
            rdb_not_loaded: None,
            repl,
            evict: Default::default(),
            obuf_peaks: Default::default(),
            clients_mem: Default::default(),
            qbuf_peaks: Default::default(),
            acl: Default::default(),
            tracking: Default::default(),
            lazyfree: Default::default(),
            config,
        }
    }

    /// Redis's LRU clock: seconds, 24 bits, from the cached command time.
    pub(crate) fn lru_clock(&self) -> u32 {
        crate::evict::lru_clock(self.cmd_time_ms)
    }

    /// The clock word a key created now gets: the LRU clock, or under an LFU policy the
    /// minutes and LFU_INIT_VAL (see evict.rs).
    pub(crate) fn new_lru(&self) -> u32 {
        crate::evict::initial(&self.config, self.cmd_time_ms)
    }

    /// A key changed (Redis's signalModifiedKey): transactions watching it will fail, and the
    /// clients that may cache it are told. `by` is the client whose command changed it (None
    /// for an expiry or an eviction).
    pub(crate) fn signal_modified_key(
        &mut self,
        db: usize,
        key: &[u8],
        by: Option<&mut crate::client::Client>,
    ) {
        self.touch_watched(db, key);
        let id = by.as_ref().map(|c| c.id);
        crate::tracking::invalidate_key(self, key, id, true, by);
    }

    /// Marks `key` modified: transactions watching it will fail.
    fn touch_watched(&mut self, db: usize, key: &[u8]) {
        if self.watched.is_empty() {
            return;
        }
        let k = (db, Key::from_slice(key));
        if let Some(ids) = self.watched.get(&k) {
            for id in ids {
                if let Some(c) = self.clients.get(id) {
                    if let Ok(mut c) = c.try_borrow_mut() {
                        c.dirty_cas = true;
                    }
                }
            }
        }
    }

    /// Marks modified the watched keys of `db` that exist in it or, for SWAPDB, in the
    /// database `replaced_with` that takes its place (Redis's touchAllWatchedKeysInDb).
    /// Call it before the databases change.
    pub(crate) fn touch_all_watched_in_db(
        &mut self,
        db: usize,
        replaced_with: Option<usize>,
        executing: &mut Client,
    ) {
        for ((d, key), ids) in &self.watched {
            if *d != db {
                continue;
            }
            let exists = self.dbs[db].get(key).is_some()
                || replaced_with.is_some_and(|other| self.dbs[other].get(key).is_some());
            if !exists {
                continue;
            }
            for id in ids {
                if *id == executing.id {
                    executing.dirty_cas = true;
                } else if let Some(c) = self.clients.get(id) {
                    if let Ok(mut c) = c.try_borrow_mut() {
                        c.dirty_cas = true;
                    }
                }
            }
        }
    }

    /// Wakes clients blocked on `key` once the current command is done (signalKeyAsReady).
    pub(crate) fn signal_ready(&mut self, db: usize, key: &[u8]) {
        if self.blocking.by_key.is_empty() {
            return;
        }
        let k = (db, Key::from_slice(key));
        if self.blocking.by_key.contains_key(&k) && self.blocking.ready_set.insert(k.clone()) {
            self.blocking.ready.push(k);
        }
    }

    /// Records what the running command did, as it must be replayed (for the AOF), in place
    /// of the command as received (SPOP → SREM, EXPIRE → PEXPIREAT, ...).
    pub(crate) fn propagate(&mut self, db: usize, args: Vec<Vec<u8>>) {
        self.propagation_replaced = true;
        self.propagated.push((db, args));
    }

    /// Records a deletion the server decided on its own (an expired or evicted key), in
    /// addition to whatever the running command propagates: UNLINK when the lazyfree-lazy-*
    /// directive for `why` is on, else DEL (propagateDeletion).
    pub(crate) fn propagate_deletion(&mut self, db: usize, key: &[u8], why: crate::lazyfree::Why) {
        let cmd: &[u8] = if crate::lazyfree::is_lazy(&self.config, why) {
            b"UNLINK"
        } else {
            b"DEL"
        };
        self.propagated.push((db, vec![cmd.to_vec(), key.to_vec()]));
    }

    pub(crate) fn watch_saw_live(&self, id: ClientId, db: usize, key: &[u8]) -> bool {
        self.watch_live.contains(&(id, db, Key::from_slice(key)))
    }
}
