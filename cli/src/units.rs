//! Sizes and rates as people type them: `500K`, `2M`, `4MiB`, `1G`, or a
//! plain number of bytes. The suffixes are powers of 1024, as in the
//! figures `lt` prints.

/// Parses a byte count with an optional K, M or G suffix (any case), which
/// may be followed by `B` or `iB`.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let body = s.strip_suffix("iB").or_else(|| s.strip_suffix('B')).unwrap_or(s);
    let (digits, shift) = match body.chars().last() {
        Some('K' | 'k') => (&body[..body.len() - 1], 10),
        Some('M' | 'm') => (&body[..body.len() - 1], 20),
        Some('G' | 'g') => (&body[..body.len() - 1], 30),
        _ => (body, 0),
    };
    let n: u64 = digits.parse().map_err(|_| format!("'{s}' is not a size such as 500K, 2M or 1G"))?;
    n.checked_mul(1 << shift).ok_or_else(|| format!("'{s}' is too large"))
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_take_binary_suffixes() {
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("1500"), Ok(1500));
        assert_eq!(parse_size("1500B"), Ok(1500));
        assert_eq!(parse_size("300K"), Ok(300 << 10));
        assert_eq!(parse_size("256k"), Ok(256 << 10));
        assert_eq!(parse_size("2MiB"), Ok(2 << 20));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        for bad in ["", "K", "-1", "1X", "1.5M", "99999999999999999999G", "5 M"] {
            assert!(parse_size(bad).is_err(), "{bad:?} accepted");
        }
    }
}
