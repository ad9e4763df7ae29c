//! The archiver's link to its source, as a replica's (replication.c syncWithMaster /
//! slaveTryPartialResynchronization of Redis 7.0):
//!
//! ```text
//! → AUTH [user] pass                      (when a password is given)
//! → PING                                  ← +PONG
//! → INFO server                           (what the source is, for the timeline entry)
//! → REPLCONF listening-port <port>        ← +OK
//! → REPLCONF capa eof capa psync2         ← +OK
//! → PSYNC <replid> <offset+1>             (resume) or PSYNC ? -1 (first time)
//! ← +CONTINUE [<new replid>]              the stream goes on from offset+1
//! ← +FULLRESYNC <replid> <offset>         then the RDB ($<len> or $EOF:<mark>), then the stream
//! ```
//!
//! Offsets follow Redis: the stream's bytes are numbered from 1, a replica that has the bytes
//! up to R asks for R+1 and acknowledges R (REPLCONF ACK R).

use std::time::Duration;

use crate::backup::sync::{header_line, parse_header, SyncError, Transfer};
use crate::backup::{connect, AuthArgs};
use crate::client::{Client, Info, Reply};

pub enum Start {
    /// A new history: its id, the offset the RDB that follows stands for.
    Full {
        replid: String,
        offset: u64,
        transfer: Transfer,
    },
    /// The stream continues; a new replication id when the source changed it (failover).
    Continue { replid: Option<String> },
}

pub struct Link {
    pub client: Client,
    pub info: Info,
}

fn refused(e: SyncError) -> String {
    match e {
        SyncError::Refused(m) => m,
        SyncError::Io(e) => e.to_string(),
    }
}

/// Connects and runs the handshake up to PSYNC's answer (and the payload header after
/// +FULLRESYNC). `resume`: the replication id and the last offset archived.
pub fn open(
    addr: &str,
    auth: &AuthArgs,
    port: u16,
    resume: Option<(&str, u64)>,
    wait: Duration,
) -> Result<(Link, Start), String> {
    let mut c = connect(addr, auth, wait).map_err(|f| f.0)?;
    handshake(&mut c, port, resume, wait)
        .map_err(|e| format!("{addr}: {}", refused(e)))
        .map(|(info, start)| (Link { client: c, info }, start))
}

fn handshake(
    c: &mut Client,
    port: u16,
    resume: Option<(&str, u64)>,
    wait: Duration,
) -> Result<(Info, Start), SyncError> {
    if let Reply::Error(e) = c.call(&[b"PING"])? {
        return Err(SyncError::Refused(e));
    }
    let info = match c.info("server")? {
        Ok(i) => i,
        Err(e) => return Err(SyncError::Refused(format!("INFO server: {e}"))),
    };
    let port = port.to_string();
    if let Reply::Error(e) = c.call(&[b"REPLCONF", b"listening-port", port.as_bytes()])? {
        return Err(SyncError::Refused(format!("REPLCONF listening-port: {e}")));
    }
    // An old server without capabilities still answers PSYNC.
    let _ = c.call(&[b"REPLCONF", b"capa", b"eof", b"capa", b"psync2"])?;
    c.set_read_timeout(Some(wait))?;
    let (id, off) = match resume {
        Some((id, off)) => (id.to_string(), off.saturating_add(1).to_string()),
        None => ("?".to_string(), "-1".to_string()),
    };
    c.send(&[b"PSYNC", id.as_bytes(), off.as_bytes()])?;
    c.flush()?;
    let first = header_line(c)?;
    let text = String::from_utf8_lossy(&first).into_owned();
    if let Some(rest) = text.strip_prefix("+FULLRESYNC ") {
        let mut it = rest.split_whitespace();
        let replid = it.next().unwrap_or_default().to_string();
        let offset = it.next().and_then(|o| o.parse::<u64>().ok());
        let (true, Some(offset)) = (replid.len() == 40, offset) else {
            return Err(SyncError::Refused(format!("bad +FULLRESYNC line: {text}")));
        };
        let transfer = parse_header(&header_line(c)?)?;
        return Ok((
            info,
            Start::Full {
                replid,
                offset,
                transfer,
            },
        ));
    }
    if let Some(rest) = text.strip_prefix("+CONTINUE") {
        let id = rest.trim();
        if resume.is_none() {
            return Err(SyncError::Refused("+CONTINUE to PSYNC ? -1".into()));
        }
        let replid = (!id.is_empty()).then(|| id.to_string());
        if replid.as_ref().is_some_and(|r| r.len() != 40) {
            return Err(SyncError::Refused(format!("bad +CONTINUE line: {text}")));
        }
        return Ok((info, Start::Continue { replid }));
    }
    Err(SyncError::Refused(format!("PSYNC: {text}")))
}
