//! Reading redis.conf text: every line is checked, and every refused line is reported at once
//! (file, line number, the line, the reason in Redis's words, and what to do), so one start
//! finds them all. Each refusal is printed in Redis's "FATAL CONFIG FILE ERROR" block.

use std::path::{Path, PathBuf};

use crate::config::{find, Config, Dir, MULTI_ARG};

/// Includes nest at most this deep (an include loop ends here).
const MAX_INCLUDE_DEPTH: usize = 16;

/// One refused configuration line: where, why, and what to do about it.
#[derive(Debug)]
pub(crate) struct ConfigError {
    pub(crate) line_no: usize,
    pub(crate) line: String,
    pub(crate) reason: String,
    pub(crate) file: Option<String>,
    /// What the operator can do; printed after Redis's block.
    pub(crate) hint: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "\n*** FATAL CONFIG FILE ERROR (Amber {}) ***",
            crate::AMBER_VERSION
        )?;
        match &self.file {
            Some(file) => writeln!(
                f,
                "Reading the configuration file '{}', at line {}",
                file, self.line_no
            )?,
            None => writeln!(
                f,
                "Reading the configuration file, at line {}",
                self.line_no
            )?,
        }
        writeln!(f, ">>> '{}'", self.line)?;
        writeln!(f, "{}", self.reason)?;
        write!(f, "What to do: {}", self.hint)
    }
}

/// Every line refused in one reading, in the order read.
#[derive(Debug, Default)]
pub(crate) struct ConfigErrors(pub Vec<ConfigError>);

impl std::fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for e in &self.0 {
            writeln!(f, "{e}")?;
        }
        let n = self.0.len();
        write!(
            f,
            "\n{n} configuration line{} refused; fix {} and start again.",
            if n == 1 { "" } else { "s" },
            if n == 1 { "it" } else { "them all" }
        )
    }
}

/// Why a line is refused: the reason (Redis's text where Redis has one) and the hint.
struct Refusal {
    reason: String,
    hint: String,
}

fn refuse(reason: impl Into<String>, hint: impl Into<String>) -> Refusal {
    Refusal {
        reason: reason.into(),
        hint: hint.into(),
    }
}

/// Refusals of a feature Amber lacks all say "this version of Amber" (config.rs and
/// accepted.rs); they get "remove the line" rather than "fix the value".
fn is_missing_feature(reason: &str) -> bool {
    reason.contains("this version of Amber")
}

/// The value a directive has when its line is left out, as a line would write it.
fn default_value(d: Dir) -> String {
    let v = d.get(&Config::default());
    match (d.name(), v.as_str()) {
        ("replicaof", "") => "'no one'".into(),
        _ => format!("'{v}'"),
    }
}

impl Config {
    /// Applies redis.conf text. `file` names its source for errors and relative includes.
    /// Every line is checked; all refused lines are returned together.
    pub(crate) fn load_str(&mut self, text: &str, file: Option<&Path>) -> Result<(), ConfigErrors> {
        let mut errors = ConfigErrors::default();
        self.load_lines(text, file, 0, &mut errors);
        if errors.0.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    fn load_lines(
        &mut self,
        text: &str,
        file: Option<&Path>,
        depth: usize,
        errors: &mut ConfigErrors,
    ) {
        let fname = file.map(|p| p.display().to_string());
        for (i, raw) in text.split('\n').enumerate() {
            let line = raw.trim_matches(|c| c == ' ' || c == '\t' || c == '\r' || c == '\n');
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Err(r) = self.load_line(line, depth, errors) {
                errors.0.push(ConfigError {
                    line_no: i + 1,
                    line: line.to_string(),
                    reason: r.reason,
                    file: fname.clone(),
                    hint: r.hint,
                });
            }
        }
    }

    /// One line: applies it, or says why not. An `include` adds its own file's refusals.
    fn load_line(
        &mut self,
        line: &str,
        depth: usize,
        errors: &mut ConfigErrors,
    ) -> Result<(), Refusal> {
        let Some(args) = amber_resp::parse::split_args(line.as_bytes()) else {
            return Err(refuse(
                "Unbalanced quotes in configuration line",
                "close the quote, or escape a quote inside a value with a backslash.",
            ));
        };
        let Some(first) = args.first() else {
            return Ok(());
        };
        let name = String::from_utf8_lossy(first).to_ascii_lowercase();
        let values: Vec<String> = args[1..]
            .iter()
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        match name.as_str() {
            "include" => return self.include(&values, depth, errors),
            "rename-command" => return self.rename_command(&values),
            "loadmodule" => {
                return Err(refuse(
                    "this version of Amber does not support modules",
                    "remove the line; Amber has no module support.",
                ))
            }
            "user" if args.len() >= 2 => {
                let user = args[1..].to_vec();
                crate::acl::file::check_config_user(&self.acl_users, &user).map_err(|reason| {
                    refuse(reason, "correct the rule (see ACL SETUSER), or remove it.")
                })?;
                self.acl_users.push(user);
                return Ok(());
            }
            _ => {}
        }
        let Some(d) = find(&name) else {
            return Err(refuse(
                "Bad directive or wrong number of arguments",
                format!("'{name}' is not a Redis 7.0 directive Amber knows: check its spelling, or remove the line."),
            ));
        };
        if d.flags() & MULTI_ARG == 0 && values.len() != 1 {
            return Err(refuse(
                "wrong number of arguments",
                format!(
                    "'{}' takes one value (`{} <value>`; quote a value that contains spaces).",
                    d.name(),
                    d.name()
                ),
            ));
        }
        d.set(self, &values).map_err(|reason| {
            let default = default_value(d);
            let hint = if is_missing_feature(&reason) {
                format!("remove the line, or set it to {default}: Amber runs without this feature.")
            } else {
                format!("correct the value, or remove the line to keep the default ({default}).")
            };
            refuse(reason, hint)
        })
    }

    fn include(
        &mut self,
        values: &[String],
        depth: usize,
        errors: &mut ConfigErrors,
    ) -> Result<(), Refusal> {
        if values.len() != 1 {
            return Err(refuse(
                "Bad directive or wrong number of arguments",
                "write it as `include /path/to/file.conf`, one file a line.",
            ));
        }
        if depth >= MAX_INCLUDE_DEPTH {
            return Err(refuse(
                "Too many nested includes",
                format!("includes nest at most {MAX_INCLUDE_DEPTH} deep: look for a file that includes itself."),
            ));
        }
        let path = PathBuf::from(&values[0]);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            refuse(
                format!("Fatal error, can't open config file '{}': {e}", values[0]),
                "check the path (relative paths are from the server's working directory) and its permissions, or remove the line.",
            )
        })?;
        self.load_lines(&text, Some(&path), depth + 1, errors);
        Ok(())
    }

    fn rename_command(&mut self, values: &[String]) -> Result<(), Refusal> {
        const FORM: &str =
            "write it as `rename-command <command> <new-name>` (\"\" as the new name disables it).";
        if values.len() != 2 {
            return Err(refuse("wrong number of arguments", FORM));
        }
        self.renamed_commands
            .push((values[0].to_ascii_lowercase(), values[1].clone()));
        if let Err(e) = crate::cmd::CommandTable::with_renames(&self.renamed_commands) {
            self.renamed_commands.pop();
            return Err(refuse(
                e,
                "check the command's name (a command renamed earlier goes by its new name) and pick a new name no other command has.",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_refused_line_is_reported() {
        let mut c = Config::default();
        let text = "port 7000\nbogus 1\nhz abc\ntls-port 6380\nhz 20\ndatabases 1 2\n\"open\nrename-command nosuch x\nuser alice on bogus\n";
        let errs = c.load_str(text, None).unwrap_err();
        let lines: Vec<usize> = errs.0.iter().map(|e| e.line_no).collect();
        assert_eq!(lines, vec![2, 3, 4, 6, 7, 8, 9]);
        // Lines after a refused one still apply.
        assert_eq!(c.hz, 20);
        assert_eq!(c.port, 7000);
        let text = errs.to_string();
        assert_eq!(text.matches("*** FATAL CONFIG FILE ERROR").count(), 7);
        assert_eq!(text.matches("What to do: ").count(), 7);
        assert!(text.ends_with("7 configuration lines refused; fix them all and start again."));
        assert!(
            errs.0[2].hint.contains("set it to '0'"),
            "{}",
            errs.0[2].hint
        );
        assert!(
            errs.0[1].hint.contains("default ('10')"),
            "{}",
            errs.0[1].hint
        );
    }

    #[test]
    fn replicaof_hint_names_the_accepted_value() {
        let mut c = Config::default();
        // A master is accepted (replication is served); a bad port is refused, and the hint
        // names the value a left-out line means.
        assert!(c.load_str("replicaof 10.0.0.1 6379\n", None).is_ok());
        let errs = c.load_str("replicaof 10.0.0.1 x\n", None).unwrap_err();
        assert!(errs.0[0].hint.contains("'no one'"), "{}", errs.0[0].hint);
    }
}
