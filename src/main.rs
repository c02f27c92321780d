//! The popget binary: parse the command line, run, exit with a sysexits status.

use std::process::ExitCode;
use std::sync::LazyLock;

use clap::{CommandFactory, FromArgMatches};

mod cli;

use cli::args::Cli;

/// `popget --version`: the version, the commit and the features (`-V` prints the version
/// alone). Set here rather than in the command's definition, which the man page is made from.
static LONG_VERSION: LazyLock<String> = LazyLock::new(popget::version::long_version);

fn main() -> ExitCode {
    // Before any other thread exists: see the function.
    popget::ignore_file_size_signal();
    let mut command = Cli::command().long_version(LONG_VERSION.as_str());
    let parsed = command
        .try_get_matches_from_mut(std::env::args_os())
        .and_then(|mut matches| {
            Cli::from_arg_matches_mut(&mut matches).map_err(|error| error.format(&mut command))
        });
    let cli = match parsed {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return ExitCode::from(if error.use_stderr() {
                popget::exit::USAGE
            } else {
                0
            });
        }
    };
    ExitCode::from(cli::run(cli))
}
