//! The append-only file, Redis 7.0's multi-part layout: a manifest naming one BASE file (an
//! RDB snapshot or a RESP command log) and the ordered INCR files written since the last
//! rewrite.
//!
//! ```text
//! appendonlydir/
//!   appendonly.aof.manifest        file appendonly.aof.2.base.rdb seq 2 type b
//!                                  file appendonly.aof.2.incr.aof seq 2 type i
//!   appendonly.aof.2.base.rdb      "REDIS0010" ... EOF CRC   (or RESP, .base.aof)
//!   appendonly.aof.2.incr.aof      [#TS:<unix secs>\r\n] *<argc>\r\n{$<len>\r\n<bytes>\r\n}...
//! ```
//!
//! This module owns the formats only (no server, no async): `manifest` parses and writes the
//! manifest exactly as Redis does, `command` encodes log entries byte for byte as Redis's
//! AOF does, `reader` streams one file (RDB preamble items, then commands and annotations)
//! and tells a clean end from a truncated tail, an unfinished MULTI and corruption,
//! `verdict` is the one judgement of a file that the server's loader and check-aof/doctor
//! share (Redis 7.0.15's loader is its reference), `check` is redis-check-aof 7.0 as a
//! library, and `dropped` counts the complete commands a cut removes.

pub mod check;
pub mod command;
mod cstr;
pub mod dropped;
pub mod manifest;
pub mod reader;
pub mod rewrite;
mod rewrite_stream;
pub mod verdict;

pub use check::{
    check, check_with_progress, detect, fix, CheckError, CheckOptions, CheckReport, FileReport,
    FileStatus, InputKind, Verdict,
};
pub use command::{encode_command, encode_select, encode_timestamp};
pub use manifest::{AofFileType, AofInfo, Manifest, ManifestError};
pub use reader::{Annotation, AnnotationKind, AofEntry, AofReader, ReaderOptions, Tail};
pub use verdict::{judge, judge_file, load_action, load_action_all, Judgment, LoadAction, Refusal};

/// Longest annotation line Redis reads in one piece (AOF_ANNOTATION_LINE_MAX_LEN, the
/// loader's line buffer): a longer line is read as several.
pub const ANNOTATION_LINE_MAX: usize = 1024;
