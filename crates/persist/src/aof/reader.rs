//! A streaming reader over one AOF file (any `Read`): an RDB preamble first when the file
//! starts with "REDIS" (a `.base.rdb`, or an old-style preamble AOF), yielded item by item
//! through the RDB `Decoder`, then the RESP tail: commands and `#` annotations, each with its
//! offsets. When the input stops, `tail()` says how it ended:
//!
//! ```text
//! Clean            EOF between two entries, no MULTI open
//! Truncated        EOF inside an entry: the tail can be cut at `valid_len`
//! UnfinishedMulti  EOF between entries but after a MULTI without its EXEC: cut before it
//! Corrupt          bytes that are not the format; `valid_len` is where redis-check-aof cuts
//! ```
//!
//! The grammar is redis-check-aof 7.0's, byte for byte, since it is the stricter of Redis's
//! two readers: a header line is read like `fgets` into a 128-byte buffer (so at most 127
//! bytes), must be `*` or `$`, a `strtol` number, then exactly `\r\n`; a bulk is its length
//! plus `\r\n`, checked; an annotation is a `#` line read in pieces of at most 1023 bytes
//! (a longer one continues as the next entry, as in Redis); MULTI and EXEC are recognised on
//! the first argument (case-insensitive, up to a NUL byte), a nested MULTI or an EXEC without
//! MULTI is corruption. `valid_len` is redis-check-aof's `ok_up_to`: the start of the entry
//! that failed, or of the MULTI it belongs to. Truncated vs corrupt follows the server's
//! loader: only running out of bytes inside an entry (or a header line that is a correct
//! prefix when the bytes stop) is truncation.
//!
//! Two things the consumer must do itself, as Redis's loader does: buffer the commands
//! between MULTI and EXEC (they are yielded as they are read; a file may end inside one), and
//! refuse a command with no arguments (`*0`, which redis-check-aof accepts but the loader
//! rejects) and unknown commands.
//!
//! Untrusted input: argument counts and lengths are checked against `ReaderOptions` (by
//! default what Redis accepts), vectors and buffers grow as bytes actually arrive, all
//! arithmetic is checked, nothing panics and every loop consumes input.

use std::io::{self, Read};

use super::cstr::{cstr, strtol};
use super::ANNOTATION_LINE_MAX;
use crate::io::CrcReader;
use crate::rdb::{Decoder, Item, RdbError};

/// Room of redis-check-aof's buffer for `*` and `$` lines (fgets(buf, 128)).
const HEADER_LINE_MAX: usize = 128;
/// Arguments preallocated whatever the count says.
const ARGS_PREALLOC: usize = 64;
/// Bytes preallocated for one argument whatever its length says.
const ARG_PREALLOC: u64 = 64 * 1024;

#[derive(Clone, Copy, Debug)]
pub struct ReaderOptions {
    /// Most arguments in one command. Redis's loader keeps the count in an `int`.
    pub max_args: u64,
    /// Longest argument. redis-check-aof refuses lengths above LONG_MAX - 2; the loader has
    /// no limit but memory (proto-max-bulk-len does not apply to the AOF).
    pub max_bulk_len: u64,
}

impl Default for ReaderOptions {
    fn default() -> Self {
        ReaderOptions {
            max_args: i32::MAX as u64,
            max_bulk_len: (i64::MAX - 2) as u64,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AnnotationKind {
    /// `#TS:<secs>` whose number parses the way redis-check-aof requires (strtol, no
    /// overflow, followed by `\r`).
    Timestamp(i64),
    /// Starts with `#TS:` but the number does not parse: redis-check-aof
    /// --truncate-to-timestamp refuses the file.
    InvalidTimestamp,
    Other,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Annotation {
    pub start: u64,
    pub end: u64,
    /// The raw piece, `#` and line end included.
    pub text: Vec<u8>,
    pub kind: AnnotationKind,
}

#[derive(Debug)]
pub enum AofEntry {
    /// An item of the RDB preamble, in file order; `Item::Eof` ends the preamble.
    Rdb(Item),
    /// A complete command: `start` is its `*`, `end` one past its last `\r\n`.
    Command {
        args: Vec<Vec<u8>>,
        start: u64,
        end: u64,
    },
    Annotation(Annotation),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tail {
    Clean {
        len: u64,
    },
    Truncated {
        /// Where redis-check-aof --fix cuts (the start of the incomplete entry, or of the
        /// MULTI it belongs to).
        valid_len: u64,
        /// Where the bytes ran out.
        at: u64,
        reason: String,
        /// Where Redis 7.0's loader (aof-load-truncated yes) cuts: the end of the last
        /// complete command, even inside an open MULTI, annotations after it dropped, and 0
        /// when no command was complete (even after an RDB preamble). Kept for comparison;
        /// `valid_len` is the safe cut.
        loader_len: u64,
    },
    UnfinishedMulti {
        valid_len: u64,
        multi_at: u64,
    },
    Corrupt {
        valid_len: u64,
        /// Where the bad bytes are (the line or bulk being read).
        offset: u64,
        reason: String,
    },
}

impl Tail {
    /// The length of the part that is fine (for Clean, the whole input).
    pub fn valid_len(&self) -> u64 {
        match self {
            Tail::Clean { len } => *len,
            Tail::Truncated { valid_len, .. }
            | Tail::UnfinishedMulti { valid_len, .. }
            | Tail::Corrupt { valid_len, .. } => *valid_len,
        }
    }
}

/// Re-serves the bytes read to detect the preamble, then the rest.
struct Prefixed<R> {
    head: [u8; 5],
    head_len: usize,
    head_pos: usize,
    inner: R,
}

impl<R: Read> Read for Prefixed<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.head_pos < self.head_len {
            let n = (self.head_len - self.head_pos).min(buf.len());
            buf[..n].copy_from_slice(&self.head[self.head_pos..self.head_pos + n]);
            self.head_pos += n;
            return Ok(n);
        }
        self.inner.read(buf)
    }
}

enum Src<R: Read> {
    Rdb(Box<Decoder<Prefixed<R>>>),
    Resp(CrcReader<Prefixed<R>>),
}

/// Why an entry could not be read.
enum Stop {
    Truncated { at: u64, reason: String },
    Corrupt { offset: u64, reason: String },
}

pub struct AofReader<R: Read> {
    src: Src<R>,
    preamble: bool,
    rdb_done: bool,
    opts: ReaderOptions,
    in_multi: bool,
    multi_at: u64,
    /// redis-check-aof's `pos`: start of the current entry, or of the open MULTI.
    pos: u64,
    line: u64,
    line_at_pos: u64,
    commands: u64,
    commands_at_pos: u64,
    last_cmd_end: u64,
    tail: Option<Tail>,
    piece: Vec<u8>,
}

impl<R: Read> AofReader<R> {
    pub fn new(r: R) -> Result<Self, RdbError> {
        AofReader::with_options(r, ReaderOptions::default())
    }

    /// Detects the preamble ("REDIS" as the first five bytes, as the loader does) and reads
    /// its header.
    pub fn with_options(mut r: R, opts: ReaderOptions) -> Result<Self, RdbError> {
        let mut head = [0u8; 5];
        let mut n = 0;
        while n < head.len() {
            match r.read(&mut head[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(RdbError::Io(e)),
            }
        }
        let preamble = n == 5 && &head == b"REDIS";
        let p = Prefixed {
            head,
            head_len: n,
            head_pos: 0,
            inner: r,
        };
        let src = if preamble {
            Src::Rdb(Box::new(Decoder::new(p)?))
        } else {
            Src::Resp(CrcReader::new(p))
        };
        Ok(AofReader {
            src,
            preamble,
            rdb_done: !preamble,
            opts,
            in_multi: false,
            multi_at: 0,
            pos: 0,
            line: 1,
            line_at_pos: 1,
            commands: 0,
            commands_at_pos: 0,
            last_cmd_end: 0,
            tail: None,
            piece: Vec::with_capacity(ANNOTATION_LINE_MAX),
        })
    }

    pub fn has_preamble(&self) -> bool {
        self.preamble
    }

    /// Bytes consumed so far.
    pub fn offset(&self) -> u64 {
        match &self.src {
            Src::Rdb(d) => d.offset(),
            Src::Resp(r) => r.offset(),
        }
    }

    /// How the input ended, once `next` has returned `None`.
    pub fn tail(&self) -> Option<&Tail> {
        self.tail.as_ref()
    }

    /// Complete commands read so far.
    pub fn commands(&self) -> u64 {
        self.commands
    }

    /// Complete commands inside the valid prefix (those a cut at `valid_len` keeps).
    pub fn valid_commands(&self) -> u64 {
        self.commands_at_pos
    }

    /// 1-based line of the first byte after the valid prefix, counting each header line,
    /// bulk and annotation piece of the RESP part as one line.
    pub fn valid_line(&self) -> u64 {
        self.line_at_pos
    }

    /// Reads everything and returns how it ended.
    pub fn read_to_end(&mut self) -> Result<Tail, RdbError> {
        while self.next()?.is_some() {}
        Ok(self.tail.clone().unwrap_or(Tail::Clean { len: 0 }))
    }

    fn rd(&mut self) -> &mut CrcReader<Prefixed<R>> {
        match &mut self.src {
            Src::Rdb(d) => d.reader(),
            Src::Resp(r) => r,
        }
    }

    /// The next entry; `None` once the input has ended (see `tail`). Errors are I/O errors
    /// and problems of the RDB preamble (which Redis cannot cut away either).
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<AofEntry>, RdbError> {
        if self.tail.is_some() {
            return Ok(None);
        }
        if !self.rdb_done {
            if let Src::Rdb(d) = &mut self.src {
                match d.next()? {
                    Some(item) => {
                        if matches!(item, Item::Eof { .. }) {
                            self.rdb_done = true;
                        }
                        return Ok(Some(AofEntry::Rdb(item)));
                    }
                    None => self.rdb_done = true,
                }
            }
        }
        if !self.in_multi {
            self.pos = self.offset();
            self.line_at_pos = self.line;
            self.commands_at_pos = self.commands;
        }
        let start = self.offset();
        let first = self.rd().byte()?;
        let result = match first {
            None => {
                self.tail = Some(if self.in_multi {
                    Tail::UnfinishedMulti {
                        valid_len: self.pos,
                        multi_at: self.multi_at,
                    }
                } else {
                    Tail::Clean { len: start }
                });
                return Ok(None);
            }
            Some(b'#') => {
                let _ = self.read_piece(b'#', ANNOTATION_LINE_MAX)?;
                self.line += 1;
                let text = self.piece.clone();
                let kind = annotation_kind(&text);
                return Ok(Some(AofEntry::Annotation(Annotation {
                    start,
                    end: self.offset(),
                    text,
                    kind,
                })));
            }
            Some(b'*') => self.command(start)?,
            Some(other) => Err(Stop::Corrupt {
                offset: start,
                reason: format!(
                    "format error: expected '*' or '#' at the start of an entry, got {}",
                    show_byte(other)
                ),
            }),
        };
        match result {
            Ok(args) => {
                let end = self.offset();
                self.commands += 1;
                self.last_cmd_end = end;
                Ok(Some(AofEntry::Command { args, start, end }))
            }
            Err(stop) => {
                self.tail = Some(match stop {
                    Stop::Truncated { at, reason } => Tail::Truncated {
                        valid_len: self.pos,
                        at,
                        reason,
                        loader_len: self.last_cmd_end,
                    },
                    Stop::Corrupt { offset, reason } => Tail::Corrupt {
                        valid_len: self.pos,
                        offset,
                        reason,
                    },
                });
                Ok(None)
            }
        }
    }

    /// Reads like fgets(buf, max) with `first` already consumed: up to max - 1 bytes,
    /// through the first newline. Returns whether the input ended before a newline.
    fn read_piece(&mut self, first: u8, max: usize) -> io::Result<bool> {
        let mut piece = std::mem::take(&mut self.piece);
        piece.clear();
        piece.push(first);
        let mut eof = false;
        if first != b'\n' {
            let r = self.rd();
            while piece.len() < max - 1 {
                match r.byte()? {
                    Some(b) => {
                        piece.push(b);
                        if b == b'\n' {
                            break;
                        }
                    }
                    None => {
                        eof = true;
                        break;
                    }
                }
            }
        }
        self.piece = piece;
        Ok(eof)
    }

    /// A `*` or `$` line whose first byte is `first`, read at `at`.
    fn header(
        &mut self,
        first: u8,
        prefix: u8,
        at: u64,
        what: &str,
    ) -> io::Result<Result<i64, Stop>> {
        let eof = self.read_piece(first, HEADER_LINE_MAX)?;
        let piece = &self.piece;
        let s = cstr(piece);
        if s.first() == Some(&prefix) {
            let r = strtol(&s[1..]);
            if &s[1 + r.end..] == b"\r\n" {
                self.line += 1;
                return Ok(Ok(r.value));
            }
        }
        if eof && is_header_prefix(piece, prefix) {
            return Ok(Err(Stop::Truncated {
                at: at + piece.len() as u64,
                reason: format!("the file ends inside {what}"),
            }));
        }
        let reason = if s.first() != Some(&prefix) {
            format!(
                "expected '{}' starting {what}, got {}",
                char::from(prefix),
                show_byte(piece[0])
            )
        } else if piece.len() >= HEADER_LINE_MAX - 1 && !piece.ends_with(b"\n") {
            format!("{what} is longer than {} bytes", HEADER_LINE_MAX - 1)
        } else {
            format!(
                "{what} is not a number followed by \\r\\n: '{}'",
                String::from_utf8_lossy(piece).escape_debug()
            )
        };
        Ok(Err(Stop::Corrupt { offset: at, reason }))
    }

    fn command(&mut self, start: u64) -> Result<Result<Vec<Vec<u8>>, Stop>, RdbError> {
        let argc = match self.header(b'*', b'*', start, "the argument count line")? {
            Ok(n) => n,
            Err(s) => return Ok(Err(s)),
        };
        if argc > 0 && argc as u64 > self.opts.max_args {
            return Ok(Err(Stop::Corrupt {
                offset: start,
                reason: format!(
                    "argument count {argc} is above the limit ({})",
                    self.opts.max_args
                ),
            }));
        }
        let argc = argc.max(0) as u64;
        let mut args: Vec<Vec<u8>> = Vec::with_capacity(argc.min(ARGS_PREALLOC as u64) as usize);
        for i in 0..argc {
            let at = self.offset();
            let first = match self.rd().byte()? {
                Some(b) => b,
                None => {
                    return Ok(Err(Stop::Truncated {
                        at,
                        reason: format!("the file ends before argument {} of {argc}", i + 1),
                    }))
                }
            };
            let what = format!("the length line of argument {} of {argc}", i + 1);
            let len = match self.header(first, b'$', at, &what)? {
                Ok(n) => n,
                Err(s) => return Ok(Err(s)),
            };
            if len < 0 || len as u64 > self.opts.max_bulk_len {
                return Ok(Err(Stop::Corrupt {
                    offset: at,
                    reason: format!("argument {} has length {len}, out of range", i + 1),
                }));
            }
            let len = len as u64;
            let bulk_at = self.offset();
            // len ≤ i64::MAX - 2, so len + 2 does not overflow.
            let want = len + 2;
            let mut arg = Vec::with_capacity(want.min(ARG_PREALLOC) as usize);
            if !self.rd().read_into(want, &mut arg)? {
                return Ok(Err(Stop::Truncated {
                    at: bulk_at + arg.len() as u64,
                    reason: format!(
                        "argument {} of {argc}: expected {want} bytes (with \\r\\n), the file has {}",
                        i + 1,
                        arg.len()
                    ),
                }));
            }
            let n = len as usize;
            if &arg[n..] != b"\r\n" {
                return Ok(Err(Stop::Corrupt {
                    offset: bulk_at + len,
                    reason: format!(
                        "expected \\r\\n after argument {} ({len} bytes), got {}{}",
                        i + 1,
                        show_byte(arg[n]),
                        show_byte(arg[n + 1])
                    ),
                }));
            }
            arg.truncate(n);
            self.line += 1;
            if i == 0 {
                let name = cstr(&arg);
                if name.eq_ignore_ascii_case(b"multi") {
                    if self.in_multi {
                        return Ok(Err(Stop::Corrupt {
                            offset: start,
                            reason: format!(
                                "unexpected MULTI: the MULTI at offset {} has no EXEC yet",
                                self.multi_at
                            ),
                        }));
                    }
                    self.in_multi = true;
                    self.multi_at = start;
                } else if name.eq_ignore_ascii_case(b"exec") {
                    if !self.in_multi {
                        return Ok(Err(Stop::Corrupt {
                            offset: start,
                            reason: "unexpected EXEC: no MULTI is open".into(),
                        }));
                    }
                    self.in_multi = false;
                }
            }
            args.push(arg);
        }
        Ok(Ok(args))
    }
}

/// A correct beginning of a header line: the prefix, digits, perhaps the '\r'.
fn is_header_prefix(piece: &[u8], prefix: u8) -> bool {
    let Some((&p, rest)) = piece.split_first() else {
        return false;
    };
    if p != prefix {
        return false;
    }
    let digits = rest.iter().take_while(|c| c.is_ascii_digit()).count();
    let after = &rest[digits..];
    after.is_empty() || after == b"\r"
}

fn annotation_kind(text: &[u8]) -> AnnotationKind {
    let s = cstr(text);
    if !s.starts_with(b"#TS:") {
        return AnnotationKind::Other;
    }
    let r = strtol(&s[4..]);
    if !r.overflow && s.get(4 + r.end) == Some(&b'\r') {
        AnnotationKind::Timestamp(r.value)
    } else {
        AnnotationKind::InvalidTimestamp
    }
}

fn show_byte(b: u8) -> String {
    if (0x21..0x7f).contains(&b) {
        format!("'{}'", char::from(b))
    } else {
        format!("0x{b:02x}")
    }
}
