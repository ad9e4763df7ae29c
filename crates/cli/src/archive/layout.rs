//! The archive's objects in a repository (beside the backups' `catalog/` and `data/`):
//!
//! ```text
//! REPO/archive/<timeline>/base.rdb.zst         the full-sync RDB, zstd (multipart, whole or absent)
//! REPO/archive/<timeline>/timeline.json        written after the base is stored whole (create-only)
//! REPO/archive/<timeline>/seg/<start>.zst      one segment of the replication stream
//! REPO/archive/<timeline>/seg/<start>.json     its entry: written after the segment (create-only)
//! ```
//!
//! A timeline is one replication history: a base taken at offset `start_offset` of `replid`,
//! then segments covering the stream bytes (start, end] in order, without gaps. Only what an
//! entry lists exists: a segment object without its entry (an archiver killed between the
//! two puts) is ignored and overwritten by the next upload of the same range. `<start>` is the
//! offset, zero-padded to 20 digits, so names sort as the stream.
//!
//! Checksums are the backups' scheme (see `backup::stream`): SHA-256 of the raw and of the
//! stored (compressed) bytes, sizes of both, recorded in the entry.

use serde::{Deserialize, Serialize};

use crate::backup::catalog::{self, Source};
use crate::backup::repo::Repo;
use crate::Failure;

/// Bumped when a field changes meaning; readers refuse newer formats.
pub const FORMAT: u32 = 1;

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct Base {
    pub object: String,
    pub rdb_version: u32,
    pub keys: u64,
    pub raw_size: u64,
    pub raw_sha256: String,
    pub stored_size: u64,
    pub stored_sha256: String,
    /// Content amber cannot decode (stored, not verified).
    pub unsupported: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct Timeline {
    pub format: u32,
    pub id: String,
    /// When +FULLRESYNC arrived (the base's moment, by the archiver's clock).
    pub time: String,
    pub time_ms: i64,
    pub replid: String,
    /// The source's replication offset the base corresponds to.
    pub start_offset: u64,
    pub source: Source,
    pub base: Base,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Segment {
    pub format: u32,
    pub timeline: String,
    /// The replication id the source used for these bytes (changes after a failover).
    pub replid: String,
    /// The stream bytes (start_offset, end_offset], as replication offsets.
    pub start_offset: u64,
    pub end_offset: u64,
    /// Arrival times (archiver's clock, Unix ms) of the first and last command.
    pub first_ms: i64,
    pub last_ms: i64,
    pub commands: u64,
    pub object: String,
    pub raw_size: u64,
    pub raw_sha256: String,
    pub stored_size: u64,
    pub stored_sha256: String,
}

pub fn timeline_key(tl: &str) -> String {
    format!("archive/{tl}/timeline.json")
}

pub fn base_key(tl: &str) -> String {
    format!("archive/{tl}/base.rdb.zst")
}

pub fn segment_key(tl: &str, start: u64) -> String {
    format!("archive/{tl}/seg/{start:020}.zst")
}

pub fn segment_entry_key(tl: &str, start: u64) -> String {
    format!("archive/{tl}/seg/{start:020}.json")
}

pub fn to_json<T: Serialize>(v: &T) -> Vec<u8> {
    let mut b = serde_json::to_vec_pretty(v).unwrap_or_default();
    b.push(b'\n');
    b
}

fn parse<T: for<'a> Deserialize<'a>>(b: &[u8], format: impl Fn(&T) -> u32) -> Result<T, String> {
    let v: T = serde_json::from_slice(b).map_err(|e| e.to_string())?;
    if format(&v) > FORMAT {
        return Err(format!(
            "archive format {} is newer than this tool ({FORMAT})",
            format(&v)
        ));
    }
    Ok(v)
}

pub fn parse_timeline(b: &[u8]) -> Result<Timeline, String> {
    let t: Timeline = parse(b, |t: &Timeline| t.format)?;
    if !catalog::valid_id(&t.id) {
        return Err(format!("'{}' is not a timeline id", t.id));
    }
    Ok(t)
}

pub fn parse_segment(b: &[u8]) -> Result<Segment, String> {
    let s: Segment = parse(b, |s: &Segment| s.format)?;
    if s.end_offset <= s.start_offset {
        return Err(format!(
            "segment range ({}, {}] is empty",
            s.start_offset, s.end_offset
        ));
    }
    Ok(s)
}

/// Every timeline with an entry, oldest first, and the entries that do not parse.
pub fn timelines(repo: &Repo) -> Result<(Vec<Timeline>, Vec<String>), Failure> {
    let (read, bad) = repo
        .read_parsed("archive", "/timeline.json", parse_timeline)
        .map_err(|e| Failure(format!("can't list {}: {e}", repo.location)))?;
    let mut out: Vec<Timeline> = read.into_iter().map(|(_, t)| t).collect();
    out.sort_by(|a, b| a.time_ms.cmp(&b.time_ms).then_with(|| a.id.cmp(&b.id)));
    Ok((out, bad))
}

/// A timeline's listed segments in stream order, and the entries that do not parse.
pub fn segments(repo: &Repo, tl: &str) -> Result<(Vec<Segment>, Vec<String>), Failure> {
    let (read, mut bad) = repo
        .read_parsed(&format!("archive/{tl}/seg"), ".json", parse_segment)
        .map_err(|e| Failure(format!("can't list {}: {e}", repo.location)))?;
    let mut out = Vec::new();
    for (key, s) in read {
        if s.timeline == tl {
            out.push(s);
        } else {
            bad.push(format!("{key}: names timeline {}", s.timeline));
        }
    }
    out.sort_by_key(|s| s.start_offset);
    Ok((out, bad))
}

/// The prefix of `segs` that continues the stream from `start` without a gap or overlap:
/// (how many, the offset reached).
pub fn contiguous(start: u64, segs: &[Segment]) -> (usize, u64) {
    let mut at = start;
    for (i, s) in segs.iter().enumerate() {
        if s.start_offset != at {
            return (i, at);
        }
        at = s.end_offset;
    }
    (segs.len(), at)
}

/// A listed segment read back and checked against its entry: stored size and SHA-256,
/// decompression, raw size and SHA-256, records continuing each other over exactly
/// (start, end]. `Err`: what is wrong with it (`Ok(Err)`), or the repository failed (`Err`).
pub fn load_segment(repo: &Repo, s: &Segment) -> std::io::Result<Result<Vec<u8>, String>> {
    let stored = match repo.get(&s.object) {
        Ok(b) => b,
        Err(e) if crate::backup::repo::is_not_found(&e) => {
            return Ok(Err(format!("{} is missing", s.object)))
        }
        Err(e) => return Err(e),
    };
    Ok(check_segment(s, &stored))
}

pub fn check_segment(s: &Segment, stored: &[u8]) -> Result<Vec<u8>, String> {
    use sha2::{Digest, Sha256};
    let hex = crate::backup::stream::hex;
    if stored.len() as u64 != s.stored_size || hex(&Sha256::digest(stored)) != s.stored_sha256 {
        return Err(format!(
            "{}: the stored object differs from its entry (size or SHA-256)",
            s.object
        ));
    }
    let cap = usize::try_from(s.raw_size)
        .ok()
        .filter(|n| *n <= 2 * super::segment::MAX_RECORD)
        .ok_or_else(|| format!("{}: raw size {} is too large", s.object, s.raw_size))?;
    let raw = zstd::bulk::decompress(stored, cap)
        .map_err(|e| format!("{}: does not decompress: {e}", s.object))?;
    if raw.len() as u64 != s.raw_size || hex(&Sha256::digest(&raw)) != s.raw_sha256 {
        return Err(format!(
            "{}: the decompressed bytes differ from the entry (size or SHA-256)",
            s.object
        ));
    }
    let recs =
        super::segment::records(&raw, s.start_offset).map_err(|e| format!("{}: {e}", s.object))?;
    let end = recs
        .last()
        .map_or(s.start_offset, |r| r.start + r.bytes.len() as u64);
    if end != s.end_offset {
        return Err(format!(
            "{}: the records end at offset {end}, the entry says {}",
            s.object, s.end_offset
        ));
    }
    Ok(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(a: u64, b: u64) -> Segment {
        Segment {
            start_offset: a,
            end_offset: b,
            ..Segment::default()
        }
    }

    #[test]
    fn keys_sort_as_offsets_and_gaps_stop_the_chain() {
        assert!(segment_key("t", 99) < segment_key("t", 100));
        assert_eq!(
            segment_entry_key("t", 7),
            "archive/t/seg/00000000000000000007.json"
        );
        let segs = [seg(10, 20), seg(20, 35), seg(40, 50)];
        assert_eq!(contiguous(10, &segs), (2, 35));
        assert_eq!(contiguous(5, &segs), (0, 5));
        assert!(parse_segment(&to_json(&seg(5, 5))).is_err());
        let mut newer = seg(1, 2);
        newer.format = FORMAT + 1;
        assert!(parse_segment(&to_json(&newer))
            .unwrap_err()
            .contains("newer"));
    }
}
