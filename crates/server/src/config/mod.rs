//! Configuration: the directive table, redis.conf parsing (quotes, `include`, units, yes/no),
//! command-line overrides, and the CONFIG GET / SET / REWRITE machinery.
//!
//! Every directive Amber accepts is in `DIRECTIVES` with its behaviour; reading the text
//! (and reporting every refused line at once) is in `load.rs`; the directive table in `directives.rs`, CONFIG REWRITE in `rewrite.rs`. Later features add rows.

pub(crate) mod accepted;
pub(crate) mod directives;
pub(crate) mod load;
mod rewrite;

pub(crate) use rewrite::quote;

pub(crate) use directives::*;

use std::fmt::Write as _;
use std::path::PathBuf;

use amber_store::Limits;

/// How a debug-only or protected feature may be used: `no`, `yes`, or `local` (loopback only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Protection {
    No,
    Yes,
    Local,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum LogLevel {
    Debug,
    Verbose,
    Notice,
    Warning,
    Nothing,
}

/// The configuration in force.
#[derive(Clone, Debug)]
pub struct Config {
    pub(crate) port: u16,
    pub(crate) bind: Vec<String>,
    pub(crate) protected_mode: bool,
    pub(crate) requirepass: Option<Vec<u8>>,
    /// redis.conf's `user` lines (name and rules), applied at startup (acl::file).
    pub(crate) acl_users: Vec<Vec<Vec<u8>>>,
    pub(crate) databases: usize,
    pub(crate) timeout: u64,
    pub(crate) tcp_keepalive: u64,
    pub(crate) maxclients: u64,
    pub(crate) min_replicas_to_write: i64,
    pub(crate) min_replicas_max_lag: i64,
    /// hll-sparse-max-bytes: a sparse HyperLogLog that would grow past it becomes dense.
    pub(crate) hll_sparse_max_bytes: usize,
    /// notify-keyspace-events, as the classes' bits (cmd::notify).
    pub(crate) notify_keyspace_events: u32,
    pub(crate) loglevel: LogLevel,
    pub(crate) logfile: String,
    pub(crate) pidfile: String,
    pub(crate) unixsocket: String,
    pub(crate) unixsocketperm: u32,
    pub(crate) hz: u32,
    pub(crate) proto_max_bulk_len: i64,
    pub(crate) client_query_buffer_limit: i64,
    pub(crate) enable_debug_command: Protection,
    pub(crate) enable_protected_configs: Protection,
    pub(crate) dir: String,
    pub(crate) limits: Limits,
    /// The config file given at start, for CONFIG REWRITE.
    pub(crate) file: Option<PathBuf>,
    /// `save` points: (seconds, changes). A BGSAVE starts when at least `changes` writes
    /// happened and `seconds` passed since the last successful save.
    pub(crate) save_params: Vec<(u64, u64)>,
    /// While reading the config at start: whether a `save` line already replaced the
    /// defaults (later lines append, as in Redis).
    pub(crate) save_seen_in_file: bool,
    pub(crate) reading_file: bool,
    pub(crate) dbfilename: String,
    pub(crate) rdbcompression: bool,
    /// latency-tracking: per-command latency histograms (LATENCY HISTOGRAM).
    pub(crate) latency_tracking: bool,
    /// maxmemory in bytes (0: no limit) and how keys are evicted above it (evict.rs).
    pub(crate) maxmemory: u64,
    pub(crate) maxmemory_policy: crate::evict::Policy,
    pub(crate) maxmemory_samples: u32,
    pub(crate) maxmemory_eviction_tenacity: u32,
    /// maxmemory-clients: what the clients together may hold (net/client_eviction.rs).
    pub(crate) maxmemory_clients: crate::net::client_eviction::Limit,
    pub(crate) lfu_log_factor: u32,
    /// Minutes per halving step of an LFU counter (0: never decays).
    pub(crate) lfu_decay_time: u32,
    pub(crate) rdbchecksum: bool,
    pub(crate) stop_writes_on_bgsave_error: bool,
    pub(crate) rdb_save_incremental_fsync: bool,
    /// Microseconds to sleep per key while saving (a test aid, as in Redis; negative = nanosleep).
    pub(crate) rdb_key_save_delay: i64,
    /// key-load-delay (hidden test aid): microseconds to wait after each key loaded from an
    /// RDB (negative -n: 1 microsecond, one key in n on average), as Redis's debugDelay.
    pub(crate) key_load_delay: i64,
    /// loading-process-events-interval-bytes (hidden): how often Redis's loader stops to serve
    /// clients. Amber loads on a thread and serves clients all along, so nothing reads it.
    pub(crate) loading_process_events_interval_bytes: i64,
    /// use-exit-on-panic (hidden): a panic or failed assertion ends the process with exit
    /// code 1 after its report instead of SIGABRT (sys::crash keeps the switch).
    pub(crate) use_exit_on_panic: bool,
    pub(crate) appendonly: bool,
    pub(crate) appendfilename: String,
    pub(crate) appenddirname: String,
    pub(crate) appendfsync: AppendFsync,
    pub(crate) no_appendfsync_on_rewrite: bool,
    pub(crate) auto_aof_rewrite_percentage: i64,
    pub(crate) auto_aof_rewrite_min_size: i64,
    pub(crate) aof_load_truncated: bool,
    pub(crate) aof_use_rdb_preamble: bool,
    pub(crate) aof_timestamp_enabled: bool,
    pub(crate) aof_rewrite_incremental_fsync: bool,
    pub(crate) aof_disable_auto_gc: bool,
    pub(crate) daemonize: bool,
    pub(crate) supervised: Supervised,
    pub(crate) tcp_backlog: i32,
    /// Microseconds from which a command goes to the slow log (-1: never).
    pub(crate) slowlog_log_slower_than: i64,
    pub(crate) slowlog_max_len: u64,
    /// Milliseconds from which events go to the latency monitor (0: off).
    pub(crate) latency_monitor_threshold: i64,
    pub(crate) syslog_enabled: bool,
    pub(crate) syslog_ident: String,
    pub(crate) syslog_facility: String,
    /// shutdown-on-sigint / shutdown-on-sigterm: SHUTDOWN's flags for that signal.
    pub(crate) shutdown_on_sigint: SignalShutdown,
    pub(crate) shutdown_on_sigterm: SignalShutdown,
    /// `rename-command old new` lines, in order (`new` empty: the command is disabled).
    pub(crate) renamed_commands: Vec<(String, String)>,
    /// Values of the directives accepted without effect (config_accepted), when set.
    pub(crate) accepted: std::collections::BTreeMap<&'static str, String>,
}

/// supervised: how a supervisor learns that the server is ready.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Supervised {
    No,
    Upstart,
    Systemd,
    Auto,
}

/// What a signal's shutdown does besides the default (save if save points exist).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct SignalShutdown {
    pub(crate) save: bool,
    pub(crate) nosave: bool,
    pub(crate) now: bool,
    pub(crate) force: bool,
}

impl SignalShutdown {
    fn name(self) -> String {
        let mut w = Vec::new();
        for (on, n) in [
            (self.save, "save"),
            (self.nosave, "nosave"),
            (self.now, "now"),
            (self.force, "force"),
        ] {
            if on {
                w.push(n);
            }
        }
        if w.is_empty() {
            "default".into()
        } else {
            w.join(" ")
        }
    }

    fn parse(args: &[String]) -> Result<SignalShutdown, String> {
        let mut f = SignalShutdown::default();
        let words: Vec<&str> = args.iter().flat_map(|a| a.split_whitespace()).collect();
        for w in &words {
            match w.to_ascii_lowercase().as_str() {
                "default" if words.len() == 1 => {}
                "save" => f.save = true,
                "nosave" => f.nosave = true,
                "now" => f.now = true,
                "force" => f.force = true,
                _ => return Err(
                    "argument(s) must be one of the following: default, save, nosave, now, force"
                        .into(),
                ),
            }
        }
        if words.is_empty() {
            return Err("wrong number of arguments".into());
        }
        if f.save && f.nosave {
            return Err("shutdown options SAVE and NOSAVE can't be used simultaneously".into());
        }
        Ok(f)
    }
}

/// The syslog facilities Redis accepts.
pub(crate) const SYSLOG_FACILITIES: &[&str] = &[
    "user", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
];

/// appendfsync: when the AOF is fsynced, and so when a write is acknowledged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AppendFsync {
    /// After every write, before the reply (group commit).
    Always,
    /// Once a second, off the main thread.
    Everysec,
    /// When the kernel decides.
    No,
}

impl AppendFsync {
    pub(crate) fn name(self) -> &'static str {
        match self {
            AppendFsync::Always => "always",
            AppendFsync::Everysec => "everysec",
            AppendFsync::No => "no",
        }
    }
}

/// Redis 7.0's compiled-in save points.
pub(crate) const DEFAULT_SAVE_PARAMS: &[(u64, u64)] = &[(3600, 1), (300, 100), (60, 10000)];

impl Default for Config {
    fn default() -> Self {
        Config {
            port: 6379,
            bind: vec!["127.0.0.1".into(), "-::1".into()],
            protected_mode: true,
            requirepass: None,
            acl_users: Vec::new(),
            databases: 16,
            timeout: 0,
            tcp_keepalive: 300,
            maxclients: 10000,
            min_replicas_to_write: 0,
            min_replicas_max_lag: 10,
            hll_sparse_max_bytes: 3000,
            notify_keyspace_events: 0,
            loglevel: LogLevel::Notice,
            logfile: String::new(),
            pidfile: String::new(),
            unixsocket: String::new(),
            unixsocketperm: 0,
            hz: 10,
            proto_max_bulk_len: 512 * 1024 * 1024,
            client_query_buffer_limit: 1024 * 1024 * 1024,
            enable_debug_command: Protection::No,
            enable_protected_configs: Protection::No,
            dir: String::new(),
            limits: Limits::default(),
            file: None,
            save_params: DEFAULT_SAVE_PARAMS.to_vec(),
            save_seen_in_file: false,
            reading_file: false,
            dbfilename: "dump.rdb".into(),
            rdbcompression: true,
            latency_tracking: true,
            maxmemory: 0,
            maxmemory_policy: crate::evict::Policy::NoEviction,
            maxmemory_samples: 5,
            maxmemory_eviction_tenacity: 10,
            maxmemory_clients: crate::net::client_eviction::Limit::Bytes(0),
            lfu_log_factor: 10,
            lfu_decay_time: 1,
            rdbchecksum: true,
            stop_writes_on_bgsave_error: true,
            rdb_save_incremental_fsync: true,
            rdb_key_save_delay: 0,
            key_load_delay: 0,
            loading_process_events_interval_bytes: 2 * 1024 * 1024,
            use_exit_on_panic: false,
            appendonly: false,
            appendfilename: "appendonly.aof".into(),
            appenddirname: "appendonlydir".into(),
            appendfsync: AppendFsync::Everysec,
            no_appendfsync_on_rewrite: false,
            auto_aof_rewrite_percentage: 100,
            auto_aof_rewrite_min_size: 64 * 1024 * 1024,
            aof_load_truncated: true,
            aof_use_rdb_preamble: true,
            aof_timestamp_enabled: false,
            aof_rewrite_incremental_fsync: true,
            aof_disable_auto_gc: false,
            daemonize: false,
            supervised: Supervised::No,
            tcp_backlog: 511,
            slowlog_log_slower_than: 10000,
            slowlog_max_len: 128,
            latency_monitor_threshold: 0,
            syslog_enabled: false,
            syslog_ident: "redis".into(),
            syslog_facility: "local0".into(),
            shutdown_on_sigint: SignalShutdown::default(),
            shutdown_on_sigterm: SignalShutdown::default(),
            renamed_commands: Vec::new(),
            accepted: std::collections::BTreeMap::new(),
        }
    }
}

impl Config {
    /// The value of a directive kept in `accepted`: as set, else its default.
    pub(crate) fn accepted_value(&self, name: &'static str) -> &str {
        self.accepted
            .get(name)
            .map(String::as_str)
            .or_else(|| accepted::find(name).map(|a| a.default))
            .unwrap_or_default()
    }

    /// Builds the configuration from `amber-server [file] [--name value ...]`.
    pub fn from_args(args: &[String]) -> Result<Config, String> {
        let mut cfg = Config {
            reading_file: true,
            ..Config::default()
        };
        let r = cfg.load_args(args);
        cfg.reading_file = false;
        r.map(|()| cfg)
    }

    fn load_args(&mut self, args: &[String]) -> Result<(), String> {
        let cfg = self;
        // The file's refusals and the options' are reported together.
        let mut errors = crate::config::load::ConfigErrors::default();
        let mut rest = args;
        if let Some(first) = args.first() {
            if !first.starts_with("--") {
                let path = PathBuf::from(first);
                let text = if first == "-" {
                    let mut s = String::new();
                    std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
                        .map_err(|e| e.to_string())?;
                    s
                } else {
                    std::fs::read_to_string(&path).map_err(|e| {
                        format!("Fatal error, can't open config file '{first}': {e}")
                    })?
                };
                if let Err(e) = cfg.load_str(&text, Some(&path)) {
                    errors.0.extend(e.0);
                }
                if first != "-" {
                    cfg.file = Some(std::fs::canonicalize(&path).unwrap_or(path));
                }
                rest = &args[1..];
            }
        }
        // Options become config lines: each --name starts a line, later words are its arguments.
        let mut text = String::new();
        for a in rest {
            if let Some(name) = a.strip_prefix("--") {
                if !text.is_empty() {
                    text.push('\n');
                }
                text.push_str(name);
            } else {
                text.push(' ');
                text.push_str(&quote(a));
            }
        }
        if let Err(e) = cfg.load_str(&text, None) {
            errors.0.extend(e.0);
        }
        if errors.0.is_empty() {
            Ok(())
        } else {
            Err(errors.to_string())
        }
    }

    /// Values of every directive whose name (or alias) matches `pattern`.
    pub(crate) fn get_matching(&self, pattern: &[u8], out: &mut Vec<(String, String)>) {
        for d in all() {
            for name in std::iter::once(d.name()).chain(d.alias()) {
                let hit = if d.flags() & HIDDEN != 0 {
                    pattern.eq_ignore_ascii_case(name.as_bytes())
                } else {
                    crate::cmd::glob::matches(pattern, name.as_bytes(), true)
                };
                if hit && !out.iter().any(|(n, _)| n == name) {
                    out.push((name.to_string(), d.get(self)));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_bools() {
        assert_eq!(parse_memory("64mb"), Some(64 * 1024 * 1024));
        assert_eq!(parse_memory("1GB"), Some(1 << 30));
        assert_eq!(parse_memory("10k"), Some(10_000));
        assert_eq!(parse_memory("-1"), None);
        assert!(parse_bool("Yes").unwrap());
        assert!(parse_bool("maybe").is_err());
    }

    #[test]
    fn file_and_overrides() {
        let dir = std::env::temp_dir().join(format!("amber-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let inc = dir.join("inc.conf");
        std::fs::write(&inc, "hz 20\n").unwrap();
        let main = dir.join("main.conf");
        std::fs::write(
            &main,
            format!(
                "# c\nport 7000\nrequirepass \"a b\"\ninclude {}\n",
                inc.display()
            ),
        )
        .unwrap();
        let cfg = Config::from_args(&[main.display().to_string(), "--port".into(), "7001".into()])
            .unwrap();
        assert_eq!(cfg.port, 7001);
        assert_eq!(cfg.hz, 20);
        assert_eq!(cfg.requirepass.as_deref(), Some(&b"a b"[..]));
        std::fs::write(&main, "port 7000\nbogus 1\n").unwrap();
        let err = Config::from_args(&[main.display().to_string()]).unwrap_err();
        assert!(err.contains("at line 2"), "{err}");
        assert!(
            err.contains("Bad directive or wrong number of arguments"),
            "{err}"
        );
        std::fs::write(&main, "protected-mode maybe\n").unwrap();
        let err = Config::from_args(&[main.display().to_string()]).unwrap_err();
        assert!(err.contains("argument must be 'yes' or 'no'"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
