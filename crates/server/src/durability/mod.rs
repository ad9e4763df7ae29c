//! How a write becomes durable.
//!
//! (filled in below)

pub(crate) mod aof;
pub(crate) mod rdb_guard;
pub(crate) mod rdb_load;
pub(crate) mod save;

#[cfg(test)]
mod tests;
