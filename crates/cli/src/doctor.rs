//! `amber doctor --server HOST:PORT [--data-dir DIR] [--json]`: the persistence debug
//! checklist, run against a live server (Amber or Redis 7.x). Each check gives a finding:
//! a status (ok, warn, error, or skip when it cannot be run from here), a code (P001–P005 or
//! a short name), what it means and how to fix it. Files are checked only where this machine
//! can see them: `--data-dir`, or the server's `dir` when the server is on loopback.
//!
//! Exit 0 when no finding is an error, 1 when one is, 2 when the server cannot be reached
//! (or refuses AUTH, or INFO).

mod checks;
pub mod local;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use amber_persist::PCode;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::client::{Client, Reply};
use crate::{Failure, Outcome};

#[derive(clap::Args)]
pub struct Args {
    /// The server to examine.
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:6379")]
    server: String,
    /// ACL user for AUTH.
    #[arg(long)]
    user: Option<String>,
    /// Password for AUTH (or env AMBER_PASSWORD, then REDISCLI_AUTH).
    #[arg(long)]
    pass: Option<String>,
    /// The server's data directory as this machine sees it (default: the server's `dir`
    /// when the server is on loopback).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Print {server, findings} as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// The repository `amber archive` writes this server's archive to (a directory or
    /// s3://BUCKET/PREFIX): the `archive` check reports an archive that lags or has stopped.
    #[arg(long, value_name = "REPO")]
    archive: Option<String>,
    /// With --archive on s3://: the S3 endpoint URL (else AWS_ENDPOINT_URL).
    #[arg(long, value_name = "URL", requires = "archive")]
    endpoint: Option<String>,
    /// With --archive on s3://: the bucket's region (else AWS_REGION).
    #[arg(long, value_name = "REGION", requires = "archive")]
    region: Option<String>,
    /// The archiver's spool directory, when on this machine: whether it runs, its last error.
    #[arg(long, value_name = "DIR", requires = "archive")]
    archive_spool: Option<PathBuf>,
    /// The archive lags when the server's offset is not reached and its newest command is
    /// older than this (30s, 5m, ...).
    #[arg(long, value_name = "DUR", default_value = "60s", requires = "archive")]
    archive_max_lag: String,
    /// Seconds to wait for the connection and each reply.
    #[arg(long, default_value_t = 5)]
    timeout: u64,
}

#[derive(Serialize, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    /// The check cannot run from here (e.g. the files are on another machine).
    Skip,
    Warn,
    Error,
}

#[derive(Serialize, Clone, Debug)]
pub struct Finding {
    pub check: &'static str,
    pub status: Status,
    pub code: Option<String>,
    pub message: String,
    pub fix: Option<String>,
    pub details: Map<String, Value>,
}

impl Finding {
    pub fn new(check: &'static str, status: Status, code: Option<&str>, message: String) -> Self {
        Finding {
            check,
            status,
            code: code.map(str::to_string),
            message,
            fix: None,
            details: Map::new(),
        }
    }
    pub fn ok(check: &'static str, message: impl Into<String>) -> Self {
        Self::new(check, Status::Ok, None, message.into())
    }
    pub fn skip(check: &'static str, message: impl Into<String>) -> Self {
        Self::new(check, Status::Skip, None, message.into())
    }
    pub fn warn(check: &'static str, code: &str, message: impl Into<String>) -> Self {
        Self::new(check, Status::Warn, Some(code), message.into())
    }
    pub fn error(check: &'static str, code: &str, message: impl Into<String>) -> Self {
        Self::new(check, Status::Error, Some(code), message.into())
    }
    /// A finding with one of the persistence codes: the code, and its name first in the
    /// message (`DISK_FULL: …`).
    pub fn coded(
        check: &'static str,
        status: Status,
        code: PCode,
        message: impl Into<String>,
    ) -> Self {
        let message = format!("{}: {}", code.name(), message.into());
        Self::new(check, status, Some(code.code()), message)
    }
    pub fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }
    pub fn detail(mut self, k: &str, v: impl Into<Value>) -> Self {
        self.details.insert(k.to_string(), v.into());
        self
    }
}

#[derive(Serialize)]
struct Report<'a> {
    server: &'a str,
    findings: &'a [Finding],
}

/// What the server said.
pub struct Server {
    pub addr: String,
    pub info: HashMap<String, String>,
    pub config: HashMap<String, String>,
    /// Why CONFIG GET failed (renamed, ACL), when it did.
    pub config_error: Option<String>,
    pub ping: Reply,
    /// LATENCY LATEST: (event, latest ms, max ms); empty when the monitor is off or refused.
    pub latency: Vec<(String, i64, i64)>,
}

impl Server {
    pub fn info(&self, k: &str) -> Option<&str> {
        self.info.get(k).map(String::as_str)
    }
    pub fn info_u64(&self, k: &str) -> Option<u64> {
        self.info(k).and_then(|v| v.parse().ok())
    }
    pub fn info_i64(&self, k: &str) -> Option<i64> {
        self.info(k).and_then(|v| v.parse().ok())
    }
    pub fn config(&self, k: &str) -> Option<&str> {
        self.config.get(k).map(String::as_str)
    }
    pub fn is_amber(&self) -> bool {
        self.info.contains_key("amber_version")
    }
}

const CONFIG_KEYS: &[&str] = &[
    "save",
    "dir",
    "dbfilename",
    "appendonly",
    "appendfsync",
    "appendfilename",
    "appenddirname",
    "stop-writes-on-bgsave-error",
    "aof-load-truncated",
    "aof-use-rdb-preamble",
    "no-appendfsync-on-rewrite",
    "latency-monitor-threshold",
];

fn password(a: &Args) -> Option<String> {
    a.pass
        .clone()
        .or_else(|| std::env::var("AMBER_PASSWORD").ok())
        .or_else(|| std::env::var("REDISCLI_AUTH").ok())
        .filter(|p| !p.is_empty())
}

fn query(a: &Args) -> Result<Server, String> {
    let timeout = Duration::from_secs(a.timeout.max(1));
    let addr = &a.server;
    let mut c =
        Client::connect(addr, timeout).map_err(|e| format!("can't connect to {addr}: {e}"))?;
    let io = |e: std::io::Error| format!("{addr}: {e}");
    if let Some(p) = password(a) {
        let r = match &a.user {
            Some(u) => c.call(&[b"AUTH", u.as_bytes(), p.as_bytes()]),
            None => c.call(&[b"AUTH", p.as_bytes()]),
        }
        .map_err(io)?;
        if let Reply::Error(e) = r {
            return Err(format!("{addr} refused AUTH: {e}"));
        }
    } else if a.user.is_some() {
        return Err("--user needs a password (--pass, AMBER_PASSWORD or REDISCLI_AUTH)".into());
    }
    let ping = c.call(&[b"PING"]).map_err(io)?;
    if let Reply::Error(e) = &ping {
        if e.starts_with("NOAUTH") || e.starts_with("WRONGPASS") {
            return Err(format!(
                "{addr} needs a password (--pass, AMBER_PASSWORD or REDISCLI_AUTH): {e}"
            ));
        }
    }
    let info = match c.call(&[b"INFO"]).map_err(io)? {
        Reply::Bulk(Some(b)) => parse_info(&String::from_utf8_lossy(&b)),
        other => return Err(format!("{addr}: INFO failed: {}", other.text())),
    };
    let mut config = HashMap::new();
    let mut config_error = None;
    let mut args: Vec<&[u8]> = vec![b"CONFIG", b"GET"];
    args.extend(CONFIG_KEYS.iter().map(|k| k.as_bytes()));
    match c.call(&args).map_err(io)? {
        Reply::Array(Some(v)) => {
            for kv in v.chunks(2) {
                if let [k, v] = kv {
                    config.insert(k.text(), v.text());
                }
            }
        }
        other => config_error = Some(other.text()),
    }
    let mut latency = Vec::new();
    if let Reply::Array(Some(events)) = c.call(&[b"LATENCY", b"LATEST"]).map_err(io)? {
        for e in events {
            if let Reply::Array(Some(f)) = e {
                if let [name, _, Reply::Int(last), Reply::Int(max)] = f.as_slice() {
                    latency.push((name.text(), *last, *max));
                }
            }
        }
    }
    Ok(Server {
        addr: addr.clone(),
        info,
        config,
        config_error,
        ping,
        latency,
    })
}

pub fn parse_info(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}

pub fn run(a: Args) -> Result<Outcome, Failure> {
    let srv = match query(&a) {
        Ok(s) => s,
        Err(msg) => {
            if a.json {
                let f = [Finding::error("server", "UNREACHABLE", msg.clone()).fix(
                    "Check that the server runs and listens on this address (bind, port, \
                     protected-mode), and the password (--pass, AMBER_PASSWORD, REDISCLI_AUTH).",
                )];
                print_json(&a.server, &f)?;
            }
            return Err(Failure(msg));
        }
    };
    let arch = match &a.archive {
        Some(repo) => Some(checks::archive::ArchiveOpts {
            repo: crate::backup::RepoArg {
                repo: repo.clone(),
                endpoint: a.endpoint.clone(),
                region: a.region.clone(),
            },
            spool: a.archive_spool.clone(),
            max_lag_ms: crate::backup::retention::parse_duration(&a.archive_max_lag)
                .map_err(|e| Failure(format!("--archive-max-lag: {e}")))?,
        }),
        None => None,
    };
    let findings = checks::run_all(&srv, a.data_dir.as_deref(), arch.as_ref());
    if a.json {
        print_json(&a.server, &findings)?;
    } else {
        print_text(&srv, &findings);
    }
    Ok(if findings.iter().any(|f| f.status == Status::Error) {
        Outcome::Problem
    } else {
        Outcome::Ok
    })
}

fn print_json(server: &str, findings: &[Finding]) -> Result<(), Failure> {
    let r = Report { server, findings };
    match serde_json::to_string_pretty(&r) {
        Ok(s) => {
            println!("{s}");
            Ok(())
        }
        Err(e) => Err(Failure(format!("can't write JSON: {e}"))),
    }
}

fn print_text(srv: &Server, findings: &[Finding]) {
    println!("amber doctor: {}", srv.addr);
    for f in findings {
        let tag = match f.status {
            Status::Ok => "[ ok ]",
            Status::Skip => "[skip]",
            Status::Warn => "[warn]",
            Status::Error => "[FAIL]",
        };
        match &f.code {
            Some(c) => println!("{tag} {:<13} {c}: {}", f.check, f.message),
            None => println!("{tag} {:<13} {}", f.check, f.message),
        }
        if let Some(fix) = &f.fix {
            println!("       {:<13} fix: {fix}", "");
        }
    }
    let n = |s: Status| findings.iter().filter(|f| f.status == s).count();
    let (e, w) = (n(Status::Error), n(Status::Warn));
    println!(
        "{} error{}, {} warning{}",
        e,
        if e == 1 { "" } else { "s" },
        w,
        if w == 1 { "" } else { "s" }
    );
}
