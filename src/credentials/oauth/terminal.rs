//! The [`UserInterface`] of the command line: messages on standard error, the browser from
//! `$BROWSER` or xdg-open, pasted lines from standard input.

use std::io::{self, BufRead};
use std::process::{Command, Stdio};

use zeroize::Zeroizing;

use super::UserInterface;
use crate::credentials::Secret;

/// Talks to the user on the terminal.
#[derive(Debug, Clone)]
pub struct TerminalInterface {
    /// `$BROWSER`: commands separated by `:`, each tried in turn; `%s` in a command stands
    /// for the URL, which is otherwise its last argument.
    browser: Option<String>,
}

impl TerminalInterface {
    /// Opens the browser named by `$BROWSER`, else xdg-open.
    pub fn from_env() -> TerminalInterface {
        TerminalInterface {
            browser: std::env::var("BROWSER")
                .ok()
                .filter(|b| !b.trim().is_empty()),
        }
    }

    /// Opens the browser with `browser` (in the format of `$BROWSER`).
    pub fn with_browser(browser: &str) -> TerminalInterface {
        TerminalInterface {
            browser: Some(browser.into()),
        }
    }
}

impl UserInterface for TerminalInterface {
    fn show(&mut self, message: &str) {
        crate::say!("{message}");
    }

    fn open_browser(&mut self, url: &str) -> io::Result<()> {
        let commands = self.browser.as_deref().unwrap_or("xdg-open");
        let mut last_error = io::Error::new(io::ErrorKind::NotFound, "no browser command");
        for command in commands.split(':').filter(|c| !c.trim().is_empty()) {
            match start_browser(command, url) {
                Ok(()) => return Ok(()),
                Err(e) => last_error = e,
            }
        }
        Err(last_error)
    }

    fn read_line(&mut self, prompt: &str) -> io::Result<Secret> {
        crate::say_partly!("{prompt}");
        let mut line = Zeroizing::new(String::new());
        if io::stdin().lock().read_line(&mut line)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "standard input ended",
            ));
        }
        Ok(Secret::new(line.trim().to_string()))
    }
}

/// Starts one browser command without a shell, its output kept off the terminal; it is waited
/// for in the background (some browsers stay in the foreground until closed).
fn start_browser(command: &str, url: &str) -> io::Result<()> {
    let mut words = command.split_whitespace();
    let program = words
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "empty browser command"))?;
    let mut args: Vec<String> = words.map(|w| w.replace("%s", url)).collect();
    if !command.contains("%s") {
        args.push(url.into());
    }
    let mut child = Command::new(program)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    std::thread::spawn(move || child.wait());
    Ok(())
}
