use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    hearth::cli::run(hearth::cli::Cli::parse())
}
