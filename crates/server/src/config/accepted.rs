//! The Redis 7.0 directives Amber accepts without acting on them: replication, cluster and
//! TLS settings, and the tuning knobs of machinery Amber does not have (jemalloc, lazy
//! freeing, active defrag, streams, ...). A stock redis.conf names most of them, and a
//! server that refused them would refuse the user's file.
//!
//! Each is checked as Redis checks it (same types, bounds and error texts), kept, and shown
//! by CONFIG GET and CONFIG REWRITE. A directive whose other values would turn on a feature
//! Amber lacks (cluster, TLS, ACL files, keyspace notifications) accepts only its
//! default: anything else is refused with the reason, rather than silently doing nothing.

use crate::config::{
    parse_bool, parse_enum, parse_int, parse_mem_range, parse_memory, IMMUTABLE, MULTI_ARG,
};

/// How a value is checked, and turned into the text CONFIG GET shows.
pub(crate) enum Kind {
    Bool,
    /// An integer within bounds.
    Int(i64, i64),
    /// A memory value (units allowed) within bounds, shown in bytes.
    Mem(i64, i64),
    /// One of these words.
    Enum(&'static [&'static str]),
    Str,
    /// Its own rules: the previous value and the arguments give the new value.
    Special(fn(&str, &[String]) -> Result<String, String>),
}

pub(crate) struct Accepted {
    pub(crate) name: &'static str,
    pub(crate) alias: Option<&'static str>,
    pub(crate) flags: u32,
    pub(crate) kind: Kind,
    pub(crate) default: &'static str,
    /// Set when only the default is accepted: the feature other values would turn on.
    pub(crate) only_default: Option<&'static str>,
}

const INT_MAX: i64 = i32::MAX as i64;
const LONG_MAX: i64 = i64::MAX;

const fn row(name: &'static str, flags: u32, kind: Kind, default: &'static str) -> Accepted {
    Accepted {
        name,
        alias: None,
        flags,
        kind,
        default,
        only_default: None,
    }
}

const fn alias(
    name: &'static str,
    alias: &'static str,
    flags: u32,
    kind: Kind,
    default: &'static str,
) -> Accepted {
    Accepted {
        alias: Some(alias),
        ..row(name, flags, kind, default)
    }
}

const fn only_default(
    name: &'static str,
    flags: u32,
    kind: Kind,
    default: &'static str,
    feature: &'static str,
) -> Accepted {
    Accepted {
        only_default: Some(feature),
        ..row(name, flags, kind, default)
    }
}

const CLUSTER: &str = "cluster mode";
const TLS: &str = "TLS";

use Kind::{Bool, Enum, Int, Mem, Special, Str};

pub(crate) static ACCEPTED: &[Accepted] = &[
    // Process and start-up.
    // Read at start by net/mod.rs (the logo block, as redisAsciiArt).
    row("always-show-logo", IMMUTABLE, Bool, "no"),
    row("set-proc-title", IMMUTABLE, Bool, "yes"),
    row(
        "proc-title-template",
        0,
        Str,
        "{title} {listen-addr} {server-mode}",
    ),
    row("disable-thp", IMMUTABLE, Bool, "yes"),
    row("crash-log-enabled", 0, Bool, "yes"),
    row("crash-memcheck-enabled", 0, Bool, "yes"),
    row(
        "oom-score-adj",
        0,
        Enum(&["no", "yes", "relative", "absolute"]),
        "no",
    ),
    Accepted {
        flags: MULTI_ARG,
        ..row(
            "oom-score-adj-values",
            0,
            Special(oom_score_adj_values),
            "0 200 800",
        )
    },
    row("server_cpulist", IMMUTABLE, Str, ""),
    row("bio_cpulist", IMMUTABLE, Str, ""),
    row("aof_rewrite_cpulist", IMMUTABLE, Str, ""),
    row("bgsave_cpulist", IMMUTABLE, Str, ""),
    row("ignore-warnings", 0, Str, ""),
    row("io-threads", IMMUTABLE, Int(1, 128), "1"),
    row("io-threads-do-reads", IMMUTABLE, Bool, "no"),
    row("shutdown-timeout", 0, Int(0, INT_MAX), "10"),
    row(
        "enable-module-command",
        IMMUTABLE,
        Enum(&["no", "yes", "local"]),
        "no",
    ),
    row("bind-source-addr", 0, Str, ""),
    row("socket-mark-id", 0, Int(0, u32::MAX as i64), "0"),
    // Memory management done by jemalloc and lazy freeing in Redis.
    row("jemalloc-bg-thread", 0, Bool, "yes"),
    row("activerehashing", 0, Bool, "yes"),
    row("dynamic-hz", 0, Bool, "yes"),
    row("lazyfree-lazy-eviction", 0, Bool, "no"),
    row("lazyfree-lazy-expire", 0, Bool, "no"),
    row("lazyfree-lazy-server-del", 0, Bool, "no"),
    row("lazyfree-lazy-user-del", 0, Bool, "no"),
    row("lazyfree-lazy-user-flush", 0, Bool, "no"),
    row("activedefrag", 0, Bool, "no"),
    row("active-defrag-cycle-min", 0, Int(1, 99), "1"),
    row("active-defrag-cycle-max", 0, Int(1, 99), "25"),
    row("active-defrag-threshold-lower", 0, Int(0, 1000), "10"),
    row("active-defrag-threshold-upper", 0, Int(0, 1000), "100"),
    row(
        "active-defrag-ignore-bytes",
        0,
        Mem(1, LONG_MAX),
        "104857600",
    ),
    row("active-defrag-max-scan-fields", 0, Int(1, LONG_MAX), "1000"),
    row("active-expire-effort", 0, Int(1, 10), "1"),
    // Client limits and diagnostics.
    Accepted {
        flags: MULTI_ARG,
        ..row(
            "client-output-buffer-limit",
            0,
            Special(client_output_buffer_limit),
            "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
        )
    },
    Accepted {
        flags: MULTI_ARG,
        ..row(
            "latency-tracking-info-percentiles",
            0,
            Special(percentiles),
            "50 99 99.9",
        )
    },
    row("tracking-table-max-keys", 0, Int(0, LONG_MAX), "1000000"),
    alias(
        "busy-reply-threshold",
        "lua-time-limit",
        0,
        Int(0, LONG_MAX),
        "5000",
    ),
    // Data types Amber does not have.
    row("stream-node-max-bytes", 0, Mem(0, LONG_MAX), "4096"),
    row("stream-node-max-entries", 0, Int(0, LONG_MAX), "100"),
    // ACL.
    row("aclfile", IMMUTABLE, Str, ""),
    row("acllog-max-len", 0, Int(0, LONG_MAX), "128"),
    row(
        "acl-pubsub-default",
        0,
        Enum(&["allchannels", "resetchannels"]),
        "resetchannels",
    ),
    row(
        "sanitize-dump-payload",
        0,
        Enum(&["no", "yes", "clients"]),
        "no",
    ),
    row("rdb-del-sync-files", 0, Bool, "no"),
    // Replication.
    Accepted {
        alias: Some("slaveof"),
        flags: IMMUTABLE | MULTI_ARG,
        ..row("replicaof", 0, Special(replicaof), "")
    },
    row("masterauth", 0, Str, ""),
    row("masteruser", 0, Str, ""),
    alias(
        "replica-serve-stale-data",
        "slave-serve-stale-data",
        0,
        Bool,
        "yes",
    ),
    alias("replica-read-only", "slave-read-only", 0, Bool, "yes"),
    alias("replica-lazy-flush", "slave-lazy-flush", 0, Bool, "no"),
    alias(
        "replica-ignore-maxmemory",
        "slave-ignore-maxmemory",
        0,
        Bool,
        "yes",
    ),
    alias(
        "replica-priority",
        "slave-priority",
        0,
        Int(0, INT_MAX),
        "100",
    ),
    alias("replica-announce-ip", "slave-announce-ip", 0, Str, ""),
    alias(
        "replica-announce-port",
        "slave-announce-port",
        0,
        Int(0, 65535),
        "0",
    ),
    row("replica-announced", 0, Bool, "yes"),
    row("replica-ignore-disk-write-errors", 0, Bool, "no"),
    row("repl-diskless-sync", 0, Bool, "yes"),
    row("repl-diskless-sync-delay", 0, Int(0, INT_MAX), "5"),
    row("repl-diskless-sync-max-replicas", 0, Int(0, INT_MAX), "0"),
    row(
        "repl-diskless-load",
        0,
        Enum(&["disabled", "on-empty-db", "swapdb"]),
        "disabled",
    ),
    row("repl-disable-tcp-nodelay", 0, Bool, "no"),
    alias(
        "repl-ping-replica-period",
        "repl-ping-slave-period",
        0,
        Int(1, INT_MAX),
        "10",
    ),
    row("repl-timeout", 0, Int(1, INT_MAX), "60"),
    row("repl-backlog-size", 0, Mem(1, LONG_MAX), "1048576"),
    row("repl-backlog-ttl", 0, Int(0, LONG_MAX), "3600"),
    row(
        "propagation-error-behavior",
        0,
        Enum(&["ignore", "panic", "panic-on-replicas"]),
        "ignore",
    ),
    // Cluster.
    only_default("cluster-enabled", IMMUTABLE, Bool, "no", CLUSTER),
    row("cluster-config-file", IMMUTABLE, Str, "nodes.conf"),
    row("cluster-node-timeout", 0, Int(0, LONG_MAX), "15000"),
    row("cluster-port", IMMUTABLE, Int(0, 65535), "0"),
    row("cluster-announce-ip", 0, Str, ""),
    row("cluster-announce-hostname", 0, Str, ""),
    row("cluster-announce-port", 0, Int(0, 65535), "0"),
    row("cluster-announce-bus-port", 0, Int(0, 65535), "0"),
    row("cluster-announce-tls-port", 0, Int(0, 65535), "0"),
    alias(
        "cluster-replica-validity-factor",
        "cluster-slave-validity-factor",
        0,
        Int(0, INT_MAX),
        "10",
    ),
    alias(
        "cluster-replica-no-failover",
        "cluster-slave-no-failover",
        0,
        Bool,
        "no",
    ),
    row("cluster-migration-barrier", 0, Int(0, INT_MAX), "1"),
    row("cluster-require-full-coverage", 0, Bool, "yes"),
    row("cluster-allow-reads-when-down", 0, Bool, "no"),
    row("cluster-allow-pubsubshard-when-down", 0, Bool, "yes"),
    row("cluster-allow-replica-migration", 0, Bool, "yes"),
    row("cluster-link-sendbuf-limit", 0, Mem(0, LONG_MAX), "0"),
    row(
        "cluster-preferred-endpoint-type",
        0,
        Enum(&["ip", "hostname", "unknown-endpoint"]),
        "ip",
    ),
    // TLS: the files may be named; a TLS port may not be opened.
    only_default("tls-port", 0, Int(0, 65535), "0", TLS),
    row("tls-cert-file", 0, Str, ""),
    row("tls-key-file", 0, Str, ""),
    row("tls-key-file-pass", 0, Str, ""),
    row("tls-client-cert-file", 0, Str, ""),
    row("tls-client-key-file", 0, Str, ""),
    row("tls-client-key-file-pass", 0, Str, ""),
    row("tls-dh-params-file", 0, Str, ""),
    row("tls-ca-cert-file", 0, Str, ""),
    row("tls-ca-cert-dir", 0, Str, ""),
    row("tls-protocols", 0, Str, ""),
    row("tls-ciphers", 0, Str, ""),
    row("tls-ciphersuites", 0, Str, ""),
    row(
        "tls-auth-clients",
        0,
        Enum(&["no", "yes", "optional"]),
        "yes",
    ),
    row("tls-replication", 0, Bool, "no"),
    row("tls-cluster", 0, Bool, "no"),
    row("tls-prefer-server-ciphers", 0, Bool, "no"),
    row("tls-session-caching", 0, Bool, "yes"),
    row("tls-session-cache-size", 0, Int(0, INT_MAX), "20480"),
    row("tls-session-cache-timeout", 0, Int(0, INT_MAX), "300"),
];

impl Accepted {
    /// The value `args` sets, as CONFIG GET will show it; or why it is refused.
    pub(crate) fn check(&self, previous: &str, args: &[String]) -> Result<String, String> {
        let one = args.first().map(String::as_str).unwrap_or("");
        let value = match &self.kind {
            Kind::Bool => if parse_bool(one)? { "yes" } else { "no" }.to_string(),
            Kind::Int(min, max) => parse_int(one, *min, *max)?.to_string(),
            Kind::Mem(min, max) => parse_mem_range(one, *min, *max)?.to_string(),
            Kind::Enum(words) => parse_enum(one, words)?.to_string(),
            Kind::Str => one.to_string(),
            Kind::Special(f) => f(previous, args)?,
        };
        if let Some(feature) = self.only_default {
            if value != self.default {
                // replicaof's default, no master, is written `replicaof no one`.
                let accepted = match self.name {
                    "replicaof" => "no one",
                    _ => self.default,
                };
                return Err(format!(
                    "this version of Amber does not support {feature} (only '{accepted}' is accepted)"
                ));
            }
        }
        Ok(value)
    }
}

/// A multi-word value given as one argument ("0 200 800") counts as its words.
fn words(args: &[String]) -> Vec<&str> {
    if args.len() == 1 {
        args[0].split_whitespace().collect()
    } else {
        args.iter().map(String::as_str).collect()
    }
}

fn oom_score_adj_values(_: &str, args: &[String]) -> Result<String, String> {
    let w = words(args);
    if w.len() != 3 {
        return Err("wrong number of arguments".into());
    }
    let mut out = Vec::new();
    for s in w {
        let v = amber_resp::parse::string2ll(s.as_bytes())
            .ok_or_else(|| "Invalid oom-score-adj-values".to_string())?;
        if !(-2000..=2000).contains(&v) {
            return Err(
                "Invalid oom-score-adj-values, elements must be between -2000 and 2000.".into(),
            );
        }
        out.push(v.to_string());
    }
    Ok(out.join(" "))
}

/// `client-output-buffer-limit <class> <hard> <soft> <seconds> [...]`: sets the classes named,
/// keeps the others.
fn client_output_buffer_limit(previous: &str, args: &[String]) -> Result<String, String> {
    let w = words(args);
    if w.is_empty() || !w.len().is_multiple_of(4) {
        return Err("Wrong number of arguments in buffer limit configuration.".into());
    }
    let mut classes: Vec<(String, String)> = previous
        .split_whitespace()
        .collect::<Vec<_>>()
        .chunks(4)
        .filter(|c| c.len() == 4)
        .map(|c| (c[0].to_string(), c[1..].join(" ")))
        .collect();
    for c in w.chunks(4) {
        let class = match c[0].to_ascii_lowercase().as_str() {
            "normal" => "normal",
            "replica" | "slave" => "slave",
            "pubsub" => "pubsub",
            _ => {
                return Err("Invalid client class specified in buffer limit configuration.".into())
            }
        };
        let hard = parse_memory(c[1]);
        let soft = parse_memory(c[2]);
        let secs = amber_resp::parse::string2ll(c[3].as_bytes()).filter(|v| *v >= 0);
        let (Some(hard), Some(soft), Some(secs)) = (hard, soft, secs) else {
            return Err(
                "Error in hard, soft or soft_seconds setting in buffer limit configuration.".into(),
            );
        };
        let v = format!("{hard} {soft} {secs}");
        match classes.iter_mut().find(|(n, _)| n == class) {
            Some(e) => e.1 = v,
            None => classes.push((class.to_string(), v)),
        }
    }
    Ok(classes
        .iter()
        .map(|(n, v)| format!("{n} {v}"))
        .collect::<Vec<_>>()
        .join(" "))
}

fn percentiles(_: &str, args: &[String]) -> Result<String, String> {
    let w = words(args);
    let mut out = Vec::new();
    for s in w {
        let p: f64 = s
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite())
            .ok_or_else(|| "Invalid latency-tracking-info-percentiles parameters".to_string())?;
        if !(0.0..=100.0).contains(&p) {
            return Err(
                "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]"
                    .into(),
            );
        }
        out.push(format!("{p}"));
    }
    Ok(out.join(" "))
}

/// `replicaof <host> <port>`, or `replicaof no one`.
fn replicaof(_: &str, args: &[String]) -> Result<String, String> {
    let w = words(args);
    if w.len() != 2 {
        return Err("wrong number of arguments".into());
    }
    if w[0].eq_ignore_ascii_case("no") && w[1].eq_ignore_ascii_case("one") {
        return Ok(String::new());
    }
    match w[1].parse::<i64>() {
        Ok(p) if (0..=65535).contains(&p) => Ok(format!("{} {p}", w[0])),
        _ => Err("Invalid master port".into()),
    }
}

pub(crate) fn find(name: &str) -> Option<&'static Accepted> {
    ACCEPTED
        .iter()
        .find(|d| d.name == name || d.alias == Some(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(name: &str, prev: &str, args: &[&str]) -> Result<String, String> {
        let a: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        find(name).unwrap().check(prev, &a)
    }

    #[test]
    fn every_default_passes_its_own_check() {
        for d in ACCEPTED {
            let prev = d.default;
            let args = vec![d.default.to_string()];
            let args = if d.name == "replicaof" {
                vec!["no".to_string(), "one".to_string()]
            } else {
                args
            };
            assert_eq!(d.check(prev, &args).as_deref(), Ok(d.default), "{}", d.name);
        }
    }

    #[test]
    fn values_are_checked_as_redis_checks_them() {
        assert_eq!(set("activerehashing", "yes", &["NO"]).unwrap(), "no");
        assert_eq!(
            set("activerehashing", "yes", &["maybe"]).unwrap_err(),
            "argument must be 'yes' or 'no'"
        );
        assert_eq!(
            set("io-threads", "1", &["129"]).unwrap_err(),
            "argument must be between 1 and 128 inclusive"
        );
        assert_eq!(set("repl-backlog-size", "1", &["1mb"]).unwrap(), "1048576");
        assert_eq!(
            set("repl-diskless-load", "disabled", &["x"]).unwrap_err(),
            "argument(s) must be one of the following: disabled, on-empty-db, swapdb"
        );
        let col = "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60";
        assert_eq!(
            set("client-output-buffer-limit", col, &["pubsub 64mb 16mb 90"]).unwrap(),
            "normal 0 0 0 slave 268435456 67108864 60 pubsub 67108864 16777216 90"
        );
        assert!(set("client-output-buffer-limit", col, &["nobody 1 1 1"]).is_err());
        assert_eq!(
            set("latency-tracking-info-percentiles", "", &["50 99.9"]).unwrap(),
            "50 99.9"
        );
    }

    #[test]
    fn features_amber_lacks_take_only_their_default() {
        assert_eq!(set("replicaof", "", &["no", "one"]).unwrap(), "");
        // Replication is served: replicaof takes any valid value.
        assert_eq!(
            set("replicaof", "", &["10.0.0.1", "6379"]).unwrap(),
            "10.0.0.1 6379"
        );
        assert_eq!(
            set("replicaof", "", &["h", "x"]).unwrap_err(),
            "Invalid master port"
        );
        assert!(set("cluster-enabled", "no", &["yes"]).is_err());
        assert!(set("tls-port", "0", &["6380"]).is_err());
    }
}
