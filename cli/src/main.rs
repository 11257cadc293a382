//! `lt`: download, seed, create and inspect torrents from the command line.
//!
//! A thin program over the engine's Rust API (`lt::engine`): each
//! subcommand lives in its own module, and every one of them answers an
//! [`Outcome`] or an error message, which `main` turns into the documented
//! exit code.

mod create;
mod fetch;
mod info;
mod interrupt;
mod run;
mod source;
mod stats;
mod units;
mod view;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The exit codes, as `lt --help` and docs/cli.md state them.
const EXIT_CODES: &str = "\
Exit codes:
  0    success (every download complete, the torrent written, ...)
  1    runtime failure (unreadable torrent, I/O error, refused by the endpoint, ...)
  2    usage error (unknown option, bad value)
  130  interrupted by Ctrl-C (SIGINT) or SIGTERM after a clean stop: trackers told,
       resume data saved";

/// Runtime failure: anything that went wrong after the arguments parsed.
const EXIT_FAILURE: u8 = 1;
/// Interrupted, as a shell reports a process killed by SIGINT (128 + 2).
const EXIT_INTERRUPTED: u8 = 130;

#[derive(Parser)]
#[command(name = "lt", version, about = "BitTorrent from the command line, over the lt engine", after_help = EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Download torrents (files, magnet links or http(s) URLs of .torrent files)
    Download(run::DownloadArgs),
    /// Check the data of a torrent and seed it until Ctrl-C
    Seed(run::SeedArgs),
    /// Make a .torrent file of a file or a directory
    Create(create::CreateArgs),
    /// Show what a .torrent file or a magnet link holds
    Info(info::InfoArgs),
    /// Read a running session's statistics endpoint (GET /stats)
    Stats(stats::StatsArgs),
}

/// How a command that did not fail ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Done,
    /// Stopped cleanly by Ctrl-C or SIGTERM.
    Interrupted,
}

fn main() -> ExitCode {
    // Rust ignores SIGPIPE, so printing into a closed pipe (`lt info x |
    // head -1`) would panic; end quietly instead, as other Unix tools do.
    // SAFETY: restoring the default disposition of a signal before any
    // other thread exists; no handler runs Rust code.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    // clap exits with 2 on a usage error and 0 for --help and --version.
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Download(args) => run::download(args),
        Command::Seed(args) => run::seed(args),
        Command::Create(args) => create::create(args),
        Command::Info(args) => info::info(args),
        Command::Stats(args) => stats::stats(args),
    };
    match result {
        Ok(Outcome::Done) => ExitCode::SUCCESS,
        Ok(Outcome::Interrupted) => ExitCode::from(EXIT_INTERRUPTED),
        Err(message) => {
            eprintln!("lt: {}", view::printable(&message, false));
            ExitCode::from(EXIT_FAILURE)
        }
    }
}
