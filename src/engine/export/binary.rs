//! The binary statistics snapshot: every metric of the catalogue as a
//! little-endian `i64`, behind a 32-byte header, for logging statistics
//! often and cheaply. docs/stats.md ("Binary snapshot") documents every
//! byte; this module is the one writer and the reference reader.
//!
//! Why fixed-width values and not varints: a snapshot is then
//! `32 + 8 * count` bytes, so its values sit at fixed offsets (a reader can
//! take one metric without parsing the others, or map a log file of
//! snapshots as an array of `i64`, each record staying 8-byte aligned), and
//! writing it is one copy. Zigzag varints would make a snapshot about six
//! times smaller, but a log of them compressed with gzip is only a third
//! smaller than a compressed log of fixed-width ones (docs/stats.md has the
//! figures), and random access would be lost.
//!
//! Names do not travel in the snapshot: the metric catalogue only ever grows
//! at its end (`crate::engine::stats::METRICS`), so the values' order is the
//! catalogue's in every version, and the header carries a hash of the names
//! of the metrics it holds so a reader can check that its catalogue agrees.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::engine::session::SessionCore;
use crate::engine::stats::{MetricInfo, METRICS};

/// The first four bytes of every snapshot. The first is not ASCII, as in
/// PNG's signature, so a file that went through a text-mode transfer or was
/// mistaken for text is refused rather than misread.
pub const MAGIC: [u8; 4] = [0x89, b'L', b'T', b'S'];

/// The layout this module writes. It changes only when a field changes
/// meaning; fields added later go after the existing ones, which
/// `header_len` and `total_len` let older readers skip.
pub const FORMAT_VERSION: u16 = 1;

/// Bytes of the version 1 header; the values follow it.
pub const HEADER_LEN: usize = 32;

/// The most metrics a reader accepts in one snapshot, so a corrupt count
/// cannot make it reserve gigabytes. The catalogue has a few hundred.
pub const MAX_METRICS: u32 = 1 << 16;

/// The hash of the names of every metric this library knows, computed once
/// at compile time (`schema_hash` over `METRICS`).
pub const CATALOGUE_HASH: u64 = {
    let mut hash = FNV_OFFSET;
    let mut i = 0;
    while i < METRICS.len() {
        hash = fnv1a_name(hash, METRICS[i].name.as_bytes());
        i += 1;
    }
    hash
};

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// Feeds one name and its terminating NUL into an FNV-1a hash.
const fn fnv1a_name(mut hash: u64, name: &[u8]) -> u64 {
    let mut i = 0;
    while i < name.len() {
        hash ^= name[i] as u64;
        hash = hash.wrapping_mul(FNV_PRIME);
        i += 1;
    }
    // The NUL keeps ["ab", "c"] and ["a", "bc"] apart.
    hash.wrapping_mul(FNV_PRIME)
}

/// 64-bit FNV-1a over the names, each followed by a NUL byte: the header's
/// schema hash. FNV-1a because every reader can write it in three lines
/// (the Python reader and the C test do); it guards against a mismatched
/// catalogue, not against an adversary.
pub fn schema_hash<'a>(names: impl IntoIterator<Item = &'a str>) -> u64 {
    names.into_iter().fold(FNV_OFFSET, |hash, name| fnv1a_name(hash, name.as_bytes()))
}

/// A decoded snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BinarySnapshot {
    /// The format version it was written in.
    pub version: u16,
    /// When it was taken: microseconds since the Unix epoch.
    pub timestamp_us: i64,
    /// `schema_hash` of the names of the writer's first `values.len()`
    /// metrics.
    pub schema_hash: u64,
    /// The values, in the writer's catalogue order.
    pub values: Vec<i64>,
}

/// Why bytes are not a snapshot.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("binary snapshot truncated: {need} bytes needed, {have} present")]
    Truncated { need: usize, have: usize },
    #[error("not a binary statistics snapshot (bad magic)")]
    BadMagic,
    #[error(
        "binary snapshot format version {0} is not supported (this reader knows version {FORMAT_VERSION})"
    )]
    UnsupportedVersion(u16),
    #[error("binary snapshot header length {0} is under {HEADER_LEN}")]
    BadHeaderLength(u16),
    #[error("binary snapshot holds {0} metrics, more than {MAX_METRICS}")]
    TooManyMetrics(u32),
    #[error("binary snapshot length {total} is under its header and values ({need} bytes)")]
    BadLength { total: u32, need: usize },
    #[error("binary snapshot schema hash {found:#018x} does not match this library's first {count} metric names ({expected:#018x})")]
    SchemaMismatch { count: usize, found: u64, expected: u64 },
}

impl BinarySnapshot {
    /// The catalogue entries that name this snapshot's values, in order.
    ///
    /// A snapshot from this version or an older one holds at most as many
    /// metrics as the catalogue: their names are the catalogue's first ones,
    /// checked against the schema hash. A snapshot from a newer version
    /// holds more: the first `METRICS.len()` are named by this catalogue
    /// (the append-only rule; the hash covers names this library does not
    /// know, so it cannot be checked) and the rest have no name here.
    pub fn metrics(&self) -> Result<&'static [MetricInfo], DecodeError> {
        if self.values.len() > METRICS.len() {
            return Ok(METRICS);
        }
        let known = &METRICS[..self.values.len()];
        let expected = schema_hash(known.iter().map(|m| m.name));
        if expected != self.schema_hash {
            return Err(DecodeError::SchemaMismatch {
                count: known.len(),
                found: self.schema_hash,
                expected,
            });
        }
        Ok(known)
    }
}

/// Encodes one snapshot: the version 1 header, then `values` as
/// little-endian `i64`. `schema` is `schema_hash` of the values' metric
/// names (`CATALOGUE_HASH` for the whole catalogue).
///
/// # Panics
/// When `values` holds more than `MAX_METRICS` values, which no reader
/// would accept (the catalogue is far smaller).
pub fn encode(timestamp_us: i64, schema: u64, values: &[i64]) -> Vec<u8> {
    let count = u32::try_from(values.len()).ok().filter(|&n| n <= MAX_METRICS);
    let count = count.expect("a snapshot holds at most MAX_METRICS values");
    let total = HEADER_LEN + 8 * values.len();
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(HEADER_LEN as u16).to_le_bytes());
    // At most 32 + 8 * 2^16 bytes: fits in a u32.
    out.extend_from_slice(&(total as u32).to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&timestamp_us.to_le_bytes());
    out.extend_from_slice(&schema.to_le_bytes());
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// Decodes the snapshot at the start of `bytes`; answers it and its length
/// in bytes, where the next snapshot of a log starts. Bytes after the
/// values but inside the snapshot's length (fields of a later version) are
/// skipped.
pub fn decode(bytes: &[u8]) -> Result<(BinarySnapshot, usize), DecodeError> {
    let have = bytes.len();
    if have < HEADER_LEN {
        return Err(DecodeError::Truncated { need: HEADER_LEN, have });
    }
    let u16_at = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]);
    let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
    if bytes[..4] != MAGIC {
        return Err(DecodeError::BadMagic);
    }
    let version = u16_at(4);
    if version != FORMAT_VERSION {
        return Err(DecodeError::UnsupportedVersion(version));
    }
    let header_len = u16_at(6);
    if usize::from(header_len) < HEADER_LEN {
        return Err(DecodeError::BadHeaderLength(header_len));
    }
    let total = u32_at(8);
    let count = u32_at(12);
    if count > MAX_METRICS {
        return Err(DecodeError::TooManyMetrics(count));
    }
    // Bounded: at most 65,535 + 8 * 2^16.
    let need = usize::from(header_len) + 8 * count as usize;
    if (total as usize) < need {
        return Err(DecodeError::BadLength { total, need });
    }
    if have < total as usize {
        return Err(DecodeError::Truncated { need: total as usize, have });
    }
    let values = bytes[usize::from(header_len)..need]
        .chunks_exact(8)
        .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect();
    let snapshot =
        BinarySnapshot { version, timestamp_us: u64_at(16) as i64, schema_hash: u64_at(24), values };
    Ok((snapshot, total as usize))
}

/// Microseconds since the Unix epoch now (negative before it, should the
/// clock be set so).
fn now_us() -> i64 {
    let saturate = |d: std::time::Duration| i64::try_from(d.as_micros()).unwrap_or(i64::MAX);
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => saturate(d),
        Err(e) => -saturate(e.duration()),
    }
}

/// The session's binary snapshot now: every metric, in catalogue order.
pub(crate) fn export_binary(core: &SessionCore) -> Vec<u8> {
    core.refresh_live_gauges();
    let values = core.counters.snapshot();
    encode(now_us(), CATALOGUE_HASH, &values)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values that exercise every byte: extremes, negatives, and one per
    /// metric that differs from its neighbours.
    fn known_values(n: usize) -> Vec<i64> {
        (0..n)
            .map(|i| match i {
                0 => i64::MIN,
                1 => i64::MAX,
                2 => -1,
                3 => 0,
                _ => (i as i64) * 1_000_003 - 7,
            })
            .collect()
    }

    #[test]
    fn round_trip_and_layout() {
        let values = known_values(METRICS.len());
        let bytes = encode(1_700_000_000_123_456, CATALOGUE_HASH, &values);
        assert_eq!(bytes.len(), HEADER_LEN + 8 * METRICS.len());
        assert_eq!(bytes[..4], [0x89, b'L', b'T', b'S']);
        assert_eq!(bytes[4..6], [1, 0]);
        assert_eq!(bytes[6..8], [32, 0]);
        assert_eq!(u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize, bytes.len());
        assert_eq!(u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize, METRICS.len());
        assert_eq!(bytes[16..24], 1_700_000_000_123_456i64.to_le_bytes());
        assert_eq!(bytes[24..32], CATALOGUE_HASH.to_le_bytes());
        assert_eq!(bytes[32..40], i64::MIN.to_le_bytes());
        let (snap, used) = decode(&bytes).unwrap();
        assert_eq!(used, bytes.len());
        assert_eq!(snap.version, 1);
        assert_eq!(snap.timestamp_us, 1_700_000_000_123_456);
        assert_eq!(snap.values, values);
        assert_eq!(snap.metrics().unwrap().len(), METRICS.len());
    }

    #[test]
    fn hash_is_fnv1a_over_nul_terminated_names() {
        // FNV-1a of the four bytes "a\0b\0", worked out by hand from the
        // published offset basis and prime.
        let mut h = FNV_OFFSET;
        for b in *b"a\0b\0" {
            h = (h ^ u64::from(b)).wrapping_mul(FNV_PRIME);
        }
        assert_eq!(schema_hash(["a", "b"]), h);
        assert_ne!(schema_hash(["ab"]), schema_hash(["a", "b"]));
        assert_eq!(CATALOGUE_HASH, schema_hash(METRICS.iter().map(|m| m.name)));
    }

    #[test]
    fn snapshots_follow_one_another() {
        let older = &METRICS[..5];
        let a = encode(10, schema_hash(older.iter().map(|m| m.name)), &[1, 2, 3, 4, 5]);
        let b = encode(20, CATALOGUE_HASH, &known_values(METRICS.len()));
        let log = [a.clone(), b.clone()].concat();
        let (first, used) = decode(&log).unwrap();
        assert_eq!((first.timestamp_us, used), (10, a.len()));
        assert_eq!(
            first.metrics().unwrap().iter().map(|m| m.name).collect::<Vec<_>>(),
            [
                "net.recv_bytes",
                "net.sent_bytes",
                "net.recv_payload_bytes",
                "net.sent_payload_bytes",
                "net.recv_rate"
            ]
        );
        let (second, used2) = decode(&log[used..]).unwrap();
        assert_eq!((second.timestamp_us, used2), (20, b.len()));
    }

    #[test]
    fn later_fields_are_skipped_and_newer_metrics_unnamed() {
        // A later version: a longer header and a trailing block, and one
        // metric more than this catalogue has.
        let mut names: Vec<&str> = METRICS.iter().map(|m| m.name).collect();
        names.push("future.metric");
        let values = known_values(names.len());
        let mut bytes = encode(5, schema_hash(names.iter().copied()), &values);
        bytes.splice(HEADER_LEN..HEADER_LEN, [0xee; 8]);
        bytes.extend_from_slice(&[0xdd; 16]);
        bytes[6..8].copy_from_slice(&(HEADER_LEN as u16 + 8).to_le_bytes());
        let total = bytes.len() as u32;
        bytes[8..12].copy_from_slice(&total.to_le_bytes());
        let (snap, used) = decode(&bytes).unwrap();
        assert_eq!(used, bytes.len());
        assert_eq!(snap.values, values);
        assert_eq!(snap.metrics().unwrap().len(), METRICS.len());
    }

    #[test]
    fn a_different_catalogue_is_refused() {
        let bytes = encode(0, schema_hash(["net.recv_bytes", "renamed"]), &[1, 2]);
        let (snap, _) = decode(&bytes).unwrap();
        assert!(matches!(snap.metrics(), Err(DecodeError::SchemaMismatch { count: 2, .. })));
    }

    /// tests/data/stats_snapshot_v1.bin: two snapshots one after the other,
    /// the first of the catalogue's first 5 metrics (as an older writer
    /// makes), the second of its first `GOLDEN_COUNT`, with `known_values`.
    /// python/tests/test_stats_binary.py decodes the same file, so the two
    /// readers are held to one layout. The file is never regenerated for a
    /// longer catalogue: it still decoding with a checked schema hash is
    /// the test that metrics are only appended. Write it anew
    /// (`LT_BLESS=1 cargo test --lib golden`) only for a new format version.
    const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/stats_snapshot_v1.bin");
    /// The catalogue's length when the golden file was written.
    const GOLDEN_COUNT: usize = 230;

    fn golden_bytes() -> Vec<u8> {
        let names = |n: usize| METRICS[..n].iter().map(|m| m.name);
        let first = encode(1_700_000_000_000_000, schema_hash(names(5)), &known_values(5));
        let second =
            encode(1_700_000_001_234_567, schema_hash(names(GOLDEN_COUNT)), &known_values(GOLDEN_COUNT));
        [first, second].concat()
    }

    #[test]
    fn golden_file_decodes_with_this_catalogue() {
        if std::env::var_os("LT_BLESS").is_some() {
            std::fs::write(GOLDEN, golden_bytes()).unwrap();
        }
        let file = std::fs::read(GOLDEN).expect("tests/data/stats_snapshot_v1.bin");
        let (first, used) = decode(&file).unwrap();
        assert_eq!(first.timestamp_us, 1_700_000_000_000_000);
        assert_eq!(first.values, known_values(5));
        assert_eq!(first.metrics().unwrap().len(), 5);
        let (second, used2) = decode(&file[used..]).unwrap();
        assert_eq!(used + used2, file.len());
        assert_eq!(second.timestamp_us, 1_700_000_001_234_567);
        assert_eq!(second.values, known_values(GOLDEN_COUNT));
        // The append-only rule: the names of the metrics the file holds are
        // still this catalogue's first ones, in the same order.
        let named = second.metrics().expect("metrics renamed, removed or reordered: only append to METRICS");
        assert_eq!(named.len(), GOLDEN_COUNT);
        assert_eq!(named[0].name, "net.recv_bytes");
        assert_eq!(named[GOLDEN_COUNT - 1].name, "peer.blocked_by_port_filter");
        assert_eq!(file, golden_bytes(), "the encoder's output changed");
    }

    #[test]
    fn bad_input_is_an_error() {
        let good = encode(0, CATALOGUE_HASH, &known_values(METRICS.len()));
        for cut in [0, 1, 31, 32, good.len() - 1] {
            assert!(matches!(decode(&good[..cut]), Err(DecodeError::Truncated { .. })), "cut at {cut}");
        }
        let patched = |at: usize, with: &[u8]| {
            let mut b = good.clone();
            b[at..at + with.len()].copy_from_slice(with);
            decode(&b).unwrap_err()
        };
        assert_eq!(patched(0, b"LTS!"), DecodeError::BadMagic);
        assert_eq!(patched(4, &2u16.to_le_bytes()), DecodeError::UnsupportedVersion(2));
        assert_eq!(patched(6, &31u16.to_le_bytes()), DecodeError::BadHeaderLength(31));
        assert_eq!(
            patched(12, &(MAX_METRICS + 1).to_le_bytes()),
            DecodeError::TooManyMetrics(MAX_METRICS + 1)
        );
        assert!(matches!(patched(8, &40u32.to_le_bytes()), DecodeError::BadLength { total: 40, .. }));
        assert!(matches!(patched(8, &u32::MAX.to_le_bytes()), DecodeError::Truncated { .. }));
    }
}
