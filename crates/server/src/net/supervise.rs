//! Running as a service, as redis-server does: `daemonize` (detach, pid file), `supervised`
//! (tell systemd or upstart when the server is ready and when it stops), and the line that
//! says the server is ready.
//!
//! Forking here is not a snapshot: it happens once, before any thread or the event loop
//! exists, exactly as Redis daemonizes.

use std::sync::OnceLock;

use crate::config::{Config, Supervised};
use crate::sys::log::Logger;

/// Redis's pid file when daemonized without `pidfile`.
pub(crate) const DEFAULT_PID_FILE: &str = "/var/run/redis.pid";

/// The supervision in effect (`supervised auto` resolved), set once at start.
static MODE: OnceLock<Supervised> = OnceLock::new();

/// Resolves `supervised` from the environment as Redis's redisIsSupervised, and decides
/// whether to detach. Call before any thread is started: it may fork.
pub(crate) fn start(config: &mut Config, log: &Logger) -> Result<(), String> {
    let upstart = std::env::var_os("UPSTART_JOB").is_some();
    let systemd = std::env::var_os("NOTIFY_SOCKET").is_some();
    let mode = match config.supervised {
        Supervised::No => Supervised::No,
        Supervised::Auto if upstart => Supervised::Upstart,
        Supervised::Auto if systemd => Supervised::Systemd,
        Supervised::Auto => Supervised::No,
        Supervised::Upstart if !upstart => {
            log.warning("upstart supervision requested, but UPSTART_JOB not found!");
            Supervised::No
        }
        Supervised::Systemd if !systemd => {
            log.warning("systemd supervision requested or auto-detected, but NOTIFY_SOCKET environment variable not found!");
            Supervised::No
        }
        m => m,
    };
    let _ = MODE.set(mode);
    match mode {
        Supervised::Upstart => log.notice("supervised by upstart, will stop to signal readiness."),
        Supervised::Systemd => log.notice("Supervised by systemd. Please make sure you set appropriate values for TimeoutStartSec and TimeoutStopSec in your service unit."),
        _ => {}
    }
    let background = config.daemonize && mode == Supervised::No;
    if background {
        if config.pidfile.is_empty() {
            config.pidfile = DEFAULT_PID_FILE.to_string();
        }
        daemonize()?;
    }
    Ok(())
}

/// Detaches from the terminal: the parent exits, the child starts a new session and points
/// its standard streams at /dev/null (a log to stdout goes nowhere, as in Redis).
fn daemonize() -> Result<(), String> {
    // SAFETY: called before any other thread exists; the child only continues single-threaded.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!(
            "Can't daemonize: fork: {}",
            std::io::Error::last_os_error()
        ));
    }
    if pid > 0 {
        std::process::exit(0);
    }
    // SAFETY: plain syscalls on descriptors this process owns.
    unsafe {
        libc::setsid();
        let fd = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR, 0);
        if fd != -1 {
            libc::dup2(fd, libc::STDIN_FILENO);
            libc::dup2(fd, libc::STDOUT_FILENO);
            libc::dup2(fd, libc::STDERR_FILENO);
            if fd > libc::STDERR_FILENO {
                libc::close(fd);
            }
        }
    }
    Ok(())
}

fn mode() -> Supervised {
    MODE.get().copied().unwrap_or(Supervised::No)
}

/// The dataset is loaded and clients are served: log it and tell the supervisor.
pub(crate) fn ready(log: &Logger) {
    log.notice("Ready to accept connections tcp");
    match mode() {
        Supervised::Systemd => {
            notify_systemd(log, "STATUS=Ready to accept connections\nREADY=1\n");
        }
        Supervised::Upstart => {
            std::env::remove_var("UPSTART_JOB");
            // SAFETY: raising a signal at ourselves; upstart resumes us with SIGCONT.
            unsafe {
                libc::raise(libc::SIGSTOP);
            }
        }
        _ => {}
    }
}

/// The server is shutting down: systemd hears STOPPING=1.
pub(crate) fn stopping(log: &Logger) {
    if mode() == Supervised::Systemd {
        notify_systemd(log, "STOPPING=1\n");
    }
}

/// sd_notify: one datagram to $NOTIFY_SOCKET (a path, or `@name` in the abstract namespace).
fn notify_systemd(log: &Logger, msg: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let r = (|| -> std::io::Result<()> {
        let sock = std::os::unix::net::UnixDatagram::unbound()?;
        let bytes = std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str());
        if let Some(name) = bytes.strip_prefix(b"@") {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
            sock.send_to_addr(msg.as_bytes(), &addr)?;
        } else {
            sock.send_to(msg.as_bytes(), &path)?;
        }
        Ok(())
    })();
    if let Err(e) = r {
        log.warning(&format!("Can't send notification to systemd: {e}"));
    }
}

/// Redis's warning when the kernel caps tcp-backlog below the configured value.
pub(crate) fn check_backlog(config: &Config, log: &Logger) {
    let Ok(text) = std::fs::read_to_string("/proc/sys/net/core/somaxconn") else {
        return;
    };
    if let Ok(max) = text.trim().parse::<i64>() {
        if max < i64::from(config.tcp_backlog) {
            log.warning(&format!(
                "WARNING: The TCP backlog setting of {} cannot be enforced because /proc/sys/net/core/somaxconn is set to the lower value of {}.",
                config.tcp_backlog, max
            ));
        }
    }
}
