//! A storage that can fail any call and can crash, for tests (cberner/redb's fuzzing
//! backend is the model: count the calls, fail the n-th, then check what recovery sees).
//!
//! Every call goes to the real file system too, so that readers (the loaders, `stat`) see
//! what the page cache would show; beside it a model keeps, per file, the bytes written and
//! the bytes synced, and per directory entry whether it is durable:
//!
//! ```text
//!   write_at / set_len   ─▶ file.data                (lost by a crash)
//!   sync_data / sync_all ─▶ file.synced = file.data
//!   open (creating) / rename / remove ─▶ names       (lost by a crash)
//!   sync_dir(d)          ─▶ durable entries of d = names in d
//!   crash image          = for each durable entry: the synced bytes of its file
//! ```
//!
//! Calls are numbered from 0 in the order they arrive (every method of `Storage` and
//! `StorageFile` but `reserve`, a hint). `inject(n, fault)` makes call n fail with an errno
//! (a failed write leaves the first half of its bytes, as a short write would), or crash:
//! the image is taken just before call n, and nothing after changes it. A failed fsync
//! loses what it should have written for good, as Linux does (a later fsync that succeeds
//! does not write it: "never trust an fsync retried after an error"). A sync is never done
//! for real (the model decides what survives), so tests run at memory speed.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use super::{parent_dir, OpenHow, RealFs, Storage, StorageFile};

/// What an injected fault does to its call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The call fails with this errno (libc::EIO, libc::ENOSPC ...).
    Fail(i32),
    /// The machine stops just before this call: the image is what is durable now.
    Crash,
    /// `Crash`, but each file also keeps a part of what was appended to it since its last
    /// sync (some pages were written back before the power went; which ones follows from
    /// the seed): a command may be torn in two.
    CrashTorn(u64),
}

/// What a crash leaves: every durable file's synced bytes, by path relative to the root.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Image {
    pub files: BTreeMap<PathBuf, Vec<u8>>,
}

impl Image {
    /// Writes the image under `root` (an empty directory): the files the next start sees.
    pub fn materialize(&self, root: &Path) -> io::Result<()> {
        std::fs::create_dir_all(root)?;
        for (rel, data) in &self.files {
            let p = root.join(rel);
            std::fs::create_dir_all(parent_dir(&p))?;
            std::fs::write(&p, data)?;
        }
        Ok(())
    }
}

#[derive(Default)]
struct Node {
    data: Vec<u8>,
    synced: Vec<u8>,
    /// Byte ranges whose fsync failed: as on Linux, their pages were dropped (marked clean),
    /// so no later fsync writes them; on disk they stay as they were (zeros past the old
    /// end). Rewriting a range makes it dirty again.
    lost: Vec<(usize, usize)>,
}

impl Node {
    fn rewrote(&mut self, from: usize, to: usize) {
        let mut kept = Vec::new();
        for &(a, b) in &self.lost {
            if a < from {
                kept.push((a, b.min(from)));
            }
            if b > to {
                kept.push((a.max(to), b));
            }
        }
        kept.retain(|(a, b)| a < b);
        self.lost = kept;
    }

    fn synced_now(&mut self) {
        let old = std::mem::take(&mut self.synced);
        let mut s = self.data.clone();
        for &(a, b) in &self.lost {
            let b = b.min(s.len());
            for (i, byte) in s.iter_mut().enumerate().take(b).skip(a) {
                *byte = old.get(i).copied().unwrap_or(0);
            }
        }
        self.synced = s;
    }
}

#[derive(Default)]
struct Model {
    root: PathBuf,
    calls: u64,
    faults: BTreeMap<u64, Fault>,
    fired: Vec<String>,
    image: Option<Image>,
    nodes: HashMap<u64, Node>,
    next_node: u64,
    /// Directory entries as a reader sees them, and as they are on disk.
    names: BTreeMap<PathBuf, u64>,
    durable: BTreeMap<PathBuf, u64>,
    /// What a call did that no real file system would accept.
    violations: Vec<String>,
    /// "n op path" for every call, for failure messages.
    ops: Vec<String>,
    /// How long a file's sync takes (it takes effect at its end).
    sync_latency: std::time::Duration,
}

impl Model {
    /// Counts a call; its fault, if one was injected for it.
    fn call(&mut self, op: &str, path: &Path) -> Result<(), io::Error> {
        let n = self.calls;
        self.calls += 1;
        let shown = path.strip_prefix(&self.root).unwrap_or(path).display();
        self.ops.push(format!("{n} {op} {shown}"));
        match self.faults.get(&n).copied() {
            None => Ok(()),
            Some(fault @ (Fault::Crash | Fault::CrashTorn(_))) => {
                if self.image.is_none() {
                    let torn = match fault {
                        Fault::CrashTorn(seed) => Some(seed),
                        _ => None,
                    };
                    self.image = Some(self.durable_image_torn(torn));
                }
                self.fired.push(format!("{n} {op} {shown}: crash"));
                Ok(())
            }
            Some(Fault::Fail(errno)) => {
                self.fired.push(format!("{n} {op} {shown}: errno {errno}"));
                Err(io::Error::from_raw_os_error(errno))
            }
        }
    }

    fn durable_image(&self) -> Image {
        self.durable_image_torn(None)
    }

    /// The durable files; with a seed, each keeps a prefix of its unsynced appended bytes.
    fn durable_image_torn(&self, seed: Option<u64>) -> Image {
        let mut files = BTreeMap::new();
        for (i, (p, id)) in self.durable.iter().enumerate() {
            let Ok(rel) = p.strip_prefix(&self.root) else {
                continue;
            };
            let Some(n) = self.nodes.get(id) else {
                continue;
            };
            let mut data = n.synced.clone();
            if let Some(seed) = seed {
                let appended = n.data.len() > data.len() && n.data.starts_with(&data);
                if appended {
                    let tail = n.data.len() - data.len();
                    let keep = (splitmix(seed ^ i as u64) % (tail as u64 + 1)) as usize;
                    data.extend_from_slice(&n.data[data.len()..data.len() + keep]);
                }
            }
            files.insert(rel.to_path_buf(), data);
        }
        Image { files }
    }

    fn new_node(&mut self, path: &Path, data: Vec<u8>) -> u64 {
        let id = self.next_node;
        self.next_node += 1;
        self.nodes.insert(
            id,
            Node {
                data,
                ..Node::default()
            },
        );
        self.names.insert(path.to_path_buf(), id);
        id
    }
}

/// A well-mixed hash of `x` (splitmix64's finaliser), for a torn crash's choices.
fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The fault-injecting storage (see the module's comment).
pub struct FaultyFs {
    model: Arc<Mutex<Model>>,
}

fn lock(m: &Mutex<Model>) -> MutexGuard<'_, Model> {
    match m.lock() {
        Ok(g) => g,
        Err(e) => e.into_inner(),
    }
}

impl FaultyFs {
    /// A storage over `root`, whose files (at any depth) are taken as synced and durable.
    pub fn adopt(root: &Path) -> io::Result<Arc<FaultyFs>> {
        let mut m = Model {
            root: root.to_path_buf(),
            ..Model::default()
        };
        let mut dirs = vec![root.to_path_buf()];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(&d)? {
                let e = e?;
                let p = e.path();
                if e.file_type()?.is_dir() {
                    dirs.push(p);
                } else {
                    let data = std::fs::read(&p)?;
                    let id = m.new_node(&p, data.clone());
                    if let Some(n) = m.nodes.get_mut(&id) {
                        n.synced = data;
                    }
                    m.durable.insert(p, id);
                }
            }
        }
        Ok(Arc::new(FaultyFs {
            model: Arc::new(Mutex::new(m)),
        }))
    }

    /// Makes every file sync take `d` (a disk's flush): what the sync makes durable is
    /// durable at its end, and the call counts then.
    pub fn set_sync_latency(&self, d: std::time::Duration) {
        lock(&self.model).sync_latency = d;
    }

    /// Makes call `n` (counted from 0) fail or crash.
    pub fn inject(&self, n: u64, fault: Fault) {
        lock(&self.model).faults.insert(n, fault);
    }

    /// Calls made so far.
    pub fn calls(&self) -> u64 {
        lock(&self.model).calls
    }

    /// The injected faults that fired, as "n op path: what".
    pub fn fired(&self) -> Vec<String> {
        lock(&self.model).fired.clone()
    }

    pub fn crashed(&self) -> bool {
        lock(&self.model).image.is_some()
    }

    /// What the next start sees: the image taken at the crash, or, with no crash yet, what
    /// a crash now would leave.
    pub fn image(&self) -> Image {
        let m = lock(&self.model);
        m.image.clone().unwrap_or_else(|| m.durable_image())
    }

    /// Calls no real file system would accept (a write to an append-only file elsewhere
    /// than at its end: the kernel would append it, the model would not).
    pub fn violations(&self) -> Vec<String> {
        lock(&self.model).violations.clone()
    }

    /// Every call so far, as "n op path".
    pub fn ops(&self) -> Vec<String> {
        lock(&self.model).ops.clone()
    }
}

impl Storage for FaultyFs {
    fn open(&self, path: &Path, how: OpenHow) -> io::Result<Box<dyn StorageFile>> {
        let mut m = lock(&self.model);
        m.call("open", path)?;
        let real = RealFs.open(path, how)?;
        drop(real);
        let file = std::fs::OpenOptions::new().write(true).open(path)?;
        let existing = m.names.get(path).copied();
        let truncates = matches!(how, OpenHow::Replace { .. } | OpenHow::AppendNew { .. });
        let id = match existing {
            Some(id) => {
                if truncates {
                    if let Some(n) = m.nodes.get_mut(&id) {
                        n.data.clear();
                    }
                }
                id
            }
            // A file the model does not know (made outside it): its bytes as written, not
            // synced, not durable.
            None => {
                let data = std::fs::read(path)?;
                m.new_node(path, data)
            }
        };
        Ok(Box::new(FaultyFile {
            model: self.model.clone(),
            path: path.to_path_buf(),
            id,
            file,
            appends: how.appends(),
        }))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut m = lock(&self.model);
        m.call("rename", from)?;
        std::fs::rename(from, to)?;
        if let Some(id) = m.names.remove(from) {
            m.names.insert(to.to_path_buf(), id);
        }
        Ok(())
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        let mut m = lock(&self.model);
        m.call("remove", path)?;
        std::fs::remove_file(path)?;
        m.names.remove(path);
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut m = lock(&self.model);
        m.call("sync_dir", dir)?;
        File::open(dir)?;
        let in_dir = |p: &Path| parent_dir(p) == dir;
        m.durable.retain(|p, _| !in_dir(p));
        let now: Vec<(PathBuf, u64)> = m
            .names
            .iter()
            .filter(|(p, _)| in_dir(p))
            .map(|(p, id)| (p.clone(), *id))
            .collect();
        m.durable.extend(now);
        Ok(())
    }

    fn size(&self, path: &Path) -> io::Result<u64> {
        lock(&self.model).call("size", path)?;
        Ok(std::fs::metadata(path)?.len())
    }
}

/// A file of `FaultyFs`.
struct FaultyFile {
    model: Arc<Mutex<Model>>,
    path: PathBuf,
    id: u64,
    file: File,
    appends: bool,
}

impl FaultyFile {
    fn node<'a>(&self, m: &'a mut Model) -> &'a mut Node {
        m.nodes.entry(self.id).or_default()
    }

    fn sync(&self, op: &str) -> io::Result<()> {
        let latency = lock(&self.model).sync_latency;
        if !latency.is_zero() {
            std::thread::sleep(latency);
        }
        let mut m = lock(&self.model);
        if let Err(e) = m.call(op, &self.path) {
            let n = self.node(&mut m);
            let (from, to) = (n.synced.len().min(n.data.len()), n.data.len());
            let differs = n.data.get(..from) != Some(&n.synced[..from]);
            // What was not on disk yet is lost for good (the whole file when it changed
            // below the synced length).
            n.lost.push((if differs { 0 } else { from }, to));
            return Err(e);
        }
        self.node(&mut m).synced_now();
        Ok(())
    }
}

impl StorageFile for FaultyFile {
    fn write_at(&self, data: &[u8], offset: u64) -> io::Result<()> {
        let mut m = lock(&self.model);
        let r = m.call("write", &self.path);
        // A failed write leaves half of its bytes, as a short write does.
        let part = if r.is_ok() {
            data
        } else {
            &data[..data.len() / 2]
        };
        let len = self.node(&mut m).data.len() as u64;
        if self.appends && offset != len {
            let v = format!(
                "{}: write at {offset} of a file of {len} bytes opened to append",
                self.path.display()
            );
            m.violations.push(v);
        }
        let Ok(at) = usize::try_from(offset) else {
            return Err(io::Error::from_raw_os_error(libc::EFBIG));
        };
        self.file.write_all_at(part, offset)?;
        let n = self.node(&mut m);
        if n.data.len() < at + part.len() {
            n.data.resize(at + part.len(), 0);
        }
        n.data[at..at + part.len()].copy_from_slice(part);
        n.rewrote(at, at + part.len());
        r
    }

    fn sync_data(&self) -> io::Result<()> {
        self.sync("sync_data")
    }

    fn sync_all(&self) -> io::Result<()> {
        self.sync("sync_all")
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        let mut m = lock(&self.model);
        m.call("set_len", &self.path)?;
        self.file.set_len(len)?;
        let Ok(len) = usize::try_from(len) else {
            return Err(io::Error::from_raw_os_error(libc::EFBIG));
        };
        let n = self.node(&mut m);
        n.data.resize(len, 0);
        n.lost.retain(|(a, _)| *a < len);
        Ok(())
    }

    fn size(&self) -> io::Result<u64> {
        let mut m = lock(&self.model);
        m.call("size", &self.path)?;
        Ok(self.node(&mut m).data.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn root(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("amber-faulty-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn a_crash_keeps_only_synced_bytes_under_durable_names() {
        let d = root("model");
        std::fs::write(d.join("old"), b"old bytes").unwrap();
        let fs = FaultyFs::adopt(&d).unwrap();
        let f = fs
            .open(&d.join("a"), OpenHow::AppendNew { mode: 0o644 })
            .unwrap();
        f.write_at(b"one ", 0).unwrap();
        f.sync_data().unwrap();
        f.write_at(b"two", 4).unwrap();
        // Synced bytes, but the name is not durable yet.
        assert_eq!(fs.image().files.len(), 1);
        fs.sync_dir(&d).unwrap();
        let img = fs.image();
        assert_eq!(img.files[Path::new("a")], b"one ");
        assert_eq!(img.files[Path::new("old")], b"old bytes");
        // A rename is durable only after the directory's fsync.
        fs.rename(&d.join("a"), &d.join("b")).unwrap();
        fs.remove(&d.join("old")).unwrap();
        let img = fs.image();
        assert!(img.files.contains_key(Path::new("a")) && img.files.contains_key(Path::new("old")));
        fs.inject(fs.calls() + 1, Fault::Crash);
        fs.sync_dir(&d).unwrap();
        f.sync_data().unwrap(); // after the crash: changes nothing
        let img = fs.image();
        assert!(fs.crashed());
        assert_eq!(img.files.keys().collect::<Vec<_>>(), vec![Path::new("b")]);
        assert_eq!(img.files[Path::new("b")], b"one ");
        // The real files are what a reader sees.
        assert_eq!(std::fs::read(d.join("b")).unwrap(), b"one two");
        // A torn crash keeps part of what was appended since the last sync.
        let g = fs
            .open(&d.join("c"), OpenHow::AppendNew { mode: 0o644 })
            .unwrap();
        fs.sync_dir(&d).unwrap();
        g.write_at(b"0123456789", 0).unwrap();
        {
            let m = lock(&fs.model);
            let kept: Vec<usize> = (0..50)
                .map(|s| m.durable_image_torn(Some(s)).files[Path::new("c")].len())
                .collect();
            assert!(kept.iter().all(|k| *k <= 10) && kept.iter().any(|k| *k > 0 && *k < 10));
        }
        let out = root("model-out");
        img.materialize(&out).unwrap();
        assert_eq!(std::fs::read(out.join("b")).unwrap(), b"one ");
        std::fs::remove_dir_all(&d).unwrap();
        std::fs::remove_dir_all(&out).unwrap();
    }

    #[test]
    fn an_injected_failure_fails_that_call_only() {
        let d = root("fail");
        let fs = FaultyFs::adopt(&d).unwrap();
        let f = fs
            .open(&d.join("a"), OpenHow::AppendNew { mode: 0o644 })
            .unwrap();
        fs.inject(1, Fault::Fail(libc::ENOSPC));
        let e = f.write_at(b"abcdef", 0).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOSPC));
        // Half of it reached the file, as a short write would leave it.
        assert_eq!(std::fs::read(d.join("a")).unwrap(), b"abc");
        // Writing elsewhere than the end of an append-only file is flagged.
        f.write_at(b"xyz", 0).unwrap();
        assert_eq!(fs.violations().len(), 1);
        assert_eq!(fs.fired(), vec!["1 write a: errno 28".to_string()]);
        assert_eq!(fs.calls(), 3);

        // A failed fsync loses those bytes for good: the next one does not write them.
        let f = fs
            .open(&d.join("b"), OpenHow::AppendNew { mode: 0o644 })
            .unwrap();
        fs.sync_dir(&d).unwrap();
        f.write_at(b"kept", 0).unwrap();
        f.sync_data().unwrap();
        f.write_at(b"LOST", 4).unwrap();
        fs.inject(fs.calls(), Fault::Fail(libc::EIO));
        assert!(f.sync_data().is_err());
        f.write_at(b"new", 8).unwrap();
        f.sync_data().unwrap();
        assert_eq!(fs.image().files[Path::new("b")], b"kept\0\0\0\0new");
        // Written again, they are dirty again.
        f.write_at(b"LOST", 4).unwrap();
        f.sync_data().unwrap();
        assert_eq!(fs.image().files[Path::new("b")], b"keptLOSTnew");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
