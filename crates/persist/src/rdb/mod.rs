//! The RDB format: Redis's snapshot file, also the body of DUMP payloads and of the AOF base.
//!
//! ```text
//! "REDIS" + 4-digit version
//! { AUX key value | SELECTDB n | RESIZEDB keys expires
//!   | [EXPIRETIME_MS t | EXPIRETIME t] [IDLE n | FREQ b] type key value }*
//! EOF (0xff) + CRC-64 little endian (version >= 5; zero when checksums are off)
//! ```
//!
//! `encode` writes what Redis 7.0 writes (version 10); `decode` reads versions 1 to 12 (12 only
//! with the types Amber has); `load` turns decoded values into store values with the encodings
//! Redis would choose; `dump` owns DUMP/RESTORE payloads. The packed formats embedded in values
//! have one module each.

pub mod decode;
pub mod dump;
pub mod encode;
pub mod error;
pub mod intset;
pub mod listpack;
pub mod load;
pub mod num;
pub mod salvage;
pub mod stream;
pub mod ziplist;
pub mod zipmap;

pub use decode::{Decoder, Item, RdbEntry, RdbValue};
pub use dump::{create_dump, verify_and_decode_dump};
pub use encode::{
    set_packed_threshold, write_entry, write_entry_with_access, write_value, AccessInfo,
    EncodeOptions, Encoder,
};
pub use error::RdbError;
pub use load::to_value;

/// The version Redis 7.0 writes.
pub const RDB_VERSION: u32 = 10;
/// The newest version the decoder reads (Redis 7.4), when only Amber's types appear.
pub const MAX_READ_VERSION: u32 = 12;

/// Value types (Redis's RDB_TYPE_*).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum RdbType {
    String = 0,
    List = 1,
    Set = 2,
    ZSet = 3,
    Hash = 4,
    ZSet2 = 5,
    ModulePreGa = 6,
    Module2 = 7,
    HashZipmap = 9,
    ListZiplist = 10,
    SetIntset = 11,
    ZSetZiplist = 12,
    HashZiplist = 13,
    ListQuicklist = 14,
    StreamListpacks = 15,
    HashListpack = 16,
    ZSetListpack = 17,
    ListQuicklist2 = 18,
    StreamListpacks2 = 19,
    SetListpack = 20,
    StreamListpacks3 = 21,
    HashMetadataPreGa = 22,
    HashListpackExPreGa = 23,
    HashMetadata = 24,
    HashListpackEx = 25,
}

impl RdbType {
    pub fn from_u8(b: u8) -> Option<RdbType> {
        use RdbType::*;
        Some(match b {
            0 => String,
            1 => List,
            2 => Set,
            3 => ZSet,
            4 => Hash,
            5 => ZSet2,
            6 => ModulePreGa,
            7 => Module2,
            9 => HashZipmap,
            10 => ListZiplist,
            11 => SetIntset,
            12 => ZSetZiplist,
            13 => HashZiplist,
            14 => ListQuicklist,
            15 => StreamListpacks,
            16 => HashListpack,
            17 => ZSetListpack,
            18 => ListQuicklist2,
            19 => StreamListpacks2,
            20 => SetListpack,
            21 => StreamListpacks3,
            22 => HashMetadataPreGa,
            23 => HashListpackExPreGa,
            24 => HashMetadata,
            25 => HashListpackEx,
            _ => return None,
        })
    }

    /// A human name for error messages.
    pub fn name(self) -> &'static str {
        use RdbType::*;
        match self {
            String => "string",
            List => "list (linked list)",
            Set => "set",
            ZSet => "zset (string scores)",
            Hash => "hash",
            ZSet2 => "zset",
            ModulePreGa | Module2 => "module value",
            HashZipmap => "hash zipmap",
            ListZiplist => "list ziplist",
            SetIntset => "set intset",
            ZSetZiplist => "zset ziplist",
            HashZiplist => "hash ziplist",
            ListQuicklist => "list quicklist",
            StreamListpacks | StreamListpacks2 | StreamListpacks3 => "stream",
            HashListpack => "hash listpack",
            ZSetListpack => "zset listpack",
            ListQuicklist2 => "list quicklist v2",
            SetListpack => "set listpack",
            HashMetadataPreGa | HashListpackExPreGa | HashMetadata | HashListpackEx => {
                "hash with field expiry"
            }
        }
    }
}

/// Opcodes (Redis's RDB_OPCODE_*), in the type byte's place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Opcode {
    SlotInfo = 244,
    Function2 = 245,
    FunctionPreGa = 246,
    ModuleAux = 247,
    Idle = 248,
    Freq = 249,
    Aux = 250,
    ResizeDb = 251,
    ExpireTimeMs = 252,
    ExpireTime = 253,
    SelectDb = 254,
    Eof = 255,
}

/// Special string encodings (the low bits of a length whose top two bits are 11).
pub const ENC_INT8: u8 = 0;
pub const ENC_INT16: u8 = 1;
pub const ENC_INT32: u8 = 2;
pub const ENC_LZF: u8 = 3;

/// Quicklist v2 node containers.
pub const QUICKLIST_NODE_PLAIN: u64 = 1;
pub const QUICKLIST_NODE_PACKED: u64 = 2;
