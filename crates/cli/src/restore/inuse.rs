//! Is a server using this data directory? Offline restore refuses when:
//! - the pidfile named in the configuration holds the pid of a live process;
//! - a process has the directory as its working directory (Redis and Amber chdir into
//!   `dir` at start), found by scanning /proc/*/cwd;
//! - a process holds a file inside the directory open (/proc/*/fd);
//! - another `amber restore` holds the directory's restore lock.

use std::fs::File;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

#[derive(Debug)]
pub struct User {
    pub pid: u32,
    pub name: String,
    pub how: String,
}

fn comm(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "?".into())
}

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// This process's parent, grandparent, ...: the shell that ran us may well sit in the data
/// directory, and is no server.
fn ancestors() -> Vec<u32> {
    let mut out = Vec::new();
    let mut pid = std::process::id();
    for _ in 0..64 {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            break;
        };
        // pid (comm) state ppid ...: comm may hold spaces and parentheses.
        let Some(ppid) = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            break;
        };
        if ppid <= 1 {
            break;
        }
        out.push(ppid);
        pid = ppid;
    }
    out
}

/// Processes using `dir` (canonical path), other than this one and its ancestors.
pub fn users(dir: &Path, pidfile: Option<&Path>) -> Vec<User> {
    let me = std::process::id();
    let skip = ancestors();
    let mut out = Vec::new();
    if let Some(pf) = pidfile {
        if let Ok(s) = std::fs::read_to_string(pf) {
            if let Ok(pid) = s.trim().parse::<u32>() {
                if pid != me && alive(pid) {
                    out.push(User {
                        pid,
                        name: comm(pid),
                        how: format!("its pid is in {}", pf.display()),
                    });
                }
            }
        }
    }
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return out;
    };
    for p in procs.flatten() {
        let Some(pid) = p.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if pid == me || skip.contains(&pid) || out.iter().any(|u| u.pid == pid) {
            continue;
        }
        if std::fs::read_link(p.path().join("cwd")).is_ok_and(|c| c == dir) {
            out.push(User {
                pid,
                name: comm(pid),
                how: "its working directory is the data directory".into(),
            });
            continue;
        }
        if let Ok(fds) = std::fs::read_dir(p.path().join("fd")) {
            for fd in fds.flatten() {
                if let Ok(target) = std::fs::read_link(fd.path()) {
                    if target.starts_with(dir) && target != dir {
                        out.push(User {
                            pid,
                            name: comm(pid),
                            how: format!("it has {} open", target.display()),
                        });
                        break;
                    }
                }
            }
        }
    }
    out
}

/// An exclusive lock on DIR/.amber-restore.lock for the duration of a restore.
pub struct Lock {
    _file: File,
    pub path: PathBuf,
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

pub fn lock(dir: &Path) -> Result<Lock, String> {
    let path = dir.join(".amber-restore.lock");
    let f = File::create(&path).map_err(|e| format!("can't create {}: {e}", path.display()))?;
    // SAFETY: flock on a descriptor we own.
    let r = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if r != 0 {
        return Err(format!(
            "another restore holds {} ({})",
            path.display(),
            std::io::Error::last_os_error()
        ));
    }
    Ok(Lock { _file: f, path })
}
