//! IP and port filters (libtorrent's `ip_filter` and `port_filter` model)
//! and the two blocklist formats users download for them.
//!
//! A filter is a list of rules, each a closed range of addresses (or
//! ports) with access flags. Where rules overlap, the later one wins. The
//! rules are folded into a map from range starts to flags that covers the
//! whole address space (every address starts with flags 0, allowed), so
//! `access` is one ordered-map lookup. Unlike libtorrent, the rules are
//! kept in order too, so that [`IpFilter::remove_rule`] can take one back
//! and the map be folded again from the rest.
//!
//! IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) are judged as the IPv4
//! address they carry, in rules and in queries: a dual-stack socket reports
//! IPv4 peers in that form, and judging them by the IPv6 rules would let a
//! peer blocked by its IPv4 address through.
//!
//! Blocklists ([`parse_blocklist`]) are untrusted: every line is bounded
//! ([`MAX_LINE_LEN`]), every bad line is reported with its number and the
//! reason and skipped, never guessed at, and a filter holds at most
//! [`MAX_RULES`] rules.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The access flag that refuses connections (libtorrent's
/// `ip_filter::blocked`). Other bits are kept and exported as given.
pub const BLOCKED: u32 = 1;

/// Most rules one filter holds (the IP and port rules counted apart).
/// The largest public blocklists have about a million ranges; two million
/// rules take about 80 MB.
pub const MAX_RULES: usize = 2_000_000;

/// Longest blocklist line, in bytes, end of line excluded. Real lines are
/// under 200 bytes; longer ones are reported, not read.
pub const MAX_LINE_LEN: usize = 4096;

/// Why a rule cannot be added or removed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RuleError {
    /// One end is IPv4 and the other IPv6.
    MixedFamilies,
    /// The first address (or port) is above the last.
    Reversed,
    /// The filter holds [`MAX_RULES`] rules already.
    TooManyRules,
    /// `remove_rule` found no rule with exactly these ends.
    NotFound,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RuleError::MixedFamilies => {
                "the first and last addresses are of different families (IPv4 and IPv6)"
            }
            RuleError::Reversed => "the first address is above the last",
            RuleError::TooManyRules => "the filter holds its most rules",
            RuleError::NotFound => "no rule has exactly these first and last addresses",
        })
    }
}

impl std::error::Error for RuleError {}

/// A point of an ordered space with a largest value: IPv4 and IPv6
/// addresses as integers, and ports.
pub trait Point: Copy + Ord + fmt::Debug {
    const MIN: Self;
    const MAX: Self;
    /// The next point, `None` after `MAX`.
    fn succ(self) -> Option<Self>;
    /// The point before, `None` at `MIN`.
    fn pred(self) -> Option<Self>;
}

macro_rules! point {
    ($($t:ty),*) => {$(
        impl Point for $t {
            const MIN: Self = <$t>::MIN;
            const MAX: Self = <$t>::MAX;
            fn succ(self) -> Option<Self> { self.checked_add(1) }
            fn pred(self) -> Option<Self> { self.checked_sub(1) }
        }
    )*};
}
point!(u16, u32, u128);

/// Flags over a whole space: a map from range starts to the flags of the
/// points up to the next start. It always has an entry at `MIN`, and two
/// neighbouring entries never have the same flags (ranges are merged).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RangeSet<T: Point> {
    starts: BTreeMap<T, u32>,
}

impl<T: Point> Default for RangeSet<T> {
    fn default() -> Self {
        RangeSet { starts: BTreeMap::from([(T::MIN, 0)]) }
    }
}

impl<T: Point> RangeSet<T> {
    /// The flags of `p`.
    pub fn access(&self, p: T) -> u32 {
        self.starts.range(..=p).next_back().map_or(0, |(_, f)| *f)
    }

    /// Gives `first..=last` the flags `flags`, over whatever was there.
    /// The caller checks `first <= last`.
    pub fn set(&mut self, first: T, last: T, flags: u32) {
        // What follows the range keeps its flags: pin them at last + 1.
        if let Some(after) = last.succ() {
            let after_flags = self.access(after);
            self.starts.insert(after, after_flags);
        }
        let inside: Vec<T> = self.starts.range(first..=last).map(|(k, _)| *k).collect();
        for k in inside {
            self.starts.remove(&k);
        }
        self.starts.insert(first, flags);
        // Merge with the neighbours where the flags are the same.
        if let Some(after) = last.succ() {
            if self.starts.get(&after) == Some(&flags) {
                self.starts.remove(&after);
            }
        }
        if let Some(before) = first.pred() {
            if self.access(before) == flags {
                self.starts.remove(&first);
            }
        }
    }

    /// Every range with its flags, in order, covering the whole space.
    pub fn ranges(&self) -> Vec<(T, T, u32)> {
        let mut out = Vec::with_capacity(self.starts.len());
        let mut it = self.starts.iter().peekable();
        while let Some((start, flags)) = it.next() {
            let end = match it.peek() {
                Some((next, _)) => next.pred().unwrap_or(T::MIN),
                None => T::MAX,
            };
            out.push((*start, end, *flags));
        }
        out
    }
}

/// An address with IPv4-mapped IPv6 addresses turned into IPv4 (see the
/// module documentation for why).
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

/// One rule as it was added (ends in canonical form).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpRule {
    pub first: IpAddr,
    pub last: IpAddr,
    pub flags: u32,
}

/// A rule's ends, checked: both of one family, in order.
#[derive(Clone, Copy)]
enum Span {
    V4(u32, u32),
    V6(u128, u128),
}

fn span(first: IpAddr, last: IpAddr) -> Result<Span, RuleError> {
    match (canonical(first), canonical(last)) {
        (IpAddr::V4(a), IpAddr::V4(b)) if a <= b => Ok(Span::V4(a.into(), b.into())),
        (IpAddr::V6(a), IpAddr::V6(b)) if a <= b => Ok(Span::V6(a.into(), b.into())),
        (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => Err(RuleError::Reversed),
        _ => Err(RuleError::MixedFamilies),
    }
}

/// libtorrent's `ip_filter`: rules over IPv4 and IPv6 ranges, the later
/// rule winning where they overlap. Empty, it allows everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IpFilter {
    rules: Vec<IpRule>,
    v4: RangeSet<u32>,
    v6: RangeSet<u128>,
}

impl IpFilter {
    pub fn new() -> IpFilter {
        IpFilter::default()
    }

    /// Adds a rule: `first..=last` (both IPv4 or both IPv6; IPv4-mapped
    /// IPv6 counts as IPv4) gets `flags`, over earlier rules.
    pub fn add_rule(&mut self, first: IpAddr, last: IpAddr, flags: u32) -> Result<(), RuleError> {
        let s = span(first, last)?;
        if self.rules.len() >= MAX_RULES {
            return Err(RuleError::TooManyRules);
        }
        self.apply(s, flags);
        self.rules.push(IpRule { first: canonical(first), last: canonical(last), flags });
        Ok(())
    }

    fn apply(&mut self, s: Span, flags: u32) {
        match s {
            Span::V4(a, b) => self.v4.set(a, b, flags),
            Span::V6(a, b) => self.v6.set(a, b, flags),
        }
    }

    /// Removes every rule whose ends are exactly `first` and `last`
    /// (whatever its flags), and folds the remaining rules again in their
    /// order: the addresses it covered get what the other rules say, as if
    /// it had never been added. Answers how many rules went, or `NotFound`
    /// when none matched (the filter is unchanged).
    pub fn remove_rule(&mut self, first: IpAddr, last: IpAddr) -> Result<usize, RuleError> {
        span(first, last)?;
        let (first, last) = (canonical(first), canonical(last));
        let before = self.rules.len();
        self.rules.retain(|r| !(r.first == first && r.last == last));
        let removed = before - self.rules.len();
        if removed == 0 {
            return Err(RuleError::NotFound);
        }
        self.v4 = RangeSet::default();
        self.v6 = RangeSet::default();
        for r in std::mem::take(&mut self.rules) {
            if let Ok(s) = span(r.first, r.last) {
                self.apply(s, r.flags);
            }
            self.rules.push(r);
        }
        Ok(removed)
    }

    /// The flags of `ip` (0: allowed; [`BLOCKED`] set: refused).
    pub fn access(&self, ip: IpAddr) -> u32 {
        match canonical(ip) {
            IpAddr::V4(a) => self.v4.access(a.into()),
            IpAddr::V6(a) => self.v6.access(a.into()),
        }
    }

    /// Whether `ip` is blocked.
    pub fn is_blocked(&self, ip: IpAddr) -> bool {
        self.access(ip) & BLOCKED != 0
    }

    /// The rules, in the order they were added.
    pub fn rules(&self) -> &[IpRule] {
        &self.rules
    }

    /// Whether no rule was added (everything is allowed).
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The resulting ranges as libtorrent's `export_filter` gives them:
    /// merged (neighbours never share flags) and covering the whole space,
    /// the allowed ranges (flags 0) included; the IPv4 ranges first, then
    /// the IPv6 ones. An empty filter exports two ranges: all of IPv4 and
    /// all of IPv6, flags 0.
    pub fn export(&self) -> Vec<IpRule> {
        let v4 = self.v4.ranges().into_iter().map(|(a, b, flags)| IpRule {
            first: IpAddr::V4(Ipv4Addr::from(a)),
            last: IpAddr::V4(Ipv4Addr::from(b)),
            flags,
        });
        let v6 = self.v6.ranges().into_iter().map(|(a, b, flags)| IpRule {
            first: IpAddr::V6(Ipv6Addr::from(a)),
            last: IpAddr::V6(Ipv6Addr::from(b)),
            flags,
        });
        v4.chain(v6).collect()
    }
}

/// libtorrent's `port_filter`: rules over port ranges, the later winning.
/// libtorrent applies it to the ports of peers it dials.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PortFilter {
    rules: usize,
    ports: RangeSet<u16>,
}

impl PortFilter {
    pub fn new() -> PortFilter {
        PortFilter::default()
    }

    /// Gives ports `first..=last` the flags `flags`, over earlier rules.
    pub fn add_rule(&mut self, first: u16, last: u16, flags: u32) -> Result<(), RuleError> {
        if first > last {
            return Err(RuleError::Reversed);
        }
        if self.rules >= MAX_RULES {
            return Err(RuleError::TooManyRules);
        }
        self.ports.set(first, last, flags);
        self.rules += 1;
        Ok(())
    }

    /// The flags of `port`.
    pub fn access(&self, port: u16) -> u32 {
        self.ports.access(port)
    }

    /// Whether `port` is blocked.
    pub fn is_blocked(&self, port: u16) -> bool {
        self.access(port) & BLOCKED != 0
    }

    /// The merged ranges covering every port.
    pub fn export(&self) -> Vec<(u16, u16, u32)> {
        self.ports.ranges()
    }
}

// ---- blocklists ------------------------------------------------------------

/// The blocklist formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlocklistFormat {
    /// Decided from the first lines that parse (see [`parse_blocklist`]).
    Auto,
    /// PeerGuardian's P2P text format, `name:first-last`.
    P2p,
    /// eMule's `ipfilter.dat`, `first - last , level , name`.
    Dat,
}

/// The eMule access level up to which a range is blocked (eMule's default
/// filter level, which qBittorrent applies too); ranges above it are
/// allowed ranges, and are skipped as qBittorrent skips them.
pub const DAT_BLOCK_LEVEL: u32 = 127;

/// What one good blocklist line says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry {
    /// Block this range.
    Block(IpAddr, IpAddr),
    /// An eMule line above [`DAT_BLOCK_LEVEL`]: not a blocking rule.
    Allowed,
}

/// What an import did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImportCounts {
    /// Blocking rules added to the filter.
    pub added: usize,
    /// Lines reported bad (and skipped).
    pub rejected: usize,
    /// The format the lines were read as (never `Auto`).
    pub format: Option<BlocklistFormat>,
}

/// Parses an IPv4 address of four decimal octets with up to three digits
/// each, leading zeros allowed and read as decimal (`001.002.003.004` is
/// 1.2.3.4, as eMule and qBittorrent read it; std's parser refuses them).
fn parse_v4(s: &str) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut parts = s.split('.');
    for o in octets.iter_mut() {
        let p = parts.next()?;
        if p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        *o = p.parse::<u16>().ok().and_then(|v| u8::try_from(v).ok())?;
    }
    parts.next().is_none().then(|| Ipv4Addr::from(octets))
}

/// An IPv4 address (as [`parse_v4`]) or a standard IPv6 address.
fn parse_ip(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    if let Some(v4) = parse_v4(s) {
        return Some(IpAddr::V4(v4));
    }
    if s.contains(':') {
        return s.parse::<Ipv6Addr>().ok().map(IpAddr::V6);
    }
    None
}

/// `first-last` (spaces around either end allowed) as a checked range.
fn parse_range(s: &str, sep: char) -> Result<(IpAddr, IpAddr), String> {
    let (a, b) = s.split_once(sep).ok_or_else(|| format!("no '{sep}' between the first and last address"))?;
    let first = parse_ip(a).ok_or_else(|| format!("'{}' is not an IP address", a.trim()))?;
    let last = parse_ip(b).ok_or_else(|| format!("'{}' is not an IP address", b.trim()))?;
    span(first, last).map_err(|e| e.to_string())?;
    Ok((first, last))
}

/// One P2P line: `name:first-last`. The name may hold colons (the range is
/// after the last one, as qBittorrent reads it); a name without colons may
/// be followed by an IPv6 range (after the first colon, as transmission
/// reads it).
fn parse_p2p_line(line: &str) -> Result<Entry, String> {
    let (_, range) = line.rsplit_once(':').ok_or("no ':' after the name")?;
    match parse_range(range, '-') {
        Ok((first, last)) => Ok(Entry::Block(first, last)),
        Err(why) => {
            let by_first = line.split_once(':').and_then(|(_, r)| parse_range(r, '-').ok());
            by_first.map(|(first, last)| Entry::Block(first, last)).ok_or(why)
        }
    }
}

/// One eMule line: `first - last , level , name` (the name may be absent
/// and may hold commas).
fn parse_dat_line(line: &str) -> Result<Entry, String> {
    let mut fields = line.splitn(3, ',');
    let range = fields.next().unwrap_or_default();
    let (first, last) = parse_range(range, '-')?;
    let level = fields.next().ok_or("no access level after the range")?.trim();
    if level.is_empty() || level.len() > 10 || !level.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("access level '{level}' is not a number"));
    }
    let level: u64 = level.parse().map_err(|_| format!("access level '{level}' is not a number"))?;
    if level <= u64::from(DAT_BLOCK_LEVEL) {
        Ok(Entry::Block(first, last))
    } else {
        Ok(Entry::Allowed)
    }
}

/// The lines of a blocklist that carry data: (1-based number, text),
/// trimmed, without the end of line, blank lines, comments (`#` or `//`
/// first) and a UTF-8 byte order mark. Names come in any encoding (old
/// lists are Latin-1); the addresses are ASCII, so a line that is not UTF-8
/// is read with its foreign bytes replaced. A line that is too long comes
/// as an error.
fn data_lines(data: &[u8]) -> impl Iterator<Item = (usize, Result<Cow<'_, str>, String>)> {
    let data = data.strip_prefix(b"\xef\xbb\xbf").unwrap_or(data);
    data.split(|b| *b == b'\n').enumerate().filter_map(|(i, raw)| {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let n = i + 1;
        if raw.len() > MAX_LINE_LEN {
            return Some((n, Err(format!("longer than {MAX_LINE_LEN} bytes"))));
        }
        let text = match String::from_utf8_lossy(raw) {
            Cow::Borrowed(s) => Cow::Borrowed(s.trim()),
            Cow::Owned(s) => Cow::Owned(s.trim().to_string()),
        };
        if text.is_empty() || text.starts_with('#') || text.starts_with("//") {
            return None;
        }
        Some((n, Ok(text)))
    })
}

/// How many data lines auto-detection looks at before it settles on P2P.
const DETECT_LINES: usize = 100;

/// The format of a blocklist: the format of the first of its first
/// [`DETECT_LINES`] data lines that parses as one of them (eMule tried
/// first: a DAT line never parses as P2P, since it has no colon unless it
/// is IPv6 or its name has one), P2P when none does.
pub fn detect_format(data: &[u8]) -> BlocklistFormat {
    for (_, line) in data_lines(data).take(DETECT_LINES) {
        let Ok(line) = line else { continue };
        if parse_dat_line(&line).is_ok() {
            return BlocklistFormat::Dat;
        }
        if parse_p2p_line(&line).is_ok() {
            return BlocklistFormat::P2p;
        }
    }
    BlocklistFormat::P2p
}

/// Why an import stopped before the end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportLimit {
    /// The line whose rule did not fit.
    pub line: usize,
    /// The counts up to there (the rules before it stay in the filter).
    pub counts: ImportCounts,
}

/// Reads a blocklist in `format` into blocking rules of `filter` (flags
/// [`BLOCKED`]), in the order of the lines. Each bad line is passed to
/// `on_error` with its 1-based number and the reason, and skipped; good
/// lines are kept. eMule lines above [`DAT_BLOCK_LEVEL`] are good but add
/// no rule. Stops with `Err` when the filter is full ([`MAX_RULES`]); the
/// rules added until then stay.
pub fn parse_blocklist(
    filter: &mut IpFilter,
    data: &[u8],
    format: BlocklistFormat,
    on_error: &mut dyn FnMut(usize, &str),
) -> Result<ImportCounts, ImportLimit> {
    let format = match format {
        BlocklistFormat::Auto => detect_format(data),
        f => f,
    };
    let parse: fn(&str) -> Result<Entry, String> = match format {
        BlocklistFormat::Dat => parse_dat_line,
        _ => parse_p2p_line,
    };
    let mut counts = ImportCounts { format: Some(format), ..ImportCounts::default() };
    for (n, line) in data_lines(data) {
        match line.and_then(|l| parse(&l)) {
            Ok(Entry::Block(first, last)) => match filter.add_rule(first, last, BLOCKED) {
                Ok(()) => counts.added += 1,
                Err(RuleError::TooManyRules) => return Err(ImportLimit { line: n, counts }),
                Err(e) => {
                    counts.rejected += 1;
                    on_error(n, &e.to_string());
                }
            },
            Ok(Entry::Allowed) => {}
            Err(why) => {
                counts.rejected += 1;
                on_error(n, &why);
            }
        }
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn later_rules_win_where_they_overlap() {
        let mut f = IpFilter::new();
        f.add_rule(ip("10.0.0.0"), ip("10.255.255.255"), BLOCKED).unwrap();
        f.add_rule(ip("10.1.0.0"), ip("10.1.255.255"), 0).unwrap();
        assert!(f.is_blocked(ip("10.0.0.1")));
        assert!(!f.is_blocked(ip("10.1.2.3")));
        assert!(f.is_blocked(ip("10.2.0.0")));
        assert!(!f.is_blocked(ip("11.0.0.0")));
        let ranges: Vec<_> = f
            .export()
            .into_iter()
            .filter(|r| r.first.is_ipv4())
            .map(|r| (r.first, r.last, r.flags))
            .collect();
        assert_eq!(
            ranges,
            vec![
                (ip("0.0.0.0"), ip("9.255.255.255"), 0),
                (ip("10.0.0.0"), ip("10.0.255.255"), BLOCKED),
                (ip("10.1.0.0"), ip("10.1.255.255"), 0),
                (ip("10.2.0.0"), ip("10.255.255.255"), BLOCKED),
                (ip("11.0.0.0"), ip("255.255.255.255"), 0),
            ]
        );
    }

    #[test]
    fn empty_filter_exports_both_whole_spaces() {
        let f = IpFilter::new();
        let e = f.export();
        assert_eq!(e.len(), 2);
        assert_eq!((e[0].first, e[0].last, e[0].flags), (ip("0.0.0.0"), ip("255.255.255.255"), 0));
        assert_eq!(e[1].last, ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
    }

    #[test]
    fn ends_of_the_space_and_merging() {
        let mut f = IpFilter::new();
        f.add_rule(ip("0.0.0.0"), ip("255.255.255.255"), BLOCKED).unwrap();
        assert!(f.is_blocked(ip("0.0.0.0")) && f.is_blocked(ip("255.255.255.255")));
        assert_eq!(f.export().len(), 2, "one IPv4 range, one IPv6 range");
        f.add_rule(ip("1.0.0.0"), ip("1.0.0.0"), BLOCKED).unwrap();
        assert_eq!(f.export().len(), 2, "a rule with the same flags merges");
        f.add_rule(ip("::"), ip("::"), BLOCKED).unwrap();
        assert!(f.is_blocked(ip("::")) && !f.is_blocked(ip("::1")));
    }

    #[test]
    fn mapped_addresses_are_judged_as_ipv4() {
        let mut f = IpFilter::new();
        f.add_rule(ip("::ffff:1.2.3.0"), ip("::ffff:1.2.3.255"), BLOCKED).unwrap();
        assert!(f.is_blocked(ip("1.2.3.4")));
        assert!(f.is_blocked(ip("::ffff:1.2.3.4")));
        assert_eq!(f.rules()[0].first, ip("1.2.3.0"));
    }

    #[test]
    fn bad_rules_are_refused() {
        let mut f = IpFilter::new();
        assert_eq!(f.add_rule(ip("1.2.3.4"), ip("::1"), BLOCKED), Err(RuleError::MixedFamilies));
        assert_eq!(f.add_rule(ip("1.2.3.4"), ip("1.2.3.3"), BLOCKED), Err(RuleError::Reversed));
        assert!(f.is_empty());
    }

    #[test]
    fn remove_rule_refolds_the_rest() {
        let mut f = IpFilter::new();
        f.add_rule(ip("10.0.0.0"), ip("10.0.0.255"), BLOCKED).unwrap();
        f.add_rule(ip("10.0.0.10"), ip("10.0.0.20"), 0).unwrap();
        f.add_rule(ip("10.0.0.10"), ip("10.0.0.20"), 0).unwrap();
        assert!(!f.is_blocked(ip("10.0.0.15")));
        assert_eq!(f.remove_rule(ip("10.0.0.10"), ip("10.0.0.20")), Ok(2));
        assert!(f.is_blocked(ip("10.0.0.15")), "the blocking rule under it shows again");
        assert_eq!(f.remove_rule(ip("10.0.0.10"), ip("10.0.0.20")), Err(RuleError::NotFound));
        assert_eq!(f.remove_rule(ip("10.0.0.0"), ip("10.0.0.255")), Ok(1));
        assert_eq!(f, IpFilter::new());
    }

    #[test]
    fn port_filter() {
        let mut f = PortFilter::new();
        f.add_rule(0, 1023, BLOCKED).unwrap();
        f.add_rule(80, 80, 0).unwrap();
        assert!(f.is_blocked(0) && f.is_blocked(1023) && !f.is_blocked(80) && !f.is_blocked(1024));
        assert_eq!(f.export(), vec![(0, 79, BLOCKED), (80, 80, 0), (81, 1023, BLOCKED), (1024, 65535, 0)]);
        assert_eq!(f.add_rule(2, 1, BLOCKED), Err(RuleError::Reversed));
    }

    fn import(data: &str, format: BlocklistFormat) -> (IpFilter, ImportCounts, Vec<(usize, String)>) {
        let mut f = IpFilter::new();
        let mut errors = Vec::new();
        let counts =
            parse_blocklist(&mut f, data.as_bytes(), format, &mut |n, m| errors.push((n, m.to_string())))
                .unwrap();
        (f, counts, errors)
    }

    #[test]
    fn p2p_lines() {
        let data = "# comment\n\
                    Some: Org, Inc:1.2.3.0-1.2.3.255\r\n\
                    \n\
                    // another comment\n\
                    bad line without range\n\
                    x:1.2.3.4-1.2.3\n\
                    v6 range:2001:db8::-2001:db8::ff\n\
                    reversed:9.9.9.9-9.9.9.1\n\
                    zeros:001.002.003.004-001.002.003.005\n";
        let (f, counts, errors) = import(data, BlocklistFormat::Auto);
        assert_eq!(counts.format, Some(BlocklistFormat::P2p));
        assert_eq!((counts.added, counts.rejected), (3, 3));
        assert_eq!(errors.iter().map(|e| e.0).collect::<Vec<_>>(), vec![5, 6, 8]);
        assert!(errors[1].1.contains("'1.2.3' is not an IP address"), "{:?}", errors);
        assert!(f.is_blocked(ip("1.2.3.100")));
        assert!(f.is_blocked(ip("2001:db8::7")));
        assert!(f.is_blocked(ip("1.2.3.5")));
        assert!(!f.is_blocked(ip("9.9.9.5")));
    }

    #[test]
    fn dat_lines() {
        let data = "\u{feff}001.002.003.000 - 001.002.003.255 , 000 , leading zeros\n\
                    5.0.0.0 - 5.0.0.9 , 200 , allowed level\n\
                    6.0.0.0 - 6.0.0.9 , 127\n\
                    7.0.0.0 - 7.0.0.9\n\
                    8.0.0.0 - 8.0.0.300 , 0 , bad\n\
                    9.0.0.0 - 9.0.0.9 , x , bad level\n";
        let (f, counts, errors) = import(data, BlocklistFormat::Auto);
        assert_eq!(counts.format, Some(BlocklistFormat::Dat));
        assert_eq!((counts.added, counts.rejected), (2, 3));
        assert_eq!(errors.iter().map(|e| e.0).collect::<Vec<_>>(), vec![4, 5, 6]);
        assert!(f.is_blocked(ip("1.2.3.4")));
        assert!(!f.is_blocked(ip("5.0.0.1")));
        assert!(f.is_blocked(ip("6.0.0.9")));
    }

    #[test]
    fn long_and_foreign_lines() {
        let mut data = b"caf\xe9:1.0.0.0-1.0.0.1\n".to_vec();
        data.extend(std::iter::repeat_n(b'a', MAX_LINE_LEN + 1));
        data.extend(b"\nok:2.0.0.0-2.0.0.1");
        let mut f = IpFilter::new();
        let mut errors = Vec::new();
        let c =
            parse_blocklist(&mut f, &data, BlocklistFormat::P2p, &mut |n, m| errors.push((n, m.to_string())))
                .unwrap();
        assert_eq!((c.added, c.rejected), (2, 1));
        assert_eq!(errors[0].0, 2);
    }

    /// The naive model: the last rule covering an address decides.
    fn naive(rules: &[(u32, u32, u32)], a: u32) -> u32 {
        rules.iter().rev().find(|r| r.0 <= a && a <= r.1).map_or(0, |r| r.2)
    }

    proptest! {
        #[test]
        fn matches_the_naive_model(
            rules in proptest::collection::vec((0u32..64, 0u32..64, 0u32..3), 0..12),
            remove in proptest::option::of(0usize..12),
        ) {
            let mut rules: Vec<(u32, u32, u32)> = rules.into_iter().map(|(a, b, f)| (a.min(b), a.max(b), f)).collect();
            let mut f = IpFilter::new();
            for (a, b, fl) in &rules {
                f.add_rule(IpAddr::V4((*a).into()), IpAddr::V4((*b).into()), *fl).unwrap();
            }
            if let Some(i) = remove.filter(|i| *i < rules.len()) {
                let (a, b, _) = rules[i];
                prop_assert!(f.remove_rule(IpAddr::V4(a.into()), IpAddr::V4(b.into())).is_ok());
                rules.retain(|r| (r.0, r.1) != (a, b));
            }
            for a in 0u32..70 {
                prop_assert_eq!(f.access(IpAddr::V4(a.into())), naive(&rules, a), "address {}", a);
            }
            let ranges = f.export();
            let v4: Vec<_> = ranges.iter().filter(|r| r.first.is_ipv4()).collect();
            for w in v4.windows(2) {
                prop_assert!(w[0].flags != w[1].flags, "neighbours merged");
            }
        }
    }
}
