//! `lt create`: a .torrent of a file or a directory, hashed on every core by
//! the engine (`lt::engine::create`), with a progress bar on a terminal.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use clap::Args;
use indicatif::{HumanBytes, ProgressBar, ProgressDrawTarget, ProgressStyle};
use lt::engine::create::{check_piece_length, create_torrent_filtered, CreateOptions, Format};
use lt::proto::metainfo::Metainfo;
use lt::proto::types::hex;

use crate::Outcome;

#[derive(Args)]
pub struct CreateArgs {
    /// The file or directory to describe
    #[arg(value_name = "PATH")]
    path: PathBuf,
    /// Where to write the .torrent file
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: PathBuf,
    /// Replace the output file if it exists
    #[arg(short = 'f', long)]
    force: bool,
    /// Piece length: a power of two from 16K to 128M (K and M suffixes);
    /// chosen from the total size when not given
    #[arg(long, value_name = "SIZE", value_parser = parse_piece_size)]
    piece_size: Option<u32>,
    /// BitTorrent v1 (SHA-1 pieces; the default)
    #[arg(long, group = "format")]
    v1: bool,
    /// BitTorrent v2 only (BEP 52: SHA-256 trees per file)
    #[arg(long, group = "format")]
    v2: bool,
    /// v1 and v2 in one torrent (one swarm, both info-hashes)
    #[arg(long, group = "format")]
    hybrid: bool,
    /// A tracker's announce URL (repeatable; each one a tier of its own, in order)
    #[arg(long = "tracker", value_name = "URL")]
    trackers: Vec<String>,
    /// A web seed URL (BEP 19; repeatable)
    #[arg(long = "web-seed", value_name = "URL")]
    web_seeds: Vec<String>,
    /// Mark the torrent private (BEP 27: trackers only, no DHT or peer exchange)
    #[arg(long)]
    private: bool,
    #[arg(long, value_name = "TEXT")]
    comment: Option<String>,
    /// The "created by" field [default: lt VERSION]
    #[arg(long, value_name = "TEXT")]
    creator: Option<String>,
    /// The info dictionary's "source" (private trackers ask for it; changes the info-hash)
    #[arg(long, value_name = "TEXT")]
    source: Option<String>,
}

/// "256K", "4M" or a number of bytes; checked as the engine checks it.
fn parse_piece_size(s: &str) -> Result<u32, String> {
    let size = crate::units::parse_size(s)?;
    let size = u32::try_from(size).map_err(|_| format!("'{s}' is larger than 128M"))?;
    check_piece_length(size).map_err(|e| e.to_string())?;
    Ok(size)
}

pub fn create(args: CreateArgs) -> Result<Outcome, String> {
    let format = match (args.v2, args.hybrid) {
        (true, _) => Format::V2,
        (_, true) => Format::Hybrid,
        _ => Format::V1,
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| format!("the clock is before 1970: {e}"))?;
    let opts = CreateOptions {
        piece_length: args.piece_size,
        format,
        trackers: args.trackers.iter().map(|t| vec![t.clone()]).collect(),
        web_seeds: args.web_seeds.clone(),
        comment: args.comment.clone(),
        created_by: Some(args.creator.clone().unwrap_or_else(|| format!("lt {}", env!("CARGO_PKG_VERSION")))),
        creation_date: Some(now.as_secs() as i64),
        source: args.source.clone(),
        private: args.private,
        ..CreateOptions::default()
    };
    // Refuse before hashing, not after (and write only at the end, so the
    // new file never ends up inside the torrent of its own directory).
    if !args.force && args.output.exists() {
        return Err(format!("{} exists (--force replaces it)", args.output.display()));
    }
    let bar = if std::io::stdout().is_terminal() {
        let style = ProgressStyle::with_template("hashing [{bar:40}] {pos}/{len} pieces {elapsed}")
            .expect("the template is valid")
            .progress_chars("#>-");
        ProgressBar::with_draw_target(None, ProgressDrawTarget::stdout()).with_style(style)
    } else {
        ProgressBar::hidden()
    };
    // lt's own resume folder (`lt seed DIR` writes DIR/.lt-resume) is never content.
    let not_resume_data = |rel: &str| !rel.split('/').any(|part| part == crate::run::RESUME_DIR);
    let made = create_torrent_filtered(&args.path, &opts, &not_resume_data, &mut |done, total| {
        bar.set_length(u64::from(total));
        bar.set_position(u64::from(done));
        true
    });
    bar.finish_and_clear();
    let bytes = made.map_err(|e| format!("{}: {e}", args.path.display()))?;
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .create_new(!args.force)
        .truncate(true)
        .open(&args.output)
        .map_err(|e| format!("{}: {e}", args.output.display()))?;
    out.write_all(&bytes).map_err(|e| format!("{}: {e}", args.output.display()))?;
    let meta = Metainfo::from_bytes(&bytes).map_err(|e| format!("the new torrent does not parse: {e}"))?;
    println!(
        "{}: '{}', {} in {} pieces of {}",
        args.output.display(),
        crate::view::printable(&meta.name, false),
        HumanBytes(crate::info::content_size(&meta)),
        meta.lengths.num_pieces(),
        HumanBytes(u64::from(meta.lengths.piece_length()))
    );
    if meta.has_v1 {
        println!("info-hash v1: {}", meta.info_hash.to_hex());
    }
    if let Some(v2) = meta.info_hash_v2 {
        println!("info-hash v2: {}", hex(&v2));
    }
    Ok(Outcome::Done)
}

#[cfg(test)]
mod tests {
    use super::parse_piece_size;

    #[test]
    fn piece_sizes_are_powers_of_two_in_range() {
        assert_eq!(parse_piece_size("16K"), Ok(16 << 10));
        assert_eq!(parse_piece_size("256k"), Ok(256 << 10));
        assert_eq!(parse_piece_size("4MiB"), Ok(4 << 20));
        assert_eq!(parse_piece_size("32768"), Ok(32768));
        for bad in ["8K", "300K", "256M", "", "K", "99999999999M", "-1"] {
            assert!(parse_piece_size(bad).is_err(), "{bad:?} accepted");
        }
    }
}
