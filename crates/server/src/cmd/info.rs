//! INFO: Redis 7.0's sections and field names. Fields about fork report what is true of a
//! server that never forks (fork counts and fork times stay 0).

use std::fmt::Write as _;

use crate::cmd::{Ctx, Reply};
use crate::server::Server;

/// Sections of `INFO` / `INFO default`, in Redis's order.
const DEFAULT_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "errorstats",
    "cluster",
    "keyspace",
];
const ALL_EXTRA: &[&str] = &["commandstats", "latencystats"];

/// One `name:value` line of INFO.
macro_rules! field {
    ($out:expr, $name:expr, $val:expr) => {
        let _ = write!($out, "{}:{}\r\n", $name, $val);
    };
}

pub(crate) fn info_command(ctx: &mut Ctx<'_>) -> Reply {
    let mut wanted: Vec<String> = Vec::new();
    if ctx.args.len() == 1 {
        wanted.extend(DEFAULT_SECTIONS.iter().map(|s| s.to_string()));
    }
    for a in &ctx.args[1..] {
        let s = String::from_utf8_lossy(a).to_ascii_lowercase();
        match s.as_str() {
            "default" => wanted.extend(DEFAULT_SECTIONS.iter().map(|s| s.to_string())),
            "all" | "everything" => {
                wanted.extend(DEFAULT_SECTIONS.iter().map(|s| s.to_string()));
                wanted.extend(ALL_EXTRA.iter().map(|s| s.to_string()));
            }
            _ => wanted.push(s),
        }
    }
    let text = render(ctx.srv, &wanted);
    ctx.cl.out.verbatim(&text);
    Ok(())
}

fn human(bytes: u64) -> String {
    let b = bytes as f64;
    if b < 1024.0 {
        format!("{bytes}B")
    } else if b < 1024.0 * 1024.0 {
        format!("{:.2}K", b / 1024.0)
    } else if b < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2}M", b / (1024.0 * 1024.0))
    } else if b < 1024.0 * 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2}G", b / (1024.0 * 1024.0 * 1024.0))
    } else {
        format!("{:.2}T", b / (1024.0 * 1024.0 * 1024.0 * 1024.0))
    }
}

fn cpu_times() -> (f64, f64) {
    // SAFETY: getrusage fills the struct we own.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe {
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
    }
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    (t(ru.ru_stime), t(ru.ru_utime))
}

fn total_system_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

/// Renders the requested sections. `wanted` holds lowercase section names.
pub(crate) fn render(srv: &mut Server, wanted: &[String]) -> Vec<u8> {
    render_with(srv, wanted, true)
}

/// `sample_ttl`: whether the keyspace lines carry avg_ttl, which scans keys for volatile
/// ones (costly in a large keyspace with few expiring keys).
fn render_with(srv: &mut Server, wanted: &[String], sample_ttl: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut first = true;
    // Each section is rendered as text and appended; errorstats goes in as bytes (a
    // script's error code need not be UTF-8, and Redis shows it as it is).
    let mut section = |out: &mut Vec<u8>, title: &str, body: &mut dyn FnMut(&mut String)| {
        if !first {
            out.extend_from_slice(b"\r\n");
        }
        first = false;
        let mut text = format!("# {title}\r\n");
        body(&mut text);
        out.extend_from_slice(text.as_bytes());
    };
    let has = |s: &str| wanted.iter().any(|w| w == s);
    if has("server") {
        section(&mut out, "Server", &mut |t| server_section(srv, t));
    }
    if has("clients") {
        section(&mut out, "Clients", &mut |t| clients_section(srv, t));
    }
    if has("memory") {
        section(&mut out, "Memory", &mut |t| memory_section(srv, t));
    }
    if has("persistence") {
        section(&mut out, "Persistence", &mut |t| persistence_fields(srv, t));
    }
    if has("stats") {
        section(&mut out, "Stats", &mut |t| stats_section(srv, t));
    }
    if has("replication") {
        section(&mut out, "Replication", &mut |t| {
            crate::replication::info(srv, t)
        });
    }
    if has("cpu") {
        section(&mut out, "CPU", &mut cpu_section);
    }
    if has("modules") {
        section(&mut out, "Modules", &mut |_| {});
    }
    if has("commandstats") {
        section(&mut out, "Commandstats", &mut |t| {
            commandstats_section(srv, t)
        });
    }
    if has("errorstats") {
        section(&mut out, "Errorstats", &mut |_| {});
        for (code, n) in &srv.stats.error_codes {
            out.extend_from_slice(b"errorstat_");
            out.extend_from_slice(code);
            out.extend_from_slice(format!(":count={n}\r\n").as_bytes());
        }
    }
    if has("latencystats") {
        section(&mut out, "Latencystats", &mut |t| {
            latencystats_section(srv, t)
        });
    }
    if has("cluster") {
        section(&mut out, "Cluster", &mut |t| {
            field!(t, "cluster_enabled", 0);
        });
    }
    if has("keyspace") {
        section(&mut out, "Keyspace", &mut |t| {
            keyspace_section(srv, t, sample_ttl)
        });
    }
    out
}

/// `INFO all` for the crash report's cached copy, rendered every second: without avg_ttl,
/// so that it costs the same whatever the keyspace holds.
pub(crate) fn render_all(srv: &mut Server) -> Vec<u8> {
    let wanted: Vec<String> = DEFAULT_SECTIONS
        .iter()
        .chain(ALL_EXTRA)
        .map(|s| s.to_string())
        .collect();
    render_with(srv, &wanted, false)
}

/// The average remaining time to live of volatile keys, estimated from a sample.
fn avg_ttl(db: &amber_store::Db, now: i64) -> i64 {
    if db.volatile_len() == 0 {
        return 0;
    }
    let mut sum = 0i64;
    let mut n = 0i64;
    for e in db.iter().filter(|e| e.has_expire()).take(64) {
        sum += (e.expire - now).max(0);
        n += 1;
    }
    if n == 0 {
        0
    } else {
        sum / n
    }
}

/// INFO persistence, in Redis 7.0's order: the RDB fields, the AOF's, the loading progress
/// while loading, then Amber's own.
pub(crate) fn persistence_fields(srv: &Server, out: &mut String) {
    rdb_fields(srv, out);
    aof_fields(srv, out);
    if let Some(l) = &srv.loading {
        loading_fields(l, out);
    }
    amber_fields(srv, out);
}

fn put(out: &mut String, k: &str, v: &dyn std::fmt::Display) {
    let _ = write!(out, "{k}:{v}\r\n");
}

fn rdb_fields(srv: &Server, out: &mut String) {
    let f = put;
    // Amber never forks: the copy-on-write fields are 0, and current_fork_perc reports the
    // share of keys the snapshot in progress has written.
    let rdb = &srv.rdb;
    let (done, total) = rdb
        .bgsave
        .as_ref()
        .map(|b| {
            (
                b.progress
                    .keys_done
                    .load(std::sync::atomic::Ordering::Relaxed),
                b.progress
                    .keys_total
                    .load(std::sync::atomic::Ordering::Relaxed),
            )
        })
        .unwrap_or((0, 0));
    let perc = if total > 0 {
        done as f64 * 100.0 / total as f64
    } else {
        0.0
    };
    f(out, "loading", &u8::from(srv.loading.is_some()));
    f(out, "async_loading", &0);
    f(out, "current_cow_peak", &0);
    f(out, "current_cow_size", &0);
    f(out, "current_cow_size_age", &0);
    f(out, "current_fork_perc", &format!("{perc:.2}"));
    f(out, "current_save_keys_processed", &done);
    f(out, "current_save_keys_total", &total);
    f(out, "rdb_changes_since_last_save", &srv.dirty);
    f(
        out,
        "rdb_bgsave_in_progress",
        &u8::from(rdb.bgsave.is_some()),
    );
    f(out, "rdb_last_save_time", &rdb.lastsave);
    f(
        out,
        "rdb_last_bgsave_status",
        &if rdb.last_bgsave_ok { "ok" } else { "err" },
    );
    f(out, "rdb_last_bgsave_time_sec", &rdb.last_bgsave_time_sec);
    let current = rdb
        .bgsave
        .as_ref()
        .map(|b| b.started.elapsed().as_secs() as i64)
        .unwrap_or(-1);
    f(out, "rdb_current_bgsave_time_sec", &current);
    f(out, "rdb_saves", &rdb.saves);
    f(out, "rdb_last_cow_size", &0);
    f(
        out,
        "rdb_last_load_keys_expired",
        &rdb.last_load_keys_expired,
    );
    f(out, "rdb_last_load_keys_loaded", &rdb.last_load_keys_loaded);
}

fn aof_fields(srv: &Server, out: &mut String) {
    let f = put;
    let st = &srv.aof_status;
    let aof = srv.aof.as_ref();
    f(out, "aof_enabled", &u8::from(aof.is_some()));
    f(
        out,
        "aof_rewrite_in_progress",
        &u8::from(srv.aof_rewrite.running.is_some()),
    );
    f(
        out,
        "aof_rewrite_scheduled",
        &u8::from(srv.aof_rewrite.scheduled),
    );
    f(out, "aof_last_rewrite_time_sec", &st.last_rewrite_time_sec);
    let current_rw = srv
        .aof_rewrite
        .running
        .as_ref()
        .map(|r| r.started.elapsed().as_secs() as i64)
        .unwrap_or(-1);
    f(out, "aof_current_rewrite_time_sec", &current_rw);
    f(
        out,
        "aof_last_bgrewrite_status",
        &if st.last_bgrewrite_ok { "ok" } else { "err" },
    );
    f(out, "aof_rewrites", &st.rewrites);
    f(
        out,
        "aof_rewrites_consecutive_failures",
        &st.rewrites_consecutive_failures,
    );
    let write_ok = aof.is_none_or(|a| a.refusal().is_none());
    f(
        out,
        "aof_last_write_status",
        &if write_ok { "ok" } else { "err" },
    );
    f(out, "aof_last_cow_size", &0);
    f(out, "module_fork_in_progress", &0);
    f(out, "module_fork_last_cow_size", &0);
    if let Some(a) = aof {
        f(out, "aof_current_size", &a.current_size);
        f(out, "aof_base_size", &a.base_size);
        f(
            out,
            "aof_pending_rewrite",
            &u8::from(srv.aof_rewrite.scheduled),
        );
        f(out, "aof_buffer_length", &a.buf.len());
        f(
            out,
            "aof_pending_bio_fsync",
            &u8::from(a.fsync_in_progress()),
        );
        f(out, "aof_delayed_fsync", &a.delayed_fsync);
    }
}

fn loading_fields(l: &crate::durability::rdb_load::LoadProgress, out: &mut String) {
    let f = put;
    let loaded = l.loaded_bytes.load(std::sync::atomic::Ordering::Relaxed);
    let elapsed = l.started.elapsed().as_secs_f64();
    let perc = if l.total_bytes > 0 {
        loaded as f64 * 100.0 / l.total_bytes as f64
    } else {
        0.0
    };
    let eta = if loaded > 0 && elapsed > 0.0 {
        let rate = loaded as f64 / elapsed;
        (l.total_bytes.saturating_sub(loaded) as f64 / rate) as u64
    } else {
        1
    };
    f(out, "loading_start_time", &l.started_unix);
    f(out, "loading_total_bytes", &l.total_bytes);
    f(out, "loading_rdb_used_mem", &0);
    f(out, "loading_loaded_bytes", &loaded);
    f(out, "loading_loaded_perc", &format!("{perc:.2}"));
    f(out, "loading_eta_seconds", &eta);
}

fn amber_fields(srv: &Server, out: &mut String) {
    let f = put;
    let rdb = &srv.rdb;
    let aof = srv.aof.as_ref();
    // Amber's own: why the last save failed, with the code users look up (P004/P005).
    let last_error = rdb
        .last_failure
        .as_ref()
        .map(|e| format!("{} {}", e.code, e.name))
        .unwrap_or_else(|| "none".into());
    f(out, "amber_rdb_last_error", &last_error);
    let aof_error = aof
        .and_then(|a| a.refusal())
        .map(|e| format!("{} {}", e.code, e.name))
        .unwrap_or_else(|| "none".into());
    f(out, "amber_aof_last_error", &aof_error);
    // An RDB file present at start that was not loaded (appendonly yes, empty AOF): where it
    // is now (see rdb_guard).
    let not_loaded = srv.rdb_not_loaded.as_ref().map(|n| n.path()).unwrap_or("");
    f(out, "amber_rdb_not_loaded", &not_loaded);
}

fn server_section(srv: &Server, out: &mut String) {
    let uptime = srv.started.elapsed().as_secs();
    field!(out, "redis_version", crate::REDIS_VERSION);
    field!(out, "redis_git_sha1", "00000000");
    field!(out, "redis_git_dirty", 0);
    field!(out, "redis_build_id", "0");
    field!(out, "redis_mode", "standalone");
    field!(out, "amber_version", crate::AMBER_VERSION);
    let uname = {
        // SAFETY: uname fills the struct we own.
        let mut u: libc::utsname = unsafe { std::mem::zeroed() };
        unsafe {
            libc::uname(&mut u);
        }
        let s = |a: &[libc::c_char]| {
            let bytes: Vec<u8> = a
                .iter()
                .take_while(|c| **c != 0)
                .map(|c| *c as u8)
                .collect();
            String::from_utf8_lossy(&bytes).into_owned()
        };
        format!("{} {} {}", s(&u.sysname), s(&u.release), s(&u.machine))
    };
    field!(out, "os", uname);
    field!(out, "arch_bits", 64);
    field!(out, "monotonic_clock", "POSIX clock_gettime");
    field!(out, "multiplexing_api", "epoll");
    field!(out, "atomicvar_api", "c11-builtin");
    field!(out, "gcc_version", "0.0.0");
    field!(out, "process_id", std::process::id());
    field!(out, "process_supervised", "no");
    field!(out, "run_id", srv.run_id);
    field!(out, "tcp_port", srv.config.port);
    field!(out, "server_time_usec", crate::server::unix_us());
    field!(out, "uptime_in_seconds", uptime);
    field!(out, "uptime_in_days", uptime / 86400);
    field!(out, "hz", srv.config.hz);
    field!(out, "configured_hz", srv.config.hz);
    field!(out, "lru_clock", srv.lru_clock());
    field!(out, "executable", srv.executable);
    field!(
        out,
        "config_file",
        srv.config
            .file
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    );
    field!(out, "io_threads_active", 0);
}

fn clients_section(srv: &Server, out: &mut String) {
    field!(out, "connected_clients", srv.clients.len());
    field!(out, "cluster_connections", 0);
    field!(out, "maxclients", srv.config.maxclients);
    field!(
        out,
        "client_recent_max_input_buffer",
        srv.qbuf_peaks.recent_max(crate::server::unix_ms() / 1000)
    );
    field!(
        out,
        "client_recent_max_output_buffer",
        srv.obuf_peaks.recent_max(crate::server::unix_ms() / 1000)
    );
    field!(out, "blocked_clients", srv.blocking.count);
    field!(out, "tracking_clients", srv.tracking.clients);
    field!(out, "clients_in_timeout_table", srv.blocking.count);
}

fn memory_section(srv: &Server, out: &mut String) {
    let o = crate::cmd::memory::Overhead::of(srv, None);
    let (used, peak, rss) = (o.used, o.peak, o.rss);
    let sys = total_system_memory();
    field!(out, "used_memory", used);
    field!(out, "used_memory_human", human(used));
    field!(out, "used_memory_rss", rss);
    field!(out, "used_memory_rss_human", human(rss));
    field!(out, "used_memory_peak", peak);
    field!(out, "used_memory_peak_human", human(peak));
    field!(
        out,
        "used_memory_peak_perc",
        format!("{:.2}%", o.peak_perc())
    );
    field!(out, "used_memory_overhead", o.total());
    field!(out, "used_memory_startup", o.startup);
    field!(out, "used_memory_dataset", o.dataset());
    field!(
        out,
        "used_memory_dataset_perc",
        format!("{:.2}%", o.dataset_perc())
    );
    field!(out, "allocator_allocated", used);
    field!(out, "allocator_active", rss);
    field!(out, "allocator_resident", rss);
    field!(out, "total_system_memory", sys);
    field!(out, "total_system_memory_human", human(sys));
    let lua = srv.scripting.lua_memory();
    let scripts_eval = srv.scripting.scripts_memory();
    for f in ["used_memory_lua", "used_memory_vm_eval"] {
        field!(out, f, lua);
    }
    field!(out, "used_memory_lua_human", human(lua as u64));
    field!(out, "used_memory_scripts_eval", scripts_eval);
    field!(out, "number_of_cached_scripts", srv.scripting.scripts.len());
    let fmem = srv.scripting.functions_memory();
    field!(
        out,
        "number_of_functions",
        srv.scripting.funcs.functions.len()
    );
    field!(
        out,
        "number_of_libraries",
        srv.scripting.funcs.libraries.len()
    );
    field!(out, "used_memory_vm_functions", fmem);
    field!(out, "used_memory_vm_total", lua + fmem);
    field!(
        out,
        "used_memory_vm_total_human",
        human((lua + fmem) as u64)
    );
    field!(out, "used_memory_functions", 0);
    field!(out, "used_memory_scripts", scripts_eval);
    field!(out, "used_memory_scripts_human", human(scripts_eval as u64));
    let maxmemory = srv.config.maxmemory;
    field!(out, "maxmemory", maxmemory);
    field!(out, "maxmemory_human", human(maxmemory));
    field!(out, "maxmemory_policy", srv.config.maxmemory_policy.name());
    let frag = rss as f64 / used.max(1) as f64;
    field!(out, "allocator_frag_ratio", "1.00");
    field!(out, "allocator_frag_bytes", 0);
    field!(out, "allocator_rss_ratio", "1.00");
    field!(out, "allocator_rss_bytes", 0);
    field!(out, "rss_overhead_ratio", "1.00");
    field!(out, "rss_overhead_bytes", 0);
    field!(out, "mem_fragmentation_ratio", format!("{frag:.2}"));
    field!(out, "mem_fragmentation_bytes", rss as i64 - used as i64);
    field!(
        out,
        "mem_not_counted_for_evict",
        crate::evict::not_counted(srv)
    );
    field!(out, "mem_replication_backlog", o.backlog);
    // Redis 7.0 shares one buffer between the backlog and its replicas; Amber's replicas
    // each hold what waits for them.
    field!(
        out,
        "mem_total_replication_buffers",
        o.backlog + o.clients_slaves
    );
    field!(out, "mem_clients_slaves", o.clients_slaves);
    field!(out, "mem_clients_normal", o.clients_normal);
    field!(out, "mem_cluster_links", 0);
    field!(out, "mem_aof_buffer", o.aof_buffer);
    field!(out, "mem_allocator", "mimalloc");
    field!(out, "active_defrag_running", 0);
    field!(out, "lazyfree_pending_objects", srv.lazyfree.pending());
    field!(out, "lazyfreed_objects", srv.lazyfree.freed());
}

fn stats_section(srv: &Server, out: &mut String) {
    let st = &srv.stats;
    field!(
        out,
        "total_connections_received",
        st.total_connections_received
    );
    field!(out, "total_commands_processed", st.total_commands_processed);
    field!(out, "instantaneous_ops_per_sec", st.inst_ops.value() as u64);
    field!(out, "total_net_input_bytes", st.total_net_input_bytes);
    field!(out, "total_net_output_bytes", st.total_net_output_bytes);
    field!(out, "total_net_repl_input_bytes", 0);
    field!(out, "total_net_repl_output_bytes", 0);
    field!(
        out,
        "instantaneous_input_kbps",
        format!("{:.2}", st.inst_input.value() / 1024.0)
    );
    field!(
        out,
        "instantaneous_output_kbps",
        format!("{:.2}", st.inst_output.value() / 1024.0)
    );
    field!(out, "instantaneous_input_repl_kbps", "0.00");
    field!(out, "instantaneous_output_repl_kbps", "0.00");
    field!(out, "rejected_connections", st.rejected_connections);
    field!(out, "sync_full", srv.repl.sync_full);
    field!(out, "sync_partial_ok", srv.repl.sync_partial_ok);
    field!(out, "sync_partial_err", srv.repl.sync_partial_err);
    field!(out, "expired_keys", st.expired_keys);
    field!(
        out,
        "expired_stale_perc",
        format!("{:.2}", st.expired_stale_perc)
    );
    field!(out, "expired_time_cap_reached_count", 0);
    field!(out, "expire_cycle_cpu_milliseconds", 0);
    field!(out, "evicted_keys", srv.evict.evicted_keys);
    field!(out, "evicted_clients", srv.stats.evicted_clients);
    let (total_exceeded, current_exceeded) = srv.evict.exceeded_ms();
    field!(out, "total_eviction_exceeded_time", total_exceeded);
    field!(out, "current_eviction_exceeded_time", current_exceeded);
    field!(out, "keyspace_hits", st.keyspace_hits);
    field!(out, "keyspace_misses", st.keyspace_misses);
    field!(out, "pubsub_channels", srv.pubsub.channels.len());
    let distinct: hashbrown::HashSet<&[u8]> = srv
        .pubsub
        .patterns
        .iter()
        .map(|(p, _)| p.as_slice())
        .collect();
    field!(out, "pubsub_patterns", distinct.len());
    field!(out, "pubsubshard_channels", 0);
    field!(out, "latest_fork_usec", st.latest_snapshot_start_usec);
    field!(out, "total_forks", 0);
    field!(out, "migrate_cached_sockets", 0);
    field!(out, "slave_expires_tracked_keys", 0);
    for f in [
        "active_defrag_hits",
        "active_defrag_misses",
        "active_defrag_key_hits",
        "active_defrag_key_misses",
        "total_active_defrag_time",
        "current_active_defrag_time",
    ] {
        field!(out, f, 0);
    }
    field!(out, "tracking_total_keys", srv.tracking.total_keys());
    field!(out, "tracking_total_items", srv.tracking.total_items());
    field!(
        out,
        "tracking_total_prefixes",
        srv.tracking.total_prefixes()
    );
    field!(out, "unexpected_error_replies", st.unexpected_error_replies);
    field!(out, "total_error_replies", st.total_error_replies);
    field!(out, "dump_payload_sanitizations", 0);
    field!(out, "total_reads_processed", st.total_commands_processed);
    field!(out, "total_writes_processed", st.total_commands_processed);
    field!(out, "io_threaded_reads_processed", 0);
    field!(out, "io_threaded_writes_processed", 0);
    field!(out, "reply_buffer_shrinks", 0);
    field!(out, "reply_buffer_expands", 0);
}

fn cpu_section(out: &mut String) {
    let (sys, user) = cpu_times();
    field!(out, "used_cpu_sys", format!("{sys:.6}"));
    field!(out, "used_cpu_user", format!("{user:.6}"));
    field!(out, "used_cpu_sys_children", "0.000000");
    field!(out, "used_cpu_user_children", "0.000000");
    field!(out, "used_cpu_sys_main_thread", format!("{sys:.6}"));
    field!(out, "used_cpu_user_main_thread", format!("{user:.6}"));
}

fn commandstats_section(srv: &Server, out: &mut String) {
    let mut names: Vec<_> = srv
        .stats
        .commands
        .iter()
        .map(|(n, s)| (n.to_string(), s))
        .collect();
    names.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, s) in names {
        if s.calls == 0 && s.rejected_calls == 0 && s.failed_calls == 0 {
            continue;
        }
        let per = if s.calls > 0 {
            s.usec as f64 / s.calls as f64
        } else {
            0.0
        };
        let _ = write!(
            out,
            "cmdstat_{}:calls={},usec={},usec_per_call={:.2},rejected_calls={},failed_calls={}\r\n",
            name, s.calls, s.usec, per, s.rejected_calls, s.failed_calls
        );
    }
}

/// latency_percentiles_usec_<command>:p50=...,p99=...,p99.9=... for every command with a
/// latency histogram, at latency-tracking-info-percentiles (nothing with latency-tracking no).
fn latencystats_section(srv: &Server, out: &mut String) {
    if !srv.config.latency_tracking {
        return;
    }
    let percentiles: Vec<f64> = srv
        .config
        .accepted_value("latency-tracking-info-percentiles")
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect();
    let mut names: Vec<_> = srv
        .stats
        .commands
        .iter()
        .filter_map(|(n, s)| Some((n.to_string(), s.latency.as_ref()?)))
        .collect();
    names.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, h) in names {
        let _ = write!(out, "latency_percentiles_usec_{name}:");
        for (i, &p) in percentiles.iter().enumerate() {
            let sep = if i + 1 < percentiles.len() { "," } else { "" };
            let usec = h.value_at_percentile(p) as f64 / 1000.0;
            let _ = write!(
                out,
                "p{}={usec:.3}{sep}",
                crate::cmd::latency_hist::percentile_label(p)
            );
        }
        out.push_str("\r\n");
    }
}

fn keyspace_section(srv: &Server, out: &mut String, sample_ttl: bool) {
    let now = crate::server::unix_ms();
    for (i, db) in srv.dbs.iter().enumerate() {
        if db.is_empty() {
            continue;
        }
        let _ = write!(
            out,
            "db{}:keys={},expires={}",
            i,
            db.len(),
            db.volatile_len()
        );
        if sample_ttl {
            let _ = write!(out, ",avg_ttl={}", avg_ttl(db, now));
        }
        out.push_str("\r\n");
    }
}
