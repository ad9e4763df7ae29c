//! One verdict for AOF bytes: what the server's loader does with a file and what
//! `amber check-aof` / `amber doctor` report come from here, so a file the server loads is
//! one check-aof passes and the other way round.
//!
//! The reference is Redis 7.0.15's loader (loadAppendOnlyFiles / loadSingleAppendOnlyFile):
//!
//! ```text
//! bytes                                   Judgment    loader, aof-load-truncated yes | no
//! clean end, empty file, #TS: lines       Ok          loads                    | loads
//! last command cut short                  Truncated   loads, cut at valid_len  | refuses
//! MULTI without EXEC at the end           Truncated   loads, cut before MULTI  | refuses
//! (either, in a file that is not last)    Truncated   refuses                  | refuses
//! *0 or *-1 (no arguments), *x, $x,       Corrupt     refuses                  | refuses
//!   a line not starting with * or #,
//!   a bulk not followed by \r\n
//! broken RDB preamble                     Corrupt     refuses                  | refuses
//! a file the manifest names is missing    Missing     refuses                  | refuses
//! ```
//!
//! Where redis-check-aof 7.0.15 and the loader disagree, the loader wins when it is the
//! stricter: `*0` passes redis-check-aof but the loader stops with "Bad file format", so it
//! is Corrupt here. Where the loader is laxer by accident of its parser (it does not check a
//! bulk's `\r\n` nor what follows a `$` length, and loads an EXEC without MULTI or a nested
//! MULTI, whose error replies go nowhere), redis-check-aof's "not valid" is kept: Corrupt.
//! tests/test_aof_verdict.py pins both lists against redis-server and redis-check-aof.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use super::reader::{AofEntry, AofReader, ReaderOptions, Tail};
use crate::rdb::RdbError;

/// The verdict on one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Judgment {
    Ok,
    /// Loadable after cutting at `valid_len`: the bytes ran out inside an entry, or after a
    /// MULTI without EXEC.
    Truncated {
        valid_len: u64,
        reason: String,
    },
    /// Not loadable: the bytes are not the format (or the RDB preamble is broken).
    Corrupt {
        offset: u64,
        reason: String,
    },
    /// The manifest names the file but it does not exist.
    Missing,
}

impl Judgment {
    /// The verdict on a file whose RESP part ended as `tail`.
    pub fn of_tail(tail: &Tail) -> Judgment {
        match tail {
            Tail::Clean { .. } => Judgment::Ok,
            Tail::Truncated {
                valid_len, reason, ..
            } => Judgment::Truncated {
                valid_len: *valid_len,
                reason: reason.clone(),
            },
            Tail::UnfinishedMulti {
                valid_len,
                multi_at,
            } => Judgment::Truncated {
                valid_len: *valid_len,
                reason: format!("the file ends inside the MULTI at offset {multi_at} (no EXEC)"),
            },
            Tail::Corrupt { offset, reason, .. } => Judgment::Corrupt {
                offset: *offset,
                reason: reason.clone(),
            },
        }
    }

    /// The verdict on a file whose RDB preamble failed with `e`; I/O errors stay errors.
    pub fn of_rdb_error(e: RdbError) -> io::Result<Judgment> {
        match e {
            RdbError::Io(e) => Err(e),
            RdbError::Corrupt { offset, context } => Ok(Judgment::Corrupt {
                offset,
                reason: format!("RDB preamble is not sane: {context}"),
            }),
            RdbError::Unsupported { offset, .. } => Ok(Judgment::Corrupt {
                offset,
                reason: format!("RDB preamble is not sane: {e}"),
            }),
        }
    }

    /// A short name: ok, truncated, corrupt, missing.
    pub fn name(&self) -> &'static str {
        match self {
            Judgment::Ok => "ok",
            Judgment::Truncated { .. } => "truncated",
            Judgment::Corrupt { .. } => "corrupt",
            Judgment::Missing => "missing",
        }
    }
}

/// Why the loader refuses a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Not the format (Redis's "Bad file format"), or a broken RDB preamble.
    Corrupt,
    /// Cut short, and aof-load-truncated is no.
    Truncated,
    /// Cut short, but not the last file of the manifest.
    TruncatedNotLast,
    /// Named in the manifest, not on disk.
    Missing,
}

/// What the loader does with one file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadAction {
    Load,
    /// Load what is before `valid_len` and cut the file there.
    LoadCut {
        valid_len: u64,
    },
    Refuse(Refusal),
}

impl LoadAction {
    /// load, load-cut, refuse.
    pub fn name(&self) -> &'static str {
        match self {
            LoadAction::Load => "load",
            LoadAction::LoadCut { .. } => "load-cut",
            LoadAction::Refuse(_) => "refuse",
        }
    }
}

/// What the loader does with a file judged `j`, the last of its manifest or not, under
/// aof-load-truncated `load_truncated`.
pub fn load_action(j: &Judgment, last: bool, load_truncated: bool) -> LoadAction {
    match j {
        Judgment::Ok => LoadAction::Load,
        Judgment::Truncated { valid_len, .. } => {
            if !load_truncated {
                LoadAction::Refuse(Refusal::Truncated)
            } else if !last {
                LoadAction::Refuse(Refusal::TruncatedNotLast)
            } else {
                LoadAction::LoadCut {
                    valid_len: *valid_len,
                }
            }
        }
        Judgment::Corrupt { .. } => LoadAction::Refuse(Refusal::Corrupt),
        Judgment::Missing => LoadAction::Refuse(Refusal::Missing),
    }
}

/// What the loader does with a whole set of files (in load order): the first file that is
/// not plainly loadable decides.
pub fn load_action_all<'a>(
    judgments: impl IntoIterator<Item = &'a Judgment>,
    load_truncated: bool,
) -> LoadAction {
    let all: Vec<&Judgment> = judgments.into_iter().collect();
    let n = all.len();
    for (i, j) in all.into_iter().enumerate() {
        match load_action(j, i + 1 == n, load_truncated) {
            LoadAction::Load => {}
            other => return other,
        }
    }
    LoadAction::Load
}

/// Judges one file read from `r` to its end.
pub fn judge<R: Read>(r: R) -> io::Result<Judgment> {
    let mut rd = match AofReader::with_options(r, ReaderOptions::default()) {
        Ok(rd) => rd,
        Err(e) => return Judgment::of_rdb_error(e),
    };
    loop {
        match rd.next() {
            Ok(Some(AofEntry::Rdb(_) | AofEntry::Command { .. } | AofEntry::Annotation(_))) => {}
            Ok(None) => break,
            Err(e) => return Judgment::of_rdb_error(e),
        }
    }
    Ok(rd.tail().map_or(Judgment::Ok, Judgment::of_tail))
}

/// Judges the file at `path` (Missing when it does not exist).
pub fn judge_file(path: &Path) -> io::Result<Judgment> {
    match File::open(path) {
        Ok(f) => judge(BufReader::with_capacity(1 << 16, f)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Judgment::Missing),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// (bytes, judgment name, action with aof-load-truncated yes, with no), for a last file;
    /// the loader's behaviour in Redis 7.0.15 for each (tests/test_aof_verdict.py runs the
    /// same bytes through redis-server).
    const CASES: &[(&[u8], &str, &str, &str)] = &[
        (b"", "ok", "load", "load"),
        (b"*1\r\n$4\r\nPING\r\n", "ok", "load", "load"),
        (
            b"#TS:1700000000\r\n*1\r\n$4\r\nPING\r\n",
            "ok",
            "load",
            "load",
        ),
        (b"*0\r\n", "corrupt", "refuse", "refuse"),
        (b"*1\r\n$4\r\nPING\r\n*0\r\n", "corrupt", "refuse", "refuse"),
        (b"*-1\r\n", "corrupt", "refuse", "refuse"),
        (b"*x\r\n$4\r\nPING\r\n", "corrupt", "refuse", "refuse"),
        (b"*1\r\n$x\r\nPING\r\n", "corrupt", "refuse", "refuse"),
        (b"*1\r\n$-1\r\n", "corrupt", "refuse", "refuse"),
        (
            b"*1\r\n$5\r\nPING\r\n*1\r\n$4\r\nPING\r\n",
            "corrupt",
            "refuse",
            "refuse",
        ),
        (b"hello\r\n", "corrupt", "refuse", "refuse"),
        (
            b"*1\r\n$4\r\nPING\r\nhello\r\n",
            "corrupt",
            "refuse",
            "refuse",
        ),
        (
            b"*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n",
            "truncated",
            "load-cut",
            "refuse",
        ),
        (
            b"*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGE",
            "truncated",
            "load-cut",
            "refuse",
        ),
        (b"*1\r\n$4\r\nPING\r\n*", "truncated", "load-cut", "refuse"),
        (
            b"*1\r\n$5\r\nMULTI\r\n*1\r\n$4\r\nPING\r\n",
            "truncated",
            "load-cut",
            "refuse",
        ),
    ];

    #[test]
    fn one_table_for_every_case() {
        for (bytes, name, yes, no) in CASES {
            let j = judge(*bytes).unwrap();
            let shown = String::from_utf8_lossy(bytes);
            assert_eq!(j.name(), *name, "{shown:?}: {j:?}");
            assert_eq!(load_action(&j, true, true).name(), *yes, "{shown:?}");
            assert_eq!(load_action(&j, true, false).name(), *no, "{shown:?}");
            // Not the last file: only Ok loads.
            let not_last = load_action(&j, false, true);
            assert_eq!(not_last == LoadAction::Load, *name == "ok", "{shown:?}");
        }
    }

    /// check-aof's report carries the same judgment as `judge`, and its `load_action` is the
    /// loader's, for every case of the table, as the last file of a manifest.
    #[test]
    fn check_reports_the_same_verdict() {
        let dir = std::env::temp_dir().join(format!("amber-verdict-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a.aof.1.base.aof"), b"*1\r\n$4\r\nPING\r\n").unwrap();
        let manifest = dir.join("a.aof.manifest");
        std::fs::write(
            &manifest,
            b"file a.aof.1.base.aof seq 1 type b\nfile a.aof.1.incr.aof seq 1 type i\n",
        )
        .unwrap();
        for (bytes, _, yes, no) in CASES {
            std::fs::write(dir.join("a.aof.1.incr.aof"), bytes).unwrap();
            let report =
                crate::aof::check(&manifest, &crate::aof::CheckOptions::default()).unwrap();
            let shown = String::from_utf8_lossy(bytes);
            assert_eq!(
                report.files[1].judgment,
                Some(judge(*bytes).unwrap()),
                "{shown:?}"
            );
            assert_eq!(report.load_action(true).unwrap().name(), *yes, "{shown:?}");
            assert_eq!(report.load_action(false).unwrap().name(), *no, "{shown:?}");
            // check-aof passes exactly what loads untouched.
            assert_eq!(
                report.verdict == crate::aof::Verdict::Valid,
                *yes == "load",
                "{shown:?}"
            );
        }
        std::fs::remove_file(dir.join("a.aof.1.incr.aof")).unwrap();
        let report = crate::aof::check(&manifest, &crate::aof::CheckOptions::default()).unwrap();
        assert_eq!(report.files[1].judgment, Some(Judgment::Missing));
        assert_eq!(
            report.load_action(true),
            Some(LoadAction::Refuse(Refusal::Missing))
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn cuts_and_sets() {
        let j =
            judge(&b"*1\r\n$4\r\nPING\r\n*1\r\n$5\r\nMULTI\r\n*1\r\n$4\r\nPING\r\n"[..]).unwrap();
        assert_eq!(
            load_action(&j, true, true),
            LoadAction::LoadCut { valid_len: 14 }
        );
        let t = judge(&b"*1\r\n$4\r\nPI"[..]).unwrap();
        let ok = Judgment::Ok;
        assert_eq!(
            load_action_all([&ok, &t], true),
            LoadAction::LoadCut { valid_len: 0 }
        );
        assert_eq!(
            load_action_all([&t, &ok], true),
            LoadAction::Refuse(Refusal::TruncatedNotLast)
        );
        assert_eq!(
            load_action_all([&ok, &Judgment::Missing, &ok], true),
            LoadAction::Refuse(Refusal::Missing)
        );
        assert_eq!(load_action_all([&ok, &ok], false), LoadAction::Load);
        assert_eq!(
            judge_file(Path::new("/nonexistent/amber/x.aof")).unwrap(),
            Judgment::Missing
        );
    }
}
