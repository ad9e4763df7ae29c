//! Configuration: the directive table, redis.conf parsing (quotes, `include`, units, yes/no),
//! command-line overrides, and the CONFIG GET / SET / REWRITE machinery.
//!
//! Every directive Amber accepts is in `DIRECTIVES` with its behaviour; reading the text
//! (and reporting every refused line at once) is in `config_load`. Later features add rows.

pub(crate) mod accepted;
pub(crate) mod load;

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
    pub(crate) databases: usize,
    pub(crate) timeout: u64,
    pub(crate) tcp_keepalive: u64,
    pub(crate) maxclients: u64,
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
    pub(crate) rdbchecksum: bool,
    pub(crate) stop_writes_on_bgsave_error: bool,
    pub(crate) rdb_save_incremental_fsync: bool,
    /// Microseconds to sleep per key while saving (a test aid, as in Redis; negative = nanosleep).
    pub(crate) rdb_key_save_delay: i64,
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
            databases: 16,
            timeout: 0,
            tcp_keepalive: 300,
            maxclients: 10000,
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
            rdbchecksum: true,
            stop_writes_on_bgsave_error: true,
            rdb_save_incremental_fsync: true,
            rdb_key_save_delay: 0,
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

/// Directive flags.
pub(crate) const IMMUTABLE: u32 = 1;
pub(crate) const PROTECTED: u32 = 2;
/// Accepts any number of arguments (`save`, `bind`).
pub(crate) const MULTI_ARG: u32 = 4;
/// Only an exact name shows it in CONFIG GET (test aids, as Redis's HIDDEN_CONFIG).
pub(crate) const HIDDEN: u32 = 8;

type Getter = fn(&Config) -> String;
type Setter = fn(&mut Config, &[String]) -> Result<(), String>;

/// One directive: names, flags, and how to read and write it as text.
pub(crate) struct Directive {
    pub(crate) name: &'static str,
    pub(crate) alias: Option<&'static str>,
    pub(crate) flags: u32,
    pub(crate) get: Getter,
    pub(crate) set: Setter,
}

pub(crate) fn parse_bool(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "yes" => Ok(true),
        "no" => Ok(false),
        _ => Err("argument must be 'yes' or 'no'".into()),
    }
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.into()
}

/// Parses a memory value: a number with an optional unit (k=1000, kb=1024, m, mb, g, gb).
pub(crate) fn parse_memory(s: &str) -> Option<i64> {
    let lower = s.to_ascii_lowercase();
    let (num, mul): (&str, i64) = if let Some(n) = lower.strip_suffix("gb") {
        (n, 1024 * 1024 * 1024)
    } else if let Some(n) = lower.strip_suffix("mb") {
        (n, 1024 * 1024)
    } else if let Some(n) = lower.strip_suffix("kb") {
        (n, 1024)
    } else if let Some(n) = lower.strip_suffix('g') {
        (n, 1_000_000_000)
    } else if let Some(n) = lower.strip_suffix('m') {
        (n, 1_000_000)
    } else if let Some(n) = lower.strip_suffix('k') {
        (n, 1000)
    } else if let Some(n) = lower.strip_suffix('b') {
        (n, 1)
    } else {
        (lower.as_str(), 1)
    };
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    num.parse::<i64>().ok()?.checked_mul(mul)
}

pub(crate) fn parse_enum<'a>(s: &str, words: &[&'a str]) -> Result<&'a str, String> {
    let lower = s.to_ascii_lowercase();
    words.iter().find(|w| **w == lower).copied().ok_or_else(|| {
        format!(
            "argument(s) must be one of the following: {}",
            words.join(", ")
        )
    })
}

pub(crate) fn parse_int(s: &str, min: i64, max: i64) -> Result<i64, String> {
    let v = amber_resp::parse::string2ll(s.as_bytes())
        .ok_or_else(|| "argument couldn't be parsed into an integer".to_string())?;
    if v < min || v > max {
        return Err(format!(
            "argument must be between {min} and {max} inclusive"
        ));
    }
    Ok(v)
}

pub(crate) fn parse_mem_range(s: &str, min: i64, max: i64) -> Result<i64, String> {
    let v = parse_memory(s).ok_or_else(|| "argument must be a memory value".to_string())?;
    if v < min || v > max {
        return Err(format!(
            "argument must be between {min} and {max} inclusive"
        ));
    }
    Ok(v)
}

fn parse_protection(s: &str) -> Result<Protection, String> {
    match s.to_ascii_lowercase().as_str() {
        "no" => Ok(Protection::No),
        "yes" => Ok(Protection::Yes),
        "local" => Ok(Protection::Local),
        _ => Err("argument(s) must be one of the following: no, yes, local".into()),
    }
}

fn protection_name(p: Protection) -> String {
    match p {
        Protection::No => "no",
        Protection::Yes => "yes",
        Protection::Local => "local",
    }
    .into()
}

fn one(args: &[String]) -> &str {
    args.first().map(String::as_str).unwrap_or("")
}

macro_rules! int_directive {
    ($name:expr, $alias:expr, $flags:expr, $field:ident $(. $sub:ident)*, $ty:ty, $min:expr, $max:expr) => {
        Directive {
            name: $name,
            alias: $alias,
            flags: $flags,
            get: |c| c.$field$(.$sub)*.to_string(),
            set: |c, a| {
                c.$field$(.$sub)* = parse_int(one(a), $min, $max)? as $ty;
                Ok(())
            },
        }
    };
}

macro_rules! bool_directive {
    ($name:expr, $flags:expr, $field:ident) => {
        Directive {
            name: $name,
            alias: None,
            flags: $flags,
            get: |c| yes_no(c.$field),
            set: |c, a| {
                c.$field = parse_bool(one(a))?;
                Ok(())
            },
        }
    };
}

macro_rules! string_directive {
    ($name:expr, $flags:expr, $field:ident) => {
        Directive {
            name: $name,
            alias: None,
            flags: $flags,
            get: |c| c.$field.clone(),
            set: |c, a| {
                c.$field = one(a).to_string();
                Ok(())
            },
        }
    };
}

pub(crate) static DIRECTIVES: &[Directive] = &[
    int_directive!("port", None, 0, port, u16, 0, 65535),
    Directive {
        name: "bind",
        alias: None,
        flags: MULTI_ARG,
        get: |c| c.bind.join(" "),
        set: |c, a| {
            let mut addrs: Vec<String> = Vec::new();
            for s in a {
                addrs.extend(s.split_whitespace().map(str::to_string));
            }
            if addrs.len() > 16 {
                return Err("Too many bind addresses specified.".into());
            }
            c.bind = addrs;
            Ok(())
        },
    },
    bool_directive!("protected-mode", 0, protected_mode),
    Directive {
        name: "requirepass",
        alias: None,
        flags: 0,
        get: |c| {
            c.requirepass
                .as_ref()
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .unwrap_or_default()
        },
        set: |c, a| {
            let p = one(a);
            c.requirepass = if p.is_empty() {
                None
            } else {
                Some(p.as_bytes().to_vec())
            };
            Ok(())
        },
    },
    int_directive!(
        "databases",
        None,
        IMMUTABLE,
        databases,
        usize,
        1,
        i64::from(i32::MAX)
    ),
    int_directive!("timeout", None, 0, timeout, u64, 0, i64::from(i32::MAX)),
    int_directive!(
        "tcp-keepalive",
        None,
        0,
        tcp_keepalive,
        u64,
        0,
        i64::from(i32::MAX)
    ),
    int_directive!(
        "maxclients",
        None,
        0,
        maxclients,
        u64,
        1,
        i64::from(u32::MAX)
    ),
    Directive {
        name: "loglevel",
        alias: None,
        flags: 0,
        get: |c| {
            match c.loglevel {
                LogLevel::Debug => "debug",
                LogLevel::Verbose => "verbose",
                LogLevel::Notice => "notice",
                LogLevel::Warning => "warning",
                LogLevel::Nothing => "nothing",
            }
            .into()
        },
        set: |c, a| {
            c.loglevel = match one(a).to_ascii_lowercase().as_str() {
                "debug" => LogLevel::Debug,
                "verbose" => LogLevel::Verbose,
                "notice" => LogLevel::Notice,
                "warning" => LogLevel::Warning,
                "nothing" => LogLevel::Nothing,
                _ => {
                    return Err("argument(s) must be one of the following: debug, verbose, notice, warning, nothing".into())
                }
            };
            Ok(())
        },
    },
    string_directive!("logfile", IMMUTABLE, logfile),
    string_directive!("pidfile", IMMUTABLE, pidfile),
    string_directive!("unixsocket", IMMUTABLE, unixsocket),
    Directive {
        name: "unixsocketperm",
        alias: None,
        flags: IMMUTABLE,
        get: |c| format!("{:o}", c.unixsocketperm),
        set: |c, a| {
            c.unixsocketperm = u32::from_str_radix(one(a), 8)
                .ok()
                .filter(|v| *v <= 0o777)
                .ok_or_else(|| "argument must be between 0 and 777 inclusive".to_string())?;
            Ok(())
        },
    },
    Directive {
        name: "hz",
        alias: None,
        flags: 0,
        get: |c| c.hz.to_string(),
        set: |c, a| {
            // Redis clamps hz into 1..=500 rather than refusing.
            c.hz = parse_int(one(a), 0, i64::from(i32::MAX))?.clamp(1, 500) as u32;
            Ok(())
        },
    },
    Directive {
        name: "proto-max-bulk-len",
        alias: None,
        flags: 0,
        get: |c| c.proto_max_bulk_len.to_string(),
        set: |c, a| {
            c.proto_max_bulk_len = parse_mem_range(one(a), 1024 * 1024, i64::MAX)?;
            Ok(())
        },
    },
    Directive {
        name: "client-query-buffer-limit",
        alias: None,
        flags: 0,
        get: |c| c.client_query_buffer_limit.to_string(),
        set: |c, a| {
            c.client_query_buffer_limit = parse_mem_range(one(a), 1024 * 1024, i64::MAX)?;
            Ok(())
        },
    },
    Directive {
        name: "enable-debug-command",
        alias: None,
        flags: IMMUTABLE,
        get: |c| protection_name(c.enable_debug_command),
        set: |c, a| {
            c.enable_debug_command = parse_protection(one(a))?;
            Ok(())
        },
    },
    Directive {
        name: "enable-protected-configs",
        alias: None,
        flags: IMMUTABLE,
        get: |c| protection_name(c.enable_protected_configs),
        set: |c, a| {
            c.enable_protected_configs = parse_protection(one(a))?;
            Ok(())
        },
    },
    Directive {
        name: "dir",
        alias: None,
        flags: PROTECTED,
        // As Redis: the working directory, absolute (the server runs in it).
        get: |c| {
            std::env::current_dir()
                .map(|d| d.display().to_string())
                .unwrap_or_else(|_| c.dir.clone())
        },
        set: |c, a| {
            c.dir = one(a).to_string();
            Ok(())
        },
    },
    Directive {
        name: "save",
        alias: None,
        flags: MULTI_ARG,
        get: |c| {
            c.save_params
                .iter()
                .map(|(s, n)| format!("{s} {n}"))
                .collect::<Vec<_>>()
                .join(" ")
        },
        set: set_save,
    },
    Directive {
        name: "dbfilename",
        alias: None,
        flags: PROTECTED,
        get: |c| c.dbfilename.clone(),
        set: |c, a| {
            let v = one(a);
            if v.contains('/') || v == "." || v == ".." {
                return Err("dbfilename can't be a path, just a filename".into());
            }
            c.dbfilename = v.to_string();
            Ok(())
        },
    },
    bool_directive!("rdbcompression", 0, rdbcompression),
    bool_directive!("rdbchecksum", IMMUTABLE, rdbchecksum),
    bool_directive!(
        "stop-writes-on-bgsave-error",
        0,
        stop_writes_on_bgsave_error
    ),
    bool_directive!("rdb-save-incremental-fsync", 0, rdb_save_incremental_fsync),
    int_directive!(
        "rdb-key-save-delay",
        None,
        HIDDEN,
        rdb_key_save_delay,
        i64,
        i64::from(i32::MIN),
        i64::from(i32::MAX)
    ),
    // No eviction yet: report the truth and refuse a limit rather than ignore it.
    Directive {
        name: "maxmemory",
        alias: None,
        flags: 0,
        get: |_| "0".into(),
        set: |_, a| match parse_memory(one(a)) {
            Some(0) => Ok(()),
            Some(_) => {
                Err("a memory limit (eviction) is not available in this version of Amber".into())
            }
            None => Err("argument must be a memory value".into()),
        },
    },
    Directive {
        name: "maxmemory-policy",
        alias: None,
        flags: 0,
        get: |_| "noeviction".into(),
        set: |_, a| {
            if one(a).eq_ignore_ascii_case("noeviction") {
                Ok(())
            } else {
                Err("eviction policies are not available in this version of Amber".into())
            }
        },
    },
    bool_directive!("appendonly", 0, appendonly),
    Directive {
        name: "appendfilename",
        alias: None,
        flags: IMMUTABLE,
        get: |c| c.appendfilename.clone(),
        set: |c, a| {
            let v = one(a);
            if v.is_empty() || v.contains('/') || v == "." || v == ".." {
                return Err("appendfilename can't be a path, just a filename".into());
            }
            c.appendfilename = v.to_string();
            Ok(())
        },
    },
    Directive {
        name: "appenddirname",
        alias: None,
        flags: IMMUTABLE,
        get: |c| c.appenddirname.clone(),
        set: |c, a| {
            let v = one(a);
            if v.is_empty() || v.contains('/') || v == "." || v == ".." {
                return Err("appenddirname can't be a path, just a dirname".into());
            }
            c.appenddirname = v.to_string();
            Ok(())
        },
    },
    Directive {
        name: "appendfsync",
        alias: None,
        flags: 0,
        get: |c| c.appendfsync.name().into(),
        set: |c, a| {
            c.appendfsync = match one(a).to_ascii_lowercase().as_str() {
                "always" => AppendFsync::Always,
                "everysec" => AppendFsync::Everysec,
                "no" => AppendFsync::No,
                _ => {
                    return Err(
                        "argument(s) must be one of the following: always, everysec, no".into(),
                    )
                }
            };
            Ok(())
        },
    },
    bool_directive!("no-appendfsync-on-rewrite", 0, no_appendfsync_on_rewrite),
    int_directive!(
        "auto-aof-rewrite-percentage",
        None,
        0,
        auto_aof_rewrite_percentage,
        i64,
        0,
        i64::from(i32::MAX)
    ),
    Directive {
        name: "auto-aof-rewrite-min-size",
        alias: None,
        flags: 0,
        get: |c| c.auto_aof_rewrite_min_size.to_string(),
        set: |c, a| {
            c.auto_aof_rewrite_min_size = parse_mem_range(one(a), 0, i64::MAX)?;
            Ok(())
        },
    },
    bool_directive!("aof-load-truncated", 0, aof_load_truncated),
    bool_directive!("aof-use-rdb-preamble", 0, aof_use_rdb_preamble),
    bool_directive!("aof-timestamp-enabled", 0, aof_timestamp_enabled),
    bool_directive!(
        "aof-rewrite-incremental-fsync",
        0,
        aof_rewrite_incremental_fsync
    ),
    bool_directive!("aof-disable-auto-gc", 0, aof_disable_auto_gc),
    int_directive!(
        "hash-max-listpack-entries",
        Some("hash-max-ziplist-entries"),
        0,
        limits.hash_max_listpack_entries,
        usize,
        0,
        i64::MAX
    ),
    int_directive!(
        "hash-max-listpack-value",
        Some("hash-max-ziplist-value"),
        0,
        limits.hash_max_listpack_value,
        usize,
        0,
        i64::MAX
    ),
    int_directive!(
        "set-max-intset-entries",
        None,
        0,
        limits.set_max_intset_entries,
        usize,
        0,
        i64::MAX
    ),
    int_directive!(
        "zset-max-listpack-entries",
        Some("zset-max-ziplist-entries"),
        0,
        limits.zset_max_listpack_entries,
        usize,
        0,
        i64::MAX
    ),
    int_directive!(
        "zset-max-listpack-value",
        Some("zset-max-ziplist-value"),
        0,
        limits.zset_max_listpack_value,
        usize,
        0,
        i64::MAX
    ),
    int_directive!(
        "list-max-listpack-size",
        Some("list-max-ziplist-size"),
        0,
        limits.list_max_listpack_size,
        i64,
        i64::from(i32::MIN),
        i64::from(i32::MAX)
    ),
    int_directive!(
        "list-compress-depth",
        None,
        0,
        limits.list_compress_depth,
        i64,
        0,
        i64::from(i32::MAX)
    ),
    bool_directive!("daemonize", IMMUTABLE, daemonize),
    Directive {
        name: "supervised",
        alias: None,
        flags: IMMUTABLE,
        get: |c| {
            match c.supervised {
                Supervised::No => "no",
                Supervised::Upstart => "upstart",
                Supervised::Systemd => "systemd",
                Supervised::Auto => "auto",
            }
            .into()
        },
        set: |c, a| {
            c.supervised = match parse_enum(one(a), &["upstart", "systemd", "auto", "no"])? {
                "upstart" => Supervised::Upstart,
                "systemd" => Supervised::Systemd,
                "auto" => Supervised::Auto,
                _ => Supervised::No,
            };
            Ok(())
        },
    },
    int_directive!(
        "tcp-backlog",
        None,
        IMMUTABLE,
        tcp_backlog,
        i32,
        0,
        i64::from(i32::MAX)
    ),
    int_directive!(
        "slowlog-log-slower-than",
        None,
        0,
        slowlog_log_slower_than,
        i64,
        -1,
        i64::MAX
    ),
    int_directive!(
        "slowlog-max-len",
        None,
        0,
        slowlog_max_len,
        u64,
        0,
        i64::MAX
    ),
    int_directive!(
        "latency-monitor-threshold",
        None,
        0,
        latency_monitor_threshold,
        i64,
        0,
        i64::MAX
    ),
    bool_directive!("syslog-enabled", IMMUTABLE, syslog_enabled),
    string_directive!("syslog-ident", IMMUTABLE, syslog_ident),
    Directive {
        name: "syslog-facility",
        alias: None,
        flags: IMMUTABLE,
        get: |c| c.syslog_facility.clone(),
        set: |c, a| {
            c.syslog_facility = parse_enum(one(a), SYSLOG_FACILITIES)?.to_string();
            Ok(())
        },
    },
    Directive {
        name: "shutdown-on-sigint",
        alias: None,
        flags: MULTI_ARG,
        get: |c| c.shutdown_on_sigint.name(),
        set: |c, a| {
            c.shutdown_on_sigint = SignalShutdown::parse(a)?;
            Ok(())
        },
    },
    Directive {
        name: "shutdown-on-sigterm",
        alias: None,
        flags: MULTI_ARG,
        get: |c| c.shutdown_on_sigterm.name(),
        set: |c, a| {
            c.shutdown_on_sigterm = SignalShutdown::parse(a)?;
            Ok(())
        },
    },
];

/// `save <seconds> <changes> [...]`, `save ""` to disable. Checked whole before it applies.
/// In the config file the first `save` line replaces the defaults and later ones append; at
/// runtime (CONFIG SET) the value replaces the points.
fn set_save(c: &mut Config, a: &[String]) -> Result<(), String> {
    // One argument holding several words ("3600 1 300 100") is split, as Redis does for
    // multi-argument directives.
    let args: Vec<&str> = if a.len() == 1 {
        a[0].split_whitespace().collect()
    } else {
        a.iter().map(String::as_str).collect()
    };
    if args.len() % 2 == 1 {
        return Err("Invalid save parameters".into());
    }
    let mut points = Vec::new();
    for pair in args.chunks(2) {
        let seconds = pair[0].parse::<i64>().ok().filter(|v| *v >= 1);
        let changes = pair[1].parse::<i64>().ok().filter(|v| *v >= 0);
        match (seconds, changes) {
            (Some(s), Some(n)) => points.push((s as u64, n as u64)),
            _ => return Err("Invalid save parameters".into()),
        }
    }
    if !c.reading_file || !c.save_seen_in_file {
        c.save_params.clear();
        c.save_seen_in_file = c.reading_file;
    }
    c.save_params.extend(points);
    Ok(())
}

/// A directive of either table: one Amber acts on (`DIRECTIVES`), or one it accepts and
/// keeps without effect (`config_accepted`).
#[derive(Clone, Copy)]
pub(crate) enum Dir {
    Own(&'static Directive),
    Accepted(&'static crate::config::accepted::Accepted),
}

impl Dir {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Dir::Own(d) => d.name,
            Dir::Accepted(a) => a.name,
        }
    }

    pub(crate) fn alias(self) -> Option<&'static str> {
        match self {
            Dir::Own(d) => d.alias,
            Dir::Accepted(a) => a.alias,
        }
    }

    pub(crate) fn flags(self) -> u32 {
        match self {
            Dir::Own(d) => d.flags,
            Dir::Accepted(a) => a.flags,
        }
    }

    pub(crate) fn get(self, c: &Config) -> String {
        match self {
            Dir::Own(d) => (d.get)(c),
            Dir::Accepted(a) => c
                .accepted
                .get(a.name)
                .cloned()
                .unwrap_or_else(|| a.default.to_string()),
        }
    }

    pub(crate) fn set(self, c: &mut Config, args: &[String]) -> Result<(), String> {
        match self {
            Dir::Own(d) => (d.set)(c, args),
            Dir::Accepted(a) => {
                let v = a.check(&self.get(c), args)?;
                if v == a.default {
                    c.accepted.remove(a.name);
                } else {
                    c.accepted.insert(a.name, v);
                }
                Ok(())
            }
        }
    }
}

pub(crate) fn find(name: &str) -> Option<Dir> {
    let lower = name.to_ascii_lowercase();
    DIRECTIVES
        .iter()
        .find(|d| d.name == lower || d.alias == Some(lower.as_str()))
        .map(Dir::Own)
        .or_else(|| crate::config::accepted::find(&lower).map(Dir::Accepted))
}

/// Every directive, Amber's own first.
pub(crate) fn all() -> impl Iterator<Item = Dir> {
    DIRECTIVES
        .iter()
        .map(Dir::Own)
        .chain(crate::config::accepted::ACCEPTED.iter().map(Dir::Accepted))
}

impl Config {
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

    /// CONFIG REWRITE: rewrites the config file in place, keeping comments and order, setting
    /// each directive to its current value and appending the ones not yet in the file.
    pub(crate) fn rewrite(&self) -> Result<(), String> {
        let Some(path) = &self.file else {
            return Err("The server is running without a config file".into());
        };
        let old = std::fs::read_to_string(path).unwrap_or_default();
        let defaults = Config::default();
        let mut seen = std::collections::HashSet::new();
        let mut out = String::new();
        for raw in old.split('\n') {
            let line = raw.trim();
            let args = if line.starts_with('#') {
                None
            } else {
                amber_resp::parse::split_args(line.as_bytes())
            };
            let directive = args
                .as_ref()
                .and_then(|a| a.first())
                .and_then(|n| find(&String::from_utf8_lossy(n)));
            match directive {
                Some(d) => {
                    if seen.insert(d.name()) {
                        let _ = writeln!(out, "{} {}", d.name(), rewrite_value(d, self));
                    }
                }
                None => {
                    out.push_str(raw);
                    out.push('\n');
                }
            }
        }
        while out.ends_with("\n\n") {
            out.pop();
        }
        let mut header = false;
        for d in all() {
            if seen.contains(d.name()) || d.get(self) == d.get(&defaults) || d.name() == "dir" {
                continue;
            }
            if !header && !old.contains("# Generated by CONFIG REWRITE") {
                out.push_str("# Generated by CONFIG REWRITE\n");
                header = true;
            }
            let _ = writeln!(out, "{} {}", d.name(), rewrite_value(d, self));
        }
        // As Redis's rewriteConfigOverwriteFile: a unique temp file beside it
        // (`<file>.<pid>-<n>`, 0644 less the umask), fsync, rename, fsync of the directory.
        let base = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "redis.conf".into());
        let pid = std::process::id();
        let temp_name = |n: u64| format!("{base}.{pid}-{n}");
        let mut f = amber_persist::io::AtomicFile::create_as(path, &temp_name, 0o644, false)
            .map_err(|e| e.to_string())?;
        std::io::Write::write_all(&mut f, out.as_bytes()).map_err(|e| e.to_string())?;
        f.commit().map_err(|e| e.to_string())
    }
}

/// The value part of a rewritten line: multi-word values stay words (`save 3600 1`,
/// `client-output-buffer-limit normal 0 0 0 ...`), others are one quoted argument.
fn rewrite_value(d: Dir, c: &Config) -> String {
    let v = d.get(c);
    if d.flags() & MULTI_ARG != 0 && !v.is_empty() {
        v.split_whitespace()
            .map(quote)
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        quote(&v)
    }
}

/// Quotes a value for a config line when it needs it (empty, spaces, quotes, control bytes).
pub(crate) fn quote(s: &str) -> String {
    let needs = s.is_empty()
        || s.bytes()
            .any(|b| b <= b' ' || b == b'"' || b == b'\'' || b == b'\\' || b >= 0x7f);
    if !needs {
        return s.to_string();
    }
    let mut q = String::from("\"");
    for b in s.bytes() {
        match b {
            b'\\' => q.push_str("\\\\"),
            b'"' => q.push_str("\\\""),
            b'\n' => q.push_str("\\n"),
            b'\r' => q.push_str("\\r"),
            b'\t' => q.push_str("\\t"),
            0x20..=0x7e => q.push(char::from(b)),
            _ => {
                let _ = write!(q, "\\x{b:02x}");
            }
        }
    }
    q.push('"');
    q
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
