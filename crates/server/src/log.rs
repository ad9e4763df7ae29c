//! Logging in Redis's format: `pid:M 25 Nov 2026 06:42:49.123 * message`, to stdout or to the
//! `logfile`, filtered by `loglevel`.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::sync::{Arc, Mutex};

use crate::config::LogLevel;

#[derive(Clone)]
pub struct Logger {
    level: LogLevel,
    sink: Arc<Mutex<Option<File>>>,
}

impl Logger {
    /// Opens the log. An empty `logfile` means stdout.
    pub fn open(level: LogLevel, logfile: &str) -> std::io::Result<Logger> {
        let file = if logfile.is_empty() {
            None
        } else {
            Some(OpenOptions::new().create(true).append(true).open(logfile)?)
        };
        Ok(Logger {
            level,
            sink: Arc::new(Mutex::new(file)),
        })
    }

    pub fn set_level(&mut self, level: LogLevel) {
        self.level = level;
    }

    pub fn enabled(&self, level: LogLevel) -> bool {
        level >= self.level && self.level != LogLevel::Nothing
    }

    pub fn log(&self, level: LogLevel, msg: &str) {
        if !self.enabled(level) {
            return;
        }
        let mark = match level {
            LogLevel::Debug => '.',
            LogLevel::Verbose => '-',
            LogLevel::Notice => '*',
            LogLevel::Warning | LogLevel::Nothing => '#',
        };
        let line = format!(
            "{}:M {} {} {}\n",
            std::process::id(),
            timestamp(),
            mark,
            msg
        );
        let mut sink = match self.sink.lock() {
            Ok(s) => s,
            Err(p) => p.into_inner(),
        };
        match sink.as_mut() {
            Some(f) => {
                let _ = f.write_all(line.as_bytes());
            }
            None => {
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(line.as_bytes());
                let _ = out.flush();
            }
        }
    }

    pub fn notice(&self, msg: &str) {
        self.log(LogLevel::Notice, msg);
    }

    pub fn warning(&self, msg: &str) {
        self.log(LogLevel::Warning, msg);
    }

    pub fn verbose(&self, msg: &str) {
        self.log(LogLevel::Verbose, msg);
    }
}

/// `25 Nov 2026 06:42:49.123` in local time, as Redis prints it.
fn timestamp() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as libc::time_t;
    // SAFETY: localtime_r writes into the tm we own and reads only `secs`.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    unsafe {
        libc::localtime_r(&secs, &mut tm);
    }
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{:02} {} {} {:02}:{:02}:{:02}.{:03}",
        tm.tm_mday,
        MONTHS[(tm.tm_mon.clamp(0, 11)) as usize],
        tm.tm_year + 1900,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        now.subsec_millis()
    )
}
