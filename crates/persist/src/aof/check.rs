//! redis-check-aof 7.0 as a library; each file also carries the server's `Judgment` (see
//! `verdict`), and `CheckReport::load_action` says what the server would do with the set.
//!
//! `check` takes what redis-check-aof takes: a manifest (every file it names is checked in
//! load order, base then incrs, in the manifest's directory), an RDB-preamble AOF or a plain
//! AOF, told apart as redis-check-aof does (a manifest has a non-comment line starting with
//! `file`; a preamble AOF starts with "REDIS"), with one deliberate difference: a file whose
//! first byte is `*` or that starts with "REDIS" is never taken for a manifest (redis-check-aof
//! mistakes an AOF holding a `file...` line, e.g. `SET file x`, for one). It changes nothing;
//! `fix` applies the cut it found.
//!
//! The rules, as in redis-check-aof 7.0.15:
//! - a file that does not read to a clean end is "not valid"; the cut (`ok_up_to`) is the
//!   start of the entry that failed, or of the MULTI it is in; only the LAST file of the set
//!   may be cut, a problem in an earlier one cannot be fixed by truncation;
//! - an RDB preamble that does not decode is not fixable ("not sane");
//! - an empty file is valid;
//! - `truncate_to_timestamp(ts)` (ts ≠ 0; 0 means off, as in Redis) scans every file for
//!   `#TS:` annotations, and at the first one later than ts cuts there, which is allowed only
//!   in the last file and not at offset 0; a `#TS:` annotation that does not parse stops the
//!   check; a file with a problem before that is "not valid" (run the fix first).

use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use super::dropped::commands_after;
use super::manifest::{Manifest, ManifestError, MANIFEST_MAX_LINE};
use super::reader::{AnnotationKind, AofEntry, AofReader, Tail};
use super::verdict::{load_action_all, Judgment, LoadAction};
use crate::rdb::{Item, RdbError};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputKind {
    Manifest,
    RdbPreamble,
    Resp,
}

/// What redis-check-aof would take the file for (see the module doc for the one deviation).
pub fn detect(path: &Path) -> io::Result<InputKind> {
    let data = {
        let mut f = File::open(path)?;
        let mut head = [0u8; 5];
        let n = read_full(&mut f, &mut head)?;
        let starts_rdb = n == 5 && &head == b"REDIS";
        let size = f.metadata()?.len();
        if starts_rdb {
            return Ok(if size >= 8 {
                InputKind::RdbPreamble
            } else {
                InputKind::Resp
            });
        }
        if n > 0 && head[0] == b'*' {
            return Ok(InputKind::Resp);
        }
        // Manifests are small; an AOF that gets here is scanned piece by piece.
        BufReader::new(File::open(path)?)
    };
    if is_manifest(data)? {
        Ok(InputKind::Manifest)
    } else {
        Ok(InputKind::Resp)
    }
}

fn read_full(f: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// redis-check-aof's fileIsManifest: any piece (fgets of 1024) not starting with '#' that
/// starts with "file".
fn is_manifest<R: io::BufRead>(mut r: R) -> io::Result<bool> {
    let mut piece = Vec::with_capacity(MANIFEST_MAX_LINE);
    loop {
        piece.clear();
        loop {
            let buf = r.fill_buf()?;
            if buf.is_empty() {
                break;
            }
            let room = MANIFEST_MAX_LINE - piece.len();
            let take = buf.iter().take(room).position(|&c| c == b'\n');
            let n = match take {
                Some(i) => i + 1,
                None => buf.len().min(room),
            };
            piece.extend_from_slice(&buf[..n]);
            r.consume(n);
            if take.is_some() || piece.len() == MANIFEST_MAX_LINE {
                break;
            }
        }
        if piece.is_empty() {
            return Ok(false);
        }
        if piece[0] != b'#' && piece.starts_with(b"file") {
            return Ok(true);
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileRole {
    Base,
    Incr,
    /// An old-style AOF given directly.
    Single,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileFormat {
    Rdb,
    Resp,
    Empty,
    Missing,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileStatus {
    Valid,
    Empty,
    /// Reads cleanly up to `valid_len` only.
    NotValid,
    /// The file is missing, unreadable, or its RDB preamble is broken.
    Unreadable,
    /// A timestamp later than the limit was found at `cut`.
    TimestampCut {
        cut: u64,
    },
    /// An annotation `#TS:` whose number does not parse (truncate-to-timestamp mode).
    InvalidTimestamp {
        offset: u64,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// "truncated", "unfinished-multi", "corrupt", "rdb-preamble", "missing", "timestamp".
    pub kind: &'static str,
    pub offset: u64,
    pub reason: String,
}

#[derive(Clone, Debug)]
pub struct FileReport {
    pub name: String,
    pub path: PathBuf,
    pub role: FileRole,
    pub format: FileFormat,
    pub size: u64,
    /// The last file of the set (the only one that may be cut).
    pub last: bool,
    pub rdb_keys: u64,
    /// Complete commands in the file. With a problem: those before the cut plus those a cut
    /// drops, counted past the damage (see `dropped`).
    pub commands: u64,
    /// False when `commands` (and `commands_cut`) is only a lower bound.
    pub commands_exact: bool,
    pub annotations: u64,
    pub status: FileStatus,
    /// redis-check-aof's ok_up_to.
    pub valid_len: u64,
    /// Line (see `AofReader::valid_line`) and command count of the valid prefix.
    pub valid_line: u64,
    pub valid_commands: u64,
    pub problem: Option<Problem>,
    /// The same file as the server would judge it.
    pub judgment: Option<Judgment>,
}

impl FileReport {
    /// Bytes a cut at `valid_len` (or at the timestamp cut) removes.
    pub fn bytes_cut(&self) -> u64 {
        let at = match self.status {
            FileStatus::TimestampCut { cut } => cut,
            _ => self.valid_len,
        };
        self.size.saturating_sub(at)
    }

    /// Complete commands a cut removes, to the end of the file (the damaged or incomplete
    /// entry, if any, comes on top).
    pub fn commands_cut(&self) -> u64 {
        self.commands.saturating_sub(self.valid_commands)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Everything checked is fine.
    Valid,
    /// The last file can be cut at `valid_len` (what `--fix` does).
    Fixable { file: usize, valid_len: u64 },
    /// Truncate-to-timestamp: the last file can be cut at `offset`.
    TimestampCut { file: usize, offset: u64 },
    /// Truncate-to-timestamp found nothing later than the limit.
    NothingToTruncate,
    /// A file is not valid and nothing here can fix it (`reason` says why).
    Unfixable { file: Option<usize>, reason: String },
}

#[derive(Clone, Debug, Default)]
pub struct CheckOptions {
    /// redis-check-aof --truncate-to-timestamp; `Some(0)` is off, as in Redis.
    pub truncate_to_timestamp: Option<i64>,
}

#[derive(Clone, Debug)]
pub struct CheckReport {
    pub input: PathBuf,
    pub kind: InputKind,
    pub manifest: Option<Manifest>,
    pub files: Vec<FileReport>,
    pub verdict: Verdict,
}

#[derive(Debug)]
pub enum CheckError {
    Io(PathBuf, io::Error),
    Manifest(PathBuf, ManifestError),
}

impl std::fmt::Display for CheckError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CheckError::Io(p, e) => write!(f, "{}: {e}", p.display()),
            CheckError::Manifest(p, e) => write!(f, "manifest {}: {e}", p.display()),
        }
    }
}

impl std::error::Error for CheckError {}

pub fn check(path: &Path, opts: &CheckOptions) -> Result<CheckReport, CheckError> {
    check_with_progress(path, opts, &mut |_, _| {})
}

/// `progress(done, total)` is called now and then with bytes read over all files.
pub fn check_with_progress(
    path: &Path,
    opts: &CheckOptions,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<CheckReport, CheckError> {
    let io_err = |p: &Path| {
        let p = p.to_path_buf();
        move |e| CheckError::Io(p, e)
    };
    let kind = detect(path).map_err(io_err(path))?;
    let ts = opts.truncate_to_timestamp.filter(|&t| t != 0);
    let mut targets: Vec<(String, PathBuf, FileRole)> = Vec::new();
    let mut manifest = None;
    if kind == InputKind::Manifest {
        let text = std::fs::read(path).map_err(io_err(path))?;
        let m = Manifest::parse_bytes(&text)
            .map_err(|e| CheckError::Manifest(path.to_path_buf(), e))?;
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if let Some(b) = &m.base {
            targets.push((b.name_lossy(), b.path_in(&dir), FileRole::Base));
        }
        for i in &m.incrs {
            targets.push((i.name_lossy(), i.path_in(&dir), FileRole::Incr));
        }
        manifest = Some(m);
    } else {
        targets.push((
            path.display().to_string(),
            path.to_path_buf(),
            FileRole::Single,
        ));
    }
    let total: u64 = targets
        .iter()
        .map(|(_, p, _)| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum();
    let mut done_before = 0u64;
    let n = targets.len();
    let mut files = Vec::with_capacity(n);
    let mut verdict: Option<Verdict> = None;
    for (i, (name, p, role)) in targets.into_iter().enumerate() {
        let last = i + 1 == n;
        let mut cb = |d: u64| progress(done_before + d, total);
        let fr =
            check_file(name, p, role, last, ts, &mut cb).map_err(|(p, e)| CheckError::Io(p, e))?;
        done_before += fr.size;
        if verdict.is_none() {
            verdict = file_verdict(&fr, i, ts.is_some());
        }
        files.push(fr);
    }
    let verdict = verdict.unwrap_or(if ts.is_some() {
        Verdict::NothingToTruncate
    } else {
        Verdict::Valid
    });
    Ok(CheckReport {
        input: path.to_path_buf(),
        kind,
        manifest,
        files,
        verdict,
    })
}

/// The set's verdict if this file decides it (the first file with a problem does).
fn file_verdict(fr: &FileReport, i: usize, ts_mode: bool) -> Option<Verdict> {
    let reason = |r: &str| {
        fr.problem
            .as_ref()
            .map(|p| p.reason.clone())
            .unwrap_or_else(|| r.into())
    };
    match &fr.status {
        FileStatus::Valid | FileStatus::Empty => None,
        FileStatus::Unreadable => Some(Verdict::Unfixable {
            file: Some(i),
            reason: reason("unreadable"),
        }),
        FileStatus::InvalidTimestamp { .. } => Some(Verdict::Unfixable {
            file: Some(i),
            reason: "Invalid timestamp annotation".into(),
        }),
        FileStatus::TimestampCut { cut } => Some(if *cut == 0 {
            Verdict::Unfixable {
                file: Some(i),
                reason: format!("{} has nothing before the timestamp", fr.name),
            }
        } else if !fr.last {
            Verdict::Unfixable {
                file: Some(i),
                reason: format!(
                    "{} would be cut at offset {cut} but is not the last file: delete the \
                     files after it (and their manifest lines) first",
                    fr.name
                ),
            }
        } else {
            Verdict::TimestampCut {
                file: i,
                offset: *cut,
            }
        }),
        FileStatus::NotValid => Some(if ts_mode {
            Verdict::Unfixable {
                file: Some(i),
                reason: format!(
                    "{} is not valid: fix it before truncating to a timestamp",
                    fr.name
                ),
            }
        } else if !fr.last {
            Verdict::Unfixable {
                file: Some(i),
                reason: format!(
                    "{} is not valid and is not the last file: only the last file may be truncated",
                    fr.name
                ),
            }
        } else {
            Verdict::Fixable {
                file: i,
                valid_len: fr.valid_len,
            }
        }),
    }
}

fn check_file(
    name: String,
    path: PathBuf,
    role: FileRole,
    last: bool,
    ts: Option<i64>,
    progress: &mut dyn FnMut(u64),
) -> Result<FileReport, (PathBuf, io::Error)> {
    let mut fr = FileReport {
        name,
        path: path.clone(),
        role,
        format: FileFormat::Missing,
        size: 0,
        last,
        rdb_keys: 0,
        commands: 0,
        commands_exact: true,
        annotations: 0,
        status: FileStatus::Unreadable,
        valid_len: 0,
        valid_line: 1,
        valid_commands: 0,
        problem: None,
        judgment: None,
    };
    let f = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound && role != FileRole::Single => {
            fr.problem = Some(Problem {
                kind: "missing",
                offset: 0,
                reason: format!("{} is named in the manifest but does not exist", fr.name),
            });
            fr.judgment = Some(Judgment::Missing);
            return Ok(fr);
        }
        Err(e) => return Err((path, e)),
    };
    fr.size = f.metadata().map_err(|e| (path.clone(), e))?.len();
    if fr.size == 0 {
        fr.format = FileFormat::Empty;
        fr.status = FileStatus::Empty;
        fr.judgment = Some(Judgment::Ok);
        return Ok(fr);
    }
    let mut rd = match AofReader::new(BufReader::with_capacity(1 << 16, f)) {
        Ok(r) => r,
        Err(e) => return rdb_problem(fr, e, path),
    };
    fr.format = if rd.has_preamble() {
        FileFormat::Rdb
    } else {
        FileFormat::Resp
    };
    let mut k = 0u32;
    loop {
        k = k.wrapping_add(1);
        if k & 4095 == 0 {
            progress(rd.offset());
        }
        match rd.next() {
            Ok(Some(AofEntry::Rdb(Item::Entry(_)))) => fr.rdb_keys += 1,
            Ok(Some(AofEntry::Rdb(_))) => {}
            Ok(Some(AofEntry::Command { .. })) => fr.commands += 1,
            Ok(Some(AofEntry::Annotation(a))) => {
                fr.annotations += 1;
                let Some(limit) = ts else { continue };
                match a.kind {
                    AnnotationKind::Timestamp(t) if t > limit => {
                        fr.status = FileStatus::TimestampCut { cut: a.start };
                        fr.valid_len = a.start;
                        fr.valid_commands = fr.commands;
                        count_dropped(&mut fr)?;
                        fr.problem = Some(Problem {
                            kind: "timestamp",
                            offset: a.start,
                            reason: format!("timestamp {t} is later than {limit}"),
                        });
                        progress(fr.size);
                        return Ok(fr);
                    }
                    AnnotationKind::InvalidTimestamp => {
                        fr.status = FileStatus::InvalidTimestamp { offset: a.start };
                        fr.problem = Some(Problem {
                            kind: "timestamp",
                            offset: a.start,
                            reason: format!(
                                "invalid timestamp annotation '{}'",
                                String::from_utf8_lossy(&a.text).trim_end()
                            ),
                        });
                        return Ok(fr);
                    }
                    _ => {}
                }
            }
            Ok(None) => break,
            Err(e) => return rdb_problem(fr, e, path),
        }
    }
    progress(fr.size);
    let tail = rd.tail().cloned().unwrap_or(Tail::Clean { len: fr.size });
    fr.valid_len = tail.valid_len();
    fr.valid_line = rd.valid_line();
    fr.valid_commands = rd.valid_commands();
    let (status, problem) = match &tail {
        Tail::Clean { .. } => (FileStatus::Valid, None),
        Tail::Truncated { at, reason, .. } => (
            FileStatus::NotValid,
            Some(Problem {
                kind: "truncated",
                offset: *at,
                reason: reason.clone(),
            }),
        ),
        Tail::UnfinishedMulti { multi_at, .. } => (
            FileStatus::NotValid,
            Some(Problem {
                kind: "unfinished-multi",
                offset: *multi_at,
                reason: format!("the file ends before the EXEC of the MULTI at offset {multi_at}"),
            }),
        ),
        Tail::Corrupt { offset, reason, .. } => (
            FileStatus::NotValid,
            Some(Problem {
                kind: "corrupt",
                offset: *offset,
                reason: reason.clone(),
            }),
        ),
    };
    fr.status = status;
    fr.problem = problem;
    if fr.status == FileStatus::NotValid {
        count_dropped(&mut fr)?;
    }
    fr.judgment = Some(Judgment::of_tail(&tail));
    Ok(fr)
}

/// Counts the commands from the cut (`valid_len`) to the end of the file, past any damage.
fn count_dropped(fr: &mut FileReport) -> Result<(), (PathBuf, io::Error)> {
    let d = commands_after(&fr.path, fr.valid_len).map_err(|e| (fr.path.clone(), e))?;
    fr.commands = fr.valid_commands.saturating_add(d.commands);
    fr.commands_exact = d.exact;
    Ok(())
}

fn rdb_problem(
    mut fr: FileReport,
    e: RdbError,
    path: PathBuf,
) -> Result<FileReport, (PathBuf, io::Error)> {
    let offset = match &e {
        RdbError::Io(_) => {
            if let RdbError::Io(io) = e {
                return Err((path, io));
            }
            0
        }
        RdbError::Corrupt { offset, .. } | RdbError::Unsupported { offset, .. } => *offset,
    };
    fr.format = FileFormat::Rdb;
    fr.status = FileStatus::Unreadable;
    let judgment = Judgment::of_rdb_error(e).map_err(|e| (path, e))?;
    if let Judgment::Corrupt { reason, .. } = &judgment {
        fr.problem = Some(Problem {
            kind: "rdb-preamble",
            offset,
            reason: reason.clone(),
        });
    }
    fr.judgment = Some(judgment);
    Ok(fr)
}

impl CheckReport {
    /// What the server's loader would do with these files under aof-load-truncated
    /// `load_truncated` (the same rule it applies: `verdict::load_action`). `None` when a
    /// file was not read to its end (a truncate-to-timestamp check stops early).
    pub fn load_action(&self, load_truncated: bool) -> Option<LoadAction> {
        let judgments: Option<Vec<&Judgment>> =
            self.files.iter().map(|f| f.judgment.as_ref()).collect();
        Some(load_action_all(judgments?, load_truncated))
    }
}

/// What `fix` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FixOutcome {
    pub path: PathBuf,
    pub from: u64,
    pub to: u64,
}

/// Applies the report's cut (Fixable or TimestampCut): truncates the file and fsyncs it.
/// `Ok(None)` when the verdict has no cut.
pub fn fix(report: &CheckReport) -> io::Result<Option<FixOutcome>> {
    let (i, to) = match report.verdict {
        Verdict::Fixable { file, valid_len } => (file, valid_len),
        Verdict::TimestampCut { file, offset } => (file, offset),
        _ => return Ok(None),
    };
    let Some(fr) = report.files.get(i) else {
        return Ok(None);
    };
    let f = OpenOptions::new().write(true).open(&fr.path)?;
    let from = f.metadata()?.len();
    f.set_len(to)?;
    f.sync_all()?;
    Ok(Some(FixOutcome {
        path: fr.path.clone(),
        from,
        to,
    }))
}
