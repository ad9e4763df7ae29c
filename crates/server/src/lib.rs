//! amber-server: a Redis 7.0 compatible server.
//!
//! The layout, by what each room owns:
//!
//! ```text
//! main.rs        the command line; starts net::run
//! server.rs      the shared state one thread owns (databases, clients, config, statistics)
//! client.rs      one connected client's state
//! keyspace.rs    key lookups with expiry semantics, the active expire cycle
//! net/           listeners and admission, the connection loop, cron, shutdown, supervision
//! cmd/           the command table, dispatch (process/call/Ctx), blocking operations, DEBUG,
//!                INFO, and one file per command family
//! durability/    how a write becomes durable: the AOF (feed, writer thread, loader, rewrite),
//!                RDB save and load; its mod.rs draws the path and the guarantees
//! replication/   the replication stream, backlog, full and partial resync, WAIT
//! scripting/     Lua: EVAL and SCRIPT, the redis.* API, the sandbox and libraries
//! config/        redis.conf reading, the directive table, CONFIG GET/SET/REWRITE
//! sys/           allocator, clocks, logging, crash reports
//! tracking/      client-side caching: CLIENT TRACKING, the invalidation table, BCAST prefixes
//! ```

/// Amber's own version (the workspace's `version`): INFO's `amber_version`, the log, `-v`.
pub const AMBER_VERSION: &str = env!("CARGO_PKG_VERSION");
/// The Redis release Amber is compatible with and reports as its version: INFO's
/// `redis_version`, HELLO's `version`, the RDB's `redis-ver` aux field.
pub const REDIS_VERSION: &str = "7.0.15";

mod acl;
mod client;
mod cmd;
mod config;
mod durability;
mod evict;
mod keyspace;
mod lazyfree;
mod net;
mod replication;
mod scripting;
mod server;
mod sys;
mod tracking;

// What main.rs needs; everything else is private to the crate, so unused code shows.
pub use config::Config;
pub use net::run;
pub use sys::alloc::{configure as configure_allocator, Counting};
