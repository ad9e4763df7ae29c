//! MEMORY USAGE, STATS, DOCTOR, MALLOC-STATS, PURGE and HELP. USAGE estimates Amber's own
//! layout (amber_store::memory): the same data costs different amounts in Redis and in Amber.
//! `Overhead` is what INFO memory and MEMORY STATS both report (Redis's getMemoryOverheadData).

use super::{Command, Ctx, Error, Reply, LOADING, READONLY, STALE};
use crate::client::Client;
use crate::server::Server;

pub(crate) static COMMANDS: &[Command] = &[Command::container("memory", -2, 0, SUBCOMMANDS)];

static SUBCOMMANDS: &[Command] = &[
    Command::new("usage", -3, READONLY, (2, 2, 1), &[], usage),
    Command::new("doctor", 2, 0, (0, 0, 0), &[], doctor),
    Command::new("stats", 2, 0, (0, 0, 0), &[], stats),
    Command::new("malloc-stats", 2, 0, (0, 0, 0), &[], malloc_stats),
    Command::new("purge", 2, 0, (0, 0, 0), &[], purge),
    Command::new("help", 2, LOADING | STALE, (0, 0, 0), &[], help),
];

/// Redis's default sample size for nested values.
const DEFAULT_SAMPLES: usize = 5;

fn usage(ctx: &mut Ctx<'_>) -> Reply {
    let a = ctx.args;
    let samples = match a.len() {
        3 => DEFAULT_SAMPLES,
        5 if a[3].eq_ignore_ascii_case(b"samples") => match super::args::int(&a[4])? {
            n if n < 0 => return Err(Error::syntax()),
            0 => usize::MAX,
            n => usize::try_from(n).unwrap_or(usize::MAX),
        },
        _ => return Err(Error::syntax()),
    };
    let db = ctx.cl.db;
    let key = amber_store::Key::from_slice(&a[2]);
    match ctx.srv.lookup_read(db, &a[2]) {
        None => ctx.cl.out.null(),
        Some(e) => {
            let n = amber_store::memory::usage(&key, &e.value, samples);
            ctx.cl.out.int(n as i64);
        }
    }
    Ok(())
}

fn doctor(ctx: &mut Ctx<'_>) -> Reply {
    // Redis's two reports that need no allocator internals: too little data to judge (under
    // 5 MB used), or nothing found.
    let text = if crate::sys::alloc::used_memory() < 5 * 1024 * 1024 {
        "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting.\n"
    } else {
        "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.\n"
    };
    ctx.cl.out.verbatim(text.as_bytes());
    Ok(())
}

fn malloc_stats(ctx: &mut Ctx<'_>) -> Reply {
    // What Redis answers when built without jemalloc.
    ctx.cl
        .out
        .bulk(b"Stats not supported for the current allocator");
    Ok(())
}

fn purge(ctx: &mut Ctx<'_>) -> Reply {
    ctx.cl.out.ok();
    Ok(())
}

fn help(ctx: &mut Ctx<'_>) -> Reply {
    ctx.help_lines(&[
        "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "DOCTOR",
        "    Return memory problems reports.",
        "MALLOC-STATS",
        "    Return internal statistics report from the memory allocator.",
        "PURGE",
        "    Attempt to purge dirty pages for reclamation by the allocator.",
        "STATS",
        "    Return information about the memory usage of the server.",
        "USAGE <key> [SAMPLES <count>]",
        "    Return memory in bytes used by <key> and its value. Nested values are",
        "    sampled up to <count> times (default: 5, 0 means sample all).",
        "HELP",
        "    Prints this help.",
    ])
}

/// Where the memory goes, as Redis's getMemoryOverheadData splits it, from what Amber holds:
/// the allocator's count, the keyspace tables, the replication backlog, the clients' query
/// and reply buffers and the AOF buffer. Amber starts with nothing it counts as startup
/// memory, keeps expiry times inside the keyspace entries (no separate expires table) and has
/// no cluster, scripts or functions.
pub(crate) struct Overhead {
    pub(crate) used: u64,
    pub(crate) peak: u64,
    pub(crate) rss: u64,
    pub(crate) startup: u64,
    pub(crate) backlog: u64,
    pub(crate) clients_normal: u64,
    /// Replicas' connections and the stream bytes waiting for them (Redis's
    /// mem_clients_slaves).
    pub(crate) clients_slaves: u64,
    pub(crate) aof_buffer: u64,
    /// (db index, keys, keyspace table bytes) for each database holding keys.
    pub(crate) dbs: Vec<(usize, u64, u64)>,
}

impl Overhead {
    /// `current` is the client running the command (borrowed, so not reachable through the
    /// server's client table).
    pub(crate) fn of(srv: &Server, current: Option<&Client>) -> Self {
        let client_bytes = |c: &Client| (c.out.buf.capacity() + c.qbuf_len) as u64;
        let mut clients_normal = current.map_or(0, client_bytes);
        let mut clients_slaves: u64 = srv
            .repl
            .replicas
            .values()
            .map(|r| r.pending.in_memory() as u64)
            .sum();
        for rc in srv.clients.values() {
            if let Ok(c) = rc.try_borrow() {
                if c.replica {
                    clients_slaves += client_bytes(&c);
                } else {
                    clients_normal += client_bytes(&c);
                }
            }
        }
        let dbs = srv
            .dbs
            .iter()
            .enumerate()
            .filter(|(_, d)| !d.is_empty())
            .map(|(i, d)| (i, d.len() as u64, d.overhead_bytes() as u64))
            .collect();
        Overhead {
            used: crate::sys::alloc::used_memory() as u64,
            peak: crate::sys::alloc::peak_memory() as u64,
            rss: crate::sys::alloc::rss() as u64,
            startup: 0,
            backlog: srv.repl.backlog.as_ref().map_or(0, |b| b.size() as u64),
            clients_normal,
            clients_slaves,
            aof_buffer: srv.aof.as_ref().map_or(0, |a| a.buf.capacity() as u64),
            dbs,
        }
    }

    /// overhead.total (INFO's used_memory_overhead), never above what is allocated.
    pub(crate) fn total(&self) -> u64 {
        let dbs: u64 = self.dbs.iter().map(|d| d.2).sum();
        (self.startup
            + self.backlog
            + self.clients_normal
            + self.clients_slaves
            + self.aof_buffer
            + dbs)
            .min(self.used)
    }

    pub(crate) fn dataset(&self) -> u64 {
        self.used - self.total()
    }

    /// Memory beyond startup (at least 1, as Redis divides by it).
    fn net(&self) -> u64 {
        self.used.saturating_sub(self.startup).max(1)
    }

    pub(crate) fn dataset_perc(&self) -> f64 {
        self.dataset() as f64 * 100.0 / self.net() as f64
    }

    pub(crate) fn peak_perc(&self) -> f64 {
        self.used as f64 * 100.0 / self.peak.max(1) as f64
    }
}

/// MEMORY STATS: Redis's fields in its order. Without jemalloc Redis takes the allocator's
/// allocated bytes as used memory and its active and resident bytes as the RSS; so does Amber.
fn stats(ctx: &mut Ctx<'_>) -> Reply {
    let o = Overhead::of(ctx.srv, Some(ctx.cl));
    let keys: u64 = o.dbs.iter().map(|d| d.1).sum();
    let (allocated, active, resident) = (o.used, o.rss, o.rss);
    let ratio = |a: u64, b: u64| a as f64 / b.max(1) as f64;
    let diff = |a: u64, b: u64| a as i64 - b as i64;
    let out = &mut ctx.cl.out;
    out.map(27 + o.dbs.len());
    let int = |out: &mut amber_resp::ReplyBuf, k: &str, v: i64| {
        out.bulk(k.as_bytes());
        out.int(v);
    };
    int(out, "peak.allocated", o.peak as i64);
    int(out, "total.allocated", o.used as i64);
    int(out, "startup.allocated", o.startup as i64);
    int(out, "replication.backlog", o.backlog as i64);
    int(out, "clients.slaves", o.clients_slaves as i64);
    int(out, "clients.normal", o.clients_normal as i64);
    int(out, "cluster.links", 0);
    int(out, "aof.buffer", o.aof_buffer as i64);
    int(out, "lua.caches", 0);
    int(out, "functions.caches", 0);
    for &(id, _, table) in &o.dbs {
        out.bulk(format!("db.{id}").as_bytes());
        out.map(3);
        int(out, "overhead.hashtable.main", table as i64);
        int(out, "overhead.hashtable.expires", 0);
        int(out, "overhead.hashtable.slot-to-keys", 0);
    }
    int(out, "overhead.total", o.total() as i64);
    int(out, "keys.count", keys as i64);
    int(
        out,
        "keys.bytes-per-key",
        o.net().checked_div(keys).unwrap_or(0) as i64,
    );
    int(out, "dataset.bytes", o.dataset() as i64);
    let dbl = |out: &mut amber_resp::ReplyBuf, k: &str, v: f64| {
        out.bulk(k.as_bytes());
        // Redis computes these as C floats.
        out.double(f64::from(v as f32));
    };
    dbl(out, "dataset.percentage", o.dataset_perc());
    dbl(out, "peak.percentage", o.peak_perc());
    int(out, "allocator.allocated", allocated as i64);
    int(out, "allocator.active", active as i64);
    int(out, "allocator.resident", resident as i64);
    dbl(
        out,
        "allocator-fragmentation.ratio",
        ratio(active, allocated),
    );
    int(
        out,
        "allocator-fragmentation.bytes",
        diff(active, allocated),
    );
    dbl(out, "allocator-rss.ratio", ratio(resident, active));
    int(out, "allocator-rss.bytes", diff(resident, active));
    dbl(out, "rss-overhead.ratio", ratio(o.rss, resident));
    int(out, "rss-overhead.bytes", diff(o.rss, resident));
    dbl(out, "fragmentation", ratio(o.rss, o.used));
    int(out, "fragmentation.bytes", diff(o.rss, o.used));
    Ok(())
}
