use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    hearth::alloc::tune();
    hearth::cli::run(hearth::cli::Cli::parse())
}
