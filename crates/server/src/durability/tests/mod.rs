//! Durability tests on a fault-injecting storage (`amber_persist::storage::faulty`):
//! `crash` crashes at random points under each fsync policy and restarts; `steps` fails
//! each storage call of the AOF rewrite, the manifest swap and the RDB save in turn.
//! `harness` runs a server on that storage and checks what a restart finds.

mod crash;
mod harness;
mod steps;
