//! The files an import reads and writes besides popget's own: where each tool keeps its
//! configuration by default, the sources as text, and the private file a password goes to
//! with `--plaintext`.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::{expand_home, Tool};
use crate::durable::{create_private_dir, replace_file};
use crate::error::{Error, Result};

/// Where the tool finds its configuration when it is given none: fetchmail
/// `$FETCHMAILHOME/fetchmailrc` or `~/.fetchmailrc`; mpop `~/.mpoprc`, else
/// `$XDG_CONFIG_HOME/mpop/config`; getmail, in `$XDG_CONFIG_HOME/getmail` if it exists, else
/// `~/.getmail`, `getmailrc`, else every file but `oldmail-*`, `*.json` and dotfiles.
pub(super) fn default_sources(tool: Tool, env: &HashMap<String, String>) -> Result<Vec<PathBuf>> {
    let home = |path: &str| expand_home(path, env);
    let config_home = env
        .get("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| home("~/.config"));
    let candidates = match tool {
        Tool::Fetchmail => vec![match env.get("FETCHMAILHOME") {
            Some(dir) => Path::new(dir).join("fetchmailrc"),
            None => home("~/.fetchmailrc"),
        }],
        Tool::Mpop => vec![home("~/.mpoprc"), config_home.join("mpop/config")],
        Tool::Getmail => {
            let xdg = config_home.join("getmail");
            let dir = if xdg.is_dir() {
                xdg
            } else {
                home("~/.getmail")
            };
            return getmail_files(&dir);
        }
    };
    match candidates.iter().find(|file| file.exists()) {
        Some(file) => Ok(vec![file.clone()]),
        None => Err(Error::config(format!(
            "no {} configuration at {}: name the file",
            tool.name(),
            candidates
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(" or ")
        ))),
    }
}

fn getmail_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let rc = dir.join("getmailrc");
    if rc.exists() {
        return Ok(vec![rc]);
    }
    let entries = fs::read_dir(dir).map_err(|e| {
        Error::config(format!(
            "no getmail directory at {} ({e}): name the rc files",
            dir.display()
        ))
    })?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(format!("cannot list {}", dir.display()), e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let skipped =
            name.starts_with("oldmail-") || name.ends_with(".json") || name.starts_with('.');
        if !skipped && entry.path().is_file() {
            files.push(entry.path());
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(Error::config(format!(
            "no getmail rc file in {}: name them",
            dir.display()
        )));
    }
    Ok(files)
}

/// A source file's text.
pub(super) fn read_text(path: &Path) -> Result<String> {
    let bytes =
        fs::read(path).map_err(|e| Error::io(format!("cannot read {}", path.display()), e))?;
    String::from_utf8(bytes)
        .map_err(|_| Error::config(format!("{}: not UTF-8 text", path.display())))
}

/// popget's configuration file, empty when there is none yet.
pub(super) fn read_config(path: &Path) -> Result<String> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(text),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(Error::io(format!("cannot read {}", path.display()), e)),
    }
}

/// A file's bytes, `None` when it does not exist.
pub(super) fn read_if_present(path: &Path) -> Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(format!("cannot read {}", path.display()), e)),
    }
}

/// Where `--plaintext` puts an account's password: `passwords/NAME` beside the configuration
/// file, the name escaped into one safe file name.
pub(super) fn password_file(config_path: &Path, account: &str) -> PathBuf {
    const ESCAPED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'@')
        .remove(b'_')
        .remove(b'-')
        .remove(b'.');
    let mut name = percent_encoding::utf8_percent_encode(account, ESCAPED).to_string();
    if name.starts_with('.') {
        name.replace_range(0..1, "%2E");
    }
    crate::durable::parent_dir(config_path)
        .join("passwords")
        .join(name)
}

/// Writes `secret` and a line end to a file only its owner can read (replacing one already
/// there), in a directory only its owner can enter.
pub(super) fn write_private(path: &Path, secret: &str) -> Result<()> {
    create_private_dir(crate::durable::parent_dir(path))?;
    replace_file(path, ".popget-password", |out| writeln!(out, "{secret}"))
        .map_err(|e| Error::io(format!("cannot write {}", path.display()), e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_password_file_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let file = password_file(&dir.path().join("config.toml"), "../a b");
        assert_eq!(file, dir.path().join("passwords/%2E.%2Fa%20b"));
        write_private(&file, "s3cret").unwrap();
        write_private(&file, "again").unwrap();
        assert_eq!(fs::read_to_string(&file).unwrap(), "again\n");
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&file), 0o600);
        assert_eq!(mode(file.parent().unwrap()), 0o700);
    }

    #[test]
    fn getmail_reads_getmailrc_or_every_other_file() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["work", "oldmail-x-110-u", "a.json", ".hidden", "home"] {
            fs::write(dir.path().join(name), "").unwrap();
        }
        let files = getmail_files(dir.path()).unwrap();
        assert_eq!(files, [dir.path().join("home"), dir.path().join("work")]);
        fs::write(dir.path().join("getmailrc"), "").unwrap();
        assert_eq!(
            getmail_files(dir.path()).unwrap(),
            [dir.path().join("getmailrc")]
        );
    }
}
