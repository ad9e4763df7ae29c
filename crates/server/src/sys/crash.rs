//! Crash reports, as Redis's debug.c writes them: on SIGSEGV, SIGBUS, SIGFPE, SIGILL or
//! SIGABRT, on a panic in any thread, and on DEBUG SEGFAULT / PANIC / ASSERT, the log gets
//! a report between Redis's BUG REPORT START and END markers (what happened, the stack trace,
//! INFO, the clients, the command being run), then the process ends by the signal (a panic
//! ends by SIGABRT, as Redis's serverPanic), so core dumps and supervisors see the truth.
//!
//! Nothing here may hang the process. The thread that crashed only records what happened,
//! captures its backtrace and wakes the reporter, a thread started with the server that does
//! the writing (so the crashed thread's small signal stack is not used for it). Whatever
//! goes wrong in the report, the crashed thread waits a bounded time and then re-raises;
//! the reporter kills the process too if the crashed thread never gets that far.
//!
//! INFO and CLIENT LIST cannot be rendered at the crash (the server state belongs to the
//! thread that may have crashed): the cron caches them every second and the report prints
//! the cached copy with its age. Nothing is written to the AOF here: what was written stays,
//! and no partial record is added.

use std::ffi::CString;
use std::fmt::Write as _;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, AtomicPtr, AtomicU64, AtomicUsize};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// The signals a crash report is written for (Redis's setupSignalHandlers).
const CRASH_SIGNALS: [libc::c_int; 5] = [
    libc::SIGSEGV,
    libc::SIGBUS,
    libc::SIGFPE,
    libc::SIGILL,
    libc::SIGABRT,
];
/// The main thread's alternate signal stack: room for the handler and an unwind.
const ALT_STACK_SIZE: usize = 256 * 1024;
/// How long the crashed thread waits for the report before it re-raises anyway.
const REPORT_DEADLINE: Duration = Duration::from_secs(15);
/// How long the reporter waits for the crashed thread's backtrace.
const BACKTRACE_DEADLINE: Duration = Duration::from_secs(3);
/// At most this many clients are cached for the report's CLIENT LIST.
pub(crate) const MAX_CACHED_CLIENTS: usize = 100;

/// Where the report goes: the `logfile` (None: stdout), and syslog when enabled.
struct Target {
    logfile: Option<CString>,
    syslog: bool,
    /// crash-log-enabled: the full report; otherwise only the panic's own lines.
    full: bool,
}

static TARGET: OnceLock<Target> = OnceLock::new();
/// The pipe end that wakes the reporter (written from the crashed thread).
static WAKE_FD: AtomicI32 = AtomicI32::new(-1);
static CRASHING: AtomicBool = AtomicBool::new(false);
static BACKTRACE_READY: AtomicBool = AtomicBool::new(false);
static REPORT_DONE: AtomicBool = AtomicBool::new(false);
static MAIN_TID: AtomicI64 = AtomicI64::new(0);
static CRASH_TID: AtomicI64 = AtomicI64::new(0);
static SIGNAL: AtomicI32 = AtomicI32::new(0);
static SI_CODE: AtomicI32 = AtomicI32::new(0);
static SI_ADDR: AtomicUsize = AtomicUsize::new(0);
static SI_PID: AtomicI32 = AtomicI32::new(0);
static SI_UID: AtomicU64 = AtomicU64::new(0);
static BACKTRACE: Mutex<Option<std::backtrace::Backtrace>> = Mutex::new(None);
/// A panic's lines (set before the reporter is woken; None for a signal).
static PANIC: Mutex<Option<Vec<String>>> = Mutex::new(None);
/// The command the main thread is running: its arguments and client id.
static CURRENT_ARGS: AtomicPtr<Vec<u8>> = AtomicPtr::new(std::ptr::null_mut());
static CURRENT_ARGC: AtomicUsize = AtomicUsize::new(0);
static CURRENT_CLIENT: AtomicU64 = AtomicU64::new(0);

/// INFO and CLIENT LIST as the cron last rendered them.
struct Cache {
    info: String,
    clients: String,
    at_ms: i64,
}

static CACHE: Mutex<Cache> = Mutex::new(Cache {
    info: String::new(),
    clients: String::new(),
    at_ms: 0,
});
static CACHE_DUE_MS: AtomicI64 = AtomicI64::new(0);

/// A failed assertion (DEBUG ASSERT): reported as Redis's "ASSERTION FAILED".
pub(crate) struct Assertion {
    pub(crate) expr: &'static str,
    pub(crate) file: &'static str,
    pub(crate) line: u32,
}

/// Installs the panic hook and (with crash-log-enabled) the signal handlers, on the main
/// thread, before anything else runs; starts the reporter thread.
pub(crate) fn install(logfile: &str, syslog: bool, crash_log_enabled: bool) {
    let logfile = (!logfile.is_empty())
        .then(|| CString::new(logfile.as_bytes().to_vec()).ok())
        .flatten();
    let _ = TARGET.set(Target {
        logfile,
        syslog,
        full: crash_log_enabled,
    });
    MAIN_TID.store(gettid(), SeqCst);
    if let Err(e) = start_reporter() {
        log_line(&format!("Can't start the crash reporter: {e}"));
        return;
    }
    std::panic::set_hook(Box::new(on_panic));
    if crash_log_enabled {
        install_alt_stack();
        for sig in CRASH_SIGNALS {
            // SAFETY: a handler with the SA_SIGINFO signature, installed for a fatal signal.
            unsafe {
                let mut act: libc::sigaction = std::mem::zeroed();
                act.sa_sigaction = on_signal as *const () as usize;
                act.sa_flags =
                    libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_NODEFER | libc::SA_RESETHAND;
                libc::sigemptyset(&mut act.sa_mask);
                libc::sigaction(sig, &act, std::ptr::null_mut());
            }
        }
    }
}

/// The main thread's signal stack, big enough for the handler (a thread Amber does not
/// start keeps the one Rust gave it).
fn install_alt_stack() {
    // SAFETY: a fresh private mapping that is never unmapped (the main thread lives as long
    // as the process), handed to sigaltstack with its exact size.
    unsafe {
        let p = libc::mmap(
            std::ptr::null_mut(),
            ALT_STACK_SIZE,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        if p == libc::MAP_FAILED {
            return;
        }
        let st = libc::stack_t {
            ss_sp: p,
            ss_flags: 0,
            ss_size: ALT_STACK_SIZE,
        };
        libc::sigaltstack(&st, std::ptr::null_mut());
    }
}

fn start_reporter() -> std::io::Result<()> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills the two descriptors we pass.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    WAKE_FD.store(fds[1], SeqCst);
    let read_fd = fds[0];
    std::thread::Builder::new()
        .name("crash-report".into())
        .spawn(move || {
            let mut b = 0u8;
            loop {
                // SAFETY: a one-byte read into a byte we own.
                let n = unsafe { libc::read(read_fd, (&mut b as *mut u8).cast(), 1) };
                if n == 1 {
                    break;
                }
                if n == 0 {
                    return;
                }
            }
            write_report();
            REPORT_DONE.store(true, SeqCst);
            // The crashed thread re-raises now; if it cannot (it hangs in the handler),
            // end the process by its signal from here.
            std::thread::sleep(REPORT_DEADLINE + Duration::from_secs(5));
            let sig = SIGNAL.load(SeqCst);
            die(if sig == 0 { libc::SIGABRT } else { sig });
        })?;
    Ok(())
}

fn gettid() -> i64 {
    // SAFETY: gettid has no arguments and cannot fail.
    unsafe { libc::syscall(libc::SYS_gettid) }
}

/// The fatal-signal handler: record, wake the reporter, capture the stack, wait, re-raise.
extern "C" fn on_signal(sig: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    if CRASHING.swap(true, SeqCst) {
        // Another thread is reporting; it ends the process.
        wait_for(&REPORT_DONE, REPORT_DEADLINE * 2);
        die(sig);
    }
    SIGNAL.store(sig, SeqCst);
    CRASH_TID.store(gettid(), SeqCst);
    if !info.is_null() {
        // SAFETY: the kernel's siginfo for this signal; si_pid/si_uid are read as the
        // union's kill fields, which is what they are for SI_USER.
        unsafe {
            SI_CODE.store((*info).si_code, SeqCst);
            SI_ADDR.store((*info).si_addr() as usize, SeqCst);
            SI_PID.store((*info).si_pid(), SeqCst);
            SI_UID.store(u64::from((*info).si_uid()), SeqCst);
        }
    }
    wake_reporter();
    capture_backtrace();
    wait_for(&REPORT_DONE, REPORT_DEADLINE);
    die(sig);
}

/// use-exit-on-panic: a panic ends with exit code 1 instead of SIGABRT (Redis's bugReportEnd
/// for a panic or assertion; a fault signal still ends by its signal).
static EXIT_ON_PANIC: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub(crate) fn set_exit_on_panic(on: bool) {
    EXIT_ON_PANIC.store(on, SeqCst);
}

/// Ends the process after a panic's report: SIGABRT, or exit code 1 under use-exit-on-panic.
fn end_panic() -> ! {
    if EXIT_ON_PANIC.load(SeqCst) {
        // SAFETY: _exit is async-signal-safe and ends the process at once.
        unsafe { libc::_exit(1) }
    }
    die(libc::SIGABRT)
}

/// The panic hook: the same report, then SIGABRT (Redis's serverPanic ends in abort()).
fn on_panic(info: &std::panic::PanicHookInfo<'_>) {
    if CRASHING.swap(true, SeqCst) {
        wait_for(&REPORT_DONE, REPORT_DEADLINE * 2);
        end_panic();
    }
    CRASH_TID.store(gettid(), SeqCst);
    let place = info
        .location()
        .map(|l| format!("{}:{}", l.file(), l.line()))
        .unwrap_or_default();
    let payload = info.payload();
    let lines = if let Some(a) = payload.downcast_ref::<Assertion>() {
        vec![
            "=== ASSERTION FAILED ===".to_string(),
            format!("==> {}:{} '{}' is not true", a.file, a.line, a.expr),
        ]
    } else {
        let msg = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "Box<dyn Any>".into());
        let thread = std::thread::current();
        vec![
            "------------------------------------------------".to_string(),
            "!!! Software Failure. Press left mouse button to continue".to_string(),
            format!("Guru Meditation: {msg} #{place}"),
            format!(
                "Panicked in thread '{}'",
                thread.name().unwrap_or("<unnamed>")
            ),
        ]
    };
    if let Ok(mut p) = PANIC.lock() {
        *p = Some(lines);
    }
    wake_reporter();
    capture_backtrace();
    wait_for(&REPORT_DONE, REPORT_DEADLINE);
    end_panic();
}

fn wake_reporter() {
    let fd = WAKE_FD.load(SeqCst);
    if fd >= 0 {
        // SAFETY: write(2) of one byte we own; async-signal-safe.
        unsafe {
            libc::write(fd, b"!".as_ptr().cast(), 1);
        }
    }
}

fn capture_backtrace() {
    let full = TARGET.get().is_some_and(|t| t.full);
    if full {
        let bt = std::backtrace::Backtrace::force_capture();
        if let Ok(mut slot) = BACKTRACE.try_lock() {
            *slot = Some(bt);
        }
    }
    BACKTRACE_READY.store(true, SeqCst);
}

/// Sleeps until `flag` is set or `limit` passes (nanosleep: async-signal-safe).
fn wait_for(flag: &AtomicBool, limit: Duration) {
    let step = libc::timespec {
        tv_sec: 0,
        tv_nsec: 10_000_000,
    };
    let steps = limit.as_millis() / 10;
    for _ in 0..steps {
        if flag.load(SeqCst) {
            return;
        }
        // SAFETY: nanosleep with a valid timespec and no remainder wanted.
        unsafe {
            libc::nanosleep(&step, std::ptr::null_mut());
        }
    }
}

/// Ends the process by `sig` with its default action (a core dump where enabled).
fn die(sig: libc::c_int) -> ! {
    // SAFETY: restores the default action, unblocks the signal and raises it; all
    // async-signal-safe. _exit is the last resort if the signal does not end the process.
    unsafe {
        let mut act: libc::sigaction = std::mem::zeroed();
        act.sa_sigaction = libc::SIG_DFL;
        libc::sigemptyset(&mut act.sa_mask);
        libc::sigaction(sig, &act, std::ptr::null_mut());
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, sig);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        libc::raise(sig);
        libc::kill(libc::getpid(), sig);
        libc::_exit(128 + sig)
    }
}

/// Records the command the main thread is about to run (None: it finished).
pub(crate) fn set_current(client: u64, args: Option<&[Vec<u8>]>) {
    match args {
        Some(a) => {
            CURRENT_CLIENT.store(client, SeqCst);
            CURRENT_ARGC.store(a.len(), SeqCst);
            CURRENT_ARGS.store(a.as_ptr().cast_mut(), SeqCst);
        }
        None => CURRENT_ARGS.store(std::ptr::null_mut(), SeqCst),
    }
}

/// Whether the cron should refresh the cached INFO (once a second).
pub(crate) fn cache_due(now_ms: i64) -> bool {
    now_ms >= CACHE_DUE_MS.load(SeqCst)
}

/// The cron's copy of INFO and CLIENT LIST for a report.
pub(crate) fn cache(info: String, clients: String, now_ms: i64) {
    CACHE_DUE_MS.store(now_ms.saturating_add(1000), SeqCst);
    if let Ok(mut c) = CACHE.try_lock() {
        *c = Cache {
            info,
            clients,
            at_ms: now_ms,
        };
    }
}

/// Writes a DEBUG SEGFAULT: a store into a read-only page (Redis does the same).
pub(crate) fn segfault() -> ! {
    // SAFETY: deliberately faults: the page is mapped read-only (or the map failed and the
    // address is invalid); the SIGSEGV handler reports and ends the process.
    unsafe {
        let p = libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        ) as *mut u8;
        std::ptr::write_volatile(p, b'x');
    }
    // Not reached unless the store did not fault.
    die(libc::SIGSEGV)
}

// ---- the report (on the reporter thread) ----

fn write_report() {
    let full = TARGET.get().is_none_or(|t| t.full);
    raw("\n\n=== REDIS BUG REPORT START: Cut & paste starting from here ===\n");
    let panic = PANIC.lock().ok().and_then(|mut p| p.take());
    match panic {
        Some(lines) => {
            for l in lines {
                log_line(&l);
            }
        }
        None => signal_lines(),
    }
    if full {
        stack_trace();
        cached_info();
        current_client();
    }
    raw(concat!(
        "\n=== REDIS BUG REPORT END. Make sure to include from START to END. ===\n\n",
        "       Please report the crash by opening an issue with the Amber project,\n",
        "       with this report, the server's version (amber-server --version) and\n",
        "       what it was doing.\n\n"
    ));
}

fn signal_lines() {
    let sig = SIGNAL.load(SeqCst);
    log_line(&format!(
        "Amber {} crashed by signal: {}, si_code: {}",
        crate::AMBER_VERSION,
        sig,
        SI_CODE.load(SeqCst)
    ));
    if sig == libc::SIGSEGV || sig == libc::SIGBUS {
        log_line(&format!("Accessing address: {:#x}", SI_ADDR.load(SeqCst)));
    }
    if SI_CODE.load(SeqCst) == libc::SI_USER {
        log_line(&format!(
            "Killed by PID: {}, UID: {}",
            SI_PID.load(SeqCst),
            SI_UID.load(SeqCst)
        ));
    }
}

fn stack_trace() {
    raw("\n------ STACK TRACE ------\n");
    let steps = BACKTRACE_DEADLINE.as_millis() / 10;
    for _ in 0..steps {
        if BACKTRACE_READY.load(SeqCst) {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let thread = if CRASH_TID.load(SeqCst) == MAIN_TID.load(SeqCst) {
        "main thread".to_string()
    } else {
        format!("thread {}", CRASH_TID.load(SeqCst))
    };
    let bt = BACKTRACE.try_lock().ok().and_then(|mut b| b.take());
    match bt {
        Some(bt) => raw(&format!("\nBacktrace ({thread}):\n{bt}\n")),
        None => raw(&format!("\nBacktrace ({thread}): not captured\n")),
    }
}

fn cached_info() {
    let now = crate::server::unix_ms();
    raw("\n------ INFO OUTPUT ------\n");
    match CACHE.try_lock() {
        Ok(c) if c.at_ms > 0 => {
            raw(&format!(
                "(as the cron cached it {} ms before the crash)\n",
                now.saturating_sub(c.at_ms)
            ));
            raw(&c.info);
            raw("\n------ CLIENT LIST OUTPUT ------\n");
            raw(&c.clients);
        }
        _ => raw("(not available: the server had not cached it yet)\n"),
    }
}

/// The command being run, when the main thread crashed in it (its arguments are alive then:
/// the main thread is stopped in the handler).
fn current_client() {
    if CRASH_TID.load(SeqCst) != MAIN_TID.load(SeqCst) {
        return;
    }
    let p = CURRENT_ARGS.load(SeqCst);
    if p.is_null() {
        return;
    }
    let argc = CURRENT_ARGC.load(SeqCst);
    // SAFETY: set_current stored the slice of a command that has not returned: the main
    // thread is stopped inside it (in the signal handler or the panic hook).
    let args = unsafe { std::slice::from_raw_parts(p.cast_const(), argc) };
    let mut text = String::from("\n------ CURRENT CLIENT INFO ------\n");
    let _ = writeln!(text, "id={}", CURRENT_CLIENT.load(SeqCst));
    for (j, a) in args.iter().enumerate().take(64) {
        let _ = writeln!(text, "argv[{j}]: '{}'", repr(&a[..a.len().min(128)]));
    }
    raw(&text);
}

/// Bytes as Redis's sdscatrepr shows them, without the quotes.
fn repr(b: &[u8]) -> String {
    let mut s = String::new();
    for &c in b {
        match c {
            b'\\' => s.push_str("\\\\"),
            b'"' => s.push_str("\\\""),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            0x20..=0x7e => s.push(c as char),
            _ => {
                let _ = write!(s, "\\x{c:02x}");
            }
        }
    }
    s
}

/// A log line in the server's format, at warning level.
fn log_line(msg: &str) {
    let line = crate::sys::log::format_line('#', msg);
    write_out(line.as_bytes());
    to_syslog(msg);
}

/// Text as it is (Redis's LL_RAW).
fn raw(text: &str) {
    write_out(text.as_bytes());
    to_syslog(text);
}

fn write_out(bytes: &[u8]) {
    let target = TARGET.get();
    let (fd, opened) = match target.and_then(|t| t.logfile.as_ref()) {
        // SAFETY: open(2) of a NUL-terminated path we own.
        Some(path) => (
            unsafe {
                libc::open(
                    path.as_ptr(),
                    libc::O_WRONLY | libc::O_APPEND | libc::O_CREAT | libc::O_CLOEXEC,
                    0o644,
                )
            },
            true,
        ),
        None => (libc::STDOUT_FILENO, false),
    };
    if fd < 0 {
        return;
    }
    let mut rest = bytes;
    while !rest.is_empty() {
        // SAFETY: write(2) from a live slice.
        let n = unsafe { libc::write(fd, rest.as_ptr().cast(), rest.len()) };
        if n <= 0 {
            break;
        }
        rest = &rest[n as usize..];
    }
    if opened {
        // SAFETY: closes the descriptor opened above.
        unsafe {
            libc::close(fd);
        }
    }
}

fn to_syslog(text: &str) {
    if !TARGET.get().is_some_and(|t| t.syslog) {
        return;
    }
    let text: Vec<u8> = text.bytes().filter(|b| *b != 0).collect();
    if let Ok(text) = CString::new(text) {
        // SAFETY: a constant "%s" format with one NUL-terminated argument.
        unsafe {
            libc::syslog(libc::LOG_WARNING, c"%s".as_ptr(), text.as_ptr());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repr_escapes_as_redis() {
        assert_eq!(repr(b"a\"b\\\n\x01"), "a\\\"b\\\\\\n\\x01");
    }
}
