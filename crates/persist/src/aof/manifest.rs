//! The AOF manifest (Redis 7.0): one line per file, space separated key/value pairs,
//!
//! ```text
//! file appendonly.aof.2.base.rdb seq 2 type b\n
//! file appendonly.aof.1.incr.aof seq 1 type h\n     history: replaced, waiting to be deleted
//! file appendonly.aof.2.incr.aof seq 2 type i\n
//! ```
//!
//! Written base first, then history, then incrs; a name that needs quoting is written the way
//! `sdscatrepr` writes it ("..." with \n \r \t \a \b \\ \" \xHH). Read as strictly and as
//! forward-compatibly as `aofLoadManifestFromFile`: lines are read in pieces of at most 1024
//! bytes (a longer piece without a newline is "too long", so is a last line without one),
//! `#` lines are skipped, a blank line is invalid, the line is split with `sdssplitargs`'s
//! quoting rules, at least six and an even number of words, keys case-insensitive and
//! unknown keys ignored, the last occurrence of a key wins, `seq` parsed like `atoll` and
//! required non-zero, `type` is the first byte of its value.

use std::fmt;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::io::{AtomicFile, ReplaceError, ReplaceStage};

use amber_resp::split_args;

use super::cstr::{cstr, is_space, strtol};

/// Longest manifest line, newline included (MANIFEST_MAX_LINE).
pub const MANIFEST_MAX_LINE: usize = 1024;

pub const BASE_FILE_SUFFIX: &str = ".base";
pub const INCR_FILE_SUFFIX: &str = ".incr";
pub const RDB_FORMAT_SUFFIX: &str = ".rdb";
pub const AOF_FORMAT_SUFFIX: &str = ".aof";
pub const MANIFEST_NAME_SUFFIX: &str = ".manifest";
pub const TEMP_FILE_NAME_PREFIX: &str = "temp-";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AofFileType {
    Base,
    History,
    Incr,
}

impl AofFileType {
    pub fn as_byte(self) -> u8 {
        match self {
            AofFileType::Base => b'b',
            AofFileType::History => b'h',
            AofFileType::Incr => b'i',
        }
    }

    pub fn from_byte(b: u8) -> Option<AofFileType> {
        match b {
            b'b' => Some(AofFileType::Base),
            b'h' => Some(AofFileType::History),
            b'i' => Some(AofFileType::Incr),
            _ => None,
        }
    }
}

/// One manifest line. `name` is bytes: a quoted name may hold any byte but NUL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AofInfo {
    pub name: Vec<u8>,
    pub seq: i64,
    pub kind: AofFileType,
}

impl AofInfo {
    pub fn new(name: impl Into<Vec<u8>>, seq: i64, kind: AofFileType) -> AofInfo {
        AofInfo {
            name: name.into(),
            seq,
            kind,
        }
    }

    /// The name for messages (invalid UTF-8 replaced).
    pub fn name_lossy(&self) -> String {
        String::from_utf8_lossy(&self.name).into_owned()
    }

    /// The file's path in the AOF directory.
    pub fn path_in(&self, dir: &Path) -> PathBuf {
        dir.join(std::ffi::OsStr::from_bytes(&self.name))
    }

    /// The manifest line, as `aofInfoFormat` writes it.
    pub fn to_line(&self) -> String {
        let name = if needs_repr(&self.name) {
            repr(&self.name)
        } else {
            // needs_repr is false only for printable ASCII.
            String::from_utf8_lossy(&self.name).into_owned()
        };
        format!(
            "file {} seq {} type {}\n",
            name,
            self.seq,
            char::from(self.kind.as_byte())
        )
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Manifest {
    pub base: Option<AofInfo>,
    pub incrs: Vec<AofInfo>,
    pub history: Vec<AofInfo>,
    pub curr_base_seq: i64,
    pub curr_incr_seq: i64,
}

/// What went wrong, with Redis's words (`Display` prints exactly Redis's message).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ManifestErrorKind {
    Empty,
    TooLongLine,
    InvalidFormat,
    NotABaseName,
    DuplicateBase,
    NonMonotonicSeq,
    UnknownType,
}

impl ManifestErrorKind {
    pub fn redis_message(self) -> &'static str {
        match self {
            ManifestErrorKind::Empty => "Found an empty AOF manifest",
            ManifestErrorKind::TooLongLine => "The AOF manifest file contains too long line",
            ManifestErrorKind::InvalidFormat => "Invalid AOF manifest file format",
            ManifestErrorKind::NotABaseName => "File can't be a path, just a filename",
            ManifestErrorKind::DuplicateBase => "Found duplicate base file information",
            ManifestErrorKind::NonMonotonicSeq => "Found a non-monotonic sequence number",
            ManifestErrorKind::UnknownType => "Unknown AOF file type",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestError {
    pub kind: ManifestErrorKind,
    /// 1-based, counting every piece read (comments included), as Redis counts; 0 for Empty.
    pub line: usize,
    /// The trimmed line, when Redis shows it (not for a too-long line or an empty file).
    pub text: Option<String>,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.text {
            Some(t) => write!(
                f,
                "{} (manifest line {}: '{}')",
                self.kind.redis_message(),
                self.line,
                t
            ),
            None if self.line > 0 => {
                write!(
                    f,
                    "{} (manifest line {})",
                    self.kind.redis_message(),
                    self.line
                )
            }
            None => f.write_str(self.kind.redis_message()),
        }
    }
}

impl std::error::Error for ManifestError {}

/// `<appendfilename>.<seq>.base.rdb` or `.base.aof`.
pub fn base_file_name(appendfilename: &str, seq: i64, rdb: bool) -> String {
    let fmt = if rdb {
        RDB_FORMAT_SUFFIX
    } else {
        AOF_FORMAT_SUFFIX
    };
    format!("{appendfilename}.{seq}{BASE_FILE_SUFFIX}{fmt}")
}

/// `<appendfilename>.<seq>.incr.aof`.
pub fn incr_file_name(appendfilename: &str, seq: i64) -> String {
    format!("{appendfilename}.{seq}{INCR_FILE_SUFFIX}{AOF_FORMAT_SUFFIX}")
}

/// `<appendfilename>.manifest`.
pub fn manifest_file_name(appendfilename: &str) -> String {
    format!("{appendfilename}{MANIFEST_NAME_SUFFIX}")
}

/// `temp-<appendfilename>.manifest`, the name Redis writes the new manifest under.
pub fn temp_manifest_file_name(appendfilename: &str) -> String {
    format!("{TEMP_FILE_NAME_PREFIX}{appendfilename}{MANIFEST_NAME_SUFFIX}")
}

/// `temp-<appendfilename>.incr`, the incr file Redis writes while AOF is being turned on.
pub fn temp_incr_file_name(appendfilename: &str) -> String {
    format!("{TEMP_FILE_NAME_PREFIX}{appendfilename}{INCR_FILE_SUFFIX}")
}

impl Manifest {
    pub fn new() -> Manifest {
        Manifest::default()
    }

    pub fn parse(text: &str) -> Result<Manifest, ManifestError> {
        Manifest::parse_bytes(text.as_bytes())
    }

    pub fn parse_bytes(data: &[u8]) -> Result<Manifest, ManifestError> {
        let mut m = Manifest::new();
        let mut maxseq: i64 = 0;
        let mut linenum = 0usize;
        let mut pos = 0usize;
        if data.is_empty() {
            return Err(ManifestError {
                kind: ManifestErrorKind::Empty,
                line: 0,
                text: None,
            });
        }
        while pos < data.len() {
            // fgets(buf, MANIFEST_MAX_LINE + 1): at most 1024 bytes, through the newline.
            let rest = &data[pos..];
            let max = rest.len().min(MANIFEST_MAX_LINE);
            let n = match rest[..max].iter().position(|&c| c == b'\n') {
                Some(i) => i + 1,
                None => max,
            };
            let piece = &rest[..n];
            pos += n;
            linenum += 1;
            if piece[0] == b'#' {
                continue;
            }
            let s = cstr(piece);
            if !s.contains(&b'\n') {
                return Err(ManifestError {
                    kind: ManifestErrorKind::TooLongLine,
                    line: linenum,
                    text: None,
                });
            }
            let line = trim(s, b" \t\r\n");
            let err = |kind| ManifestError {
                kind,
                line: linenum,
                text: Some(String::from_utf8_lossy(line).into_owned()),
            };
            if line.is_empty() {
                return Err(err(ManifestErrorKind::InvalidFormat));
            }
            let argv = match split_args(line) {
                Some(a) if a.len() >= 6 && a.len() % 2 == 0 => a,
                _ => return Err(err(ManifestErrorKind::InvalidFormat)),
            };
            let mut name: Option<Vec<u8>> = None;
            let mut seq: i64 = 0;
            let mut kind: u8 = 0;
            for kv in argv.chunks_exact(2) {
                let key = cstr(&kv[0]);
                let val = &kv[1];
                if key.eq_ignore_ascii_case(b"file") {
                    let v = cstr(val).to_vec();
                    if v.contains(&b'/') || v.contains(&b'\\') {
                        return Err(err(ManifestErrorKind::NotABaseName));
                    }
                    name = Some(v);
                } else if key.eq_ignore_ascii_case(b"seq") {
                    seq = strtol(val).value;
                } else if key.eq_ignore_ascii_case(b"type") {
                    kind = val.first().copied().unwrap_or(0);
                }
            }
            let Some(name) = name else {
                return Err(err(ManifestErrorKind::InvalidFormat));
            };
            if seq == 0 || kind == 0 {
                return Err(err(ManifestErrorKind::InvalidFormat));
            }
            match AofFileType::from_byte(kind) {
                Some(AofFileType::Base) => {
                    if m.base.is_some() {
                        return Err(err(ManifestErrorKind::DuplicateBase));
                    }
                    m.curr_base_seq = seq;
                    m.base = Some(AofInfo::new(name, seq, AofFileType::Base));
                }
                Some(AofFileType::History) => {
                    m.history
                        .push(AofInfo::new(name, seq, AofFileType::History));
                }
                Some(AofFileType::Incr) => {
                    if seq <= maxseq {
                        return Err(err(ManifestErrorKind::NonMonotonicSeq));
                    }
                    m.incrs.push(AofInfo::new(name, seq, AofFileType::Incr));
                    m.curr_incr_seq = seq;
                    maxseq = seq;
                }
                None => return Err(err(ManifestErrorKind::UnknownType)),
            }
        }
        Ok(m)
    }

    /// The manifest text, byte for byte what `getAofManifestAsString` produces.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        for ai in self
            .base
            .iter()
            .chain(self.history.iter())
            .chain(self.incrs.iter())
        {
            s.push_str(&ai.to_line());
        }
        s
    }

    /// The files to load, in order: the base, then the incrs.
    pub fn files_to_load(&self) -> impl Iterator<Item = &AofInfo> {
        self.base.iter().chain(self.incrs.iter())
    }

    /// A new base after a rewrite: the previous base (if any) becomes the first history
    /// entry, the base sequence number goes up by one.
    pub fn next_base(&mut self, appendfilename: &str, rdb: bool) -> &AofInfo {
        if let Some(mut old) = self.base.take() {
            old.kind = AofFileType::History;
            self.history.insert(0, old);
        }
        self.curr_base_seq = self.curr_base_seq.saturating_add(1);
        let name = base_file_name(appendfilename, self.curr_base_seq, rdb);
        self.base.insert(AofInfo::new(
            name.into_bytes(),
            self.curr_base_seq,
            AofFileType::Base,
        ))
    }

    /// A new incr file at the end of the list.
    pub fn next_incr(&mut self, appendfilename: &str) -> &AofInfo {
        self.curr_incr_seq = self.curr_incr_seq.saturating_add(1);
        let name = incr_file_name(appendfilename, self.curr_incr_seq);
        self.incrs.push(AofInfo::new(
            name.into_bytes(),
            self.curr_incr_seq,
            AofFileType::Incr,
        ));
        let last = self.incrs.len() - 1;
        &self.incrs[last]
    }

    /// The incr file to append to: the last one, or a new one when there is none.
    pub fn last_incr_or_new(&mut self, appendfilename: &str) -> &AofInfo {
        if self.incrs.is_empty() {
            return self.next_incr(appendfilename);
        }
        let last = self.incrs.len() - 1;
        &self.incrs[last]
    }

    /// After a successful rewrite: the incrs it covers become history. With AOF on, the last
    /// incr is the one being written and stays (Redis's `markRewrittenIncrAofAsHistory`).
    /// History order is Redis's: each moved file goes to the front, walking from the end.
    pub fn mark_rewritten_incrs_as_history(&mut self, keep_last: bool) {
        let keep = usize::from(keep_last && !self.incrs.is_empty());
        let moved = self.incrs.len() - keep;
        let rewritten: Vec<AofInfo> = self.incrs.drain(..moved).collect();
        for mut ai in rewritten.into_iter() {
            ai.kind = AofFileType::History;
            self.history.insert(0, ai);
        }
    }

    /// Takes the history list (the files to delete), as `aofDelHistoryFiles` does before
    /// persisting the manifest again.
    pub fn take_history(&mut self) -> Vec<AofInfo> {
        std::mem::take(&mut self.history)
    }

    /// Writes `<dir>/<appendfilename>.manifest` durably, as Redis's `writeAofManifestFile`:
    /// `temp-<appendfilename>.manifest` (mode 0644), write, fsync, rename over the manifest,
    /// fsync the directory. The error says which step failed: before the rename the old
    /// manifest is untouched; after it (`replaced()`) readers see the new one already.
    pub fn write_atomic(&self, dir: &Path, appendfilename: &str) -> Result<(), ReplaceError> {
        self.write_atomic_on(crate::storage::real(), dir, appendfilename)
    }

    /// `write_atomic` through `fs`.
    pub fn write_atomic_on(
        &self,
        fs: std::sync::Arc<dyn crate::storage::Storage>,
        dir: &Path,
        appendfilename: &str,
    ) -> Result<(), ReplaceError> {
        let target = dir.join(manifest_file_name(appendfilename));
        let temp = temp_manifest_file_name(appendfilename);
        let mut f = AtomicFile::create_fixed_on(fs, &target, &temp, 0o644).map_err(|error| {
            ReplaceError {
                stage: ReplaceStage::Open,
                error,
            }
        })?;
        f.write_all(self.to_text().as_bytes())
            .map_err(|error| ReplaceError {
                stage: ReplaceStage::Write,
                error,
            })?;
        f.commit_staged()
    }
}

fn trim<'a>(s: &'a [u8], set: &[u8]) -> &'a [u8] {
    let mut a = 0;
    let mut b = s.len();
    while a < b && set.contains(&s[a]) {
        a += 1;
    }
    while b > a && set.contains(&s[b - 1]) {
        b -= 1;
    }
    &s[a..b]
}

/// `sdsneedsrepr`.
fn needs_repr(s: &[u8]) -> bool {
    s.iter().any(|&c| {
        c == b'\\'
            || c == b'"'
            || c == b'\n'
            || c == b'\r'
            || c == b'\t'
            || c == 0x07
            || c == 0x08
            || !(0x20..0x7f).contains(&c)
            || is_space(c)
    })
}

/// `sdscatrepr`.
fn repr(s: &[u8]) -> String {
    let mut out = String::from("\"");
    for &c in s {
        match c {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x07 => out.push_str("\\a"),
            0x08 => out.push_str("\\b"),
            0x20..=0x7e => out.push(char::from(c)),
            _ => out.push_str(&format!("\\x{c:02x}")),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn kind_of(text: &[u8]) -> ManifestErrorKind {
        Manifest::parse_bytes(text).unwrap_err().kind
    }

    #[test]
    fn round_trip_and_order() {
        let text = "file appendonly.aof.2.base.rdb seq 2 type b\n\
                    file appendonly.aof.1.incr.aof seq 1 type h\n\
                    file appendonly.aof.2.incr.aof seq 2 type i\n\
                    file appendonly.aof.3.incr.aof seq 3 type i\n";
        let m = Manifest::parse(text).unwrap();
        assert_eq!(m.base.as_ref().unwrap().seq, 2);
        assert_eq!(m.history.len(), 1);
        assert_eq!(m.incrs.len(), 2);
        assert_eq!((m.curr_base_seq, m.curr_incr_seq), (2, 3));
        assert_eq!(m.to_text(), text);
        // Written base, history, incrs whatever the order read.
        let shuffled = "file a.1.incr.aof seq 1 type i\nfile a.5.base.aof seq 5 type b\n\
                        file a.0.incr.aof seq 9 type h\n";
        let m = Manifest::parse(shuffled).unwrap();
        assert_eq!(
            m.to_text(),
            "file a.5.base.aof seq 5 type b\nfile a.0.incr.aof seq 9 type h\n\
             file a.1.incr.aof seq 1 type i\n"
        );
    }

    #[test]
    fn forward_compatible_and_quoting() {
        // Unknown keys ignored, keys case-insensitive, comments skipped, CRLF trimmed,
        // type is the first byte of its value, the last occurrence of a key wins.
        let m = Manifest::parse(
            "# a comment\nFILE x.aof SEQ 7 TYPE base future yes\r\n\
             file y seq 1 type i file z\n",
        )
        .unwrap();
        let b = m.base.unwrap();
        assert_eq!((b.name.as_slice(), b.seq), (&b"x.aof"[..], 7));
        assert_eq!(m.incrs[0].name, b"z");
        // Quoted names round trip through sdscatrepr.
        let mut m = Manifest::new();
        m.base = Some(AofInfo::new(
            b"we ird\"\n\t\x01\xff.aof".to_vec(),
            1,
            AofFileType::Base,
        ));
        m.curr_base_seq = 1;
        let text = m.to_text();
        assert_eq!(
            text,
            "file \"we ird\\\"\\n\\t\\x01\\xff.aof\" seq 1 type b\n"
        );
        assert_eq!(Manifest::parse(&text).unwrap(), m);
        // A backslash is written (escaped) but refused when read back, as in Redis.
        m.base.as_mut().unwrap().name = b"a\\b".to_vec();
        assert_eq!(m.to_text(), "file \"a\\\\b\" seq 1 type b\n");
        assert_eq!(
            kind_of(m.to_text().as_bytes()),
            ManifestErrorKind::NotABaseName
        );
        assert_eq!(
            Manifest::parse("file 'it\\'s' seq 1 type i\n")
                .unwrap()
                .incrs[0]
                .name,
            b"it's"
        );
        // seq is parsed like atoll: leading blanks, a sign, then digits; negatives pass.
        let m = Manifest::parse("file a seq \" -3x\" type h\n").unwrap();
        assert_eq!(m.history[0].seq, -3);
        // An empty name is accepted (Redis only checks that the key was present).
        assert_eq!(
            Manifest::parse("file \"\" seq 1 type b\n")
                .unwrap()
                .base
                .unwrap()
                .name,
            b""
        );
        // Only comments: a valid, empty manifest.
        assert_eq!(Manifest::parse("# nothing\n").unwrap(), Manifest::new());
    }

    #[test]
    fn redis_errors() {
        use ManifestErrorKind::*;
        assert_eq!(kind_of(b""), Empty);
        assert_eq!(kind_of(b"file a seq 1 type b"), TooLongLine);
        let long = format!("file {} seq 1 type b\n", "a".repeat(1010));
        assert_eq!(kind_of(long.as_bytes()), TooLongLine);
        let fits = format!("file {} seq 1 type b\n", "a".repeat(1024 - 19));
        assert_eq!(fits.len(), 1024);
        assert!(Manifest::parse(&fits).is_ok());
        assert_eq!(kind_of(b"file a seq 1 type b\0junk\n"), TooLongLine);
        assert_eq!(kind_of(b"file a seq 1 type b\n\n"), InvalidFormat);
        assert_eq!(kind_of(b"   \r\n"), InvalidFormat);
        assert_eq!(kind_of(b"file a seq 1 type\n"), InvalidFormat);
        assert_eq!(kind_of(b"file a seq 1 type b x\n"), InvalidFormat);
        assert_eq!(kind_of(b"file a seq 0 type b\n"), InvalidFormat);
        assert_eq!(kind_of(b"file a seq x type b\n"), InvalidFormat);
        assert_eq!(kind_of(b"name a seq 1 type b\n"), InvalidFormat);
        assert_eq!(kind_of(b"file a seq 1 type \"\"\n"), InvalidFormat);
        assert_eq!(kind_of(b"file \"a seq 1 type b\n"), InvalidFormat);
        assert_eq!(kind_of(b"file \"a\"b seq 1 type b\n"), InvalidFormat);
        assert_eq!(kind_of(b"file a'b seq 1 type b\n"), InvalidFormat);
        assert_eq!(kind_of(b"file d/a seq 1 type b\n"), NotABaseName);
        assert_eq!(kind_of(b"file d\\\\a seq 1 type b\n"), NotABaseName);
        assert_eq!(
            kind_of(b"file a seq 1 type b\nfile b seq 2 type b\n"),
            DuplicateBase
        );
        assert_eq!(
            kind_of(b"file a seq 2 type i\nfile b seq 2 type i\n"),
            NonMonotonicSeq
        );
        assert_eq!(kind_of(b"file a seq -1 type i\n"), NonMonotonicSeq);
        assert_eq!(kind_of(b"file a seq 1 type x\n"), UnknownType);
        let e = Manifest::parse("# c\nfile a seq 1 type x\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert_eq!(e.text.as_deref(), Some("file a seq 1 type x"));
        assert_eq!(e.kind.redis_message(), "Unknown AOF file type");
    }

    #[test]
    fn rewrite_bookkeeping() {
        let mut m = Manifest::new();
        assert_eq!(
            m.next_base("appendonly.aof", true).name,
            b"appendonly.aof.1.base.rdb"
        );
        assert_eq!(
            m.last_incr_or_new("appendonly.aof").name,
            b"appendonly.aof.1.incr.aof"
        );
        assert_eq!(m.last_incr_or_new("appendonly.aof").seq, 1);
        // A rewrite: new incr opened, then the new base replaces the old one.
        m.next_incr("appendonly.aof");
        m.next_base("appendonly.aof", false);
        m.mark_rewritten_incrs_as_history(true);
        assert_eq!(
            m.to_text(),
            "file appendonly.aof.2.base.aof seq 2 type b\n\
             file appendonly.aof.1.incr.aof seq 1 type h\n\
             file appendonly.aof.1.base.rdb seq 1 type h\n\
             file appendonly.aof.2.incr.aof seq 2 type i\n"
        );
        assert_eq!(m.take_history().len(), 2);
        assert_eq!(Manifest::parse(&m.to_text()).unwrap(), m);

        let dir = std::env::temp_dir().join(format!("amber-manifest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        m.write_atomic(&dir, "appendonly.aof").unwrap();
        let back = std::fs::read(dir.join("appendonly.aof.manifest")).unwrap();
        assert_eq!(back, m.to_text().into_bytes());
        assert!(!dir.join("temp-appendonly.aof.manifest").exists());
        // A failure before the rename leaves the manifest as it was, and says so.
        std::fs::create_dir(dir.join("temp-appendonly.aof.manifest")).unwrap();
        let mut other = m.clone();
        other.next_incr("appendonly.aof");
        let e = other.write_atomic(&dir, "appendonly.aof").unwrap_err();
        assert_eq!(e.stage, ReplaceStage::Open);
        assert!(!e.replaced());
        let again = std::fs::read(dir.join("appendonly.aof.manifest")).unwrap();
        assert_eq!(again, m.to_text().into_bytes());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
