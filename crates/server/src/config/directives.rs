//! The directive table: every directive Amber honours, with its flags and how it is read
//! from and written to text (redis.conf, CONFIG GET/SET/REWRITE), and the value parsers with
//! Redis's error texts.

use super::*;

/// Directive flags.
pub(crate) const IMMUTABLE: u32 = 1;
pub(crate) const PROTECTED: u32 = 2;
/// Accepts any number of arguments (`save`, `bind`).
pub(crate) const MULTI_ARG: u32 = 4;
/// Only an exact name shows it in CONFIG GET (test aids, as Redis's HIDDEN_CONFIG).
pub(crate) const HIDDEN: u32 = 8;
/// A string: CONFIG REWRITE always writes it quoted (Redis's sdscatrepr: `dir "/data"`).
pub(crate) const STRING: u32 = 16;

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

/// Redis's pathIsBaseName: a name inside `dir`, with no '/' or '\\'. Amber also refuses "."
/// and ".." (Redis accepts them, and `appenddirname ..` puts the AOF outside `dir`).
fn is_base_name(v: &str) -> bool {
    !v.contains(['/', '\\']) && v != "." && v != ".."
}

/// appendfilename, appenddirname: a non-empty base name (isValidAOFfilename/-dirname).
fn plain_name(v: &str, directive: &str, kind: &str) -> Result<String, String> {
    if v.is_empty() {
        return Err(format!("{directive} can't be empty"));
    }
    if !is_base_name(v) {
        return Err(format!("{directive} can't be a path, just a {kind}"));
    }
    Ok(v.to_string())
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
            flags: $flags | STRING,
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
        flags: STRING,
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
    // Typed here (not in accepted.rs): every change reads it.
    Directive {
        name: "notify-keyspace-events",
        alias: None,
        flags: 0,
        get: |c| crate::cmd::notify::flags_to_string(c.notify_keyspace_events),
        set: |c, a| {
            c.notify_keyspace_events =
                crate::cmd::notify::parse_flags(one(a)).ok_or_else(|| {
                    "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.".to_string()
                })?;
            Ok(())
        },
    },
    // Typed here (not in accepted.rs): every PFADD reads it.
    Directive {
        name: "hll-sparse-max-bytes",
        alias: None,
        flags: 0,
        get: |c| c.hll_sparse_max_bytes.to_string(),
        set: |c, a| {
            c.hll_sparse_max_bytes = parse_mem_range(one(a), 0, i64::MAX)? as usize;
            Ok(())
        },
    },
    // Typed here (not in accepted.rs): every write checks them (NOREPLICAS).
    int_directive!(
        "min-replicas-to-write",
        Some("min-slaves-to-write"),
        0,
        min_replicas_to_write,
        i64,
        0,
        i64::from(i32::MAX)
    ),
    int_directive!(
        "min-replicas-max-lag",
        Some("min-slaves-max-lag"),
        0,
        min_replicas_max_lag,
        i64,
        0,
        i64::from(i32::MAX)
    ),
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
        flags: PROTECTED | STRING,
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
        flags: PROTECTED | STRING,
        get: |c| c.dbfilename.clone(),
        set: |c, a| {
            let v = one(a);
            if !is_base_name(v) {
                return Err("dbfilename can't be a path, just a filename".into());
            }
            c.dbfilename = v.to_string();
            Ok(())
        },
    },
    bool_directive!("rdbcompression", 0, rdbcompression),
    bool_directive!("latency-tracking", 0, latency_tracking),
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
    int_directive!(
        "key-load-delay",
        None,
        HIDDEN,
        key_load_delay,
        i64,
        i64::from(i32::MIN),
        i64::from(i32::MAX)
    ),
    int_directive!(
        "loading-process-events-interval-bytes",
        None,
        HIDDEN,
        loading_process_events_interval_bytes,
        i64,
        1024,
        i64::from(i32::MAX)
    ),
    Directive {
        name: "use-exit-on-panic",
        alias: None,
        flags: HIDDEN,
        get: |c| yes_no(c.use_exit_on_panic),
        set: |c, a| {
            c.use_exit_on_panic = parse_bool(one(a))?;
            crate::sys::crash::set_exit_on_panic(c.use_exit_on_panic);
            Ok(())
        },
    },
    // Redis's software watchdog (SIGALRM stack traces of a slow main thread): Amber has none,
    // so only 0 (off, the default) is accepted.
    Directive {
        name: "watchdog-period",
        alias: None,
        flags: HIDDEN,
        get: |_| "0".into(),
        set: |_, a| match parse_int(one(a), 0, i64::from(i32::MAX))? {
            0 => Ok(()),
            _ => Err("Amber has no software watchdog; only 0 (off) is accepted".into()),
        },
    },
    // maxmemory and eviction (evict.rs): Redis's size_t memory value, its policy enum and
    // its tuning knobs with Redis's bounds.
    Directive {
        name: "maxmemory",
        alias: None,
        flags: 0,
        get: |c| c.maxmemory.to_string(),
        set: |c, a| {
            c.maxmemory = parse_mem_range(one(a), 0, i64::MAX)? as u64;
            Ok(())
        },
    },
    Directive {
        name: "maxmemory-policy",
        alias: None,
        flags: 0,
        get: |c| c.maxmemory_policy.name().into(),
        set: |c, a| {
            let w = parse_enum(one(a), crate::evict::Policy::NAMES)?;
            c.maxmemory_policy = crate::evict::Policy::from_name(w);
            Ok(())
        },
    },
    // Typed here (not in accepted.rs): client eviction reads it before every command.
    Directive {
        name: "maxmemory-clients",
        alias: None,
        flags: 0,
        get: |c| c.maxmemory_clients.shown(),
        set: |c, a| {
            c.maxmemory_clients = crate::net::client_eviction::Limit::parse(one(a))?;
            Ok(())
        },
    },
    int_directive!(
        "maxmemory-samples",
        None,
        0,
        maxmemory_samples,
        u32,
        1,
        i64::from(i32::MAX)
    ),
    int_directive!(
        "maxmemory-eviction-tenacity",
        None,
        0,
        maxmemory_eviction_tenacity,
        u32,
        0,
        100
    ),
    int_directive!(
        "lfu-log-factor",
        None,
        0,
        lfu_log_factor,
        u32,
        0,
        i64::from(i32::MAX)
    ),
    int_directive!(
        "lfu-decay-time",
        None,
        0,
        lfu_decay_time,
        u32,
        0,
        i64::from(i32::MAX)
    ),
    bool_directive!("appendonly", 0, appendonly),
    Directive {
        name: "appendfilename",
        alias: None,
        flags: IMMUTABLE | STRING,
        get: |c| c.appendfilename.clone(),
        set: |c, a| {
            c.appendfilename = plain_name(one(a), "appendfilename", "filename")?;
            Ok(())
        },
    },
    Directive {
        name: "appenddirname",
        alias: None,
        flags: IMMUTABLE | STRING,
        get: |c| c.appenddirname.clone(),
        set: |c, a| {
            c.appenddirname = plain_name(one(a), "appenddirname", "dirname")?;
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
/// keeps without effect (`accepted.rs`).
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
            Dir::Accepted(a) if matches!(a.kind, crate::config::accepted::Kind::Str) => {
                a.flags | STRING
            }
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
