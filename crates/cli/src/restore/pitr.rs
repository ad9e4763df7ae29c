//! `amber restore --to-time T | --to-offset N [--timeline ID]`: point-in-time recovery from an
//! archive (`amber archive`), offline into a data directory.
//!
//! ```text
//! timeline:  the newest whose base is at or before T (or --timeline)
//! staged:    DIR/.amber-restore-<time>.<appenddirname>/
//!              <appendfilename>.1.base.rdb   the timeline's base (both SHA-256s checked)
//!              <appendfilename>.1.incr.aof   the archived commands up to the cut
//!              <appendfilename>.manifest
//! then:      dump.rdb and the AOF directory moved aside, the staged directory renamed in
//! ```
//!
//! The result loads with `appendonly yes`: the server reads the RDB base and replays the
//! commands, the same work as loading its own AOF (no second encoding of the dataset here).
//!
//! The cut (see `archived`): every command that arrived at the archiver at or before T and
//! ends at or before offset N, a MULTI ... EXEC block whole or not at all. A bad or missing
//! segment stops the replay at the end of the last good one, the restore says so, and exits 3
//! (a partial restore) unless --allow-partial.

use std::io::{BufWriter, Write};

use serde::Serialize;

use super::aof_base::FreshAof;
use super::archived::{self, Limit, Reached};
use super::offline::{self, OfflineReport, Staged, Want};
use super::writeback::Writeback;
use super::Args;
use crate::archive::layout::Timeline;
use crate::backup::print_json;
use crate::backup::repo::Repo;
use crate::{Failure, Outcome};

#[derive(Serialize)]
struct Report {
    #[serde(flatten)]
    files: OfflineReport,
    #[serde(flatten)]
    pitr: Reached,
}

pub(super) fn run(a: &Args, repo: &Repo) -> Result<Outcome, Failure> {
    let lim = Limit::of(a)?;
    let tl = archived::choose(repo, a, lim)?;
    let mut t = offline::target(a)?;
    t.write_aof = true;
    let mut files = OfflineReport {
        ok: false,
        backup: tl.id.clone(),
        data_dir: t.dir.display().to_string(),
        refused: Vec::new(),
        moved_aside: Vec::new(),
        written: Vec::new(),
        appendonly: true,
        keys: tl.base.keys,
        raw_size: tl.base.raw_size,
        problem: None,
        notes: t.notes.clone(),
        start_with: None,
        skipped: Vec::new(),
    };
    let lock = offline::lock_unused(&t, &mut files.refused);
    let mut report = Report {
        files,
        pitr: Reached::new(a, &tl),
    };
    if !report.files.refused.is_empty() {
        report.files.problem = Some("the data directory is in use; stop the server first".into());
        return finish(a, report);
    }
    let stamp = offline::stamp_now();
    let aof_tmp = t
        .dir
        .join(format!(".amber-restore-{stamp}.{}", t.appenddirname));
    let fresh = FreshAof::new(&t.appendfilename);
    std::fs::create_dir(&aof_tmp)
        .map_err(|e| Failure(format!("can't create {}: {e}", aof_tmp.display())))?;
    let staged = Staged {
        rdb: None,
        aof_tmp,
        fresh,
        stamp,
    };
    match stage(a, repo, &tl, lim, &staged, &t.appendfilename, &mut report) {
        Ok(None) => {}
        Ok(Some(problem)) => {
            staged.discard();
            report.files.problem = Some(format!(
                "{problem}; nothing in {} was changed",
                t.dir.display()
            ));
            return finish(a, report);
        }
        Err(e) => {
            staged.discard();
            return Err(Failure(format!(
                "restoring into {}: {e} (nothing there was changed)",
                t.dir.display()
            )));
        }
    }
    let staged = offline::move_aside(&t, staged, &mut report.files)?;
    offline::install(&t, staged, &mut report.files)?;
    drop(lock);
    report.files.ok = true;
    report.files.start_with = Some(offline::start_command(
        tl.source.amber_version.is_some(),
        a.config.as_deref(),
        &t.conf,
        &t.dir,
        &t.dbfilename,
        true,
    ));
    finish(a, report)
}

/// Writes the staged AOF directory: base, commands up to the limit, manifest. `Some`: the
/// base is not what its entry says (nothing usable).
///
/// Three threads at once: the base is downloaded, checked and written; the segments are
/// fetched and checked ahead (a few at most); this thread cuts and writes the commands.
fn stage(
    a: &Args,
    repo: &Repo,
    tl: &Timeline,
    lim: Limit,
    staged: &Staged,
    appendfilename: &str,
    report: &mut Report,
) -> std::io::Result<Option<String>> {
    let base = offline::new_file(&staged.aof_tmp.join(&staged.fresh.base_name))?;
    let want = Want {
        object: &tl.base.object,
        raw_size: tl.base.raw_size,
        raw_sha256: &tl.base.raw_sha256,
        stored_sha256: &tl.base.stored_sha256,
    };
    let incr = offline::new_file(&staged.aof_tmp.join(&staged.fresh.incr_name))?;
    let mut incr = BufWriter::with_capacity(1 << 20, Writeback::new(incr));
    let quiet = a.quiet || a.json;
    let (base_problem, notes) = std::thread::scope(|sc| {
        let base_job = sc.spawn(|| offline::download(repo, &want, quiet, None, Some(base)));
        let replayed =
            archived::replay_segments(repo, tl, lim, &mut report.pitr, None, &mut |_, buf, _| {
                incr.write_all(buf)?;
                Ok(true)
            });
        let base = base_job
            .join()
            .map_err(|_| std::io::Error::other("the base download panicked"))?;
        std::io::Result::Ok((base?, replayed?))
    })?;
    if let Some(p) = base_problem {
        return Ok(Some(format!("the base of timeline {}: {p}", tl.id)));
    }
    // The incr file made durable before the manifest names it.
    incr.into_inner().map_err(|e| e.into_error())?.finish()?;
    report.files.notes.extend(notes);
    staged
        .fresh
        .manifest
        .write_atomic(&staged.aof_tmp, appendfilename)?;
    Ok(None)
}

fn finish(a: &Args, r: Report) -> Result<Outcome, Failure> {
    if a.json {
        print_json(&r)?;
    } else {
        for x in &r.files.refused {
            println!("refused: {x}");
        }
        for (f, t) in &r.files.moved_aside {
            println!("moved aside: {f} -> {t}");
        }
        for w in &r.files.written {
            println!("wrote: {w}");
        }
        for n in &r.files.notes {
            println!("note: {n}");
        }
        match &r.files.problem {
            Some(p) => println!("NOT RESTORED: {p}"),
            None => {
                for l in r.pitr.lines(&r.files.data_dir) {
                    println!("{l}");
                }
                if let Some(s) = &r.files.start_with {
                    println!("Start the server (the restore is an AOF: appendonly yes): {s}");
                }
            }
        }
    }
    Ok(match (&r.files.problem, r.pitr.partial) {
        (Some(_), _) => Outcome::Problem,
        (None, true) if !a.allow_partial => Outcome::Partial,
        _ => Outcome::Ok,
    })
}
