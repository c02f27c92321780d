//! `popget import fetchmail|mpop|getmail`: runs the library's import and says what became of
//! each account, what was left out and why. With `--dry-run` the TOML goes to standard output
//! and the rest to standard error, so that the TOML can be saved on its own.

use std::io::{self, Write};

use crate::cli::args::ImportArgs;
use crate::cli::context::{report_error, Context};
use popget::exit;
use popget::import::{self, Item, Outcome, Report, Request};

pub fn run(context: &Context, args: &ImportArgs) -> u8 {
    let tool: import::Tool = args.tool.into();
    let request = Request {
        tool,
        files: &args.files,
        config_path: context.global.config.as_deref(),
        env: context.env,
        dry_run: args.dry_run,
        state_only: args.state_only,
        plaintext: args.plaintext,
    };
    let report = match import::import(request) {
        Ok(report) => report,
        Err(error) => return report_error(None, &error),
    };
    let lines = summary(&report, args, tool);
    let written = if args.dry_run {
        let mut out = io::stdout().lock();
        let toml = out
            .write_all(report.text.as_bytes())
            .and_then(|()| out.flush());
        toml.and_then(|()| print(&mut io::stderr().lock(), &lines))
    } else if context.global.quiet {
        // Only what asks for attention: warnings and what was left out.
        let important: Vec<String> = lines
            .iter()
            .skip_while(|line| !line.starts_with("left out"))
            .chain(
                lines
                    .iter()
                    .filter(|line| line.starts_with("popget: warning")),
            )
            .cloned()
            .collect();
        print(&mut io::stderr().lock(), &important)
    } else {
        print(&mut io::stdout().lock(), &lines)
    };
    match written {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
            report_error(None, &popget::Error::io("cannot write the output", e))
        }
        _ if report.left_out.is_empty() => exit::OK,
        _ => exit::INCOMPLETE,
    }
}

fn print(out: &mut dyn Write, lines: &[String]) -> io::Result<()> {
    for line in lines {
        writeln!(out, "{line}")?;
    }
    out.flush()
}

/// What was (or would be) done, account by account, then the notes and what was left out.
fn summary(report: &Report, args: &ImportArgs, tool: import::Tool) -> Vec<String> {
    let would = |done: &str, planned: &str| {
        if args.dry_run {
            planned.to_string()
        } else {
            done.to_string()
        }
    };
    let sources: Vec<String> = report
        .sources
        .iter()
        .map(|s| s.display().to_string())
        .collect();
    let mut lines = vec![format!(
        "popget: {} {} from {} {} {}",
        would("imported", "would import"),
        tool.name(),
        sources.join(", "),
        would("into", "into"),
        report.config_path.display()
    )];
    for account in &report.accounts {
        let mut line = format!("  {}: ", account.source);
        line.push_str(&match &account.outcome {
            Outcome::Added {
                name,
                renamed: false,
            } => would(
                &format!("added as \"{name}\""),
                &format!("to add as \"{name}\""),
            ),
            Outcome::Added {
                name,
                renamed: true,
            } => would(
                &format!("added as \"{name}\" (its own name is taken)"),
                &format!("to add as \"{name}\" (its own name is taken)"),
            ),
            Outcome::Configured { name } => format!("already configured as \"{name}\""),
            Outcome::Duplicate { of } => {
                format!("the same server and user as {of}; not imported twice")
            }
            Outcome::NotConfigured => "not configured in popget; left as it is".into(),
        });
        if let Some(place) = &account.password {
            line.push_str(&format!("; password saved in {place}"));
        }
        if let Some(seen) = &account.seen {
            line.push_str(&format!(
                "; {} fetched message(s) in {}, {} {} {}",
                seen.found,
                seen.from.display(),
                seen.added,
                would("new recorded in", "new to record in"),
                seen.state.display()
            ));
        }
        lines.push(line);
    }
    for warning in &report.warnings {
        lines.push(format!("popget: warning: {warning}"));
    }
    let items = |title: &str, items: &[Item], lines: &mut Vec<String>| {
        if !items.is_empty() {
            lines.push(title.to_string());
            for item in items {
                lines.push(format!("  {}: {}", item.place, item.what));
            }
        }
    };
    items("notes:", &report.notes, &mut lines);
    items(
        "left out (popget cannot do these as the old configuration did):",
        &report.left_out,
        &mut lines,
    );
    lines.push(if report.left_out.is_empty() {
        "popget: everything was carried over".into()
    } else {
        format!(
            "popget: {} thing(s) left out, listed above; exit status 1",
            report.left_out.len()
        )
    });
    lines
}
