//! How a write becomes durable, and what is promised when something fails.
//!
//! ```text
//!  client ─▶ net/conn.rs: parse, cmd::process ─▶ cmd::call: the command runs on memory
//!                                                  (ctx.dirty ─▶ its effects are propagated)
//!     aof::feed_propagated ─▶ Aof::feed: SELECT / #TS / RESP into `buf`    (appended grows;
//!                                                     the client's aof_need = appended)
//!  conn: aof::wait_point(need) ─▶ None: durable already ─▶ the reply leaves
//!                              └▶ Some(Wait): Wait::done rings the flush task, then awaits
//!                                 `durable` >= need
//!  flush task (aof/wait.rs; after every ready client ran, so one write serves them all):
//!     Aof::flush (aof/flush.rs), by appendfsync:
//!       everysec / no  write(buf) on the main thread ─▶ durable = written
//!                      fsync thread (aof/writer.rs): fdatasync once a second (everysec)
//!       always         writer thread: write + fdatasync ─▶ synced ─▶ relay ─▶ durable
//!                      (group commit: what arrives meanwhile goes in the next fsync), or
//!                      write + fdatasync on the main thread when nothing could run meanwhile
//!  Wait::done returns ─▶ the reply leaves
//! ```
//!
//! Every file operation on that path, and those of the rewrite (aof/rewrite.rs), the
//! manifest swap (amber-persist's `aof::manifest`) and the RDB save (save.rs, through
//! `AtomicFile`: temp ─▶ fsync ─▶ rename ─▶ fsync dir), goes through `Server::storage`
//! (amber-persist's `storage::Storage`): the file system in the server, a model that fails
//! or crashes any call in the tests (`tests/`).
//!
//! What holds under which failure (tests: `durability::tests::*` are the Rust tests of this
//! folder, the others are tests/*.py):
//!
//! | failure | always | everysec | no |
//! |---|---|---|---|
//! | power loss / kernel crash | every acknowledged write is there (`crash::always_loses_no_acknowledged_write`) | only writes acknowledged in the last 2 s may be missing (`crash::everysec_loses_at_most_the_last_two_seconds`) | what the kernel had written back (`crash::no_fsync_still_loads_a_prefix`) |
//! | any of those, any policy | the files load (a torn last command is cut, aof-load-truncated) and hold a prefix of the writes in execution order (`crash::*`) | | |
//! | process crash (kill -9) | every acknowledged write is there (test_aof.py `test_kill_9_under_always_loses_no_acknowledged_write`) | every acknowledged write (they were written) | same |
//! | a reply before its fsync | caught by the crash check (`crash::a_reply_released_before_its_fsync_is_caught`) | | |
//! | failed write, full disk | cut back to the last whole command, MISCONF for writes, retried every second; reads answer (test_full_disk.py) | same | same |
//! | failed fsync | exit before acknowledging what it covers (test_aof.py `test_fdatasync_eio_under_always_exits_without_acknowledging`) | MISCONF until a rewrite has written the AOF from memory (`test_fdatasync_eio_under_everysec_refuses_writes_until_rewrite`, `steps::the_rewrite_fails_at_every_step_under_everysec`); a power loss before that rewrite may lose the writes since the last good fsync | same as everysec |
//! | failed rewrite or manifest swap, at any step | nothing acknowledged lost, the old files stay the target, no temp file left, the next attempt succeeds (`steps::the_rewrite_fails_at_every_step_and_loses_nothing`, test_aof_rewrite_switch.py) | same (`steps::the_rewrite_fails_at_every_step_under_everysec`) | same |
//! | power loss during a rewrite or a save, at any step | every acknowledged write is there; the dump is the old one or the new one (`steps::the_rewrite_and_the_save_survive_a_crash_at_every_step`) | | |
//! | failed RDB save, at any step | the old dump stays (after a power loss too), no temp file left, the next SAVE succeeds (`steps::the_save_fails_at_every_step_and_keeps_the_old_dump`) | same | same |
//!
//! Assumed of the file system: fdatasync makes a file's written bytes and size durable; a
//! create, rename or unlink is durable once its directory is fsynced; a failed fsync may
//! have dropped the pages it covered (a later fsync says nothing about them); rename is
//! atomic for readers.

pub(crate) mod aof;
pub(crate) mod rdb_guard;
pub(crate) mod rdb_load;
pub(crate) mod save;

#[cfg(test)]
mod tests;
