//! The checks of the data directory as this machine sees it: can a file be created,
//! written and fsynced there, and is there room for the next snapshot.

use amber_persist::PCode;

use super::{local, not_here, Ctx};
use crate::doctor::{Finding, Status};
use crate::human::size;

pub(super) fn dir_writable(c: &Ctx) -> Finding {
    let Some(l) = &c.local else {
        return not_here(c, "dir_writable");
    };
    let d = l.dir.display();
    let fix_perm = format!(
        "Give the server's user write access (chown -R redis:redis {d}; chmod 750 {d}), or point \
         dir at a writable directory; check mount options (ro) and SELinux/AppArmor."
    );
    if let Ok(fs) = &l.fs {
        if fs.read_only {
            return Finding::coded(
                "dir_writable",
                Status::Error,
                PCode::WriteErr,
                format!("{d} is on a read-only filesystem: no save can succeed"),
            )
            .fix(format!(
                "Remount it read-write (mount -o remount,rw), or move dir; the fs may have been \
                 remounted read-only after I/O errors: check dmesg. {fix_perm}"
            ));
        }
    }
    if let Err(e) = &l.probe {
        let code = PCode::from_io(e);
        let fix = if code == PCode::DiskFull {
            format!("Free space on the filesystem of {d} (old backups, logs, temp-*.rdb left by crashed saves), or grow it.")
        } else {
            fix_perm
        };
        return Finding::coded(
            "dir_writable",
            Status::Error,
            code,
            format!("can't create, write and fsync a file in {d}: {e}"),
        )
        .fix(fix)
        .detail("error", e.to_string());
    }
    let pid = c.srv.info_u64("process_id").unwrap_or(0) as u32;
    if l.server_dir && c.same_host && pid > 0 {
        if let Some(p) = local::server_proc(pid) {
            if let Some((ok, uid, gid, mode)) = local::proc_can_write(&p, &l.dir) {
                if !ok {
                    return Finding::coded(
                        "dir_writable",
                        Status::Error,
                        PCode::WriteErr,
                        format!(
                            "the server (pid {pid}, uid {}) can't create files in {d} (owner {uid}:{gid}, mode {mode:o})",
                            p.uid
                        ),
                    )
                    .fix(fix_perm);
                }
            }
        }
    }
    Finding::ok(
        "dir_writable",
        format!("{d}: a file was created, written, fsynced and removed"),
    )
}

/// About what the next snapshot (and AOF rewrite) writes next to the current files.
pub(super) fn space_needed(c: &Ctx) -> (u64, u64) {
    let s = c.srv;
    let dump = c
        .local
        .as_ref()
        .and_then(|l| {
            std::fs::metadata(l.dir.join(s.config("dbfilename").unwrap_or("dump.rdb"))).ok()
        })
        .map(|m| m.len())
        .unwrap_or(0);
    let snapshot = if dump > 0 {
        dump
    } else {
        s.info_u64("used_memory").unwrap_or(0)
    };
    let copies = u64::from(c.rdb_on) + u64::from(c.aof_on);
    (snapshot * copies.max(1), snapshot)
}

pub(super) fn disk_space(c: &Ctx) -> Finding {
    let Some(l) = &c.local else {
        return not_here(c, "disk_space");
    };
    let d = l.dir.display();
    let fs = match &l.fs {
        Ok(fs) => fs,
        Err(e) => return Finding::warn("disk_space", "STATFS", format!("can't statvfs {d}: {e}")),
    };
    let (need, snapshot) = space_needed(c);
    let aof = c.srv.info_u64("aof_current_size").unwrap_or(0);
    let what = format!(
        "{} free of {} on {d}; the next snapshot needs about {}{}",
        size(fs.free),
        size(fs.total),
        size(snapshot),
        if need > snapshot {
            format!(" ({} with an AOF rewrite)", size(need))
        } else {
            String::new()
        }
    );
    let fix = format!(
        "Free space on {d} (old backups, logs, stale temp-*.rdb / temp-rewriteaof-* files), grow \
         the filesystem, or move dir to a bigger one; keep at least twice the dataset free. \
         Then {} BGSAVE to check.",
        c.cli
    );
    let f = if fs.free == 0 || fs.free < need {
        Finding::coded("disk_space", Status::Error, PCode::DiskFull, what).fix(fix)
    } else if fs.free < need.saturating_mul(2) {
        Finding::warn(
            "disk_space",
            "LOW_DISK",
            format!("{what}: less than twice that is free"),
        )
        .fix(fix)
    } else {
        Finding::ok("disk_space", what)
    };
    f.detail("free_bytes", fs.free)
        .detail("total_bytes", fs.total)
        .detail("needed_bytes", need)
        .detail("snapshot_bytes", snapshot)
        .detail("aof_bytes", aof)
}

/// The cause of a failed write when the server does not say: what the local probe found.
pub(super) fn local_cause(c: &Ctx) -> Option<PCode> {
    let l = c.local.as_ref()?;
    if let Err(e) = &l.probe {
        return Some(PCode::from_io(e));
    }
    match &l.fs {
        Ok(fs) if fs.read_only => Some(PCode::WriteErr),
        Ok(fs) if fs.free == 0 || fs.free < space_needed(c).0 => Some(PCode::DiskFull),
        _ => None,
    }
}
