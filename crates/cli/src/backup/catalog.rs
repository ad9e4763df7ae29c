//! Catalog entries: one JSON object per backup, `catalog/<id>.json`, written after the data
//! object is stored whole (so an entry always describes complete data), rewritten atomically
//! when `verify` marks it.
//!
//! Ids sort by time: `YYYYMMDDTHHMMSS.mmmZ-xxxxxx` (UTC, then 6 hex digits against collisions).

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Bumped when a field changes meaning; readers refuse newer formats.
pub const FORMAT: u32 = 1;

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct DbCount {
    pub db: u64,
    pub keys: u64,
    pub expires: u64,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct Source {
    /// HOST:PORT the snapshot came from.
    pub address: String,
    /// "network" (replication handshake) or "local" (BGSAVE, then dump.rdb copied).
    pub method: String,
    pub run_id: Option<String>,
    pub redis_version: Option<String>,
    /// Set when the server is Amber (its INFO has amber_version).
    pub amber_version: Option<String>,
    /// From +FULLRESYNC: the replication id and offset the snapshot corresponds to.
    pub replid: Option<String>,
    pub repl_offset: Option<i64>,
    /// `--local`: the file that was copied.
    pub file: Option<String>,
}

impl Source {
    /// What the server was: "amber 0.1.0 (Redis 7.0.15 compatible)" (Amber's own version,
    /// then the Redis version it reports for compatibility) or "redis 7.0.15".
    pub fn server_label(&self) -> String {
        let redis = self.redis_version.as_deref().unwrap_or("?");
        match &self.amber_version {
            Some(v) => format!("amber {v} (Redis {redis} compatible)"),
            None => format!("redis {redis}"),
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct Entry {
    pub format: u32,
    pub id: String,
    /// When the snapshot was requested (RFC 3339, UTC) and as Unix milliseconds.
    pub time: String,
    pub time_ms: i64,
    pub source: Source,
    pub rdb_version: u32,
    /// AUX fields of the RDB (redis-ver, ctime, used-mem, ...).
    pub aux: BTreeMap<String, String>,
    pub databases: Vec<DbCount>,
    pub keys: u64,
    pub expires: u64,
    /// "ok", or "disabled" when the server saves with rdbchecksum no.
    pub checksum: String,
    /// Size and SHA-256 of the RDB as the server sent it.
    pub raw_size: u64,
    pub raw_sha256: String,
    /// The stored object: key in the repository, compression, size and SHA-256.
    pub object: String,
    pub compression: String,
    pub stored_size: u64,
    pub stored_sha256: String,
    /// Whether the stored object was read back (or decoded while taken) and found whole.
    pub verified: bool,
    pub verified_at: Option<String>,
    /// How: "decoded while taking" or "read back by verify".
    pub verified_how: Option<String>,
    /// Why the last verification failed.
    pub verify_error: Option<String>,
    /// Content amber cannot decode (functions, streams, modules): the bytes are kept and
    /// checksummed, offline restore works, but the keys were not counted or verified.
    #[serde(default)]
    pub unsupported: Option<String>,
    /// Seconds the backup took, start of the transfer to the catalog write.
    pub duration_s: f64,
}

impl Entry {
    pub fn key(id: &str) -> String {
        format!("catalog/{id}.json")
    }

    pub fn data_key(id: &str) -> String {
        format!("data/{id}.rdb.zst")
    }

    pub fn to_json(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).unwrap_or_default();
        v.push(b'\n');
        v
    }

    pub fn from_json(b: &[u8]) -> Result<Entry, String> {
        let e: Entry = serde_json::from_slice(b).map_err(|e| e.to_string())?;
        if e.format > FORMAT {
            return Err(format!(
                "catalog format {} is newer than this tool ({FORMAT})",
                e.format
            ));
        }
        Ok(e)
    }
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// (year, month, day) of a day count since 1970-01-01 (Howard Hinnant's civil_from_days).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

struct Parts {
    y: i64,
    mo: u32,
    d: u32,
    h: i64,
    mi: i64,
    s: i64,
    ms: i64,
}

fn parts(ms: i64) -> Parts {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    let (y, mo, d) = civil_from_days(days);
    Parts {
        y,
        mo,
        d,
        h: rem / 3_600_000,
        mi: rem / 60_000 % 60,
        s: rem / 1000 % 60,
        ms: rem % 1000,
    }
}

/// 2025-01-31T12:34:56.789Z
pub fn rfc3339(ms: i64) -> String {
    let p = parts(ms);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        p.y, p.mo, p.d, p.h, p.mi, p.s, p.ms
    )
}

/// 20250131T123456.789Z-1a2b3c: sorts by time as text.
pub fn new_id(ms: i64) -> String {
    let p = parts(ms);
    let mut r = [0u8; 3];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        use std::io::Read;
        let _ = f.read_exact(&mut r);
    }
    let salt = u32::from(r[0]) << 16 | u32::from(r[1]) << 8 | u32::from(r[2]);
    let salt = salt ^ (std::process::id() & 0xff_ffff);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}.{:03}Z-{salt:06x}",
        p.y, p.mo, p.d, p.h, p.mi, p.s, p.ms
    )
}

/// Whether `s` has the shape of an id (also keeps path tricks out of object names).
pub fn valid_id(s: &str) -> bool {
    s.len() >= 8
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_')
        && !s.starts_with('.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_ids() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(rfc3339(1_735_689_599_999), "2024-12-31T23:59:59.999Z");
        let a = new_id(1_735_689_599_999);
        let b = new_id(1_735_689_600_000);
        assert!(a.starts_with("20241231T235959.999Z-"));
        assert!(a < b);
        assert!(valid_id(&a));
        assert!(!valid_id("../../etc"));
        assert!(!valid_id(""));
    }
}
