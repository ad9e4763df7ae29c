//! A restarted server continues its replication history, as Redis 7.0's
//! rdbPopulateSaveInfo and loadDataFromDisk:
//!
//! ```text
//!  SAVE / BGSAVE / SHUTDOWN / save points / a full sync's RDB
//!     aux repl-stream-db (the db the stream continues in), repl-id, repl-offset
//!     written when there is a history: a master with a backlog, a replica that has one
//!  start-up from dump.rdb (appendonly no; an AOF, preamble or not, carries none of it)
//!     a replica:  replid = repl-id, offset = repl-offset, the stream continues in
//!                 repl-stream-db: the link asks PSYNC repl-id repl-offset+1 (+CONTINUE)
//!     a master:   replid2 = repl-id valid up to repl-offset+1, a backlog from there: its
//!                 old replicas continue with +CONTINUE under its new replid
//! ```

use super::backlog::Backlog;
use super::setting;
use crate::server::Server;

/// The replication aux fields of a loaded RDB (rdbSaveInfo): valid together only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SavedHistory {
    pub(crate) stream_db: i64,
    pub(crate) id: Option<String>,
    pub(crate) offset: i64,
}

impl Default for SavedHistory {
    /// RDB_SAVE_INFO_INIT: nothing set.
    fn default() -> SavedHistory {
        SavedHistory {
            stream_db: -1,
            id: None,
            offset: -1,
        }
    }
}

impl SavedHistory {
    /// Takes an aux field if it is one of ours (rdbLoadRio's reading of them); returns
    /// whether it was.
    pub(crate) fn aux(&mut self, key: &[u8], value: &[u8]) -> bool {
        let int = || {
            std::str::from_utf8(value)
                .ok()
                .and_then(|v| v.trim().parse::<i64>().ok())
        };
        match key {
            b"repl-stream-db" => self.stream_db = int().unwrap_or(-1),
            // A replication ID is 40 characters; another length is not one.
            b"repl-id" => {
                if value.len() == 40 && value.iter().all(u8::is_ascii_alphanumeric) {
                    self.id = Some(String::from_utf8_lossy(value).into_owned());
                }
            }
            b"repl-offset" => self.offset = int().unwrap_or(-1),
            _ => return false,
        }
        true
    }

    /// The history, when the three fields make one (loadDataFromDisk's test; a negative
    /// offset from a damaged file is none either).
    fn valid(&self) -> Option<(&str, u64, i64)> {
        let id = self.id.as_deref()?;
        let offset = u64::try_from(self.offset).ok()?;
        (self.stream_db >= 0).then_some((id, offset, self.stream_db))
    }
}

/// The aux fields for history `replid` at `offset`, continuing in `db`.
fn fields(replid: &str, offset: u64, db: usize) -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("repl-stream-db", db.to_string().into_bytes()),
        ("repl-id", replid.as_bytes().to_vec()),
        ("repl-offset", offset.to_string().into_bytes()),
    ]
}

/// rdbPopulateSaveInfo: what an RDB saved now records of our replication history, if we
/// have one: a master with a backlog (the db its stream last selected; 0 when a SELECT will
/// come anyway), a replica that has synchronized (its master's db, or the one the link had
/// when it went down).
pub(crate) fn save_info(srv: &Server) -> Option<Vec<(&'static str, Vec<u8>)>> {
    srv.repl.backlog.as_ref()?;
    let db = match &srv.repl.link {
        None => srv.repl.stream_db.unwrap_or(0),
        Some(_) => super::replica::stream_db(srv),
    };
    Some(fields(&srv.repl.replid, srv.repl.offset, db))
}

/// The aux fields of an RDB for a replica (a full sync): as a saved file's, and for
/// `redis-cli --rdb` of a master without a backlog, its IDs as they are.
pub(crate) fn transfer_info(srv: &Server) -> Vec<(&'static str, Vec<u8>)> {
    save_info(srv).unwrap_or_else(|| fields(&srv.repl.replid, srv.repl.offset, 0))
}

/// After a full sync loaded `received` (readSyncBulkPayload): the file becomes dbfilename,
/// so that a restart, even after a crash, loads it with its master's history and continues.
/// Not with `rdb-del-sync-files yes` on a server that persists nothing, nor with a
/// diskless load configured (Redis writes no file then). Returns whether it was kept.
pub(crate) fn keep_synced_rdb(srv: &mut Server, received: &std::path::Path) -> bool {
    let persists = !srv.config.save_params.is_empty() || srv.config.appendonly;
    if setting(srv, "rdb-del-sync-files") != 0 && !persists {
        return false;
    }
    if srv
        .config
        .accepted
        .get("repl-diskless-load")
        .is_some_and(|v| v != "disabled")
    {
        return false;
    }
    crate::durability::rdb_guard::keep_aside(srv);
    let target = std::path::PathBuf::from(&srv.config.dbfilename);
    match std::fs::rename(received, &target) {
        Ok(()) => true,
        Err(e) => {
            srv.log.warning(&format!(
                "Failed trying to rename the temp DB into {} in MASTER <-> REPLICA synchronization: {e}",
                srv.config.dbfilename
            ));
            false
        }
    }
}

/// Start-up from dump.rdb (loadDataFromDisk): the history the file records becomes ours.
/// A replica synthesizes a cached master from it (its next PSYNC asks to continue); a
/// master keeps it as replid2, so that its old replicas continue.
pub(crate) fn restore(srv: &mut Server, saved: &SavedHistory) {
    let Some((id, offset, db)) = saved.valid() else {
        return;
    };
    let id = id.to_string();
    let size = setting(srv, "repl-backlog-size").max(1) as usize;
    let databases = srv.dbs.len();
    if let Some(l) = srv.repl.link.as_mut() {
        // The master client of a db out of range stays in db 0 (selectDb fails).
        l.master_db = usize::try_from(db)
            .ok()
            .filter(|d| *d < databases)
            .unwrap_or(0);
        srv.log.notice("Before turning into a replica, using my own master parameters to synthesize a cached master: I may be able to synchronize with the new master with just a partial transfer.");
        super::replica::adopt_history(srv, id, offset);
        return;
    }
    let repl = &mut srv.repl;
    repl.replid2 = id;
    repl.second_offset = offset as i64 + 1;
    repl.offset = offset;
    repl.backlog = Some(Backlog::new(size, offset + 1));
    repl.stream_db = None;
    repl.no_replicas_since = std::time::Instant::now();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(fields: &[(&str, &str)]) -> SavedHistory {
        let mut h = SavedHistory::default();
        for (k, v) in fields {
            assert!(h.aux(k.as_bytes(), v.as_bytes()));
        }
        h
    }

    const ID: &str = "0123456789abcdef0123456789abcdef01234567";

    #[test]
    fn a_history_needs_all_three_fields_valid() {
        let full = read(&[
            ("repl-stream-db", "2"),
            ("repl-id", ID),
            ("repl-offset", "99"),
        ]);
        assert_eq!(full.valid(), Some((ID, 99, 2)));
        assert_eq!(
            read(&[("repl-id", ID), ("repl-offset", "99")]).valid(),
            None
        );
        assert_eq!(
            read(&[("repl-stream-db", "0"), ("repl-offset", "9")]).valid(),
            None
        );
        // Untrusted values: a short id, a negative or unparsable offset or db.
        for bad in [
            [
                ("repl-stream-db", "0"),
                ("repl-id", "abc"),
                ("repl-offset", "1"),
            ],
            [
                ("repl-stream-db", "0"),
                ("repl-id", ID),
                ("repl-offset", "-5"),
            ],
            [
                ("repl-stream-db", "x"),
                ("repl-id", ID),
                ("repl-offset", "1"),
            ],
            [
                ("repl-stream-db", "0"),
                ("repl-id", ID),
                ("repl-offset", "99999999999999999999"),
            ],
        ] {
            assert_eq!(read(&bad).valid(), None, "{bad:?}");
        }
        assert!(!SavedHistory::default().aux(b"redis-ver", b"7.0.15"));
    }
}
