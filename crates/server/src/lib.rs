//! amber-server: a Redis 7.0 compatible server.
//!
//! `main.rs` parses the command line and starts `net::run`; connections are served by tasks on
//! one thread (`conn.rs`), commands are dispatched by `cmd/` against the `Server` state.

/// Amber's own version (the workspace's `version`): INFO's `amber_version`, the log, `-v`.
pub const AMBER_VERSION: &str = env!("CARGO_PKG_VERSION");
/// The Redis release Amber is compatible with and reports as its version: INFO's
/// `redis_version`, HELLO's `version`, the RDB's `redis-ver` aux field.
pub const REDIS_VERSION: &str = "7.0.15";

pub mod alloc;
pub mod aof;
pub mod aof_load;
pub mod aof_rewrite;
mod aof_writer;
pub mod client;
pub mod clock;
pub mod cmd;
pub mod config;
pub mod config_accepted;
pub mod config_load;
pub mod conn;
pub mod crash;
pub mod digest;
pub mod glob;
pub mod info;
pub mod keyspace;
pub mod ldouble;
pub mod load;
pub mod log;
pub mod net;
pub mod rdb_guard;
pub mod save;
pub mod server;
pub mod supervise;
pub mod timer;
