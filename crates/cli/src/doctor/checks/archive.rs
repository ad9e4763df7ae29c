//! The `archive` check (`--archive REPO [--archive-spool DIR] [--archive-max-lag DUR]`): is the
//! continuous archive of this server (`amber archive`) keeping up?
//!
//! From the repository: the newest timeline, how far it reaches (offset, replication id) and
//! when its newest command arrived; from the server: master_replid(2) and
//! master_repl_offset; from the spool, when given: whether the archiver runs.
//!
//! ```text
//! error  ARCHIVE_UNREADABLE  the repository cannot be read
//! error  ARCHIVE_EMPTY       no timeline at all
//! error  ARCHIVE_STOPPED     the archiver's spool says it is not running, or the newest
//!                            archived command is older than the threshold and the archive
//!                            is not of this server's history (the archiver does not follow it)
//! error  ARCHIVE_LAG         behind the server's offset, newest command older than the threshold
//! warn   ARCHIVE_OTHER_SOURCE recent, but of another history than this server's
//! ok     up to date (the server's offset reached), or behind within the threshold
//! ```
//!
//! An idle source still PINGs its replicas (repl-ping-replica-period, 10 s): those reach the
//! archive too, so an archive that follows an idle server stays at its offset.

use std::path::PathBuf;

use crate::archive::layout;
use crate::archive::status::{archiver, describe};
use crate::backup::repo::Repo;
use crate::backup::{catalog, RepoArg};
use crate::doctor::{Finding, Server};

pub struct ArchiveOpts {
    pub repo: RepoArg,
    pub spool: Option<PathBuf>,
    pub max_lag_ms: i64,
}

/// What the repository (and the spool) say.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    pub timeline: String,
    /// The replication id of the newest archived bytes.
    pub replid: String,
    pub end_offset: u64,
    /// Arrival of the newest archived command (or the base's moment).
    pub last_ms: i64,
    /// From the spool: (running, last error).
    pub spool: Option<(bool, Option<String>)>,
}

fn look(o: &ArchiveOpts) -> Result<Option<Seen>, String> {
    let repo = Repo::open(&o.repo, false).map_err(|f| f.0)?;
    let (tls, _) = layout::timelines(&repo).map_err(|f| f.0)?;
    let Some(tl) = tls.last() else {
        return Ok(None);
    };
    let (segs, _) = layout::segments(&repo, &tl.id).map_err(|f| f.0)?;
    let st = describe(tl, &segs);
    let (n, _) = layout::contiguous(tl.start_offset, &segs);
    let replid = segs[..n]
        .last()
        .map_or(tl.replid.clone(), |s| s.replid.clone());
    let spool = o.spool.as_deref().map(|d| match archiver(d) {
        Some(v) => (
            v["running"].as_bool() == Some(true),
            v["last_error"].as_str().map(str::to_string),
        ),
        None => (false, Some(format!("no status file in {}", d.display()))),
    });
    Ok(Some(Seen {
        timeline: tl.id.clone(),
        replid,
        end_offset: st.end_offset,
        last_ms: st.restorable_to_ms,
        spool,
    }))
}

pub(super) fn archive(srv: &Server, o: Option<&ArchiveOpts>) -> Finding {
    let Some(o) = o else {
        return Finding::skip(
            "archive",
            "no --archive REPO given (the repository `amber archive` writes to)",
        );
    };
    let seen = look(o);
    judge(srv, &o.repo.repo, seen, catalog::now_ms(), o.max_lag_ms)
}

/// The finding, from what was seen; `now_ms` and the threshold given.
pub fn judge(
    srv: &Server,
    repo: &str,
    seen: Result<Option<Seen>, String>,
    now_ms: i64,
    max_lag_ms: i64,
) -> Finding {
    const C: &str = "archive";
    let s = match seen {
        Err(e) => {
            return Finding::error(C, "ARCHIVE_UNREADABLE", format!("can't read the archive {repo}: {e}"))
                .fix("check --archive, the S3 endpoint and credentials (AWS_*), and that the repository exists")
        }
        Ok(None) => {
            return Finding::error(C, "ARCHIVE_EMPTY", format!("{repo} holds no archive timeline"))
                .fix(format!("start the archiver: amber archive --from {} --repo {repo} --spool DIR", srv.addr))
        }
        Ok(Some(s)) => s,
    };
    let age_ms = (now_ms - s.last_ms).max(0);
    let ours = [srv.info("master_replid"), srv.info("master_replid2")]
        .into_iter()
        .flatten()
        .any(|r| r == s.replid);
    let lag = srv
        .info_u64("master_repl_offset")
        .filter(|_| ours)
        .map(|o| o.saturating_sub(s.end_offset));
    let age = format!("{:.1} s", age_ms as f64 / 1000.0);
    let limit = format!("{:.0} s", max_lag_ms as f64 / 1000.0);
    let restart = format!(
        "check the archiver's log and restart it (amber archive --from {} --repo {repo} --spool DIR, as a service that restarts it)",
        srv.addr
    );
    let f = if let Some((false, err)) = &s.spool {
        let why = err
            .as_deref()
            .map(|e| format!(" (last error: {e})"))
            .unwrap_or_default();
        Finding::error(
            C,
            "ARCHIVE_STOPPED",
            format!("the archiver is not running{why}; the newest archived command is {age} old"),
        )
        .fix(restart)
    } else if lag == Some(0) {
        Finding::ok(
            C,
            format!(
                "up to date: timeline {} at the server's offset {}, newest command {age} old",
                s.timeline, s.end_offset
            ),
        )
    } else if age_ms > max_lag_ms {
        match lag {
            Some(l) => Finding::error(C, "ARCHIVE_LAG", format!("{l} bytes behind the server, and the newest archived command is {age} old (threshold {limit})")).fix(restart),
            None => Finding::error(C, "ARCHIVE_STOPPED", format!("the newest archived command is {age} old (threshold {limit}) and the archive's history (replid {}) is not this server's: the archiver does not follow it", s.replid)).fix(restart),
        }
    } else {
        match lag {
            Some(l) => Finding::ok(C, format!("{l} bytes behind the server, newest command {age} old (threshold {limit})")),
            None => Finding::warn(C, "ARCHIVE_OTHER_SOURCE", format!("recent (newest command {age} old) but of replication history {}, not this server's {}", s.replid, srv.info("master_replid").unwrap_or("?"))).fix("check that --archive is this server's archive"),
        }
    };
    f.detail("repository", repo)
        .detail("timeline", s.timeline)
        .detail("archived_offset", s.end_offset)
        .detail("lag_bytes", lag)
        .detail("newest_command_age_ms", age_ms)
        .detail("max_lag_ms", max_lag_ms)
        .detail("archiver_running", s.spool.map(|(r, _)| r))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Reply;
    use crate::doctor::Status;

    fn srv(replid: &str, offset: u64) -> Server {
        Server {
            addr: "127.0.0.1:6379".into(),
            info: crate::doctor::parse_info(&format!(
                "master_replid:{replid}\r\nmaster_replid2:0000\r\nmaster_repl_offset:{offset}\r\n"
            )),
            config: Default::default(),
            config_error: None,
            ping: Reply::Status("PONG".into()),
            latency: Vec::new(),
        }
    }

    fn seen(
        replid: &str,
        end: u64,
        last_ms: i64,
        spool: Option<bool>,
    ) -> Result<Option<Seen>, String> {
        Ok(Some(Seen {
            timeline: "t".into(),
            replid: replid.into(),
            end_offset: end,
            last_ms,
            spool: spool.map(|r| (r, None)),
        }))
    }

    #[test]
    fn verdicts() {
        let code = |f: Finding| (f.status, f.code);
        let s = srv("aaa", 1000);
        let now = 100_000;
        // At the offset: fine however old (an idle source).
        assert_eq!(
            code(judge(&s, "r", seen("aaa", 1000, 0, None), now, 60_000)),
            (Status::Ok, None)
        );
        // Behind, recent: fine; behind and old: lagging.
        assert_eq!(
            code(judge(
                &s,
                "r",
                seen("aaa", 900, now - 1000, None),
                now,
                60_000
            ))
            .0,
            Status::Ok
        );
        assert_eq!(
            code(judge(
                &s,
                "r",
                seen("aaa", 900, now - 61_000, None),
                now,
                60_000
            )),
            (Status::Error, Some("ARCHIVE_LAG".into()))
        );
        // Another history: old is stopped, recent is a warning.
        assert_eq!(
            code(judge(
                &s,
                "r",
                seen("bbb", 900, now - 61_000, None),
                now,
                60_000
            ))
            .1
            .as_deref(),
            Some("ARCHIVE_STOPPED")
        );
        assert_eq!(
            code(judge(&s, "r", seen("bbb", 900, now, None), now, 60_000)).0,
            Status::Warn
        );
        // The spool says it stopped: an error even when up to date.
        assert_eq!(
            code(judge(
                &s,
                "r",
                seen("aaa", 1000, now, Some(false)),
                now,
                60_000
            ))
            .1
            .as_deref(),
            Some("ARCHIVE_STOPPED")
        );
        assert_eq!(
            code(judge(&s, "r", Ok(None), now, 1)).1.as_deref(),
            Some("ARCHIVE_EMPTY")
        );
        assert_eq!(
            code(judge(&s, "r", Err("x".into()), now, 1)).1.as_deref(),
            Some("ARCHIVE_UNREADABLE")
        );
    }
}
