//! Logging in Redis's format: `pid:M 25 Nov 2026 06:42:49.123 * message`, to stdout or to the
//! `logfile`, filtered by `loglevel`.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::config::LogLevel;

#[derive(Clone)]
pub(crate) struct Logger {
    level: LogLevel,
    sink: Arc<Mutex<Option<File>>>,
    /// syslog-enabled: every line also goes to syslog (as the message alone).
    syslog: bool,
}

impl Logger {
    /// Opens the log. An empty `logfile` means stdout.
    pub(crate) fn open(level: LogLevel, logfile: &str) -> std::io::Result<Logger> {
        let file = if logfile.is_empty() {
            None
        } else {
            Some(OpenOptions::new().create(true).append(true).open(logfile)?)
        };
        Ok(Logger {
            level,
            sink: Arc::new(Mutex::new(file)),
            syslog: false,
        })
    }

    /// Also logs to syslog with this ident and facility (one of config::SYSLOG_FACILITIES).
    pub(crate) fn enable_syslog(&mut self, ident: &str, facility: &str) {
        let facility = match facility {
            "user" => libc::LOG_USER,
            "local1" => libc::LOG_LOCAL1,
            "local2" => libc::LOG_LOCAL2,
            "local3" => libc::LOG_LOCAL3,
            "local4" => libc::LOG_LOCAL4,
            "local5" => libc::LOG_LOCAL5,
            "local6" => libc::LOG_LOCAL6,
            "local7" => libc::LOG_LOCAL7,
            _ => libc::LOG_LOCAL0,
        };
        let ident: Vec<u8> = ident.bytes().filter(|b| *b != 0).collect();
        let Ok(ident) = std::ffi::CString::new(ident) else {
            return;
        };
        // openlog keeps the pointer: the ident lives as long as the process.
        let ident: &'static std::ffi::CStr = Box::leak(ident.into_boxed_c_str());
        // SAFETY: a NUL-terminated ident that is never freed, and valid option flags.
        unsafe {
            libc::openlog(
                ident.as_ptr(),
                libc::LOG_PID | libc::LOG_NDELAY | libc::LOG_NOWAIT,
                facility,
            );
        }
        self.syslog = true;
    }

    pub(crate) fn set_level(&mut self, level: LogLevel) {
        self.level = level;
    }

    pub(crate) fn enabled(&self, level: LogLevel) -> bool {
        level >= self.level && self.level != LogLevel::Nothing
    }

    pub(crate) fn log(&self, level: LogLevel, msg: &str) {
        if !self.enabled(level) {
            return;
        }
        let mark = match level {
            LogLevel::Debug => '.',
            LogLevel::Verbose => '-',
            LogLevel::Notice => '*',
            LogLevel::Warning | LogLevel::Nothing => '#',
        };
        let line = format_line(mark, msg);
        if self.syslog {
            let prio = match level {
                LogLevel::Debug => libc::LOG_DEBUG,
                LogLevel::Verbose => libc::LOG_INFO,
                LogLevel::Notice => libc::LOG_NOTICE,
                LogLevel::Warning | LogLevel::Nothing => libc::LOG_WARNING,
            };
            let text: Vec<u8> = msg.bytes().filter(|b| *b != 0).collect();
            if let Ok(text) = std::ffi::CString::new(text) {
                // SAFETY: a constant "%s" format with one NUL-terminated argument.
                unsafe {
                    libc::syslog(prio, c"%s".as_ptr(), text.as_ptr());
                }
            }
        }
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

    /// Writes `text` as it is, without the `pid:M date mark` prefix (Redis's LL_RAW).
    pub(crate) fn raw(&self, level: LogLevel, text: &str) {
        if !self.enabled(level) {
            return;
        }
        let mut sink = match self.sink.lock() {
            Ok(s) => s,
            Err(p) => p.into_inner(),
        };
        match sink.as_mut() {
            Some(f) => {
                let _ = f.write_all(text.as_bytes());
            }
            None => {
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(text.as_bytes());
                let _ = out.flush();
            }
        }
    }

    pub(crate) fn notice(&self, msg: &str) {
        self.log(LogLevel::Notice, msg);
    }

    pub(crate) fn warning(&self, msg: &str) {
        self.log(LogLevel::Warning, msg);
    }

    pub(crate) fn verbose(&self, msg: &str) {
        self.log(LogLevel::Verbose, msg);
    }
}

/// Whether this server replicates a master: its lines carry the role letter `S`, else `M`
/// (one server per process, as Redis's `server.masterhost`).
static REPLICA: AtomicBool = AtomicBool::new(false);

/// The role of the lines that follow: a replica's (`S`) or a master's (`M`).
pub(crate) fn set_replica(replica: bool) {
    REPLICA.store(replica, Ordering::Relaxed);
}

/// One log line: `pid:M 25 Nov 2026 06:42:49.123 # message` and its newline (`S` for M on
/// a replica).
pub(crate) fn format_line(mark: char, msg: &str) -> String {
    let role = if REPLICA.load(Ordering::Relaxed) {
        'S'
    } else {
        'M'
    };
    format!(
        "{}:{role} {} {} {}\n",
        std::process::id(),
        timestamp(),
        mark,
        msg
    )
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

/// Redis's start-up logo (asciilogo.h, printed by redisAsciiArt) with Amber's name and
/// version where Redis names itself; the mode, Port and PID lines are Redis's, exactly.
pub(crate) fn ascii_logo(port: u16, pid: u32) -> String {
    let title = format!(
        "Amber {} (Redis {} compatible) 64 bit",
        crate::AMBER_VERSION,
        crate::REDIS_VERSION
    );
    let lines: [(&str, String); 17] = [
        (
            "                _._                                                  ",
            String::new(),
        ),
        (
            "           _.-``__ ''-._                                             ",
            String::new(),
        ),
        ("      _.-``    `.  `_.  ''-._           ", title),
        (
            "  .-`` .-```.  ```\\/    _.,_ ''-._                                  ",
            String::new(),
        ),
        (
            " (    '      ,       .-`  | `,    )     ",
            "Running in standalone mode".into(),
        ),
        (
            " |`-._`-...-` __...-.``-._|'` _.-'|     ",
            format!("Port: {port}"),
        ),
        (
            " |    `-._   `._    /     _.-'    |     ",
            format!("PID: {pid}"),
        ),
        (
            "  `-._    `-._  `-./  _.-'    _.-'                                   ",
            String::new(),
        ),
        (
            " |`-._`-._    `-.__.-'    _.-'_.-'|                                  ",
            String::new(),
        ),
        (
            " |    `-._`-._        _.-'_.-'    |           ",
            "Amber, Redis-compatible       ".into(),
        ),
        (
            "  `-._    `-._`-.__.-'_.-'    _.-'                                   ",
            String::new(),
        ),
        (
            " |`-._`-._    `-.__.-'    _.-'_.-'|                                  ",
            String::new(),
        ),
        (
            " |    `-._`-._        _.-'_.-'    |                                  ",
            String::new(),
        ),
        (
            "  `-._    `-._`-.__.-'_.-'    _.-'                                   ",
            String::new(),
        ),
        (
            "      `-._    `-.__.-'    _.-'                                       ",
            String::new(),
        ),
        (
            "          `-._        _.-'                                           ",
            String::new(),
        ),
        (
            "              `-.__.-'                                               ",
            String::new(),
        ),
    ];
    let mut out = String::new();
    for (art, text) in lines {
        out.push_str(art);
        out.push_str(&text);
        out.push('\n');
    }
    out.push('\n');
    out
}
