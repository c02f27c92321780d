//! The popget binary: parse the command line, run, exit with a sysexits status.

use std::process::ExitCode;

use clap::Parser;
use popget::cli::Cli;

fn main() -> ExitCode {
    // A file-size limit must make writes fail with EFBIG (reported, message kept on the
    // server), not kill the process.
    // SAFETY: setting a signal to be ignored before any other thread exists.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
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
