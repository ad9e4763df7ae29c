//! Listpacks live in the store (streams keep theirs in memory as Redis does); the RDB code
//! reads and writes them through this name.

pub use amber_store::listpack::*;
