//! The command line edge: clap's types, the commands they run, what the terminal shows, and
//! the exit status. Everything below it is the popget library, which knows nothing of clap.

pub mod accounts;
pub mod args;
pub mod commands;
pub mod context;
pub mod credentials;
pub mod daemon;
mod hint;
mod import;
pub mod log;
mod render;
mod run;
mod status;

use args::{Cli, CommandKind};
use context::{report_error, Context};
use popget::exit;

/// Runs the parsed command line; returns the process exit status.
pub fn run(cli: Cli) -> u8 {
    let env = popget::config::environment();
    let context = Context {
        global: &cli.global,
        env: &env,
    };
    let result = match &cli.command {
        CommandKind::Fetch(args) => return run::run_fetch(&cli.global, args, &env),
        CommandKind::Daemon(args) => return daemon::run(&cli.global, args, &env),
        CommandKind::Import(args) => return import::run(&context, args),
        CommandKind::Stat(args) => commands::stat(&context, args),
        CommandKind::List(args) => commands::list(&context, args),
        CommandKind::Uidl(args) => commands::uidl(&context, args),
        CommandKind::Retr(args) => commands::retr(&context, args),
        CommandKind::Top(args) => commands::top(&context, args),
        CommandKind::Dele(args) => commands::dele(&context, args),
        CommandKind::Info(args) => commands::info(&context, args),
        CommandKind::Accounts(args) => accounts::list(&context, args),
        CommandKind::Status(args) => return status::status(&context, args),
        CommandKind::Quarantine(args) => return status::quarantine(&context, args),
        CommandKind::Config(command) => accounts::config(&context, command),
        CommandKind::Login(args) => credentials::login(&context, args),
        CommandKind::Logout(args) => credentials::logout(&context, args),
        CommandKind::Password(command) => credentials::password(&context, command),
    };
    match result {
        Ok(()) => exit::OK,
        // A reader that closed the pipe (`popget retr 1 | head`) got what it wanted.
        Err(error) if error.is_broken_pipe() => exit::OK,
        Err(error) => report_error(None, &error),
    }
}
