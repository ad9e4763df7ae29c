//! The persistence error codes users look up (the persistence guide's table), in one place:
//! the server's logs and INFO fields, `amber doctor`, `amber backup`, `check-rdb` and
//! `check-aof` all print them from here.
//!
//! ```text
//! P001 FORK_FAIL    Cannot fork for BGSAVE        Enable overcommit
//! P002 RDB_CORRUPT  RDB file corrupted            Restore backup
//! P003 AOF_CORRUPT  AOF file corrupted            redis-check-aof --fix
//! P004 DISK_FULL    No space for persistence      Free disk space
//! P005 WRITE_ERR    Cannot write to disk          Check permissions
//! ```

use std::fmt;
use std::io;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PCode {
    /// P001: the snapshot could not be started (Redis: the fork failed).
    ForkFail,
    /// P002: an RDB file does not decode.
    RdbCorrupt,
    /// P003: an AOF file (or its manifest) is corrupt.
    AofCorrupt,
    /// P004: no space left (ENOSPC) or the quota is reached (EDQUOT).
    DiskFull,
    /// P005: any other failure to write or sync.
    WriteErr,
}

impl PCode {
    pub const ALL: [PCode; 5] = [
        PCode::ForkFail,
        PCode::RdbCorrupt,
        PCode::AofCorrupt,
        PCode::DiskFull,
        PCode::WriteErr,
    ];

    /// The code users look up: `P001` … `P005`.
    pub const fn code(self) -> &'static str {
        match self {
            PCode::ForkFail => "P001",
            PCode::RdbCorrupt => "P002",
            PCode::AofCorrupt => "P003",
            PCode::DiskFull => "P004",
            PCode::WriteErr => "P005",
        }
    }

    /// Its name: `FORK_FAIL`, `RDB_CORRUPT`, `AOF_CORRUPT`, `DISK_FULL`, `WRITE_ERR`.
    pub const fn name(self) -> &'static str {
        match self {
            PCode::ForkFail => "FORK_FAIL",
            PCode::RdbCorrupt => "RDB_CORRUPT",
            PCode::AofCorrupt => "AOF_CORRUPT",
            PCode::DiskFull => "DISK_FULL",
            PCode::WriteErr => "WRITE_ERR",
        }
    }

    /// `P004 DISK_FULL`: the code and its name, as logs, INFO fields and tools print them.
    pub const fn label(self) -> &'static str {
        match self {
            PCode::ForkFail => "P001 FORK_FAIL",
            PCode::RdbCorrupt => "P002 RDB_CORRUPT",
            PCode::AofCorrupt => "P003 AOF_CORRUPT",
            PCode::DiskFull => "P004 DISK_FULL",
            PCode::WriteErr => "P005 WRITE_ERR",
        }
    }

    /// What it means, in the guide's words.
    pub const fn meaning(self) -> &'static str {
        match self {
            PCode::ForkFail => "Cannot fork for BGSAVE",
            PCode::RdbCorrupt => "RDB file corrupted",
            PCode::AofCorrupt => "AOF file corrupted",
            PCode::DiskFull => "No space for persistence",
            PCode::WriteErr => "Cannot write to disk",
        }
    }

    /// The guide's first remedy.
    pub const fn remedy(self) -> &'static str {
        match self {
            PCode::ForkFail => "Enable overcommit",
            PCode::RdbCorrupt => "Restore backup",
            PCode::AofCorrupt => "redis-check-aof --fix",
            PCode::DiskFull => "Free disk space",
            PCode::WriteErr => "Check permissions",
        }
    }

    /// The code of a failed write or sync: P004 for a full disk or quota (ENOSPC, EDQUOT),
    /// P005 for any other error.
    pub fn from_io(e: &io::Error) -> PCode {
        match e.raw_os_error() {
            Some(libc::ENOSPC) | Some(libc::EDQUOT) => PCode::DiskFull,
            _ => PCode::WriteErr,
        }
    }

    /// The code at the start of `s` (`P004`, `P004 DISK_FULL: …`), if it is one of ours.
    pub fn parse_prefix(s: &str) -> Option<PCode> {
        let head = s.get(..4)?;
        let code = PCode::ALL.into_iter().find(|c| c.code() == head)?;
        match s.as_bytes().get(4) {
            None | Some(b' ' | b':') => Some(code),
            Some(_) => None,
        }
    }
}

/// `P004 DISK_FULL` (`label`).
impl fmt::Display for PCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_names_and_display() {
        let shown: Vec<String> = PCode::ALL.iter().map(|c| c.to_string()).collect();
        assert_eq!(
            shown,
            [
                "P001 FORK_FAIL",
                "P002 RDB_CORRUPT",
                "P003 AOF_CORRUPT",
                "P004 DISK_FULL",
                "P005 WRITE_ERR"
            ]
        );
        for c in PCode::ALL {
            assert_eq!(c.label(), format!("{} {}", c.code(), c.name()));
        }
        assert_eq!(PCode::DiskFull.meaning(), "No space for persistence");
        assert_eq!(PCode::AofCorrupt.remedy(), "redis-check-aof --fix");
    }

    #[test]
    fn disk_full_is_enospc_or_edquot_only() {
        let of = |n| PCode::from_io(&io::Error::from_raw_os_error(n));
        assert_eq!(of(libc::ENOSPC), PCode::DiskFull);
        assert_eq!(of(libc::EDQUOT), PCode::DiskFull);
        assert_eq!(of(libc::EIO), PCode::WriteErr);
        assert_eq!(of(libc::EACCES), PCode::WriteErr);
        assert_eq!(of(libc::EROFS), PCode::WriteErr);
        assert_eq!(PCode::from_io(&io::Error::other("x")), PCode::WriteErr);
    }

    #[test]
    fn parse_prefix_reads_what_display_writes() {
        for c in PCode::ALL {
            assert_eq!(PCode::parse_prefix(&c.to_string()), Some(c));
            assert_eq!(PCode::parse_prefix(c.code()), Some(c));
            assert_eq!(PCode::parse_prefix(&format!("{c}: why")), Some(c));
        }
        assert_eq!(PCode::parse_prefix("P0041"), None);
        assert_eq!(PCode::parse_prefix("P006 X"), None);
        assert_eq!(PCode::parse_prefix("none"), None);
        assert_eq!(PCode::parse_prefix(""), None);
    }
}
