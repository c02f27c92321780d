//! Generated files: the man page and the shell completions, rendered from `src/cli/args.rs` (plus
//! the hand-written parts under man/ and completions/) and compared with the committed copies.
//! `POPGET_REGENERATE=1 cargo test --test integration generated` rewrites the committed copies.
//! The committed files are then checked with the real tools: mandoc, bash, zsh and fish.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use clap::CommandFactory;
use clap_complete::Shell;

use crate::harness::builds::output_within;
/// The command line's definition, the very file the binary is built from.
#[path = "../src/cli/args.rs"]
#[allow(dead_code)]
mod args;

use args::Cli;

/// The date in the man page's title line. Bump it when the page changes in substance.
const MAN_DATE: &str = "2026-12-01";

/// Hand-written roff: DESCRIPTION goes after the SYNOPSIS, the rest after the options.
const MAN_DESCRIPTION: &str = include_str!("../man/description.roff");
const MAN_SECTIONS: &str = include_str!("../man/sections.roff");

/// Hand-written completion of account names, appended to the generated scripts.
const BASH_ACCOUNTS: &str = include_str!("../completions/accounts.bash");
const FISH_ACCOUNTS: &str = include_str!("../completions/accounts.fish");

/// How long any external program (mandoc, a shell) may run.
const LIMIT: Duration = Duration::from_secs(30);

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Compares `rendered` with the committed file, or rewrites it under `POPGET_REGENERATE=1`.
fn check_committed(relative: &str, rendered: &str) {
    let path = repo().join(relative);
    if std::env::var_os("POPGET_REGENERATE").is_some_and(|v| v == "1") {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        // Written beside and renamed, so a test reading the file never sees half of it (the
        // tests that run the shells and mandoc regenerate the file they use, too).
        let mut temporary = tempfile::NamedTempFile::new_in(path.parent().unwrap()).unwrap();
        std::io::Write::write_all(&mut temporary, rendered.as_bytes()).unwrap();
        let readable = std::os::unix::fs::PermissionsExt::from_mode(0o644);
        temporary.as_file().set_permissions(readable).unwrap();
        temporary.persist(&path).unwrap();
        return;
    }
    let committed = fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{relative} cannot be read ({e}); generate it with \
             `POPGET_REGENERATE=1 cargo test --test integration generated`"
        )
    });
    if committed != rendered {
        let line = committed
            .lines()
            .zip(rendered.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| committed.lines().count().min(rendered.lines().count()));
        panic!(
            "{relative} is out of date with src/cli.rs or its hand-written parts (first \
             difference at line {}):\n  committed: {:?}\n  rendered:  {:?}\nregenerate it with \
             `POPGET_REGENERATE=1 cargo test --test integration generated` and commit the result",
            line + 1,
            committed.lines().nth(line).unwrap_or("<end of file>"),
            rendered.lines().nth(line).unwrap_or("<end of file>"),
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The man page

/// Plain text made safe for a roff text line.
fn roff_escape(text: &str) -> String {
    let escaped = text.replace('\\', "\\e").replace('-', "\\-");
    if escaped.starts_with(['.', '\'']) {
        format!("\\&{escaped}")
    } else {
        escaped
    }
}

/// The built command tree, with global options propagated into the subcommands.
fn built_command() -> clap::Command {
    let mut command = Cli::command();
    command.build();
    command
}

/// The subcommands shown in the page (clap's own `help` is covered by `-h`).
fn subcommands(command: &clap::Command) -> Vec<&clap::Command> {
    command
        .get_subcommands()
        .filter(|sub| !sub.is_hide_set() && sub.get_name() != "help")
        .collect()
}

/// The commands as the page documents them, each with its full name: a command with
/// subcommands of its own (`config`) stands for them (`config check`).
fn commands(command: &clap::Command) -> Vec<(String, &clap::Command)> {
    let mut commands = Vec::new();
    for sub in subcommands(command) {
        let nested = subcommands(sub);
        if nested.is_empty() {
            commands.push((sub.get_name().to_string(), sub));
        }
        for inner in nested {
            commands.push((format!("{} {}", sub.get_name(), inner.get_name()), inner));
        }
    }
    commands
}

/// The commands that talk to a server: those taking the connection options.
fn server_commands(command: &clap::Command) -> Vec<&clap::Command> {
    subcommands(command)
        .into_iter()
        .filter(|sub| {
            sub.get_arguments()
                .any(|arg| arg.get_long() == Some("host"))
        })
        .collect()
}

/// Options that every command talking to a server accepts and that are not global: the
/// connection options, documented once in their own section.
fn shared_options(command: &clap::Command) -> Vec<String> {
    let own = |sub: &clap::Command| -> Vec<String> {
        sub.get_arguments()
            .filter(|arg| !arg.is_global_set() && !arg.is_positional() && !arg.is_hide_set())
            .map(|arg| arg.get_id().to_string())
            .filter(|id| id != "help" && id != "version")
            .collect()
    };
    let subs = server_commands(command);
    let mut shared = own(subs[0]);
    for sub in &subs[1..] {
        let theirs = own(sub);
        shared.retain(|id| theirs.contains(id));
    }
    shared
}

/// clap_mangen's option list for `command`, restricted to the arguments `keep` accepts, without
/// help headings (the page gives its own) and without the `.SH` line.
fn option_list(command: &clap::Command, keep: impl Fn(&clap::Arg) -> bool) -> String {
    let mut command = command.clone();
    let ids: Vec<(clap::Id, bool)> = command
        .get_arguments()
        .map(|arg| (arg.get_id().clone(), keep(arg)))
        .collect();
    for (id, kept) in ids {
        command = command.mut_arg(id, |arg| {
            let arg = arg.help_heading(None);
            if kept {
                arg
            } else {
                arg.hide(true)
            }
        });
    }
    let mut out = Vec::new();
    clap_mangen::Man::new(command)
        .render_options_section(&mut out)
        .unwrap();
    let text = String::from_utf8(out).unwrap();
    let text: String = text
        .lines()
        .filter(|line| !line.starts_with(".SH "))
        .map(|line| format!("{line}\n"))
        .collect();
    tidy(&text)
}

/// The `.ds Aq` preamble that every piece rendered by clap_mangen starts with; the page keeps
/// the first one, at its top.
const AQ_PREAMBLE: &str = ".ie \\n(.g .ds Aq \\(aq\n.el .ds Aq '\n";

/// Makes clap_mangen's roff lint-clean for `mandoc -Tlint` instead of filtering warnings:
/// - the help text and the "Possible values:" line are separated by `.br`, a blank line and
///   `.br`; mandoc warns "skipping paragraph macro: br before sp / br after sp", so the three
///   lines become the `.sp` they amount to;
/// - help texts are single lines of any length ("STYLE: input text line longer than 80
///   bytes"); a text line is wrapped at spaces, which in fill mode renders the same. Tag lines
///   (the line after `.TP`) are kept whole, since a second line would move into the body.
fn tidy(roff: &str) -> String {
    let roff = roff
        .replace(AQ_PREAMBLE, "")
        .replace("\n.br\n\n.br\n", "\n.sp\n");
    let mut out = String::new();
    let mut tag_line = false;
    for line in roff.lines() {
        if line.starts_with('.') || tag_line || line.len() <= 79 {
            out.push_str(line);
            out.push('\n');
        } else {
            let mut current = String::new();
            for word in line.split(' ') {
                if !current.is_empty() && current.len() + 1 + word.len() > 79 {
                    out.push_str(&current);
                    out.push('\n');
                    current.clear();
                }
                if current.is_empty() && word.starts_with(['.', '\'']) {
                    current.push_str("\\&");
                } else if !current.is_empty() {
                    current.push(' ');
                }
                current.push_str(word);
            }
            out.push_str(&current);
            out.push('\n');
        }
        tag_line = line == ".TP";
    }
    out
}

/// One synopsis line: clap's usage for the command, with the command name in bold.
fn synopsis_line(name: &str, sub: &clap::Command) -> String {
    let usage = sub.clone().render_usage().to_string();
    let usage = usage.trim_start_matches("Usage:").trim();
    let (name, rest) = usage.split_at(usage.find(name).unwrap() + name.len());
    format!("\\fB{}\\fR{}\n", roff_escape(name), roff_escape(rest))
}

fn man_page() -> String {
    let command = built_command();
    let man = clap_mangen::Man::new(command.clone())
        .title("POPGET")
        .date(MAN_DATE)
        .manual("User Commands");
    let mut out = Vec::new();
    man.render_title(&mut out).unwrap();
    man.render_name_section(&mut out).unwrap();
    let mut page = String::from_utf8(out).unwrap();
    assert!(
        page.starts_with(AQ_PREAMBLE),
        "clap_mangen no longer starts with the .ds Aq preamble; adjust tidy()"
    );
    page = format!("{AQ_PREAMBLE}{}", tidy(&page));

    page.push_str(".SH SYNOPSIS\n");
    for (i, (name, sub)) in commands(&command).into_iter().enumerate() {
        if i > 0 {
            page.push_str(".br\n");
        }
        page.push_str(&synopsis_line(&name, sub));
    }

    page.push_str(MAN_DESCRIPTION);

    // Global options: the main command's own arguments.
    page.push_str(".SH OPTIONS\n");
    page.push_str("These options are accepted before or after the command name.\n");
    page.push_str(&option_list(&command, |_| true));

    let shared = shared_options(&command);
    page.push_str(".SH COMMANDS\n");
    page.push_str(
        "Each command also accepts the options above; those that talk to a server also\n\
         accept the\n.B \"CONNECTION OPTIONS\"\nbelow.\n",
    );
    for (name, sub) in commands(&command) {
        page.push_str(&format!(".SS \"popget {name}\"\n"));
        let about = sub.get_long_about().or_else(|| sub.get_about()).unwrap();
        page.push_str(&tidy(&format!("{}.\n", roff_escape(&about.to_string()))));
        page.push_str(&option_list(sub, |arg| {
            let id = arg.get_id().as_str();
            !arg.is_global_set() && id != "help" && !shared.iter().any(|s| s == id)
        }));
    }

    page.push_str(".SH \"CONNECTION OPTIONS\"\n");
    page.push_str(
        "Every command that talks to a server accepts these; they override the account's\n\
         settings in the configuration file.\n",
    );
    let first = server_commands(&command)[0];
    page.push_str(&option_list(first, |arg| {
        shared.iter().any(|s| s == arg.get_id().as_str())
    }));

    page.push_str(MAN_SECTIONS);
    page
}

// ---------------------------------------------------------------------------------------------
// The completions

fn completion(shell: Shell) -> String {
    let mut command = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut command, "popget", &mut out);
    let mut script = String::from_utf8(out).unwrap();
    match shell {
        Shell::Bash => script.push_str(&fill(
            BASH_ACCOUNTS,
            "@FETCH_VALUE_OPTIONS@",
            &fetch_value_options(),
        )),
        Shell::Fish => script.push_str(&fill(
            FISH_ACCOUNTS,
            "@ACCOUNT_COMMANDS@",
            &account_commands(),
        )),
        // zsh: the generated _arguments specs complete NAME|URL with _default and offer no hook
        // short of editing the generated text, so zsh completes no account names.
        _ => {}
    }
    script
}

fn fill(template: &str, placeholder: &str, value: &str) -> String {
    assert!(template.contains(placeholder), "{placeholder} is missing");
    template.replace(placeholder, value)
}

/// The options of `popget fetch` that take a value, as the shell sees them: `--maildir --mbox ...`.
fn fetch_value_options() -> String {
    let command = built_command();
    let fetch = command.find_subcommand("fetch").expect("popget fetch");
    let mut options = Vec::new();
    for arg in fetch.get_arguments() {
        if arg.is_positional() || !arg.get_num_args().expect("built").takes_values() {
            continue;
        }
        options.extend(arg.get_long().map(|long| format!("--{long}")));
        options.extend(arg.get_short().map(|short| format!("-{short}")));
    }
    options.join(" ")
}

/// The commands that take `-a/--account`.
fn account_commands() -> String {
    let command = built_command();
    let names: Vec<&str> = subcommands(&command)
        .into_iter()
        .filter(|sub| {
            sub.get_arguments()
                .any(|arg| arg.get_long() == Some("account"))
        })
        .map(|sub| sub.get_name())
        .collect();
    assert!(!names.is_empty(), "no command takes --account any more");
    names.join(" ")
}

// ---------------------------------------------------------------------------------------------
// Running the real tools

struct Ran {
    status: std::process::ExitStatus,
    stdout: String,
    stderr: String,
}

/// Runs `command` with HOME (and the XDG directories) in `home`, killing its whole process group
/// after `LIMIT`. A missing program is a failure, never a skip.
fn run(mut command: Command, home: &Path) -> Ran {
    command
        .current_dir(repo())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_STATE_HOME", home.join(".local/state"))
        .env("XDG_DATA_HOME", home.join(".local/share"))
        .env("TERM", "dumb")
        .env("LANG", "C.UTF-8");
    let output = output_within(&mut command, LIMIT);
    Ran {
        status: output.status,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn shell(program: &str, script: &str, home: &Path) -> Ran {
    let mut command = Command::new(program);
    command.arg("-c").arg(script);
    run(command, home)
}

fn home_with_accounts() -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join(".config/popget");
    fs::create_dir_all(&config).unwrap();
    fs::write(
        config.join("config.toml"),
        "[defaults]\ntimeout = 30\n\n[accounts.work]\nhost = \"pop.work.example\"\n\
         user = \"me\"\n\n[accounts.\"home-box\"]\nhost = \"h\"\nuser = \"u\"\n\n\
         [ accounts.wife ] # spaces and a comment\nhost = \"h\"\nuser = \"w\"\n\n\
         [accounts.provider]\ntemplate = true\nhost = \"p\"\n\n\
         [accounts.wilma]\ninherit = \"provider\"\nuser = \"w\"\n",
    )
    .unwrap();
    home
}

fn words(text: &str) -> Vec<&str> {
    text.split_whitespace().collect()
}

// ---------------------------------------------------------------------------------------------
// The tests

#[test]
fn man_page_is_up_to_date() {
    check_committed("man/popget.1", &man_page());
}

#[test]
fn bash_completion_is_up_to_date() {
    check_committed("completions/popget.bash", &completion(Shell::Bash));
}

#[test]
fn zsh_completion_is_up_to_date() {
    check_committed("completions/_popget", &completion(Shell::Zsh));
}

#[test]
fn fish_completion_is_up_to_date() {
    check_committed("completions/popget.fish", &completion(Shell::Fish));
}

#[test]
fn man_page_passes_mandoc_lint() {
    check_committed("man/popget.1", &man_page());
    // -Tlint reports everything down to STYLE. The page is made clean instead of filtering
    // (see tidy()), so any message at all is a failure.
    let home = tempfile::tempdir().unwrap();
    let mut mandoc = Command::new("mandoc");
    mandoc.args(["-Tlint", "man/popget.1"]);
    let ran = run(mandoc, home.path());
    assert!(
        ran.status.success() && ran.stdout.is_empty() && ran.stderr.is_empty(),
        "mandoc -Tlint man/popget.1 ({}):\n{}{}",
        ran.status,
        ran.stdout,
        ran.stderr
    );
}

#[test]
fn man_page_documents_every_config_key_and_exit_status() {
    let page = man_page();
    // The configuration parser names every key it accepts.
    let keys = popget::config::known_keys();
    assert!(keys.len() >= 29, "{keys:?}");
    for key in keys {
        assert!(
            page.contains(&format!(".TP\n.BR {key} \"")),
            "the CONFIGURATION section does not describe the key {key}"
        );
    }
    for code in [
        popget::exit::OK,
        popget::exit::INCOMPLETE,
        popget::exit::USAGE,
        popget::exit::DATA_ERR,
        popget::exit::UNAVAILABLE,
        popget::exit::CANT_CREATE,
        popget::exit::IO_ERR,
        popget::exit::TEMP_FAIL,
        popget::exit::PROTOCOL,
        popget::exit::NO_PERM,
        popget::exit::CONFIG,
        popget::exit::INTERRUPTED,
        popget::exit::TERMINATED,
    ] {
        assert!(
            page.contains(&format!(".TP\n.B {code}\n")),
            "EXIT STATUS does not describe {code}"
        );
    }
    for name in [
        "POPGET_PASSWORD",
        "HOME",
        "XDG_CONFIG_HOME",
        "XDG_STATE_HOME",
    ] {
        assert!(
            page.contains(&format!(".TP\n.B {name}\n")),
            "ENVIRONMENT does not describe {name}"
        );
    }
    for section in [
        "DESCRIPTION",
        "OPTIONS",
        "COMMANDS",
        "\"CONNECTION OPTIONS\"",
        "CONFIGURATION",
        "\"EXIT STATUS\"",
        "ENVIRONMENT",
        "FILES",
        "SECURITY",
        "EXAMPLES",
    ] {
        assert!(page.contains(&format!("\n.SH {section}\n")), "no {section}");
    }
}

/// Completes `words` (the last one is the word being completed) the way bash would with the
/// committed completion script: see [`bash_complete_after`].
fn bash_complete(home: &Path, words: &[&str]) -> Vec<String> {
    bash_complete_after("source completions/popget.bash", home, words)
}

/// Completes `words` the way bash would once `load` (shell code) has registered popget's
/// completion: sets COMP_WORDS, COMP_CWORD, COMP_LINE and COMP_POINT and calls the function
/// registered for popget with `complete -F`.
pub fn bash_complete_after(load: &str, home: &Path, words: &[&str]) -> Vec<String> {
    let quoted: Vec<String> = words
        .iter()
        .map(|w| format!("'{}'", w.replace('\'', "'\\''")))
        .collect();
    let script = format!(
        "set -u\n\
         {load}\n\
         spec=$(complete -p popget) || exit 10\n\
         function=${{spec##* -F }}; function=${{function%% *}}\n\
         COMP_WORDS=({words})\n\
         COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))\n\
         COMP_LINE=\"${{COMP_WORDS[*]}}\"\n\
         COMP_POINT=${{#COMP_LINE}}\n\
         COMPREPLY=()\n\
         \"$function\" popget \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"\n\
         [[ ${{#COMPREPLY[@]}} -eq 0 ]] || printf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        words = quoted.join(" ")
    );
    let mut bash = Command::new("bash");
    bash.args(["--norc", "--noprofile", "-c", &script]);
    let ran = run(bash, home);
    assert!(
        ran.status.success() && ran.stderr.is_empty(),
        "bash completion of {words:?} failed ({}):\n{}",
        ran.status,
        ran.stderr
    );
    ran.stdout.lines().map(str::to_owned).collect()
}

#[test]
fn bash_completion_loads_and_completes() {
    check_committed("completions/popget.bash", &completion(Shell::Bash));
    let home = home_with_accounts();
    let ran = shell(
        "bash",
        "source completions/popget.bash && complete -p popget",
        home.path(),
    );
    assert!(
        ran.status.success() && ran.stderr.is_empty(),
        "sourcing completions/popget.bash failed ({}):\n{}",
        ran.status,
        ran.stderr
    );
    assert_eq!(bash_complete(home.path(), &["popget", "f"]), ["fetch"]);
    let tls = bash_complete(home.path(), &["popget", "stat", "--tls", ""]);
    assert_eq!(tls, ["implicit", "starttls", "none"]);

    // Account names from the configuration file; the template "provider" is not one.
    let mut accounts = bash_complete(home.path(), &["popget", "fetch", ""]);
    accounts.sort();
    assert_eq!(accounts, ["home-box", "wife", "wilma", "work"]);
    assert_eq!(
        bash_complete(home.path(), &["popget", "fetch", "work", "w"]),
        ["work", "wife", "wilma"]
    );
    assert_eq!(
        bash_complete(home.path(), &["popget", "-q", "stat", "-a", "h"]),
        ["home-box"]
    );
    assert_eq!(
        bash_complete(home.path(), &["popget", "info", "--account", "wo"]),
        ["work"]
    );
    // Not where a value of another option goes, and not for options.
    let maildir = bash_complete(home.path(), &["popget", "fetch", "--maildir", ""]);
    assert!(
        maildir.iter().any(|f| f == "Cargo.toml") && !maildir.iter().any(|f| f == "work"),
        "{maildir:?}"
    );
    let options = bash_complete(home.path(), &["popget", "fetch", "--dele"]);
    assert_eq!(options, ["--delete", "--delete-oversized"]);
    // --config on the command line names the file to read.
    let other = home.path().join("other.toml");
    fs::write(&other, "[accounts.elsewhere]\nhost = \"h\"\n").unwrap();
    let other = other.to_str().unwrap();
    assert_eq!(
        bash_complete(home.path(), &["popget", "--config", other, "fetch", ""]),
        ["elsewhere"]
    );
    // No configuration file: no names, and no errors.
    let empty = tempfile::tempdir().unwrap();
    let reply = bash_complete(empty.path(), &["popget", "stat", "-a", ""]);
    assert!(reply.is_empty(), "{reply:?}");
}

fn fish_complete(home: &Path, line: &str) -> Vec<String> {
    let script = format!(
        "source completions/popget.fish; or exit 10; complete -C {}",
        format_args!("'{}'", line.replace('\\', "\\\\").replace('\'', "\\'"))
    );
    let mut fish = Command::new("fish");
    fish.args(["--no-config", "-c", &script]);
    let ran = run(fish, home);
    assert!(
        ran.status.success() && ran.stderr.is_empty(),
        "fish completion of {line:?} failed ({}):\n{}",
        ran.status,
        ran.stderr
    );
    ran.stdout
        .lines()
        .map(|line| line.split('\t').next().unwrap().to_owned())
        .collect()
}

#[test]
fn fish_completion_loads_and_completes() {
    check_committed("completions/popget.fish", &completion(Shell::Fish));
    let home = home_with_accounts();
    let mut fish = Command::new("fish");
    fish.args(["--no-config", "-c", "source completions/popget.fish"]);
    let ran = run(fish, home.path());
    assert!(
        ran.status.success() && ran.stderr.is_empty(),
        "sourcing completions/popget.fish failed ({}):\n{}",
        ran.status,
        ran.stderr
    );
    assert_eq!(fish_complete(home.path(), "popget f"), ["fetch"]);
    assert_eq!(
        fish_complete(home.path(), "popget fetch "),
        ["home-box", "wife", "wilma", "work"]
    );
    assert_eq!(
        fish_complete(home.path(), "popget stat -a w"),
        ["wife", "wilma", "work"]
    );
    assert_eq!(
        fish_complete(home.path(), "popget retr --account h"),
        ["home-box"]
    );
    let other = home.path().join("other.toml");
    fs::write(&other, "[accounts.elsewhere]\nhost = \"h\"\n").unwrap();
    assert_eq!(
        fish_complete(
            home.path(),
            &format!("popget --config {} fetch ", other.display())
        ),
        ["elsewhere"]
    );
    let mut tls = fish_complete(home.path(), "popget stat --tls ");
    tls.sort();
    assert_eq!(tls, ["implicit", "none", "starttls"]);
}

#[test]
fn zsh_completion_loads() {
    check_committed("completions/_popget", &completion(Shell::Zsh));
    let home = tempfile::tempdir().unwrap();
    let ran = shell(
        "zsh",
        "autoload -U compinit && compinit -u && source completions/_popget",
        home.path(),
    );
    assert!(
        ran.status.success() && ran.stderr.is_empty(),
        "loading completions/_popget failed ({}):\n{}",
        ran.status,
        ran.stderr
    );
}

/// Runs in the interactive zsh (whose working directory is the repository): completion on, the
/// committed _popget loaded, and compadd wrapped
/// so that every match offered is also written to $HOME/matches.
const ZSH_SETUP: &str = r#"
autoload -U compinit && compinit -u -D
source $PWD/completions/_popget
compadd() {
    # Calls that only ask for matches (-O, -A, -D) are passed through untouched.
    if [[ ${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then
        builtin compadd "$@"
        return
    fi
    local -a matches
    builtin compadd -O matches "$@"
    (( $#matches )) && print -rl -- "${matches[@]}" >>$HOME/matches
    builtin compadd "$@"
}
print -r -- ready >$HOME/ready
"#;

/// Drives an interactive zsh through a pseudo-terminal (zsh/zpty): load ZSH_SETUP, type
/// `popget f` and TAB, wait for the matches, print them. Every wait is bounded.
const ZSH_DRIVER: &str = r#"
zmodload zsh/zpty || exit 3
zpty popget zsh -f -i
zpty -w popget "source ${(q)HOME}/setup.zsh"
wait_for() {
    integer i
    for (( i = 0; i < 200; i++ )); do
        [[ -s $1 ]] && return 0
        zpty -r -t popget _ 2>/dev/null
        sleep 0.05
    done
    return 1
}
wait_for $HOME/ready || { print -u2 "the completion setup did not finish"; exit 4 }
zpty -w -n popget $'popget f\t'
wait_for $HOME/matches || { print -u2 "no completion was offered"; exit 5 }
sleep 0.2
zpty -d popget
cat $HOME/matches
"#;

#[test]
fn zsh_completes_a_command_name() {
    check_committed("completions/_popget", &completion(Shell::Zsh));
    let home = tempfile::tempdir().unwrap();
    fs::write(home.path().join("setup.zsh"), ZSH_SETUP).unwrap();
    fs::write(home.path().join("drive.zsh"), ZSH_DRIVER).unwrap();
    let mut zsh = Command::new("zsh");
    zsh.arg("-f").arg(home.path().join("drive.zsh"));
    let ran = run(zsh, home.path());
    assert!(
        ran.status.success() && ran.stderr.is_empty(),
        "zsh completion of `popget f` failed ({}):\n{}{}",
        ran.status,
        ran.stdout,
        ran.stderr
    );
    assert_eq!(words(&ran.stdout), ["fetch"]);
}
