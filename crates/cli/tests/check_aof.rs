//! `amber check-aof` against redis-check-aof 7.0.15 (the oracle) on a Redis-written AOF: for
//! every cut of its incr file, the exit code agrees (valid 0, not valid 1) and
//! `amber check-aof --fix --yes` leaves the same bytes as `redis-check-aof --fix` answered
//! "y"; the JSON report and the manifest mode say what the text says. Without redis-server,
//! redis-cli and redis-check-aof this test fails.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn amber() -> Command {
    Command::new(env!("CARGO_BIN_EXE_amber"))
}

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("amber-cli-aof-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// An appendonlydir written by redis-server: a MULTI/EXEC, timestamps, a SELECT.
fn redis_dir(tag: &str) -> PathBuf {
    let dir = tmpdir(tag);
    // A port picked free may be taken again before redis-server binds it (tests run in
    // parallel): then that redis-server exits, and another attempt picks another port.
    let (mut child, port) = (0..5)
        .find_map(|_| {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
                .to_string();
            let mut child = Command::new("redis-server")
                .args(["--port", &port, "--bind", "127.0.0.1", "--save", ""])
                .args(["--appendonly", "yes", "--appendfsync", "always"])
                .args(["--aof-timestamp-enabled", "yes", "--dir"])
                .arg(&dir)
                .stdout(Stdio::null())
                .spawn()
                .expect("redis-server (7.0.15) must be installed");
            let t0 = Instant::now();
            loop {
                if child.try_wait().unwrap().is_some() {
                    return None;
                }
                if std::net::TcpStream::connect(("127.0.0.1", port.parse::<u16>().unwrap())).is_ok()
                    && dir.join("appendonlydir/appendonly.aof.manifest").exists()
                {
                    return Some((child, port));
                }
                assert!(t0.elapsed() < Duration::from_secs(10));
                std::thread::sleep(Duration::from_millis(10));
            }
        })
        .expect("redis-server did not start");
    let mut cli = Command::new("redis-cli")
        .args(["-p", &port])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-cli must be installed");
    cli.stdin
        .take()
        .unwrap()
        .write_all(b"SET a 1\nMULTI\nSET b 2\nINCR a\nEXEC\nSELECT 2\nRPUSH l x y z\n")
        .unwrap();
    assert!(cli.wait().unwrap().success());
    // SAFETY: a signal to the child we started.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    child.wait().unwrap();
    dir
}

fn redis_fix(path: &Path) -> bool {
    let mut child = Command::new("redis-check-aof")
        .arg("--fix")
        .arg(path)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-check-aof must be installed");
    child.stdin.take().unwrap().write_all(b"y\n").unwrap();
    child.wait().unwrap().success()
}

#[test]
fn fix_matches_redis_check_aof_at_every_cut() {
    let dir = redis_dir("redis-cuts");
    let incr = dir.join("appendonlydir/appendonly.aof.1.incr.aof");
    let data = std::fs::read(&incr).unwrap();
    assert!(data.len() > 100);
    let work = tmpdir("cuts");
    for cut in 0..=data.len() {
        let a = work.join("a.aof");
        let b = work.join("b.aof");
        std::fs::write(&a, &data[..cut]).unwrap();
        std::fs::write(&b, &data[..cut]).unwrap();
        let theirs = Command::new("redis-check-aof").arg(&a).output().unwrap();
        let ours = amber().args(["check-aof", "-q"]).arg(&b).output().unwrap();
        let theirs_ok = theirs.status.success();
        assert_eq!(
            ours.status.code(),
            Some(if theirs_ok { 0 } else { 1 }),
            "cut {cut}: {}",
            String::from_utf8_lossy(&ours.stdout)
        );
        if !theirs_ok {
            assert!(redis_fix(&a));
            let fixed = amber()
                .args(["check-aof", "--fix", "--yes", "-q"])
                .arg(&b)
                .output()
                .unwrap();
            assert_eq!(fixed.status.code(), Some(0), "cut {cut}");
            assert_eq!(
                std::fs::read(&a).unwrap(),
                std::fs::read(&b).unwrap(),
                "cut {cut}"
            );
            // Once fixed, both say valid.
            assert!(amber()
                .args(["check-aof", "-q"])
                .arg(&b)
                .status()
                .unwrap()
                .success());
        }
    }
    let _ = std::fs::remove_dir_all(&work);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn manifest_json_and_declined_fix() {
    let dir = redis_dir("redis-json");
    let manifest = dir.join("appendonlydir/appendonly.aof.manifest");
    let out = amber()
        .args(["check-aof", "--json"])
        .arg(&manifest)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["kind"], "manifest");
    assert_eq!(j["verdict"], "valid");
    assert_eq!(j["files"][0]["role"], "base");
    assert_eq!(j["files"][0]["format"], "rdb");
    assert_eq!(j["files"][1]["role"], "incr");
    // SELECT 0, SET, MULTI, SET, INCR, EXEC, SELECT 2, RPUSH.
    assert_eq!(j["files"][1]["commands"], 8);

    // Cut the incr inside the MULTI: not valid, fixable; a "n" answer changes nothing.
    let incr = dir.join("appendonlydir/appendonly.aof.1.incr.aof");
    let data = std::fs::read(&incr).unwrap();
    let multi = data.windows(5).position(|w| w == b"MULTI").unwrap();
    std::fs::write(&incr, &data[..multi + 20]).unwrap();
    let out = amber()
        .args(["check-aof", "--json"])
        .arg(&manifest)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["verdict"], "fixable");
    assert_eq!(j["files"][1]["problem"]["code"], "P003 AOF_CORRUPT");
    assert_eq!(j["files"][1]["judgment"], "truncated");
    let mut child = amber()
        .args(["check-aof", "--fix"])
        .arg(&manifest)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"n\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Continue? [y/N]"));
    assert_eq!(std::fs::read(&incr).unwrap(), &data[..multi + 20]);
    // A missing file named by the manifest is a problem, not a crash.
    std::fs::remove_file(&incr).unwrap();
    let out = amber().args(["check-aof"]).arg(&manifest).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    // An unreadable input is exit 2.
    let out = amber()
        .args(["check-aof"])
        .arg(dir.join("nope"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}
