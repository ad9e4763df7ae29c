//! `amber check-aof [--fix] [--yes] [--truncate-to-timestamp TS] [--json] DIR|MANIFEST|FILE`:
//! redis-check-aof 7.0 over amber-persist's `aof::check`. Takes an AOF directory (its one
//! `*.manifest`), a manifest (checks every file it names, base then incrs), an RDB-preamble
//! AOF or a plain AOF; reports per file its format, size, commands, where and why it stops
//! being valid and how many complete commands a cut drops (counted past the damage, said
//! before asking); when a cut cannot fix it, what can; with `--fix` cuts the last
//! file at the end of its valid prefix (asking first unless `--yes`), with
//! `--truncate-to-timestamp` cuts it before the first `#TS:` annotation later than TS.
//! Exit 0 when the AOF is (now) fine, 1 when a problem remains, 2 when the check could not
//! run.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use amber_persist::aof::check::{FileFormat, FileRole, FileStatus, Verdict};
use amber_persist::aof::{
    check_with_progress, fix, CheckError, CheckOptions, CheckReport, Judgment,
};
use amber_persist::PCode;
use serde::Serialize;

use crate::{human, progress::Progress, Failure, Outcome};

const CODE: &str = PCode::AofCorrupt.label();

#[derive(clap::Args)]
pub struct Args {
    /// The AOF directory (appendonlydir: its manifest is used), the manifest
    /// (appendonlydir/appendonly.aof.manifest) or a single AOF file.
    file: PathBuf,
    /// Truncate the last file to its valid prefix (asks for confirmation unless --yes).
    #[arg(long, conflicts_with = "truncate_to_timestamp")]
    fix: bool,
    /// Do not ask before truncating.
    #[arg(long, short = 'y')]
    yes: bool,
    /// Cut the AOF before the first timestamp annotation later than TS (unix seconds).
    #[arg(long, value_name = "TS", allow_negative_numbers = true)]
    truncate_to_timestamp: Option<i64>,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Serialize)]
struct JsonProblem {
    code: &'static str,
    kind: &'static str,
    offset: u64,
    reason: String,
}

#[derive(Serialize)]
struct JsonFile {
    name: String,
    role: &'static str,
    format: &'static str,
    size: u64,
    last: bool,
    rdb_keys: u64,
    commands: u64,
    annotations: u64,
    status: &'static str,
    valid_len: u64,
    valid_line: u64,
    valid_commands: u64,
    bytes_cut: u64,
    commands_cut: u64,
    /// False when commands and commands_cut are lower bounds (see `amber_persist::aof::dropped`).
    commands_exact: bool,
    problem: Option<JsonProblem>,
    /// How Amber's loader would take the file: ok, truncated, corrupt, missing.
    judgment: Option<&'static str>,
}

#[derive(Serialize)]
struct JsonReport {
    input: String,
    kind: &'static str,
    files: Vec<JsonFile>,
    /// valid, fixable, timestamp-cut, nothing-to-truncate, unfixable, manifest-error
    verdict: &'static str,
    message: Option<String>,
    /// What amber-server would do with these files (the loader's own rule): load, load-cut
    /// or refuse, under aof-load-truncated yes and no; absent when the check stopped early.
    server_yes: Option<&'static str>,
    server_no: Option<&'static str>,
    /// What was cut, when something was: the file and its old and new sizes.
    fixed: Option<(String, u64, u64)>,
    ok: bool,
}

/// The one `*.manifest` file in `dir`.
fn manifest_in(dir: &Path) -> Result<PathBuf, Failure> {
    let rd = std::fs::read_dir(dir).map_err(|e| Failure(format!("{}: {e}", dir.display())))?;
    let mut found = Vec::new();
    for ent in rd {
        let ent = ent.map_err(|e| Failure(format!("{}: {e}", dir.display())))?;
        let p = ent.path();
        if p.extension().is_some_and(|x| x == "manifest") && p.is_file() {
            found.push(p);
        }
    }
    found.sort();
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(Failure(format!(
            "{} has no AOF manifest (*.manifest): give the manifest or an AOF file",
            dir.display()
        ))),
        _ => Err(Failure(format!(
            "{} has several manifests, give one: {}",
            dir.display(),
            found
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

pub fn run(mut a: Args) -> Result<Outcome, Failure> {
    if a.file.is_dir() {
        a.file = manifest_in(&a.file)?;
    }
    let opts = CheckOptions {
        truncate_to_timestamp: a.truncate_to_timestamp,
    };
    let mut bar = Progress::new("checking", 0, a.quiet || a.json);
    let mut total_seen = 0u64;
    let result = check_with_progress(&a.file, &opts, &mut |done, total| {
        if total != total_seen {
            total_seen = total;
            bar.set_total(total);
        }
        bar.update(done);
    });
    bar.finish();
    let report = match result {
        Ok(r) => r,
        Err(CheckError::Manifest(p, e)) => return invalid_manifest(&a, &p, &e.to_string()),
        Err(e @ CheckError::Io(..)) => return Err(Failure(e.to_string())),
    };
    if !a.json {
        print_text(&report);
    }
    let mut done = Done {
        message: None,
        fixed: None,
    };
    let outcome = match &report.verdict {
        Verdict::Valid | Verdict::NothingToTruncate => Outcome::Ok,
        Verdict::Unfixable { reason, file } => {
            let what_can = file
                .and_then(|i| report.files.get(i))
                .and_then(what_repairs);
            done.message = Some(match &what_can {
                Some(w) => format!("{reason}. {w}"),
                None => reason.clone(),
            });
            if !a.json {
                println!("{CODE}: {reason}");
                println!("AOF is NOT OK, and truncating cannot fix it");
                if let Some(w) = &what_can {
                    println!("{w}");
                }
            }
            Outcome::Problem
        }
        Verdict::Fixable { file, valid_len }
        | Verdict::TimestampCut {
            file,
            offset: valid_len,
        } => truncate(&a, &report, *file, *valid_len, &mut done)?,
    };
    if a.json {
        print_json(&json_report(&report, done, matches!(outcome, Outcome::Ok)))?;
    }
    Ok(outcome)
}

/// What a run says besides the report: why it failed, and what it cut.
struct Done {
    message: Option<String>,
    fixed: Option<(String, u64, u64)>,
}

/// A manifest that does not parse: Redis's loader refuses it.
fn invalid_manifest(a: &Args, p: &Path, e: &str) -> Result<Outcome, Failure> {
    if a.json {
        print_json(&JsonReport {
            input: p.display().to_string(),
            kind: "manifest",
            files: Vec::new(),
            verdict: "manifest-error",
            message: Some(e.to_string()),
            server_yes: Some("refuse"),
            server_no: Some("refuse"),
            fixed: None,
            ok: false,
        })?;
    } else {
        println!("Checking AOF manifest {}", p.display());
        println!("{CODE}: invalid manifest: {e}");
        println!("AOF is NOT OK");
    }
    Ok(Outcome::Problem)
}

/// A file that loads once cut at `valid_len`: cut it with --fix (after confirmation unless
/// --yes), or say how.
fn truncate(
    a: &Args,
    report: &CheckReport,
    file: usize,
    valid_len: u64,
    done: &mut Done,
) -> Result<Outcome, Failure> {
    let fr = &report.files[file];
    let ts_mode = matches!(report.verdict, Verdict::TimestampCut { .. });
    let plan = format!(
        "This will shrink the AOF {} from {} bytes, with {} bytes, to {} bytes ({} lost)",
        fr.name,
        fr.size,
        fr.bytes_cut(),
        valid_len,
        commands_cut(fr)
    );
    if !(a.fix || ts_mode) {
        done.message = Some(format!(
            "{} is not valid: use --fix to truncate it to {valid_len} bytes",
            fr.name
        ));
        if !a.json {
            println!("{plan} with --fix");
            println!("AOF is NOT OK: use --fix to truncate it");
        }
        return Ok(Outcome::Problem);
    }
    if !a.yes && !confirm(&plan, a.json)? {
        done.message = Some("aborted: nothing was changed".into());
        if !a.json {
            println!("Aborting...");
        }
        return Ok(Outcome::Problem);
    }
    match fix(report) {
        Ok(Some(f)) => {
            if !a.json {
                if a.yes {
                    println!("{plan}");
                }
                println!(
                    "Successfully truncated AOF {} from {} to {} bytes",
                    fr.name, f.from, f.to
                );
            }
            done.fixed = Some((fr.name.clone(), f.from, f.to));
            Ok(Outcome::Ok)
        }
        Ok(None) => Ok(Outcome::Problem),
        Err(e) => Err(Failure(format!(
            "can't truncate {}: {e}",
            fr.path.display()
        ))),
    }
}

fn json_report(report: &CheckReport, done: Done, ok: bool) -> JsonReport {
    JsonReport {
        input: report.input.display().to_string(),
        kind: match report.kind {
            amber_persist::aof::InputKind::Manifest => "manifest",
            amber_persist::aof::InputKind::RdbPreamble => "rdb-preamble",
            amber_persist::aof::InputKind::Resp => "resp",
        },
        files: report.files.iter().map(json_file).collect(),
        verdict: match report.verdict {
            Verdict::Valid => "valid",
            Verdict::Fixable { .. } => "fixable",
            Verdict::TimestampCut { .. } => "timestamp-cut",
            Verdict::NothingToTruncate => "nothing-to-truncate",
            Verdict::Unfixable { .. } => "unfixable",
        },
        message: done.message,
        server_yes: report.load_action(true).map(|a| a.name()),
        server_no: report.load_action(false).map(|a| a.name()),
        fixed: done.fixed,
        ok,
    }
}

fn print_json(j: &JsonReport) -> Result<(), Failure> {
    match serde_json::to_string_pretty(j) {
        Ok(s) => {
            println!("{s}");
            Ok(())
        }
        Err(e) => Err(Failure(format!("can't write JSON: {e}"))),
    }
}

/// Asks on the terminal; a line starting with y or Y is a yes (as redis-check-aof reads it).
fn confirm(plan: &str, json: bool) -> Result<bool, Failure> {
    {
        let mut out: Box<dyn Write> = if json {
            Box::new(std::io::stderr())
        } else {
            Box::new(std::io::stdout())
        };
        let _ = writeln!(out, "{plan}");
        let _ = write!(out, "Continue? [y/N]: ");
        let _ = out.flush();
    }
    let mut line = String::new();
    match std::io::stdin().lock().read_line(&mut line) {
        Ok(_) => Ok(line.starts_with(['y', 'Y'])),
        Err(e) => Err(Failure(format!("can't read the answer: {e}"))),
    }
}

fn role(r: FileRole) -> &'static str {
    match r {
        FileRole::Base => "base",
        FileRole::Incr => "incr",
        FileRole::Single => "aof",
    }
}

fn format_name(f: FileFormat) -> &'static str {
    match f {
        FileFormat::Rdb => "rdb",
        FileFormat::Resp => "resp",
        FileFormat::Empty => "empty",
        FileFormat::Missing => "missing",
    }
}

fn status_name(s: &FileStatus) -> &'static str {
    match s {
        FileStatus::Valid => "valid",
        FileStatus::Empty => "empty",
        FileStatus::NotValid => "not-valid",
        FileStatus::Unreadable => "unreadable",
        FileStatus::TimestampCut { .. } => "timestamp-cut",
        FileStatus::InvalidTimestamp { .. } => "invalid-timestamp",
    }
}

fn json_file(f: &amber_persist::aof::FileReport) -> JsonFile {
    JsonFile {
        name: f.name.clone(),
        role: role(f.role),
        format: format_name(f.format),
        size: f.size,
        last: f.last,
        rdb_keys: f.rdb_keys,
        commands: f.commands,
        annotations: f.annotations,
        status: status_name(&f.status),
        valid_len: f.valid_len,
        valid_line: f.valid_line,
        valid_commands: f.valid_commands,
        bytes_cut: if f.status == FileStatus::Valid {
            0
        } else {
            f.bytes_cut()
        },
        commands_cut: f.commands_cut(),
        commands_exact: f.commands_exact,
        problem: f.problem.as_ref().map(|p| JsonProblem {
            code: CODE,
            kind: p.kind,
            offset: p.offset,
            reason: p.reason.clone(),
        }),
        judgment: f.judgment.as_ref().map(Judgment::name),
    }
}

/// What repairs a file that a cut cannot: a damaged RDB base, a damaged file that is not the
/// last, a missing file. `None` for the timestamp refusals, whose reason says what to do.
fn what_repairs(f: &amber_persist::aof::FileReport) -> Option<String> {
    const RESTORE: &str = "restore the data directory from a backup (amber restore ID --repo REPO \
         --data-dir DIR); or, if a server still holds this data in memory, run BGREWRITEAOF \
         there to write a new AOF";
    match (&f.status, f.format) {
        (FileStatus::Unreadable, FileFormat::Rdb) => Some(format!(
            "A cut only shortens the command part; to repair the RDB base: `amber check-rdb {}` \
             shows where it breaks, then {RESTORE}",
            f.path.display()
        )),
        (FileStatus::Unreadable, _) => Some(format!("To repair it: {RESTORE}")),
        (FileStatus::NotValid, _) if !f.last => Some(format!(
            "Only the last file may be cut; to repair {}: {RESTORE}",
            f.name
        )),
        _ => None,
    }
}

/// "N complete commands": what a cut drops, counted to the end of the file past any damage.
fn commands_cut(f: &amber_persist::aof::FileReport) -> String {
    let n = f.commands_cut();
    format!(
        "{}{} complete command{}",
        if f.commands_exact { "" } else { "at least " },
        human::count(n),
        if n == 1 { "" } else { "s" }
    )
}

fn print_text(r: &CheckReport) {
    match r.kind {
        amber_persist::aof::InputKind::Manifest => {
            println!("Checking multi part AOF: manifest {}", r.input.display());
            if let Some(m) = &r.manifest {
                println!(
                    "  {} base, {} incr, {} history files",
                    usize::from(m.base.is_some()),
                    m.incrs.len(),
                    m.history.len()
                );
            }
        }
        amber_persist::aof::InputKind::RdbPreamble => {
            println!(
                "Checking old-style AOF with an RDB preamble {}",
                r.input.display()
            )
        }
        amber_persist::aof::InputKind::Resp => {
            println!("Checking old-style AOF {}", r.input.display())
        }
    }
    for f in &r.files {
        println!(
            "{} {} ({}, {}{}): {} commands, {} annotations{}",
            role(f.role),
            f.name,
            format_name(f.format),
            human::size(f.size),
            if f.last { ", last" } else { "" },
            human::count(f.commands),
            human::count(f.annotations),
            if f.format == FileFormat::Rdb {
                format!(", {} keys in the RDB preamble", human::count(f.rdb_keys))
            } else {
                String::new()
            }
        );
        match &f.status {
            FileStatus::Valid => println!("  valid"),
            FileStatus::Empty => println!("  empty (valid)"),
            _ => {
                if let Some(p) = &f.problem {
                    println!("  {CODE}: {} at offset {}: {}", p.kind, p.offset, p.reason);
                }
                if matches!(
                    f.status,
                    FileStatus::NotValid | FileStatus::TimestampCut { .. }
                ) {
                    println!(
                        "  valid up to offset {} (line {}, after {} commands); after it {} bytes, {}",
                        f.valid_len,
                        f.valid_line,
                        human::count(f.valid_commands),
                        human::count(f.bytes_cut()),
                        commands_cut(f)
                    );
                }
                match &f.judgment {
                    Some(Judgment::Truncated { .. }) => {
                        println!("  the loader takes it as a truncated tail (aof-load-truncated)")
                    }
                    Some(Judgment::Corrupt { .. }) => println!("  the loader takes it as corrupt"),
                    Some(Judgment::Missing) => println!("  the loader refuses to start without it"),
                    Some(Judgment::Ok) | None => {}
                }
            }
        }
    }
    match &r.verdict {
        Verdict::Valid => println!("AOF is valid"),
        Verdict::NothingToTruncate => {
            println!("Nothing to truncate: no timestamp later than the limit")
        }
        _ => {}
    }
}
