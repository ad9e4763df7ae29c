//! The append-only file, Redis 7.0's multi-part layout (formats only, no server, no async).

pub mod command;
mod cstr;
pub mod manifest;
pub mod reader;
pub mod rewrite;

pub use command::{encode_command, encode_select, encode_timestamp};
pub use manifest::{AofFileType, AofInfo, Manifest, ManifestError};
pub use reader::{Annotation, AofEntry, AofReader, ReaderOptions, Tail};

/// Longest annotation line Redis reads in one piece.
pub const ANNOTATION_LINE_MAX: usize = 1024;
