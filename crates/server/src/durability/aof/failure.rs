//! When the AOF cannot be written: the failure's code and text (MISCONF), the retry of a
//! failed write, and the refusal after a failed fsync.
//!
//! ```text
//!   write fails (any policy) ─▶ cut back to the last whole command (writer.rs)
//!       ─▶ the bytes come back to `buf` (`take_writer_failure`) ─▶ MISCONF for writes;
//!          the clients whose own writes it holds wait, every other reply goes out
//!       ─▶ cron, once a second: `retry_write` ─▶ success clears the failure
//!   fsync fails  ─▶ always: exit before acknowledging anything it may have lost
//!                ─▶ everysec / no / a rewrite's flush: `poison`: MISCONF until a rewrite
//!                   has written the AOF again from memory (never a retried fsync)
//! ```

use std::time::{Duration, Instant};

use super::Aof;
use crate::config::AppendFsync;
use crate::server::Server;

impl Aof {
    /// The writer thread could not write what was queued: those bytes (and any queued after
    /// them) come back to the front of `buf`, the accounting goes back to where they
    /// started, and writes are refused until the cron's retry succeeds on this thread.
    pub(super) fn take_writer_failure(&mut self) {
        let failed = match self.shared.write_failed.lock() {
            Ok(mut f) => f.take(),
            Err(e) => e.into_inner().take(),
        };
        let Some(f) = failed else {
            return;
        };
        let data = {
            let mut p = match self.shared.pending.lock() {
                Ok(p) => p,
                Err(e) => e.into_inner(),
            };
            std::mem::take(&mut p.data)
        };
        self.shared.wake.notify_all();
        let n = data.len() as u64;
        self.file_len = self.file_len.saturating_sub(n);
        self.current_size = self.current_size.saturating_sub(n);
        self.written = self.written.saturating_sub(n);
        let mut buf = data;
        buf.extend_from_slice(&self.buf);
        self.buf = buf;
        self.write_tried_at = Instant::now();
        self.set_write_failure(Some(f));
    }

    /// Enters or leaves the state where a failed write waits for its retry (MISCONF for
    /// writes meanwhile), logging the change as Redis does.
    pub(super) fn set_write_failure(&mut self, f: Option<AofFailure>) {
        match (&self.write_failure, &f) {
            (None, Some(f)) => self.log.warning(&format!(
                "{} {}: Error writing to the AOF file: {}. Writes get MISCONF and the write is \
                 retried every second; reads are served meanwhile.",
                f.code, f.name, f.reason
            )),
            (Some(_), None) => self
                .log
                .notice("AOF write error looks solved, Amber can write again."),
            _ => {}
        }
        let blocked = f.is_some();
        self.write_failure = f;
        self.shared.write_blocked.send_if_modified(|b| {
            let changed = *b != blocked;
            *b = blocked;
            changed
        });
    }

    /// The cron's retry of a failed write, once a second (Redis's serverCron does the same).
    pub(crate) fn retry_write(&mut self, policy: AppendFsync) {
        self.take_writer_failure();
        if self.write_failure.is_none() || self.write_tried_at.elapsed() < Duration::from_secs(1) {
            return;
        }
        if self.buf.is_empty() {
            self.set_write_failure(None);
            return;
        }
        if policy == AppendFsync::Always {
            // On this thread, so that its success clears the failure at once.
            self.wait_writer_idle();
            if self.write_failure.is_some() && !self.buf.is_empty() {
                self.write_and_sync_here();
            }
        } else {
            self.flush_now(policy, false);
        }
    }

    /// An fsync failed: the kernel may have dropped those pages, and a retried fsync would
    /// say nothing about them. Writes are refused until a rewrite has written fresh files
    /// (the cron schedules it).
    pub(super) fn poison(&mut self, f: AofFailure) {
        self.log.warning(&format!(
            "{} {}: Error syncing the AOF file: {}. Writes are refused until a rewrite has written the AOF again from memory.",
            f.code, f.name, f.reason
        ));
        self.fsync_poisoned = Some(f);
        self.poisoned_at = Some(Instant::now());
    }

    /// A failure reported by the background thread (always: write or fsync; everysec: fsync).
    pub(crate) fn take_background_failure(&self) -> Option<AofFailure> {
        match self.shared.failed.lock() {
            Ok(mut f) => f.take(),
            Err(e) => e.into_inner().take(),
        }
    }

    /// When the fsync failure that refuses writes happened.
    pub(crate) fn poisoned_since(&self) -> Option<Instant> {
        self.fsync_poisoned.as_ref().and(self.poisoned_at)
    }

    /// Why writes are refused, if they are.
    pub(crate) fn refusal(&self) -> Option<&AofFailure> {
        self.fsync_poisoned.as_ref().or(self.write_failure.as_ref())
    }
}

/// Why writes are refused, with the code users look up.
#[derive(Clone, Debug)]
pub(crate) struct AofFailure {
    pub(crate) code: &'static str,
    pub(crate) name: &'static str,
    /// strerror text, as Redis puts it in its MISCONF reply.
    pub(crate) reason: String,
}

impl AofFailure {
    pub(crate) fn from_io(e: &std::io::Error) -> AofFailure {
        let code = amber_persist::PCode::from_io(e);
        AofFailure {
            code: code.code(),
            name: code.name(),
            reason: strerror_of(e),
        }
    }
}

/// An I/O error as Redis prints it: the C library's text for its errno (`strerror`).
pub(crate) fn strerror_of(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => strerror(n),
        None => e.to_string(),
    }
}

/// The C library's text for an errno (what Redis prints), without Rust's " (os error N)".
pub(crate) fn strerror(errno: i32) -> String {
    let s = std::io::Error::from_raw_os_error(errno).to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// MISCONF for AOF errors: writes are refused while the AOF cannot be written.
pub(crate) fn writes_denied(srv: &Server) -> Option<String> {
    let f = srv.aof.as_ref()?.refusal()?;
    Some(format!(
        "MISCONF Errors writing to the AOF file: {}",
        f.reason
    ))
}

/// Called when a background write or fsync failed under `always`: the writes of that batch
/// were not acknowledged, and none may be from now on. Redis exits; so does Amber.
pub(crate) fn fail_always(log: &crate::sys::log::Logger, e: &std::io::Error) -> ! {
    let f = AofFailure::from_io(e);
    log.warning(&format!(
        "{} {}: Can't recover from AOF write error when the AOF fsync policy is 'always'. Exiting... ({})",
        f.code, f.name, f.reason
    ));
    std::process::exit(1);
}
