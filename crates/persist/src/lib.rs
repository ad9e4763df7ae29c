//! Amber's persistence formats, usable without the server: the RDB codec (encoder, streaming
//! decoder, DUMP payloads), the packed encodings it embeds (listpack, ziplist, intset, zipmap),
//! LZF, Redis's CRC-64, and the I/O adapters every persistence driver shares (CRC-tracking
//! reader/writer, atomic file replace), the storage interface they write through, and the
//! P001-P005 codes users look up.

pub mod aof;
pub mod crc64;
pub mod io;
pub mod lzf;
pub mod pcode;
pub mod rdb;
pub mod storage;

pub use pcode::PCode;
