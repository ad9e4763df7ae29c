//! `amber archive`: continuous archiving of a server's writes into a backup repository, for
//! point-in-time recovery (`amber restore --to-time`).
//!
//! ```text
//! mod.rs      the command line, dispatch
//! layout.rs   the archive's objects in the repository: timelines, bases, segments, entries
//! segment.rs  a segment's bytes: timed records of whole commands
//! link.rs     the replica-side handshake: PSYNC, +FULLRESYNC / +CONTINUE, ACKs
//! run.rs      the archiver: base, then the stream cut into segments, reconnects
//! stream.rs   the stream's bytes into whole commands and segments (MULTI/EXEC kept whole)
//! spool.rs    the local spool and the uploader thread
//! status.rs   `archive status`: timelines, restorable window, lag
//! verify.rs   `archive verify`: every object read back and checked
//! prune.rs    `archive prune`: retention of whole timelines
//! ```

pub mod layout;
mod link;
mod prune;
mod run;
pub mod segment;
mod spool;
pub mod status;
mod stream;
mod verify;

use std::path::PathBuf;

use crate::backup::{AuthArgs, RepoArg};
use crate::{Failure, Outcome};

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct Cli {
    #[command(subcommand)]
    cmd: Option<Cmd>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(clap::Subcommand)]
pub enum Cmd {
    /// The archive's timelines, restorable window and lag (from the repository, and from the
    /// running archiver's spool with --spool).
    Status(StatusArgs),
    /// Read every base and segment back: checksums, RDB decoded, records and commands parsed,
    /// offsets without gaps.
    Verify(VerifyArgs),
    /// Retention: delete whole timelines (base and segments together) that no rule keeps; the
    /// newest timeline always stays. A dry run unless --apply.
    Prune(PruneArgs),
}

#[derive(clap::Args)]
pub struct RunArgs {
    /// The source server, HOST:PORT (Amber or Redis).
    #[arg(long, value_name = "HOST:PORT", required = true)]
    from: Option<String>,
    /// The repository: a directory, or s3://BUCKET/PREFIX (as for `amber backup`).
    #[arg(long, env = "AMBER_BACKUP_REPO", value_name = "REPO", required = true)]
    repo: Option<String>,
    /// With s3://: the S3 endpoint URL (else AWS_ENDPOINT_URL, else AWS itself).
    #[arg(long, value_name = "URL")]
    endpoint: Option<String>,
    /// With s3://: the bucket's region (else AWS_REGION, AWS_DEFAULT_REGION, us-east-1).
    #[arg(long, value_name = "REGION")]
    region: Option<String>,
    #[command(flatten)]
    auth: AuthArgs,
    /// Local directory where closed segments wait for their upload (and survive a crash or an
    /// object-store outage).
    #[arg(long, value_name = "DIR", required = true)]
    spool: Option<PathBuf>,
    /// Close a segment once its first command is this old (ms): the archive trails the source
    /// by about this much plus the upload.
    #[arg(long, default_value_t = 250, value_parser = clap::value_parser!(u64).range(10..=600_000))]
    flush_ms: u64,
    /// Close a segment at this many stream bytes.
    #[arg(long, default_value_t = 16 << 20, value_parser = clap::value_parser!(u64).range(4096..=(1 << 29)))]
    segment_bytes: u64,
    /// Stop reading from the source while this many bytes wait in the spool.
    #[arg(long, default_value_t = 1 << 30)]
    spool_max_bytes: u64,
    /// The port announced with REPLCONF listening-port (the archiver listens on none).
    #[arg(long, default_value_t = 0)]
    announce_port: u16,
    /// Seconds without a byte from the source before the link counts as lost (it PINGs every
    /// repl-ping-replica-period, 10 s by default).
    #[arg(long, default_value_t = 60)]
    timeout: u64,
    /// Start a new timeline (a full resync: a new base) once the base is this old (24h, 7d,
    /// 1d12h): `archive prune` expires whole timelines, so this bounds how long old history
    /// must be kept. Default: never (one timeline while the source's history continues).
    #[arg(long, value_name = "DUR")]
    base_every: Option<String>,
    /// zstd level for bases and segments.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(i32).range(1..=19))]
    zstd_level: i32,
    /// No progress lines on stderr (problems are still printed).
    #[arg(long, short)]
    quiet: bool,
}

#[derive(clap::Args)]
pub struct StatusArgs {
    #[command(flatten)]
    repo: RepoArg,
    /// The running archiver's spool directory: its live state (lag, last upload, errors).
    #[arg(long, value_name = "DIR")]
    spool: Option<PathBuf>,
    /// Print as JSON on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct PruneArgs {
    #[command(flatten)]
    repo: RepoArg,
    /// Keep the N newest timelines.
    #[arg(long, value_name = "N")]
    keep_last: Option<usize>,
    /// Keep what restores any moment of the last DUR (30d, 12h, 1d12h): the timelines from the
    /// newest base at or before now - DUR onwards.
    #[arg(long, value_name = "DUR")]
    keep_within: Option<String>,
    /// Objects of a timeline without an entry (a killed prune, or a base being stored) older
    /// than this go too.
    #[arg(long, value_name = "DUR", default_value = "1h")]
    orphan_grace: String,
    /// Delete for real (the default is a dry run that prints what would go).
    #[arg(long, conflicts_with = "dry_run")]
    apply: bool,
    /// Only print what would go (the default; for scripts that want to say it).
    #[arg(long)]
    dry_run: bool,
    /// Print what is kept and removed as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// Print nothing unless something fails (for cron).
    #[arg(long, short)]
    quiet: bool,
}

#[derive(clap::Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    repo: RepoArg,
    /// Only this timeline (default: all).
    #[arg(long, value_name = "ID")]
    timeline: Option<String>,
    /// Print as JSON on stdout.
    #[arg(long)]
    json: bool,
}

impl RunArgs {
    fn repo_arg(&self) -> RepoArg {
        RepoArg {
            repo: self.repo.clone().unwrap_or_default(),
            endpoint: self.endpoint.clone(),
            region: self.region.clone(),
        }
    }
}

pub fn run(c: Cli) -> Result<Outcome, Failure> {
    match c.cmd {
        Some(Cmd::Status(a)) => status::status(a),
        Some(Cmd::Verify(a)) => verify::verify(a),
        Some(Cmd::Prune(a)) => prune::prune(a),
        None => run::archive(c.run),
    }
}
