//! Interop with the installed Redis 7.0.15 (the oracle): Redis's files decode to what Redis
//! serves; our files pass redis-check-rdb and load into Redis with the same contents,
//! encodings and digests; file sizes stay within 5% of Redis's; DUMP payloads go both ways;
//! corrupt inputs are errors, never panics. Without redis-server these tests fail.
//!
//! This file holds what the tests share (a RESP client, redis-server processes, datasets,
//! canonical contents, file helpers); the tests are in its modules:
//! roundtrip.rs (files and DUMP both ways, sizes), damage.rs (truncations, flips, corrupt
//! values), legacy.rs (older and newer encodings, streams saved by Redis).
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use amber_persist::rdb::{
    create_dump, to_value, verify_and_decode_dump, Decoder, EncodeOptions, Encoder, Item, RdbValue,
};
use amber_store::Limits;

// ---------------------------------------------------------------- a tiny RESP client

#[derive(Debug, Clone, PartialEq)]
enum Reply {
    Status(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Reply>>),
}

impl Reply {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Reply::Bulk(Some(b)) => b.clone(),
            Reply::Status(s) => s.as_bytes().to_vec(),
            other => panic!("expected a bulk reply, got {other:?}"),
        }
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes()).into_owned()
    }
    fn int(&self) -> i64 {
        match self {
            Reply::Int(n) => *n,
            other => panic!("expected an integer reply, got {other:?}"),
        }
    }
    fn array(&self) -> Vec<Reply> {
        match self {
            Reply::Array(Some(v)) => v.clone(),
            other => panic!("expected an array reply, got {other:?}"),
        }
    }
}

struct Client {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl Client {
    fn connect(port: u16) -> std::io::Result<Client> {
        let s = TcpStream::connect(("127.0.0.1", port))?;
        s.set_read_timeout(Some(Duration::from_secs(60)))?;
        Ok(Client {
            r: BufReader::new(s.try_clone()?),
            w: s,
        })
    }

    fn send(&mut self, args: &[&[u8]]) {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
        self.w.write_all(&out).unwrap();
    }

    fn read(&mut self) -> Reply {
        let mut line = Vec::new();
        self.r.read_until(b'\n', &mut line).unwrap();
        assert!(line.len() >= 3, "connection closed");
        let body = String::from_utf8_lossy(&line[1..line.len() - 2]).into_owned();
        match line[0] {
            b'+' => Reply::Status(body),
            b'-' => Reply::Error(body),
            b':' => Reply::Int(body.parse().unwrap()),
            b'$' => {
                let n: i64 = body.parse().unwrap();
                if n < 0 {
                    return Reply::Bulk(None);
                }
                let mut b = vec![0u8; n as usize + 2];
                self.r.read_exact(&mut b).unwrap();
                b.truncate(n as usize);
                Reply::Bulk(Some(b))
            }
            b'*' => {
                let n: i64 = body.parse().unwrap();
                if n < 0 {
                    return Reply::Array(None);
                }
                Reply::Array(Some((0..n).map(|_| self.read()).collect()))
            }
            c => panic!("bad reply type {c}"),
        }
    }

    fn cmd(&mut self, args: &[&[u8]]) -> Reply {
        self.send(args);
        self.read()
    }

    fn ok(&mut self, args: &[&[u8]]) -> Reply {
        let r = self.cmd(args);
        if let Reply::Error(e) = &r {
            panic!(
                "{:?} failed: {e}",
                args.iter()
                    .map(|a| String::from_utf8_lossy(a))
                    .collect::<Vec<_>>()
            );
        }
        r
    }

    /// Many commands pipelined; errors fail the test.
    fn pipeline(&mut self, cmds: &[Vec<Vec<u8>>]) {
        for chunk in cmds.chunks(1000) {
            for c in chunk {
                let a: Vec<&[u8]> = c.iter().map(Vec::as_slice).collect();
                self.send(&a);
            }
            for _ in chunk {
                if let Reply::Error(e) = self.read() {
                    panic!("pipelined command failed: {e}");
                }
            }
        }
    }
}

// ---------------------------------------------------------------- redis-server processes

struct Redis {
    child: Child,
    port: u16,
    dir: PathBuf,
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn tempdir(tag: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let d = std::env::temp_dir().join(format!("amber-persist-{}-{tag}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

impl Redis {
    fn start(dir: &Path, extra: &[&str]) -> Redis {
        for _ in 0..5 {
            let port = free_port();
            let mut cmd = Command::new("redis-server");
            cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                .arg("--dir")
                .arg(dir)
                .args(["--dbfilename", "dump.rdb", "--enable-debug-command", "yes"])
                .args(["--daemonize", "no", "--logfile", ""])
                .args(extra)
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            let child = cmd
                .spawn()
                .expect("redis-server (7.0.15) must be installed for the interop tests");
            let mut r = Redis {
                child,
                port,
                dir: dir.to_path_buf(),
            };
            let t = Instant::now();
            while t.elapsed() < Duration::from_secs(20) {
                if let Ok(Some(_)) = r.child.try_wait() {
                    break;
                }
                if let Ok(mut c) = Client::connect(port) {
                    // Wait until any RDB is loaded.
                    if c.cmd(&[b"PING"]) == Reply::Status("PONG".into()) {
                        return r;
                    }
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = r.child.kill();
            let _ = r.child.wait();
        }
        panic!("redis-server did not start");
    }

    fn client(&self) -> Client {
        Client::connect(self.port).unwrap()
    }

    fn save(&self) -> PathBuf {
        let mut c = self.client();
        assert_eq!(c.ok(&[b"SAVE"]), Reply::Status("OK".into()));
        self.dir.join("dump.rdb")
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------- datasets

fn v(parts: &[&[u8]]) -> Vec<Vec<u8>> {
    parts.iter().map(|p| p.to_vec()).collect()
}

fn compressible(n: usize, seed: usize) -> Vec<u8> {
    (0..n).map(|i| b"abcdefghij"[(i / 7 + seed) % 10]).collect()
}

fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Every type and encoding, small and large, binary keys, expiries, several databases.
fn populate(c: &mut Client, scale: usize) {
    let mut cmds: Vec<Vec<Vec<u8>>> = Vec::new();
    let e: &[u8] = b"";
    cmds.push(v(&[b"SET", b"int", b"12345"]));
    cmds.push(v(&[b"SET", b"neg", b"-7"]));
    cmds.push(v(&[b"SET", b"i16", b"-30000"]));
    cmds.push(v(&[b"SET", b"i32", b"2000000000"]));
    cmds.push(v(&[b"SET", b"bigint", b"9223372036854775807"]));
    cmds.push(v(&[b"SET", b"emb", b"hello world"]));
    cmds.push(v(&[b"SET", b"leading0", b"007"]));
    cmds.push(v(&[b"SET", b"float", b"3.14"]));
    cmds.push(v(&[b"SET", b"empty", e]));
    cmds.push(v(&[b"SET", b"bin\x00key\xff", b"\x00\x01\x02\xff\xfe"]));
    cmds.push(vec![
        b"SET".to_vec(),
        b"rawlong".to_vec(),
        compressible(1000, 0),
    ]);
    cmds.push(vec![b"SET".to_vec(), b"noise".to_vec(), noise(300, 7)]);
    cmds.push(vec![
        b"SET".to_vec(),
        compressible(100, 3),
        b"long key".to_vec(),
    ]);
    cmds.push(v(&[b"SET", b"12", b"numeric key"]));
    cmds.push(v(&[b"APPEND", b"appended", b"abc"]));
    cmds.push(v(&[b"SET", b"exp", b"v", b"PX", b"100000000"]));
    cmds.push(v(&[
        b"RPUSH", b"l1", b"a", b"b", b"1", b"2", b"300000", b"-5", b"",
    ]));
    for i in 0..(50 * scale) {
        cmds.push(vec![
            b"RPUSH".to_vec(),
            b"lbig".to_vec(),
            format!("item-{i}").into_bytes(),
            i.to_string().into_bytes(),
        ]);
        cmds.push(vec![
            b"LPUSH".to_vec(),
            b"lbig".to_vec(),
            compressible(30 + i % 50, i),
        ]);
    }
    for i in 0..5 {
        cmds.push(vec![
            b"RPUSH".to_vec(),
            b"lhuge".to_vec(),
            compressible(10_000 + i, i),
        ]);
        cmds.push(vec![
            b"RPUSH".to_vec(),
            b"lhuge".to_vec(),
            noise(9000, i as u64 + 1),
        ]);
    }
    cmds.push(v(&[
        b"SADD",
        b"si",
        b"1",
        b"2",
        b"3",
        b"-100",
        b"100000",
        b"-9223372036854775808",
    ]));
    cmds.push(v(&[b"SADD", b"ss", b"a", b"b", b"c", b"1"]));
    for i in 0..(20 * scale) {
        cmds.push(vec![
            b"SADD".to_vec(),
            b"sibig".to_vec(),
            (i * 3).to_string().into_bytes(),
        ]);
        cmds.push(vec![
            b"SADD".to_vec(),
            b"ssbig".to_vec(),
            format!("member:{i}").into_bytes(),
        ]);
    }
    cmds.push(v(&[
        b"HSET",
        b"h1",
        b"f1",
        b"v1",
        b"f2",
        b"2",
        b"n",
        b"-12345678901",
    ]));
    cmds.push(vec![
        b"HSET".to_vec(),
        b"hlong".to_vec(),
        b"f".to_vec(),
        compressible(100, 1),
    ]);
    for i in 0..(15 * scale) {
        cmds.push(vec![
            b"HSET".to_vec(),
            b"hbig".to_vec(),
            format!("field:{i}").into_bytes(),
            format!("value:{}", i * 7).into_bytes(),
        ]);
    }
    cmds.push(v(&[
        b"ZADD", b"z1", b"1", b"a", b"2.5", b"b", b"-0", b"c", b"1e300", b"d", b"inf", b"e",
        b"-inf", b"f", b"1.1", b"g", b"-3", b"h",
    ]));
    cmds.push(vec![
        b"ZADD".to_vec(),
        b"zlong".to_vec(),
        b"1".to_vec(),
        compressible(100, 2),
    ]);
    for i in 0..(15 * scale) {
        cmds.push(vec![
            b"ZADD".to_vec(),
            b"zbig".to_vec(),
            format!("{}", (i as f64) * 0.37 - 20.0).into_bytes(),
            format!("m{i}").into_bytes(),
        ]);
    }
    cmds.push(v(&[b"HSET", b"hexp", b"a", b"b"]));
    cmds.push(v(&[b"PEXPIREAT", b"hexp", b"4102444800000"]));
    cmds.push(v(&[b"SELECT", b"1"]));
    cmds.push(v(&[b"SET", b"db1key", b"in db 1"]));
    cmds.push(v(&[b"RPUSH", b"db1list", b"x", b"y"]));
    cmds.push(v(&[b"SELECT", b"5"]));
    cmds.push(v(&[b"SADD", b"db5set", b"only"]));
    cmds.push(v(&[b"SELECT", b"0"]));
    c.pipeline(&cmds);
}

/// A dataset of long collections and strings, for the file size comparison.
fn populate_bulk(c: &mut Client) {
    let mut cmds: Vec<Vec<Vec<u8>>> = Vec::new();
    for k in 0..20 {
        let key = format!("list:{k}").into_bytes();
        for i in 0..2000 {
            cmds.push(vec![
                b"RPUSH".to_vec(),
                key.clone(),
                format!("element-{}-{}", k, i * 13 % 1000).into_bytes(),
            ]);
        }
        let key = format!("hash:{k}").into_bytes();
        for i in 0..(if k % 2 == 0 { 100 } else { 1000 }) {
            cmds.push(vec![
                b"HSET".to_vec(),
                key.clone(),
                format!("f{i}").into_bytes(),
                format!("value {}", i * 31).into_bytes(),
            ]);
        }
        let key = format!("zset:{k}").into_bytes();
        for i in 0..(if k % 2 == 0 { 100 } else { 1000 }) {
            cmds.push(vec![
                b"ZADD".to_vec(),
                key.clone(),
                format!("{}", i as f64 / 3.0).into_bytes(),
                format!("member{i}").into_bytes(),
            ]);
        }
        let key = format!("set:{k}").into_bytes();
        for i in 0..(if k % 2 == 0 { 400 } else { 1000 }) {
            let m = if k % 4 == 0 {
                (i * 7).to_string()
            } else {
                format!("s{i}")
            };
            cmds.push(vec![b"SADD".to_vec(), key.clone(), m.into_bytes()]);
        }
    }
    for i in 0..5000 {
        cmds.push(vec![
            b"SET".to_vec(),
            format!("str:{i}").into_bytes(),
            if i % 3 == 0 {
                compressible(200, i)
            } else {
                format!("v{i}").into_bytes()
            },
        ]);
    }
    c.pipeline(&cmds);
}

// ---------------------------------------------------------------- canonical contents

#[derive(Debug, Clone, PartialEq)]
enum Canon {
    Str(Vec<u8>),
    List(Vec<Vec<u8>>),
    Set(Vec<Vec<u8>>),
    Hash(Vec<(Vec<u8>, Vec<u8>)>),
    ZSet(Vec<(Vec<u8>, f64)>),
    Stream(Box<amber_store::stream::Stream>),
}

fn canon_rdb(v: &RdbValue) -> Canon {
    match v {
        RdbValue::String(s) => Canon::Str(s.clone()),
        RdbValue::List(l) => Canon::List(l.clone()),
        RdbValue::Set(s) => {
            let mut s = s.clone();
            s.sort();
            Canon::Set(s)
        }
        RdbValue::IntSet(s) => {
            let mut s: Vec<Vec<u8>> = s.iter().map(|i| i.to_string().into_bytes()).collect();
            s.sort();
            Canon::Set(s)
        }
        RdbValue::Hash(h) | RdbValue::HashListpack(h) => {
            let mut h = h.clone();
            h.sort();
            Canon::Hash(h)
        }
        RdbValue::ZSet(z) | RdbValue::ZSetListpack(z) => {
            let mut z: Vec<(Vec<u8>, f64)> = z.iter().map(|(m, s)| (m.clone(), s + 0.0)).collect();
            z.sort_by(|a, b| a.1.partial_cmp(&b.1).unwrap().then_with(|| a.0.cmp(&b.0)));
            Canon::ZSet(z)
        }
        RdbValue::Stream(s) => Canon::Stream(s.clone()),
    }
}

fn parse_f64(s: &str) -> f64 {
    match s {
        "inf" => f64::INFINITY,
        "-inf" => f64::NEG_INFINITY,
        _ => s.parse().unwrap(),
    }
}

fn canon_redis(c: &mut Client, key: &[u8]) -> Canon {
    let t = c.ok(&[b"TYPE", key]);
    match t {
        Reply::Status(t) => match t.as_str() {
            "string" => Canon::Str(c.ok(&[b"GET", key]).bytes()),
            "list" => Canon::List(
                c.ok(&[b"LRANGE", key, b"0", b"-1"])
                    .array()
                    .iter()
                    .map(Reply::bytes)
                    .collect(),
            ),
            "set" => {
                let mut s: Vec<Vec<u8>> = c
                    .ok(&[b"SMEMBERS", key])
                    .array()
                    .iter()
                    .map(Reply::bytes)
                    .collect();
                s.sort();
                Canon::Set(s)
            }
            "hash" => {
                let a = c.ok(&[b"HGETALL", key]).array();
                let mut h: Vec<(Vec<u8>, Vec<u8>)> =
                    a.chunks(2).map(|p| (p[0].bytes(), p[1].bytes())).collect();
                h.sort();
                Canon::Hash(h)
            }
            "zset" => {
                let a = c.ok(&[b"ZRANGE", key, b"0", b"-1", b"WITHSCORES"]).array();
                let mut z: Vec<(Vec<u8>, f64)> = a
                    .chunks(2)
                    .map(|p| (p[0].bytes(), parse_f64(&p[1].text())))
                    .collect();
                z.sort_by(|a, b| a.1.partial_cmp(&b.1).unwrap().then_with(|| a.0.cmp(&b.0)));
                Canon::ZSet(z)
            }
            other => panic!("unexpected type {other}"),
        },
        other => panic!("TYPE failed: {other:?}"),
    }
}

type DbContents = BTreeMap<u64, BTreeMap<Vec<u8>, (RdbValue, Option<i64>)>>;

type AuxFields = Vec<(Vec<u8>, Vec<u8>)>;

fn decode_file(path: &Path) -> (DbContents, AuxFields) {
    let f = std::fs::File::open(path).unwrap();
    let mut d = Decoder::new(f).unwrap();
    assert_eq!(d.version(), 10);
    let mut db = 0;
    let mut out: DbContents = BTreeMap::new();
    let mut aux = Vec::new();
    loop {
        match d.next().unwrap() {
            Some(Item::Aux { key, value }) => aux.push((key, value)),
            Some(Item::SelectDb(n)) => db = n,
            Some(Item::ResizeDb { .. }) | Some(Item::Function(_)) => {}
            Some(Item::Entry(e)) => {
                let prev = out
                    .entry(db)
                    .or_default()
                    .insert(e.key, (e.value, e.expire_ms));
                assert!(prev.is_none(), "duplicate key");
            }
            Some(Item::Eof {
                stored_crc,
                computed_crc,
            }) => {
                assert_eq!(stored_crc, Some(computed_crc));
                break;
            }
            None => panic!("no EOF"),
        }
    }
    assert!(d.next().unwrap().is_none());
    (out, aux)
}

fn limits_for(extra: &[&str]) -> Limits {
    let mut l = Limits::default();
    for w in extra.windows(2) {
        let n: i64 = match w[1].parse() {
            Ok(n) => n,
            Err(_) => continue,
        };
        match w[0] {
            "--hash-max-listpack-entries" => l.hash_max_listpack_entries = n as usize,
            "--hash-max-listpack-value" => l.hash_max_listpack_value = n as usize,
            "--set-max-intset-entries" => l.set_max_intset_entries = n as usize,
            "--zset-max-listpack-entries" => l.zset_max_listpack_entries = n as usize,
            "--zset-max-listpack-value" => l.zset_max_listpack_value = n as usize,
            _ => {}
        }
    }
    l
}

/// Encodes decoded contents with our encoder, as a server's SAVE would.
fn encode_file(contents: &DbContents, limits: &Limits, path: &Path, opts: EncodeOptions) -> u64 {
    let f = std::fs::File::create(path).unwrap();
    let mut e = Encoder::new(std::io::BufWriter::new(f), opts).unwrap();
    e.aux("redis-ver", b"7.0.15").unwrap();
    e.aux("redis-bits", b"64").unwrap();
    e.aux("ctime", b"1700000000").unwrap();
    e.aux("used-mem", b"1000000").unwrap();
    e.aux("aof-base", b"0").unwrap();
    for (db, keys) in contents {
        e.select_db(*db).unwrap();
        let expires = keys.values().filter(|k| k.1.is_some()).count() as u64;
        e.resize_db(keys.len() as u64, expires).unwrap();
        for (k, (val, exp)) in keys {
            let value = to_value(val.clone(), limits);
            e.entry(k, &value, *exp).unwrap();
        }
    }
    let n = e.bytes_written();
    e.finish().unwrap().flush().unwrap();
    // EOF opcode and CRC trailer.
    n + 9
}

fn check_rdb(path: &Path) {
    let out = Command::new("redis-check-rdb")
        .arg(path)
        .output()
        .expect("redis-check-rdb must be installed");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && text.contains("RDB looks OK"),
        "redis-check-rdb failed:\n{text}"
    );
}

fn keys_of(c: &mut Client) -> Vec<Vec<u8>> {
    let mut k: Vec<Vec<u8>> = c
        .ok(&[b"KEYS", b"*"])
        .array()
        .iter()
        .map(Reply::bytes)
        .collect();
    k.sort();
    k
}

mod damage;
mod legacy;
mod roundtrip;
