//! The checklist. `run_all` gathers what this machine can see of the server's directory once,
//! then every check turns the server's answers and those facts into one finding. Checks are
//! always all present, in this order, so monitoring can key on `check`.

//!
//! ```text
//! mod.rs     what the checks share: the server's answers and the local facts (Ctx), run_all
//! server.rs  from INFO/CONFIG: server, persistence, misconf, last_save, fork, aof_status, aof_fsync
//! dir.rs     the data directory: dir_writable, disk_space
//! files.rs   the files: rdb_file, aof_files, rdb_vs_aof
//! archive.rs the continuous archive (--archive): archive
//! ```

pub mod archive;
mod dir;
mod files;
mod server;

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use super::local::{self, FsStat};
use super::{Finding, Server};
use dir::{dir_writable, disk_space};
use files::{aof_files, rdb_file, rdb_vs_aof};
use server::{aof_fsync, aof_status, fork, last_save, misconf, persistence, server};

pub const CHECKS: &[&str] = &[
    "server",
    "persistence",
    "misconf",
    "dir_writable",
    "disk_space",
    "last_save",
    "fork",
    "aof_status",
    "aof_fsync",
    "rdb_file",
    "aof_files",
    "rdb_vs_aof",
    "archive",
];

/// What this machine sees of the server's data directory.
struct Local {
    dir: PathBuf,
    /// `dir` is the server's own directory (not a copy given with --data-dir).
    server_dir: bool,
    fs: std::io::Result<FsStat>,
    probe: std::io::Result<()>,
}

struct Ctx<'a> {
    srv: &'a Server,
    local: Option<Local>,
    /// The server runs on this machine (loopback), so /proc and sysctls are its.
    same_host: bool,
    rdb_on: bool,
    aof_on: bool,
    save_points: Vec<(u64, u64)>,
    now: i64,
    /// `redis-cli -h H -p P`, for fixes.
    cli: String,
    /// `dump.rdb` decoded once (rdb_file and rdb_vs_aof both need it).
    rdb: std::cell::OnceCell<RdbChecked>,
}

type RdbChecked = std::io::Result<Result<local::RdbCheck, (u64, String)>>;

impl Ctx<'_> {
    fn rdb_check(&self, p: &Path) -> &RdbChecked {
        self.rdb.get_or_init(|| local::check_rdb(p))
    }

    /// Keys in the server's databases (INFO keyspace).
    fn server_keys(&self) -> u64 {
        self.srv
            .info
            .iter()
            .filter(|(k, _)| k.starts_with("db") && k[2..].parse::<u32>().is_ok())
            .filter_map(|(_, v)| v.split(',').find_map(|kv| kv.strip_prefix("keys=")))
            .filter_map(|n| n.parse::<u64>().ok())
            .sum()
    }
}

pub fn is_loopback(addr: &str) -> bool {
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host == "::1"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

pub fn parse_save(s: &str) -> Vec<(u64, u64)> {
    let n: Vec<u64> = s
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    n.chunks(2)
        .filter_map(|c| match c {
            [a, b] => Some((*a, *b)),
            _ => None,
        })
        .collect()
}

pub fn run_all(
    srv: &Server,
    data_dir: Option<&Path>,
    arch: Option<&archive::ArchiveOpts>,
) -> Vec<Finding> {
    let same_host = is_loopback(&srv.addr);
    let server_dir = srv.config("dir").map(PathBuf::from);
    let local =
        local::data_dir(same_host, server_dir.as_deref(), data_dir).map(|(dir, server_dir)| {
            Local {
                fs: local::statvfs(&dir),
                probe: local::probe_write(&dir),
                dir,
                server_dir,
            }
        });
    let (host, port) = srv.addr.rsplit_once(':').unwrap_or((&srv.addr, "6379"));
    let ctx = Ctx {
        srv,
        local,
        same_host,
        rdb_on: !parse_save(srv.config("save").unwrap_or("")).is_empty(),
        aof_on: srv.info("aof_enabled") == Some("1") || srv.config("appendonly") == Some("yes"),
        save_points: parse_save(srv.config("save").unwrap_or("")),
        now: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0),
        cli: format!("redis-cli -h {host} -p {port}"),
        rdb: std::cell::OnceCell::new(),
    };
    let mut out = vec![
        server(&ctx),
        persistence(&ctx),
        misconf(&ctx),
        dir_writable(&ctx),
        disk_space(&ctx),
        last_save(&ctx),
        fork(&ctx),
        aof_status(&ctx),
        aof_fsync(&ctx),
        rdb_file(&ctx),
        aof_files(&ctx),
        rdb_vs_aof(&ctx),
        archive::archive(srv, arch),
    ];
    debug_assert!(out.iter().map(|f| f.check).eq(CHECKS.iter().copied()));
    if let Some(l) = &ctx.local {
        for f in &mut out {
            f.details
                .entry("data_dir")
                .or_insert_with(|| l.dir.display().to_string().into());
        }
    }
    out
}

fn ago(secs: i64) -> String {
    let s = secs.max(0);
    if s < 120 {
        format!("{s} s")
    } else if s < 7200 {
        format!("{} min", s / 60)
    } else if s < 172_800 {
        format!("{:.1} h", s as f64 / 3600.0)
    } else {
        format!("{:.1} days", s as f64 / 86400.0)
    }
}

fn restore_fix(c: &Ctx) -> String {
    let dir = c
        .local
        .as_ref()
        .map(|l| l.dir.display().to_string())
        .or_else(|| c.srv.config("dir").map(str::to_string))
        .unwrap_or_else(|| "DIR".into());
    let conf = c
        .srv
        .info("config_file")
        .filter(|s| !s.is_empty())
        .map(|s| format!(" --config {s}"))
        .unwrap_or_default();
    format!(
        "restore from a backup with the server stopped: amber backup verify latest --repo REPO, \
         then amber restore latest --repo REPO --data-dir {dir}{conf}"
    )
}

fn not_here(c: &Ctx, check: &'static str) -> Finding {
    let dir = c.srv.config("dir").unwrap_or("?");
    Finding::skip(
        check,
        format!("the server's dir {dir} is not visible from here: run doctor on the server's machine or pass --data-dir"),
    )
    .detail("server_dir", dir)
}

#[cfg(test)]
mod tests {
    use super::server::amber_code;
    use super::*;
    use crate::client::Reply;
    use amber_persist::PCode;

    #[test]
    fn parses_save_and_hosts() {
        assert_eq!(
            parse_save("3600 1 300 100 60 10000"),
            vec![(3600, 1), (300, 100), (60, 10000)]
        );
        assert!(parse_save("").is_empty());
        assert!(is_loopback("127.0.0.1:6379"));
        assert!(is_loopback("localhost:1"));
        assert!(is_loopback("[::1]:6379"));
        assert!(!is_loopback("10.0.0.5:6379"));
        assert_eq!(amber_code(Some("P004 DISK_FULL")), Some(PCode::DiskFull));
        assert_eq!(amber_code(Some("none")), None);
    }

    #[test]
    fn every_check_is_present_in_order_even_when_remote() {
        let srv = Server {
            addr: "10.0.0.5:6379".into(),
            info: super::super::parse_info(
                "# Server\r\nredis_version:7.0.15\r\nrdb_last_bgsave_status:ok\r\n",
            ),
            config: [("save", ""), ("appendonly", "no"), ("dir", "/nonexistent")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            config_error: None,
            ping: Reply::Status("PONG".into()),
            latency: Vec::new(),
        };
        let f = run_all(&srv, None, None);
        let names: Vec<&str> = f.iter().map(|f| f.check).collect();
        assert_eq!(names, CHECKS);
        assert_eq!(f[1].code.as_deref(), Some("NO_PERSISTENCE"));
        assert_eq!(f[3].status, super::super::Status::Skip);
    }
}
