//! Just enough of redis.conf for offline restore: where the data lives and which files the
//! server will load at start. Arguments are split as Redis splits them (sdssplitargs), the
//! last occurrence of a directive wins, `include` is followed (relative to the including
//! file's directory), and everything else is ignored.

use std::collections::HashMap;
use std::path::Path;

#[derive(Debug, Default, Clone)]
pub struct Conf {
    /// Lower-cased directive → its arguments (last occurrence).
    values: HashMap<String, Vec<String>>,
}

impl Conf {
    pub fn load(path: &Path) -> Result<Conf, String> {
        let mut c = Conf::default();
        c.read(path, 0)?;
        Ok(c)
    }

    fn read(&mut self, path: &Path, depth: u32) -> Result<(), String> {
        if depth > 8 {
            return Err(format!("{}: includes nest too deep", path.display()));
        }
        let text =
            std::fs::read(path).map_err(|e| format!("can't read {}: {e}", path.display()))?;
        self.parse(&text, path.parent(), depth)
            .map_err(|e| format!("{}: {e}", path.display()))
    }

    fn parse(&mut self, text: &[u8], base: Option<&Path>, depth: u32) -> Result<(), String> {
        for (n, line) in text.split(|&b| b == b'\n').enumerate() {
            let t = line.trim_ascii();
            if t.is_empty() || t.starts_with(b"#") {
                continue;
            }
            let args = amber_resp::parse::split_args(t)
                .ok_or_else(|| format!("line {}: unbalanced quotes", n + 1))?;
            let Some((name, rest)) = args.split_first() else {
                continue;
            };
            let name = String::from_utf8_lossy(name).to_ascii_lowercase();
            let rest: Vec<String> = rest
                .iter()
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            if name == "include" {
                for inc in &rest {
                    let p = Path::new(inc);
                    let p = match base {
                        Some(b) if p.is_relative() => b.join(p),
                        _ => p.to_path_buf(),
                    };
                    self.read(&p, depth + 1)?;
                }
                continue;
            }
            self.values.insert(name, rest);
        }
        Ok(())
    }

    #[cfg(test)]
    pub fn from_text(text: &str) -> Result<Conf, String> {
        let mut c = Conf::default();
        c.parse(text.as_bytes(), None, 0)?;
        Ok(c)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.values
            .get(name)
            .and_then(|v| v.first())
            .map(String::as_str)
    }

    pub fn appendonly(&self) -> bool {
        self.get("appendonly")
            .is_some_and(|v| v.eq_ignore_ascii_case("yes"))
    }

    pub fn appendfilename(&self) -> &str {
        self.get("appendfilename").unwrap_or("appendonly.aof")
    }

    pub fn appenddirname(&self) -> &str {
        self.get("appenddirname").unwrap_or("appendonlydir")
    }

    pub fn dbfilename(&self) -> &str {
        self.get("dbfilename").unwrap_or("dump.rdb")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_restore_needs() {
        let c = Conf::from_text(
            "# comment\nport 6379\nappendonly no\nAPPENDONLY yes\ndir \"/var/lib/my redis\"\n  dbfilename 'data.rdb'\nappendfilename x.aof\n",
        )
        .unwrap();
        assert!(c.appendonly());
        assert_eq!(c.get("dir"), Some("/var/lib/my redis"));
        assert_eq!(c.dbfilename(), "data.rdb");
        assert_eq!(c.appendfilename(), "x.aof");
        assert_eq!(c.appenddirname(), "appendonlydir");
        let d = Conf::from_text("").unwrap();
        assert!(!d.appendonly());
        assert_eq!(d.dbfilename(), "dump.rdb");
        assert!(Conf::from_text("dir \"unbalanced\n").is_err());
    }
}
