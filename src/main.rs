//! The popget binary: parse the command line, run, exit with a sysexits status.

use std::process::ExitCode;

use clap::Parser;
use popget::cli::Cli;

fn main() -> ExitCode {
    // Before any other thread exists: see the function.
    popget::ignore_file_size_signal();
    let cli = match Cli::try_parse() {
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
    ExitCode::from(popget::run(cli))
}
