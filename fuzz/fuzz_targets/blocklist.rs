//! Blocklist files (P2P text and eMule ipfilter.dat): downloaded from
//! anywhere, read whole.
//!
//! The first byte picks the format (auto, P2P, DAT), the rest is the file.
//! Each bad line is reported once, in order, with a number within the
//! file; the counts match the reports and the filter's rules; every rule
//! added blocks both its ends.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lt::proto::ip_filter::{parse_blocklist, BlocklistFormat, IpFilter, BLOCKED};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, file)) = data.split_first() else { return };
    let format = match pick % 3 {
        0 => BlocklistFormat::Auto,
        1 => BlocklistFormat::P2p,
        _ => BlocklistFormat::Dat,
    };
    let lines = file.split(|b| *b == b'\n').count();
    let mut filter = IpFilter::new();
    let mut reported = Vec::new();
    let counts = parse_blocklist(&mut filter, file, format, &mut |n, why| {
        assert!(!why.is_empty());
        reported.push(n);
    })
    .expect("far below the rule limit");
    assert_ne!(counts.format, Some(BlocklistFormat::Auto));
    assert_eq!(counts.rejected, reported.len());
    assert!(reported.windows(2).all(|w| w[0] < w[1]), "each line once, in order");
    assert!(reported.iter().all(|n| (1..=lines).contains(n)));
    assert_eq!(filter.rules().len(), counts.added);
    // Every rule blocks, so nothing unblocks what an earlier one blocked.
    for r in filter.rules() {
        assert_eq!(r.flags, BLOCKED);
        assert!(r.first <= r.last);
        assert!(filter.is_blocked(r.first) && filter.is_blocked(r.last));
    }
});
