//! Micro-benchmark: encode N small string keys (like DEBUG POPULATE: "key:N" → "value:N") to a
//! file through AtomicFile, then decode it (and optionally a given Redis dump) with to_value.
//!
//! cargo run --release -p amber-persist --example rdb_bench -- [N] [redis-dump.rdb]

use std::io::Write;
use std::time::Instant;

use amber_persist::io::AtomicFile;
use amber_persist::rdb::{to_value, write_entry, Decoder, EncodeOptions, Encoder, Item};
use amber_store::{Limits, Value};

fn decode(path: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    let size = std::fs::metadata(path)?.len();
    let t = Instant::now();
    let mut d = Decoder::new(std::fs::File::open(path)?)?;
    let limits = Limits::default();
    let mut n = 0u64;
    let mut sink = Vec::with_capacity(1024);
    while let Some(item) = d.next()? {
        if let Item::Entry(e) = item {
            sink.push((e.key, to_value(e.value, &limits)));
            if sink.len() == 1024 {
                sink.clear();
            }
            n += 1;
        }
    }
    let s = t.elapsed().as_secs_f64();
    println!(
        "decode {}: {n} keys, {size} bytes in {s:.3}s = {:.0} MB/s",
        path.display(),
        size as f64 / s / 1e6
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let n: u64 = args
        .get(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(5_000_000);
    let keys: Vec<(Vec<u8>, Value)> = (0..n)
        .map(|i| {
            (
                format!("key:{i}").into_bytes(),
                Value::string(format!("value:{i}").as_bytes()),
            )
        })
        .collect();
    let dir = std::env::temp_dir().join(format!("amber-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let target = dir.join("dump.rdb");

    let t = Instant::now();
    let f = AtomicFile::create(&target, true)?;
    let opts = EncodeOptions::default();
    let mut e = Encoder::new(f, opts)?;
    e.aux("redis-ver", b"7.0.15")?;
    e.select_db(0)?;
    e.resize_db(n, 0)?;
    let mut buf = Vec::with_capacity(64 * 1024);
    for (k, v) in &keys {
        write_entry(&mut buf, k, v, None, &opts);
        if buf.len() >= 32 * 1024 {
            e.raw(&buf)?;
            buf.clear();
        }
    }
    e.raw(&buf)?;
    let mut f = e.finish()?;
    f.flush()?;
    f.commit()?;
    let s = t.elapsed().as_secs_f64();
    let size = std::fs::metadata(&target)?.len();
    println!(
        "encode: {n} keys, {size} bytes in {s:.3}s = {:.0} MB/s (incl. fsync)",
        size as f64 / s / 1e6
    );
    decode(&target)?;
    if let Some(p) = args.get(2) {
        decode(std::path::Path::new(p))?;
    }
    let big: Vec<u8> = (0..64 << 20).map(|i: u32| (i % 251) as u8).collect();
    let t = Instant::now();
    let c = amber_persist::crc64::crc64(0, &big);
    let s = t.elapsed().as_secs_f64();
    println!("crc64: {:.0} MB/s ({c:x})", big.len() as f64 / s / 1e6);
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
