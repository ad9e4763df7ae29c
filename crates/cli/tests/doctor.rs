//! `amber doctor` against live servers: redis-server 7.0.15 and amber-server (`AMBER_BIN`,
//! else this workspace's release build); a missing one fails the test. Servers bind 127.0.0.1 on free ports and are stopped by their PID. The full-disk
//! test mounts a 1 MiB tmpfs and needs root.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const CHECKS: &[&str] = &[
    "server",
    "persistence",
    "misconf",
    "dir_writable",
    "disk_space",
    "last_save",
    "fork",
    "aof_status",
    "aof_fsync",
    "rdb_file",
    "aof_files",
    "rdb_vs_aof",
    "archive",
];

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("amber-doctor-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The servers to run each test against: redis-server and amber-server (`AMBER_BIN`, else
/// this workspace's release build, which scripts/test makes first). Either missing fails.
fn servers() -> Vec<(&'static str, PathBuf)> {
    let amber = std::env::var_os("AMBER_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"))
                .join("release/amber-server")
        });
    assert!(
        amber.exists(),
        "{} is missing: build it with `cargo build --release` (scripts/test does) or set AMBER_BIN",
        amber.display()
    );
    vec![("redis", PathBuf::from("redis-server")), ("amber", amber)]
}

struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(bin: &Path, dir: &Path, args: &[&str]) -> Server {
        let port = free_port();
        let child = Command::new(bin)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--dir"])
            .arg(dir)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{} must be installed: {e}", bin.display()));
        let s = Server { child, port };
        let t0 = Instant::now();
        loop {
            let pong = s.cli(&["PING"]);
            if pong.trim() == "PONG" || pong.contains("NOAUTH") {
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "{} did not start",
                bin.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        s
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn cli(&self, args: &[&str]) -> String {
        let o = Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .stderr(Stdio::null())
            .output()
            .expect("redis-cli must be installed");
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn info_field(&self, k: &str) -> Option<String> {
        self.cli(&["INFO", "persistence"]).lines().find_map(|l| {
            l.strip_prefix(&format!("{k}:"))
                .map(|v| v.trim().to_string())
        })
    }

    /// BGSAVE, then waits until no save runs; returns rdb_last_bgsave_status.
    fn bgsave(&self) -> String {
        let t0 = Instant::now();
        // A save started by something else (AOF rewrite at start) may be running.
        while !self.cli(&["BGSAVE"]).contains("started") {
            assert!(t0.elapsed() < Duration::from_secs(20));
            std::thread::sleep(Duration::from_millis(50));
        }
        loop {
            std::thread::sleep(Duration::from_millis(50));
            if self.info_field("rdb_bgsave_in_progress").as_deref() == Some("0") {
                return self.info_field("rdb_last_bgsave_status").unwrap();
            }
            assert!(t0.elapsed() < Duration::from_secs(20));
        }
    }

    fn fill(&self, n: usize) {
        let mut c = Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let mut input = String::new();
        for i in 0..n {
            input.push_str(&format!("SET key:{i} value-{i}-{}\n", "x".repeat(30)));
        }
        input.push_str("RPUSH list a b c\nHSET h f v\n");
        c.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        assert!(c.wait().unwrap().success());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // SAFETY: a signal to the child we started, by its PID.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

fn doctor(args: &[&str]) -> (Option<i32>, Output) {
    let o = Command::new(env!("CARGO_BIN_EXE_amber"))
        .arg("doctor")
        .args(args)
        .env_remove("AMBER_PASSWORD")
        .env_remove("REDISCLI_AUTH")
        .output()
        .unwrap();
    (o.status.code(), o)
}

fn doctor_json(args: &[&str]) -> (Option<i32>, Value) {
    let mut a = args.to_vec();
    a.push("--json");
    let (code, o) = doctor(&a);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "doctor --json printed no JSON ({e}): {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    });
    (code, v)
}

fn finding<'a>(v: &'a Value, check: &str) -> &'a Value {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == check)
        .unwrap_or_else(|| panic!("no {check} finding in {v:#}"))
}

fn assert_shape(v: &Value, addr: &str) {
    assert_eq!(v["server"], addr);
    let names: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["check"].as_str().unwrap())
        .collect();
    assert_eq!(names, CHECKS, "{v:#}");
    for f in v["findings"].as_array().unwrap() {
        let st = f["status"].as_str().unwrap();
        assert!(["ok", "warn", "error", "skip"].contains(&st), "{f}");
        assert!(f["message"].as_str().is_some_and(|m| !m.is_empty()), "{f}");
        assert!(f["details"].is_object(), "{f}");
        assert!(f.get("code").is_some() && f.get("fix").is_some(), "{f}");
        if st == "warn" || st == "error" {
            assert!(f["code"].is_string() && f["fix"].is_string(), "{f}");
        }
    }
}

#[test]
fn healthy_server_exits_0_with_every_check() {
    for (kind, bin) in servers() {
        let dir = tmpdir(&format!("healthy-{kind}"));
        let s = Server::start(&bin, &dir, &["--appendonly", "yes"]);
        s.fill(200);
        assert_eq!(s.bgsave(), "ok");
        let (code, v) = doctor_json(&["--server", &s.addr()]);
        assert_eq!(code, Some(0), "{kind}: {v:#}");
        assert_shape(&v, &s.addr());
        for f in v["findings"].as_array().unwrap() {
            assert_ne!(f["status"], "error", "{kind}: {f}");
        }
        let srv = finding(&v, "server");
        assert_eq!(srv["details"]["kind"], kind);
        assert_eq!(srv["details"]["keys"], 202);
        for c in [
            "persistence",
            "misconf",
            "dir_writable",
            "disk_space",
            "last_save",
            "aof_status",
            "aof_fsync",
            "rdb_file",
            "aof_files",
        ] {
            assert_eq!(finding(&v, c)["status"], "ok", "{kind} {c}: {v:#}");
        }
        assert_eq!(finding(&v, "rdb_file")["details"]["keys"], 202);
        assert!(
            finding(&v, "disk_space")["details"]["free_bytes"]
                .as_u64()
                .unwrap()
                > 0
        );
        let fork = finding(&v, "fork");
        if kind == "amber" {
            assert_eq!(fork["status"], "ok");
            assert!(fork["message"].as_str().unwrap().contains("does not fork"));
        } else {
            assert!(fork["details"]["overcommit_memory"].is_u64(), "{fork}");
        }
        // The text form says the same.
        let (code, o) = doctor(&["--server", &s.addr()]);
        assert_eq!(code, Some(0));
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(text.contains("0 errors"), "{text}");
        for c in CHECKS {
            assert!(text.contains(c), "{c} missing in {text}");
        }
        drop(s);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn persistence_off_is_a_warning() {
    for (kind, bin) in servers() {
        let dir = tmpdir(&format!("nopersist-{kind}"));
        let s = Server::start(&bin, &dir, &["--save", "", "--appendonly", "no"]);
        s.fill(5);
        let (code, v) = doctor_json(&["--server", &s.addr()]);
        assert_eq!(code, Some(0), "{kind}: warnings only: {v:#}");
        assert_shape(&v, &s.addr());
        let p = finding(&v, "persistence");
        assert_eq!(p["status"], "warn");
        assert_eq!(p["code"], "NO_PERSISTENCE");
        assert!(p["message"]
            .as_str()
            .unwrap()
            .contains("a restart loses everything"));
        assert!(p["fix"]
            .as_str()
            .unwrap()
            .contains("CONFIG SET appendonly yes"));
        assert_eq!(finding(&v, "last_save")["code"], "UNSAVED");
        drop(s);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn corrupt_dump_in_data_dir_is_p002() {
    for (kind, bin) in servers() {
        let dir = tmpdir(&format!("rdb-{kind}"));
        let copy = tmpdir(&format!("rdb-copy-{kind}"));
        let s = Server::start(&bin, &dir, &[]);
        s.fill(300);
        assert_eq!(s.bgsave(), "ok");
        let mut data = std::fs::read(dir.join("dump.rdb")).unwrap();
        let mid = data.len() / 2;
        data[mid] ^= 0x5a;
        std::fs::write(copy.join("dump.rdb"), &data).unwrap();
        let (code, v) = doctor_json(&["--server", &s.addr(), "--data-dir", copy.to_str().unwrap()]);
        assert_eq!(code, Some(1), "{kind}: {v:#}");
        assert_shape(&v, &s.addr());
        let f = finding(&v, "rdb_file");
        assert_eq!(f["status"], "error", "{f}");
        assert_eq!(f["code"], "P002");
        assert!(
            f["message"].as_str().unwrap().contains("RDB_CORRUPT"),
            "{f}"
        );
        assert!(f["details"]["offset"].as_u64().unwrap() > 0, "{f}");
        let fix = f["fix"].as_str().unwrap();
        assert!(
            fix.contains("amber check-rdb") && fix.contains("amber restore"),
            "{fix}"
        );
        // A copy, not the server's own file: no "BGSAVE replaces it" advice.
        assert!(!fix.contains("BGSAVE"), "{fix}");
        // The server's own dump is fine.
        let (code, v) = doctor_json(&["--server", &s.addr()]);
        assert_eq!(code, Some(0), "{v:#}");
        assert_eq!(finding(&v, "rdb_file")["status"], "ok");
        // The server's own dump corrupted: the fix is BGSAVE from memory first.
        std::fs::write(dir.join("dump.rdb"), &data).unwrap();
        let (code, v) = doctor_json(&["--server", &s.addr()]);
        assert_eq!(code, Some(1));
        let f = finding(&v, "rdb_file");
        assert_eq!(f["code"], "P002");
        assert!(f["fix"].as_str().unwrap().contains("BGSAVE"), "{f}");
        drop(s);
        let _ = std::fs::remove_dir_all(&dir);
        let _ = std::fs::remove_dir_all(&copy);
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn corrupt_aof_incr_is_p003_with_the_fix_command() {
    for (kind, bin) in servers() {
        let dir = tmpdir(&format!("aof-{kind}"));
        let copy = tmpdir(&format!("aof-copy-{kind}"));
        let s = Server::start(
            &bin,
            &dir,
            &["--appendonly", "yes", "--appendfsync", "always"],
        );
        s.fill(50);
        copy_dir(&dir.join("appendonlydir"), &copy.join("appendonlydir"));
        let incr = std::fs::read_dir(copy.join("appendonlydir"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.to_string_lossy().ends_with(".incr.aof"))
            .expect("an incr file");
        let good_len = std::fs::metadata(&incr).unwrap().len();
        assert!(good_len > 100);
        std::fs::OpenOptions::new()
            .append(true)
            .open(&incr)
            .unwrap()
            .write_all(b"garbage, not RESP\r\n*1\r\n$4\r\nPING\r\n")
            .unwrap();
        let data_dir = copy.to_str().unwrap();
        let (code, v) = doctor_json(&["--server", &s.addr(), "--data-dir", data_dir]);
        assert_eq!(code, Some(1), "{kind}: {v:#}");
        assert_shape(&v, &s.addr());
        let f = finding(&v, "aof_files");
        assert_eq!(f["status"], "error", "{f}");
        assert_eq!(f["code"], "P003");
        assert_eq!(f["details"]["offset"].as_u64(), Some(good_len), "{f}");
        let manifest = copy.join("appendonlydir/appendonly.aof.manifest");
        let cmd = format!("amber check-aof --fix {}", manifest.display());
        assert!(f["fix"].as_str().unwrap().contains(&cmd), "{f}");
        assert!(f["message"]
            .as_str()
            .unwrap()
            .contains(&format!("offset {good_len}")));
        // The fix it names works: afterwards the AOF files are valid.
        let o = Command::new(env!("CARGO_BIN_EXE_amber"))
            .args(["check-aof", "--fix", "--yes", "-q"])
            .arg(&manifest)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
        assert_eq!(std::fs::metadata(&incr).unwrap().len(), good_len);
        let (code, v) = doctor_json(&["--server", &s.addr(), "--data-dir", data_dir]);
        assert_eq!(finding(&v, "aof_files")["status"], "ok", "{v:#}");
        assert_eq!(code, Some(0), "{v:#}");
        drop(s);
        let _ = std::fs::remove_dir_all(&dir);
        let _ = std::fs::remove_dir_all(&copy);
    }
}

struct Tmpfs(PathBuf);

impl Tmpfs {
    fn full(tag: &str) -> Tmpfs {
        let d = tmpdir(tag);
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
            .arg(&d)
            .status()
            .expect("mount must exist");
        assert!(ok.success(), "mount -t tmpfs needs root");
        let t = Tmpfs(d);
        let mut f = std::fs::File::create(t.0.join("filler")).unwrap();
        let chunk = vec![0u8; 4096];
        while f.write_all(&chunk).is_ok() {}
        t
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn failed_bgsave_on_a_full_disk_is_p004_and_misconf() {
    for (kind, bin) in servers() {
        let fs = Tmpfs::full(&format!("full-{kind}"));
        let s = Server::start(&bin, &fs.0, &[]);
        s.fill(20);
        assert_eq!(s.bgsave(), "err", "{kind}: the save should fail");
        assert!(s.cli(&["PING"]).starts_with("MISCONF"), "{kind}");
        let (code, v) = doctor_json(&["--server", &s.addr()]);
        assert_eq!(code, Some(1), "{kind}: {v:#}");
        assert_shape(&v, &s.addr());
        let save = finding(&v, "last_save");
        assert_eq!(save["status"], "error", "{save}");
        assert_eq!(save["code"], "P004", "{save}");
        assert_eq!(save["details"]["rdb_last_bgsave_status"], "err");
        let m = finding(&v, "misconf");
        assert_eq!(m["status"], "error");
        assert_eq!(m["code"], "MISCONF");
        assert!(m["fix"].as_str().unwrap().contains("BGSAVE"));
        let d = finding(&v, "disk_space");
        assert_eq!(d["code"], "P004", "{d}");
        assert_eq!(d["details"]["free_bytes"], 0);
        assert!(
            d["message"]
                .as_str()
                .unwrap()
                .contains("0 B free of 1.0 MiB"),
            "{d}"
        );
        assert_eq!(finding(&v, "dir_writable")["code"], "P004");
        if kind == "amber" {
            assert!(save["message"]
                .as_str()
                .unwrap()
                .contains("the server reports"));
        }
        // Room again: a save succeeds and the doctor is satisfied.
        std::fs::remove_file(fs.0.join("filler")).unwrap();
        assert_eq!(s.bgsave(), "ok");
        let (code, v) = doctor_json(&["--server", &s.addr()]);
        assert_eq!(finding(&v, "misconf")["status"], "ok", "{v:#}");
        assert_eq!(code, Some(0), "{v:#}");
        drop(s);
    }
}

#[test]
fn unreachable_server_exits_2() {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let (code, o) = doctor(&["--server", &addr]);
    assert_eq!(code, Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("can't connect"));
    let (code, v) = doctor_json(&["--server", &addr]);
    assert_eq!(code, Some(2));
    assert_eq!(v["server"], addr);
    assert_eq!(v["findings"][0]["status"], "error");
    assert_eq!(v["findings"][0]["code"], "UNREACHABLE");
}

#[test]
fn wrong_password_exits_2() {
    let dir = tmpdir("auth");
    let s = Server::start(
        Path::new("redis-server"),
        &dir,
        &["--requirepass", "secret"],
    );
    let (code, o) = doctor(&["--server", &s.addr()]);
    assert_eq!(code, Some(2), "{}", String::from_utf8_lossy(&o.stdout));
    assert!(String::from_utf8_lossy(&o.stderr).contains("password"));
    let (code, _) = doctor(&["--server", &s.addr(), "--pass", "wrong"]);
    assert_eq!(code, Some(2));
    let (code, v) = doctor_json(&["--server", &s.addr(), "--pass", "secret"]);
    assert_eq!(code, Some(0), "{v:#}");
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}
