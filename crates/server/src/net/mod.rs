//! Start-up and the event loop: listeners (TCP and unix socket), accepting clients with
//! Redis's admission rules (maxclients, protected mode), the periodic cron, and signals.

pub(crate) mod client_eviction;
pub(crate) mod conn;
pub(crate) mod output_limit;
pub(crate) mod shutdown;
pub(crate) mod supervise;
pub(crate) mod timer;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket, UnixListener};

use crate::client::Client;
use crate::config::Config;
use crate::server::Server;
use crate::sys::log::Logger;

const PROTECTED_MODE_MSG: &str = "-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Set up an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";

/// Runs the server until shutdown. Returns the process exit code.
pub fn run(mut config: Config) -> i32 {
    let mut log = match Logger::open(config.loglevel, &config.logfile) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("Can't open the log file: {e}");
            return 1;
        }
    };
    if config.syslog_enabled {
        log.enable_syslog(&config.syslog_ident, &config.syslog_facility);
    }
    // Before the runtime and its threads exist: this may fork (daemonize).
    if let Err(e) = crate::net::supervise::start(&mut config, &log) {
        log.warning(&e);
        return 1;
    }
    // After daemonizing (the reporter is a thread) and before anything can crash.
    let crash_log =
        crate::config::find("crash-log-enabled").is_none_or(|d| d.get(&config) == "yes");
    crate::sys::crash::install(&config.logfile, config.syslog_enabled, crash_log);
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            log.warning(&format!("Can't start the event loop: {e}"));
            return 1;
        }
    };
    crate::sys::clock::init();
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move { serve(config, log).await })
}

/// Binds every address of `bind` on `port` (none when the port is 0). A `-` prefix marks an
/// address that may be missing on this machine. Errors carry Redis's log text.
pub(crate) fn bind_all(
    bind: &[String],
    port: u16,
    backlog: i32,
) -> Result<Vec<TcpListener>, String> {
    let mut listeners = Vec::new();
    if port == 0 {
        return Ok(listeners);
    }
    for addr in bind {
        let (optional, a) = match addr.strip_prefix('-') {
            Some(a) => (true, a),
            None => (false, addr.as_str()),
        };
        match bind_tcp(a, port, backlog) {
            Ok(l) => listeners.push(l),
            Err(e)
                if optional
                    && matches!(
                        e.raw_os_error(),
                        Some(libc::EADDRNOTAVAIL)
                            | Some(libc::EAFNOSUPPORT)
                            | Some(libc::EPROTONOSUPPORT)
                    ) => {}
            Err(e) => {
                return Err(format!(
                    "Warning: Could not create server TCP listening socket {a}:{port}: bind: {e}"
                ))
            }
        }
    }
    Ok(listeners)
}

/// Replaces the TCP listeners in service with `listeners` (start-up, CONFIG SET port/bind).
pub(crate) fn start_listeners(srv: &Rc<RefCell<Server>>, listeners: Vec<TcpListener>) {
    let fds: Vec<(i32, bool)> = listeners
        .iter()
        .map(|l| (std::os::fd::AsRawFd::as_raw_fd(l), false))
        .collect();
    {
        let mut s = srv.borrow_mut();
        s.listen_fds.retain(|&(_, unix)| unix);
        s.listen_fds.extend(fds);
    }
    let handles: Vec<_> = listeners
        .into_iter()
        .map(|l| tokio::task::spawn_local(accept_tcp(srv.clone(), l)).abort_handle())
        .collect();
    let old = std::mem::replace(&mut srv.borrow_mut().listeners, handles);
    for h in old {
        h.abort();
    }
}

fn bind_tcp(addr: &str, port: u16, backlog: i32) -> std::io::Result<TcpListener> {
    let host = match addr {
        "*" => "0.0.0.0",
        "::*" => "::",
        a => a,
    };
    let ip: std::net::IpAddr = host
        .parse()
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "invalid address"))?;
    let sa = std::net::SocketAddr::new(ip, port);
    let sock = if ip.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    sock.set_reuseaddr(true)?;
    if ip.is_ipv6() {
        // Like Redis, an IPv6 listener does not also take IPv4 connections.
        let fd = std::os::fd::AsRawFd::as_raw_fd(&sock);
        let on: libc::c_int = 1;
        // SAFETY: setsockopt on a socket we own with a valid int option.
        unsafe {
            libc::setsockopt(
                fd,
                libc::IPPROTO_IPV6,
                libc::IPV6_V6ONLY,
                &on as *const _ as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }
    sock.bind(sa)?;
    // tcp-backlog, as Redis: the kernel caps it at net.core.somaxconn.
    sock.listen(backlog.max(0) as u32)
}

async fn serve(config: Config, log: Logger) -> i32 {
    // The first line an operator sees: a dump.rdb that this start will not load.
    let rdb_not_loaded =
        crate::durability::rdb_guard::check_at_start(&config).map(|(nl, warning)| {
            log.warning(&warning);
            nl
        });
    log.notice("oO0OoO0OoO0Oo Amber is starting oO0OoO0OoO0Oo");
    log.notice(&format!(
        "Amber version={}, Redis compatibility={}, bits=64, pid={}, just started",
        crate::AMBER_VERSION,
        crate::REDIS_VERSION,
        std::process::id()
    ));
    match &config.file {
        Some(f) => log.notice(&format!("Configuration loaded from {}", f.display())),
        None => log.warning("Warning: no config file specified, using the default config. In order to specify a config file use amber-server /path/to/redis.conf"),
    }
    if !config.dir.is_empty() {
        if let Err(e) = std::env::set_current_dir(&config.dir) {
            log.warning(&format!("Can't chdir to '{}': {}", config.dir, e));
            return 1;
        }
    }
    crate::net::supervise::check_backlog(&config, &log);
    let listeners = match bind_all(&config.bind, config.port, config.tcp_backlog) {
        Ok(l) => l,
        Err(msg) => {
            log.warning(&msg);
            log.warning(&format!(
                "Failed listening on port {} (tcp), aborting.",
                config.port
            ));
            return 1;
        }
    };
    let unix = if config.unixsocket.is_empty() {
        None
    } else {
        let _ = std::fs::remove_file(&config.unixsocket);
        match UnixListener::bind(&config.unixsocket) {
            Ok(l) => {
                if config.unixsocketperm != 0 {
                    use std::os::unix::fs::PermissionsExt;
                    let _ = std::fs::set_permissions(
                        &config.unixsocket,
                        std::fs::Permissions::from_mode(config.unixsocketperm),
                    );
                }
                Some(l)
            }
            Err(e) => {
                log.warning(&format!("Failed opening Unix socket: {e}"));
                return 1;
            }
        }
    };
    if listeners.is_empty() && unix.is_none() {
        log.warning("Configured to not listen anywhere, exiting.");
        return 1;
    }
    if !config.pidfile.is_empty() {
        if let Err(e) = std::fs::write(&config.pidfile, format!("{}\n", std::process::id())) {
            log.warning(&format!("Failed to write PID file: {e}"));
        }
    }
    let pidfile = config.pidfile.clone();
    let unixsocket = config.unixsocket.clone();
    // redisAsciiArt: the logo when the log is a terminal's stdout without syslog, or when
    // always-show-logo says so; else one line.
    let show_logo = (!config.syslog_enabled
        && config.logfile.is_empty()
        && std::io::IsTerminal::is_terminal(&std::io::stdout()))
        || config.accepted.get("always-show-logo").map(String::as_str) == Some("yes");
    if show_logo {
        log.raw(
            crate::config::LogLevel::Notice,
            &crate::sys::log::ascii_logo(config.port, std::process::id()),
        );
    } else {
        log.notice(&format!("Running mode=standalone, port={}.", config.port));
    }
    if let Some(w) = crate::sys::alloc::disable_thp(config.accepted_value("disable-thp") == "yes") {
        log.warning(w);
    }
    let srv = Rc::new(RefCell::new(Server::new(config, log.clone())));
    if let Err(e) = crate::acl::file::load_at_startup(&mut srv.borrow_mut()) {
        log.warning(&e);
        return 1;
    }
    srv.borrow_mut().rdb_not_loaded = rdb_not_loaded;
    log.notice("Server initialized");
    srv.borrow_mut().self_ref = Rc::downgrade(&srv);
    start_listeners(&srv, listeners);
    if let Some(u) = unix {
        let fd = std::os::fd::AsRawFd::as_raw_fd(&u);
        srv.borrow_mut().listen_fds.push((fd, true));
        tokio::task::spawn_local(accept_unix(srv.clone(), u));
        log.notice(&format!(
            "The server is now ready to accept connections at {unixsocket}"
        ));
    }
    // "Ready to accept connections" is logged once the dataset is loaded.
    if srv.borrow().config.appendonly {
        crate::durability::aof::load::load_at_start(&srv);
        crate::net::supervise::ready(&srv.borrow().log);
    } else {
        crate::durability::rdb_load::load_at_start(&srv);
    }
    cache_for_crash_report(&mut srv.borrow_mut(), crate::server::unix_ms());
    tokio::task::spawn_local(cron(srv.clone()));
    tokio::task::spawn_local(snapshot_pump(srv.clone()));

    let code = shutdown::wait_for_shutdown(srv.clone()).await;
    if !pidfile.is_empty() {
        let _ = std::fs::remove_file(&pidfile);
    }
    if !unixsocket.is_empty() {
        let _ = std::fs::remove_file(&unixsocket);
    }
    code
}

async fn accept_tcp(srv: Rc<RefCell<Server>>, l: TcpListener) {
    loop {
        let Ok((stream, peer)) = l.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let rc = srv.clone();
        admit_tcp(&mut srv.borrow_mut(), rc, stream, peer);
    }
}

fn admit_tcp(
    s: &mut Server,
    srv: Rc<RefCell<Server>>,
    stream: tokio::net::TcpStream,
    peer: std::net::SocketAddr,
) {
    let _ = stream.set_nodelay(true);
    if s.config.tcp_keepalive > 0 {
        set_keepalive(&stream, s.config.tcp_keepalive);
    }
    let laddr = stream
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let fd = std::os::fd::AsRawFd::as_raw_fd(&stream);
    let is_loopback = peer.ip().is_loopback()
        || matches!(peer.ip(), std::net::IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()));
    admit(
        s,
        srv,
        stream,
        peer.to_string(),
        laddr,
        fd,
        is_loopback,
        false,
    );
}

async fn accept_unix(srv: Rc<RefCell<Server>>, l: UnixListener) {
    loop {
        let Ok((stream, _)) = l.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let rc = srv.clone();
        admit_unix(&mut srv.borrow_mut(), rc, stream);
    }
}

fn admit_unix(s: &mut Server, srv: Rc<RefCell<Server>>, stream: tokio::net::UnixStream) {
    let fd = std::os::fd::AsRawFd::as_raw_fd(&stream);
    let path = s.config.unixsocket.clone();
    admit(s, srv, stream, format!("{path}:0"), path, fd, true, true);
}

/// While a busy script holds the thread (scripting/busy.rs): the connections waiting on the
/// listening sockets are accepted and admitted now, so the requests they send get -BUSY as
/// in Redis (whose processEventsWhileBlocked accepts too) instead of waiting for the script.
pub(crate) fn accept_while_busy(s: &mut Server) {
    let Some(srv) = s.self_ref.upgrade() else {
        return;
    };
    for (fd, unix) in s.listen_fds.clone() {
        loop {
            // SAFETY: accept4 on a listening socket this server owns; the new descriptor is
            // owned by the stream made from it below.
            let nfd = unsafe {
                libc::accept4(
                    fd,
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                )
            };
            if nfd < 0 {
                break;
            }
            // SAFETY: `nfd` was just accepted and nothing else owns it.
            let owned =
                unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(nfd) };
            if unix {
                let std_stream = std::os::unix::net::UnixStream::from(owned);
                if let Ok(stream) = tokio::net::UnixStream::from_std(std_stream) {
                    admit_unix(s, srv.clone(), stream);
                }
            } else {
                let std_stream = std::net::TcpStream::from(owned);
                let Ok(peer) = std_stream.peer_addr() else {
                    continue;
                };
                if let Ok(stream) = tokio::net::TcpStream::from_std(std_stream) {
                    admit_tcp(s, srv.clone(), stream, peer);
                }
            }
        }
    }
}

fn set_keepalive(stream: &tokio::net::TcpStream, secs: u64) {
    let fd = std::os::fd::AsRawFd::as_raw_fd(stream);
    let on: libc::c_int = 1;
    let idle = secs.min(i32::MAX as u64) as libc::c_int;
    let intvl = (idle / 3).max(1);
    let cnt: libc::c_int = 3;
    let sz = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: plain setsockopt calls with int options on a socket we own.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_KEEPALIVE,
            &on as *const _ as *const libc::c_void,
            sz,
        );
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_KEEPIDLE,
            &idle as *const _ as *const libc::c_void,
            sz,
        );
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_KEEPINTVL,
            &intvl as *const _ as *const libc::c_void,
            sz,
        );
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_KEEPCNT,
            &cnt as *const _ as *const libc::c_void,
            sz,
        );
    }
}

/// Why a new connection is turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    MaxClients,
    ProtectedMode,
}

impl Refusal {
    pub(crate) fn message(self) -> &'static str {
        match self {
            Refusal::MaxClients => "-ERR max number of clients reached\r\n",
            Refusal::ProtectedMode => PROTECTED_MODE_MSG,
        }
    }
}

/// Redis's admission rules: maxclients first, then protected mode (the default user needs
/// no password and the client is neither on loopback nor on the unix socket).
pub(crate) fn admission(
    config: &Config,
    default_nopass: bool,
    clients: usize,
    local: bool,
) -> Option<Refusal> {
    if clients as u64 >= config.maxclients {
        Some(Refusal::MaxClients)
    } else if config.protected_mode && default_nopass && !local {
        Some(Refusal::ProtectedMode)
    } else {
        None
    }
}

/// Applies maxclients and protected mode, then serves the connection on its own task.
#[allow(clippy::too_many_arguments)]
fn admit<S>(
    s: &mut Server,
    srv: Rc<RefCell<Server>>,
    mut stream: S,
    addr: String,
    laddr: String,
    fd: i32,
    local: bool,
    unix: bool,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + 'static,
{
    use tokio::io::AsyncWriteExt;
    let nopass = s.acl.default.borrow().nopass();
    let refusal = admission(&s.config, nopass, s.clients.len(), local);
    match refusal {
        Some(Refusal::MaxClients) => s.stats.rejected_connections += 1,
        Some(Refusal::ProtectedMode) => s.log.warning(&format!(
            "Possible SECURITY ATTACK detected: protected mode refused a connection from {addr}"
        )),
        None => {}
    }
    if let Some(msg) = refusal.map(Refusal::message) {
        tokio::task::spawn_local(async move {
            let _ = stream.write_all(msg.as_bytes()).await;
        });
        return;
    }
    s.stats.total_connections_received += 1;
    let id = s.next_client_id;
    s.next_client_id += 1;
    let authenticated = crate::acl::default_open(s);
    let mut c = Client::new(id, addr, laddr, fd, authenticated);
    c.is_local = local;
    c.is_unix = unix;
    let client = Rc::new(RefCell::new(c));
    s.clients.insert(id, client.clone());
    tokio::task::spawn_local(crate::net::conn::serve(srv, client, stream));
}

/// Walks running snapshots between client batches (the main thread's half of a fork-less
/// snapshot): one bounded step, then every other ready task runs before the next one. Sleeps
/// while the writers' queues are full, and while no snapshot runs.
async fn snapshot_pump(srv: Rc<RefCell<Server>>) {
    let wake = srv.borrow().snapshot_wake.clone();
    loop {
        let (active, produced) = crate::durability::save::snapshot_step(
            &mut srv.borrow_mut(),
            Some(std::time::Instant::now() + crate::durability::save::STEP_TIME),
        );
        if !active {
            wake.notified().await;
        } else if produced > 0 {
            tokio::task::yield_now().await;
        } else {
            tokio::time::sleep(Duration::from_micros(500)).await;
        }
    }
}

/// The periodic tasks (Redis's serverCron): active expiry and whatever later features add.
async fn cron(srv: Rc<RefCell<Server>>) {
    loop {
        let hz = srv.borrow().config.hz.max(1);
        let period = Duration::from_millis(1000 / u64::from(hz));
        tokio::time::sleep(period).await;
        let mut s = srv.borrow_mut();
        let now = crate::server::unix_ms();
        let (ops, input, output) = (
            s.stats.total_commands_processed,
            s.stats.total_net_input_bytes,
            s.stats.total_net_output_bytes,
        );
        s.stats.inst_ops.sample(now, ops);
        s.stats.inst_input.sample(now, input);
        s.stats.inst_output.sample(now, output);
        crate::sys::alloc::peak_memory();
        let (mut biggest_out, mut biggest_in) = (0, 0);
        for c in s.clients.values().filter_map(|c| c.try_borrow().ok()) {
            biggest_out = biggest_out.max(c.pending_output());
            biggest_in = biggest_in.max(c.qbuf_len);
        }
        s.obuf_peaks.sample(now / 1000, biggest_out);
        s.qbuf_peaks.sample(now / 1000, biggest_in);
        if crate::sys::crash::cache_due(now) {
            cache_for_crash_report(&mut s, now);
        }
        if s.loading.is_some() {
            continue;
        }
        crate::durability::save::cron(&mut s);
        crate::durability::aof::cron(&mut s);
        crate::replication::cron(&mut s);
        crate::evict::cron(&mut s);
        // Output queued for other clients (pub/sub, tracking, MONITOR) and output written
        // since they were last accounted: resync the total and evict if it is over.
        crate::net::client_eviction::evict_all(&mut s);
        if s.active_expire_enabled {
            // Redis gives the slow cycle 25% of each cron period.
            let t = std::time::Instant::now();
            s.active_expire_cycle(period / 4);
            let ms = t.elapsed().as_millis() as u64;
            let threshold = s.config.latency_monitor_threshold;
            s.latency.note(threshold, "expire-cycle", ms);
        }
        crate::tracking::cron(&mut s);
    }
}

/// INFO and CLIENT LIST for a crash report (which cannot render them at the crash).
fn cache_for_crash_report(s: &mut Server, now: i64) {
    let info = crate::cmd::info::render_all(s);
    let info = String::from_utf8_lossy(&info).into_owned();
    let mut clients = String::new();
    for c in s
        .clients
        .values()
        .take(crate::sys::crash::MAX_CACHED_CLIENTS)
    {
        if let Ok(c) = c.try_borrow() {
            clients.push_str(&crate::cmd::connection::client_line(&c, false));
            clients.push('\n');
        }
    }
    if s.clients.len() > crate::sys::crash::MAX_CACHED_CLIENTS {
        clients.push_str(&format!(
            "(and {} more clients)\n",
            s.clients.len() - crate::sys::crash::MAX_CACHED_CLIENTS
        ));
    }
    crate::sys::crash::cache(info, clients, now);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protected_mode_refuses_remote_clients_without_password() {
        let mut c = Config::default();
        assert_eq!(admission(&c, true, 0, false), Some(Refusal::ProtectedMode));
        assert_eq!(admission(&c, true, 0, true), None);
        // A password for the default user (requirepass, or a `user default` line).
        assert_eq!(admission(&c, false, 0, false), None);
        c.protected_mode = false;
        assert_eq!(admission(&c, true, 0, false), None);
        c.maxclients = 1;
        assert_eq!(admission(&c, true, 1, true), Some(Refusal::MaxClients));
        assert!(Refusal::ProtectedMode
            .message()
            .starts_with("-DENIED Redis is running in protected mode"));
    }
}
