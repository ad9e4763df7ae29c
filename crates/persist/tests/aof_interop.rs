//! AOF interop with the installed Redis 7.0.15 (the oracle): Redis's manifests parse and
//! re-serialise byte for byte, every file of its appendonlydir reads back to the data that
//! was written (with RDB or RESP base, timestamps, after BGREWRITEAOF), and on a Redis-written
//! incr file cut at every byte offset, or with a byte overwritten at every offset, our check
//! agrees with redis-check-aof (valid, or not valid with the same ok_up_to) and our fix leaves
//! the same bytes as `redis-check-aof --fix`; truncate-to-timestamp too; a sample of cuts is
//! loaded by redis-server (aof-load-truncated yes) and cut where `Tail::loader_len` says.
//! Without redis-server and redis-check-aof these tests fail.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use amber_persist::aof::check::Verdict;
use amber_persist::aof::{
    check, fix, judge_file, AnnotationKind, AofEntry, AofReader, CheckOptions, Judgment, Manifest,
    Tail,
};
use amber_persist::rdb::{Item, RdbValue};

// ---------------------------------------------------------------- Redis process and client

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "amber-aof-{tag}-{}-{:?}",
        std::process::id(),
        Instant::now()
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

struct Redis {
    child: Child,
    port: u16,
}

impl Redis {
    fn start(dir: &Path, extra: &[&str]) -> Redis {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut args: Vec<String> = vec![
            "--port".into(),
            port.to_string(),
            "--bind".into(),
            "127.0.0.1".into(),
            "--dir".into(),
            dir.display().to_string(),
            "--save".into(),
            "".into(),
            "--appendonly".into(),
            "yes".into(),
            "--appendfsync".into(),
            "always".into(),
            "--daemonize".into(),
            "no".into(),
            "--logfile".into(),
            dir.join("redis.log").display().to_string(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let child = Command::new("redis-server")
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (7.0.15) must be installed for these tests");
        let mut r = Redis { child, port };
        let t0 = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(st) = r.child.try_wait().unwrap() {
                panic!(
                    "redis-server exited ({st}): {}",
                    std::fs::read_to_string(dir.join("redis.log")).unwrap_or_default()
                );
            }
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "redis-server did not start"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        r.port = port;
        // Redis accepts connections while it loads; wait until PING is not -LOADING.
        let mut c = Client::connect(port);
        loop {
            c.w.write_all(b"*1\r\n$4\r\nPING\r\n").unwrap();
            let mut line = String::new();
            c.r.read_line(&mut line).unwrap();
            if line.starts_with("+PONG") {
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "still loading: {line}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        r
    }

    /// Stops it by PID (SIGTERM) and waits for the exit.
    fn stop(mut self) {
        // SAFETY: kill only sends a signal to the child we started.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        self.child.wait().unwrap();
    }
}

struct Client {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

#[derive(Debug)]
enum Reply {
    Line(String),
    Bulk(Option<Vec<u8>>),
    Array(Vec<Reply>),
}

impl Client {
    fn connect(port: u16) -> Client {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        Client {
            r: BufReader::new(s.try_clone().unwrap()),
            w: s,
        }
    }

    fn read(&mut self) -> Reply {
        let mut line = String::new();
        self.r.read_line(&mut line).unwrap();
        let line = line.trim_end().to_string();
        let (t, rest) = line.split_at(1);
        match t {
            "+" | ":" => Reply::Line(rest.to_string()),
            "-" => panic!("error reply: {rest}"),
            "$" => {
                let n: i64 = rest.parse().unwrap();
                if n < 0 {
                    return Reply::Bulk(None);
                }
                let mut b = vec![0u8; n as usize + 2];
                self.r.read_exact(&mut b).unwrap();
                b.truncate(n as usize);
                Reply::Bulk(Some(b))
            }
            "*" => {
                let n: i64 = rest.parse().unwrap();
                Reply::Array((0..n.max(0)).map(|_| self.read()).collect())
            }
            _ => panic!("bad reply line {line}"),
        }
    }

    fn cmd(&mut self, args: &[&str]) -> Reply {
        let mut out = Vec::new();
        amber_persist::aof::encode_command(
            &mut out,
            &args.iter().map(|a| a.as_bytes()).collect::<Vec<_>>(),
        );
        self.w.write_all(&out).unwrap();
        self.read()
    }

    fn info_field(&mut self, field: &str) -> String {
        let Reply::Bulk(Some(b)) = self.cmd(&["INFO", "persistence"]) else {
            panic!("INFO")
        };
        let s = String::from_utf8(b).unwrap();
        s.lines()
            .find_map(|l| l.strip_prefix(&format!("{field}:")).map(str::to_string))
            .unwrap()
    }
}

fn need(tool: &str) {
    let ok = Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    assert!(
        ok,
        "{tool} (Redis 7.0.15) must be installed for these tests"
    );
}

// ---------------------------------------------------------------- workload and replay

type Db = BTreeMap<(u64, Vec<u8>), Vec<u8>>;

/// Commands sent (all write string keys), and the data they leave.
fn workload(c: &mut Client, part: u32, sent: &mut Vec<Vec<String>>, expect: &mut Db) {
    let mut run = |c: &mut Client, args: &[&str]| {
        let reply = c.cmd(args);
        match (args[0], &reply) {
            (_, Reply::Line(s)) if s == "QUEUED" => {}
            ("SET" | "MULTI", Reply::Line(s)) => assert_eq!(s, "OK"),
            ("EXEC", Reply::Array(v)) => assert_eq!(v.len(), 2),
            ("INCR" | "DEL", Reply::Line(_)) => {}
            _ => panic!("{args:?} -> {reply:?}"),
        }
        sent.push(args.iter().map(|s| s.to_string()).collect());
    };
    let p = part.to_string();
    for i in 0..6 {
        let k = format!("k{p}-{i}");
        let v = format!("v{i}-\r\n-{}", "x".repeat(i * 7));
        run(c, &["SET", &k, &v]);
        expect.insert((0, k.into_bytes()), v.into_bytes());
    }
    run(c, &["INCR", "counter"]);
    run(c, &["INCR", "counter"]);
    let n: i64 = match expect.get(&(0, b"counter".to_vec())) {
        Some(v) => String::from_utf8_lossy(v).parse().unwrap(),
        None => 0,
    };
    expect.insert((0, b"counter".to_vec()), (n + 2).to_string().into_bytes());
    // A transaction: replies +OK, +QUEUED, +QUEUED, then the EXEC array.
    run(c, &["MULTI"]);
    run(c, &["SET", &format!("m{p}"), "in-multi"]);
    run(c, &["DEL", &format!("k{p}-0")]);
    run(c, &["EXEC"]);
    expect.insert((0, format!("m{p}").into_bytes()), b"in-multi".to_vec());
    expect.remove(&(0, format!("k{p}-0").into_bytes()));
    c.cmd(&["SELECT", "3"]);
    run(c, &["SET", &format!("db3-{p}"), "three"]);
    expect.insert((3, format!("db3-{p}").into_bytes()), b"three".to_vec());
    c.cmd(&["SELECT", "0"]);
}

/// Replays what a reader yields into `db` (strings only, which is all the workload writes).
fn replay(path: &Path, db: &mut Db, selected: &mut u64) -> (u64, Vec<Vec<Vec<u8>>>) {
    let mut r = AofReader::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut rdb_db = 0u64;
    let mut queued: Option<Vec<Vec<Vec<u8>>>> = None;
    let mut cmds = Vec::new();
    let mut annotations = 0;
    while let Some(e) = r.next().unwrap() {
        match e {
            AofEntry::Rdb(Item::SelectDb(n)) => rdb_db = n,
            AofEntry::Rdb(Item::Entry(en)) => {
                let RdbValue::String(v) = en.value else {
                    panic!("unexpected value type")
                };
                db.insert((rdb_db, en.key), v);
            }
            AofEntry::Rdb(_) => {}
            AofEntry::Annotation(a) => {
                assert!(matches!(a.kind, AnnotationKind::Timestamp(_)), "{a:?}");
                annotations += 1;
            }
            AofEntry::Command { args, .. } => {
                cmds.push(args.clone());
                let name = String::from_utf8_lossy(&args[0]).to_ascii_uppercase();
                match (name.as_str(), &mut queued) {
                    ("MULTI", q) => *q = Some(Vec::new()),
                    ("EXEC", q) => {
                        for c in q.take().unwrap() {
                            apply(&c, db, selected);
                        }
                    }
                    (_, Some(q)) => q.push(args),
                    (_, None) => apply(&args, db, selected),
                }
            }
        }
    }
    assert_eq!(
        r.tail(),
        Some(&Tail::Clean {
            len: std::fs::metadata(path).unwrap().len()
        })
    );
    assert!(queued.is_none());
    (annotations, cmds)
}

fn apply(args: &[Vec<u8>], db: &mut Db, selected: &mut u64) {
    let name = String::from_utf8_lossy(&args[0]).to_ascii_uppercase();
    match name.as_str() {
        "SELECT" => *selected = String::from_utf8_lossy(&args[1]).parse().unwrap(),
        "SET" => {
            db.insert((*selected, args[1].clone()), args[2].clone());
        }
        "INCR" => {
            let k = (*selected, args[1].clone());
            let n: i64 = db
                .get(&k)
                .map(|v| String::from_utf8_lossy(v).parse().unwrap())
                .unwrap_or(0);
            db.insert(k, (n + 1).to_string().into_bytes());
        }
        "DEL" => {
            for k in &args[1..] {
                db.remove(&(*selected, k.clone()));
            }
        }
        other => panic!("unexpected command {other}"),
    }
}

fn read_set(dir: &Path) -> (Manifest, Db, Vec<Vec<Vec<u8>>>, u64) {
    let aofdir = dir.join("appendonlydir");
    let text = std::fs::read(aofdir.join("appendonly.aof.manifest")).unwrap();
    let m = Manifest::parse_bytes(&text).unwrap();
    assert_eq!(
        m.to_text().into_bytes(),
        text,
        "to_text reproduces Redis's manifest"
    );
    let mut db = Db::new();
    let mut selected = 0;
    let mut incr_cmds = Vec::new();
    let mut annotations = 0;
    for f in m.files_to_load() {
        let (a, cmds) = replay(&f.path_in(&aofdir), &mut db, &mut selected);
        annotations += a;
        if f.kind == amber_persist::aof::AofFileType::Incr {
            incr_cmds.extend(cmds);
        }
        let j = judge_file(&f.path_in(&aofdir)).unwrap();
        assert_eq!(j, Judgment::Ok, "{}", f.name_lossy());
    }
    let report = check(
        &aofdir.join("appendonly.aof.manifest"),
        &CheckOptions::default(),
    )
    .unwrap();
    assert_eq!(report.verdict, Verdict::Valid);
    (m, db, incr_cmds, annotations)
}

fn without_select(cmds: &[Vec<Vec<u8>>]) -> Vec<Vec<String>> {
    cmds.iter()
        .filter(|c| !c[0].eq_ignore_ascii_case(b"SELECT"))
        .map(|c| {
            c.iter()
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect()
        })
        .collect()
}

#[test]
fn redis_appendonlydir_reads_back() {
    need("redis-server");
    for (preamble, ts) in [("yes", "no"), ("no", "yes")] {
        let dir = tmpdir("read");
        let r = Redis::start(
            &dir,
            &[
                "--aof-use-rdb-preamble",
                preamble,
                "--aof-timestamp-enabled",
                ts,
            ],
        );
        let mut c = Client::connect(r.port);
        let mut sent = Vec::new();
        let mut expect = Db::new();
        workload(&mut c, 1, &mut sent, &mut expect);
        r.stop();
        let (m, db, incr_cmds, annotations) = read_set(&dir);
        assert_eq!(db, expect, "preamble {preamble}");
        assert!(m.base.is_some() && m.incrs.len() == 1 && m.history.is_empty());
        // The incr file holds exactly what was sent, SELECTs aside.
        let sent_upper: Vec<Vec<String>> = sent.clone();
        assert_eq!(without_select(&incr_cmds), sent_upper);
        assert_eq!(annotations > 0, ts == "yes");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn after_bgrewriteaof_with_history_kept() {
    need("redis-server");
    for preamble in ["yes", "no"] {
        let dir = tmpdir("rewrite");
        let r = Redis::start(
            &dir,
            &[
                "--aof-use-rdb-preamble",
                preamble,
                "--aof-timestamp-enabled",
                "yes",
                "--aof-disable-auto-gc",
                "yes",
            ],
        );
        let mut c = Client::connect(r.port);
        let mut sent = Vec::new();
        let mut expect = Db::new();
        workload(&mut c, 1, &mut sent, &mut expect);
        c.cmd(&["BGREWRITEAOF"]);
        let t0 = Instant::now();
        while c.info_field("aof_rewrite_in_progress") != "0"
            || c.info_field("aof_rewrite_scheduled") != "0"
        {
            assert!(t0.elapsed() < Duration::from_secs(20));
            std::thread::sleep(Duration::from_millis(20));
        }
        workload(&mut c, 2, &mut sent, &mut expect);
        r.stop();
        let (m, db, _, _) = read_set(&dir);
        assert_eq!(db, expect, "preamble {preamble}");
        let base = m.base.as_ref().unwrap();
        assert_eq!(base.seq, 2);
        let suffix: &[u8] = if preamble == "yes" {
            b".base.rdb"
        } else {
            b".base.aof"
        };
        assert!(base.name.ends_with(suffix));
        // History kept (auto gc off): the old base and the old incr, in Redis's order,
        // and the Manifest bookkeeping reproduces the same manifest from the old one.
        assert_eq!(m.history.len(), 2, "{}", m.to_text());
        let mut old = Manifest::new();
        old.next_base("appendonly.aof", preamble == "yes");
        old.next_incr("appendonly.aof");
        old.next_incr("appendonly.aof");
        old.next_base("appendonly.aof", preamble == "yes");
        old.mark_rewritten_incrs_as_history(true);
        assert_eq!(old.to_text(), m.to_text());
        let _ = std::fs::remove_dir_all(&dir);
    }
}

// ---------------------------------------------------------------- the oracle, per offset

/// What redis-check-aof says: None when valid, Some(ok_up_to) when not.
fn redis_check(path: &Path) -> (Option<u64>, String) {
    let out = Command::new("redis-check-aof").arg(path).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let ok_up_to = text
        .split("ok_up_to=")
        .nth(1)
        .map(|s| s.split(',').next().unwrap().parse::<u64>().unwrap());
    if out.status.success() {
        assert!(
            text.contains("is valid") || text.contains("is empty"),
            "{text}"
        );
        assert!(ok_up_to.is_none() || text.contains("diff=0"), "{text}");
        (None, text)
    } else {
        assert!(text.contains("is not valid"), "{text}");
        (Some(ok_up_to.unwrap()), text)
    }
}

fn redis_fix(path: &Path) {
    let mut child = Command::new("redis-check-aof")
        .arg("--fix")
        .arg(path)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"y\n").unwrap();
    child.wait().unwrap();
}

/// Compares one variant of the file with redis-check-aof, both the verdict and the fix.
fn compare(dir: &Path, tag: &str, data: &[u8], truncation: bool) {
    let a = dir.join(format!("{tag}.a.aof"));
    let b = dir.join(format!("{tag}.b.aof"));
    std::fs::write(&a, data).unwrap();
    std::fs::write(&b, data).unwrap();
    let (theirs, text) = redis_check(&a);
    let report = check(&b, &CheckOptions::default()).unwrap();
    let ours = match report.verdict {
        Verdict::Valid => None,
        Verdict::Fixable { valid_len, .. } => Some(valid_len),
        ref v => panic!("{tag}: unexpected verdict {v:?}"),
    };
    assert_eq!(ours, theirs, "{tag}: redis-check-aof said:\n{text}");
    let j = judge_file(&b).unwrap();
    match (theirs, &j) {
        (None, Judgment::Ok) => {}
        (Some(n), Judgment::Truncated { valid_len, .. }) => assert_eq!(*valid_len, n, "{tag}"),
        (Some(_), Judgment::Corrupt { .. }) if !truncation => {}
        _ => panic!("{tag}: judge says {j:?}, redis-check-aof {theirs:?}"),
    }
    if theirs.is_some() {
        redis_fix(&a);
        fix(&report).unwrap();
        assert_eq!(
            std::fs::read(&a).unwrap(),
            std::fs::read(&b).unwrap(),
            "{tag}: fixed files differ"
        );
    }
    let _ = std::fs::remove_file(&a);
    let _ = std::fs::remove_file(&b);
}

/// A Redis-written incr file with timestamps (two seconds), SELECTs and a MULTI/EXEC.
fn sample_incr() -> (Vec<u8>, Vec<i64>) {
    let dir = tmpdir("sample");
    let r = Redis::start(&dir, &["--aof-timestamp-enabled", "yes"]);
    let mut c = Client::connect(r.port);
    c.cmd(&["SET", "a", "1"]);
    c.cmd(&["MULTI"]);
    c.cmd(&["SET", "b", "two\r\n"]);
    c.cmd(&["INCR", "a"]);
    c.cmd(&["EXEC"]);
    std::thread::sleep(Duration::from_millis(1100));
    c.cmd(&["SELECT", "5"]);
    c.cmd(&["SET", "c", "3"]);
    c.cmd(&["DEL", "c"]);
    r.stop();
    let data = std::fs::read(dir.join("appendonlydir/appendonly.aof.1.incr.aof")).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let mut ts = Vec::new();
    let mut rd = AofReader::new(&data[..]).unwrap();
    while let Some(e) = rd.next().unwrap() {
        if let AofEntry::Annotation(a) = e {
            if let AnnotationKind::Timestamp(t) = a.kind {
                ts.push(t);
            }
        }
    }
    assert!(ts.len() >= 2, "the workload spans two seconds");
    (data, ts)
}

fn parallel(n: usize, f: impl Fn(usize) + Sync) {
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= n {
                    break;
                }
                f(i);
            });
        }
    });
}

#[test]
fn every_truncation_agrees_with_redis_check_aof() {
    need("redis-check-aof");
    need("redis-server");
    let (data, _) = sample_incr();
    assert!(data.len() > 150 && data.len() < 1000, "{}", data.len());
    let dir = tmpdir("cuts");
    parallel(data.len() + 1, |cut| {
        compare(&dir, &format!("cut{cut}"), &data[..cut], true);
    });
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn every_overwritten_byte_agrees_with_redis_check_aof() {
    need("redis-check-aof");
    need("redis-server");
    let (data, _) = sample_incr();
    let dir = tmpdir("bytes");
    let subs = [b'X', b'\n', b'*', b'#', 0u8];
    parallel(data.len() * subs.len(), |k| {
        let (i, s) = (k / subs.len(), subs[k % subs.len()]);
        if data[i] == s {
            return;
        }
        let mut d = data.clone();
        d[i] = s;
        compare(&dir, &format!("b{i}-{s}"), &d, false);
    });
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn truncate_to_timestamp_agrees_with_redis_check_aof() {
    need("redis-check-aof");
    need("redis-server");
    let (data, ts) = sample_incr();
    let dir = tmpdir("ts");
    for (k, t) in [ts[0] - 1, ts[0], ts[1] - 1, ts[1], ts[1] + 10, 0]
        .into_iter()
        .enumerate()
    {
        let a = dir.join(format!("t{k}.a.aof"));
        let b = dir.join(format!("t{k}.b.aof"));
        std::fs::write(&a, &data).unwrap();
        std::fs::write(&b, &data).unwrap();
        let out = Command::new("redis-check-aof")
            .arg("--truncate-to-timestamp")
            .arg(t.to_string())
            .arg(&a)
            .output()
            .unwrap();
        let report = check(
            &b,
            &CheckOptions {
                truncate_to_timestamp: Some(t),
            },
        )
        .unwrap();
        let ok = match report.verdict {
            Verdict::TimestampCut { .. } => {
                fix(&report).unwrap();
                true
            }
            Verdict::NothingToTruncate | Verdict::Valid => true,
            Verdict::Unfixable { .. } => false,
            ref v => panic!("{v:?}"),
        };
        assert_eq!(
            ok,
            out.status.success(),
            "ts {t}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert_eq!(
            std::fs::read(&a).unwrap(),
            std::fs::read(&b).unwrap(),
            "ts {t}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A sample of cuts loaded by redis-server with aof-load-truncated yes: it starts, and cuts
/// the file where `loader_len` says (or before the MULTI for an unfinished one).
#[test]
fn redis_loader_cuts_where_loader_len_says() {
    need("redis-server");
    let (data, _) = sample_incr();
    let cuts: Vec<usize> = (1..data.len()).step_by(9).collect();
    for cut in cuts {
        let part = &data[..cut];
        let tail = AofReader::new(part).unwrap().read_to_end().unwrap();
        let expect = match &tail {
            Tail::Clean { len } => *len,
            Tail::Truncated { loader_len, .. } => *loader_len,
            Tail::UnfinishedMulti { valid_len, .. } => *valid_len,
            Tail::Corrupt { .. } => panic!("cut {cut}: {tail:?}"),
        };
        let dir = tmpdir("load");
        let aofdir = dir.join("appendonlydir");
        std::fs::create_dir_all(&aofdir).unwrap();
        let mut m = Manifest::new();
        m.next_incr("appendonly.aof");
        m.write_atomic(&aofdir, "appendonly.aof").unwrap();
        let f = aofdir.join("appendonly.aof.1.incr.aof");
        std::fs::write(&f, part).unwrap();
        let r = Redis::start(&dir, &["--aof-load-truncated", "yes"]);
        let len = std::fs::metadata(&f).unwrap().len();
        r.stop();
        assert_eq!(len, expect, "cut {cut}: {tail:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
