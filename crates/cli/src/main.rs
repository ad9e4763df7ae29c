//! `amber`: the persistence and disaster-recovery tool. Each subcommand is a thin driver over
//! amber-persist; `main` maps outcomes to exit codes that mean something:
//!
//! | code | meaning |
//! |---|---|
//! | 0 | everything checked is fine |
//! | 1 | a problem was found (corrupt or unsupported file) |
//! | 2 | the tool could not do its job (usage, unreadable file) |
//! | 3 | `restore --to-time/--to-offset` stopped early at a damaged or missing archive segment: restored to the last good point (0 with --allow-partial) |
//!
//! Like any Unix tool, `amber ... | head` ends silently when the reader goes away: SIGPIPE
//! keeps its default action (the process ends by the signal, status 141 in a shell) instead
//! of Rust's "ignore it and panic in println!".

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod archive;
mod backup;
mod check_aof;
mod check_rdb;
mod client;
mod doctor;
mod human;
mod progress;
mod redis_conf;
mod restore;

#[derive(Parser)]
#[command(
    name = "amber",
    version,
    about = "Amber persistence and disaster-recovery tool"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Verify an RDB file: structure, CRC64, and what it holds (keys per type and database);
    /// --salvage OUT copies every key that decodes into a new RDB.
    CheckRdb(check_rdb::Args),
    /// Verify an AOF (manifest, RDB-preamble or plain): where it stops being valid and why;
    /// --fix truncates the last file to its valid prefix, as redis-check-aof does.
    CheckAof(check_aof::Args),
    /// Backups of a running server: create, list, show, verify, prune.
    #[command(subcommand)]
    Backup(backup::Cmd),
    /// Continuous archiving of a server's writes (as a replica) for point-in-time recovery;
    /// `archive status`, `archive verify`.
    Archive(archive::Cli),
    /// Put a backup back: offline into a data directory, or online into a running server.
    Restore(restore::Args),
    /// Run the persistence checklist against a live server: findings with P-codes and fixes.
    Doctor(doctor::Args),
}

/// How a subcommand ended.
pub enum Outcome {
    Ok,
    /// A problem in the data the user asked about (exit 1).
    Problem,
    /// A point-in-time restore that stopped at the last good point before the one asked (exit 3).
    Partial,
}

/// The tool could not do its job (exit 2).
pub struct Failure(pub String);

fn main() -> ExitCode {
    restore_sigpipe();
    let cli = Cli::parse();
    let r = match cli.command {
        Command::CheckRdb(a) => check_rdb::run(a),
        Command::CheckAof(a) => check_aof::run(a),
        Command::Backup(c) => backup::run(c),
        Command::Archive(c) => archive::run(c),
        Command::Restore(a) => restore::run(a),
        Command::Doctor(a) => doctor::run(a),
    };
    match r {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::Problem) => ExitCode::from(1),
        Ok(Outcome::Partial) => ExitCode::from(3),
        Err(Failure(msg)) => {
            eprintln!("amber: {msg}");
            ExitCode::from(2)
        }
    }
}

/// Gives SIGPIPE back its default action (Rust's runtime sets it to SIG_IGN, so a write to a
/// closed stdout panics). Sockets are unaffected: std sends with MSG_NOSIGNAL, so a server
/// that hangs up is still an EPIPE error the tool reports.
fn restore_sigpipe() {
    // SAFETY: signal(2) with a valid signal number and SIG_DFL, before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
