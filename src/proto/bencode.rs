//! Bencode on top of `bendy`: a borrowed value tree with limits, and an encoder.
//!
//! Decoding is strict, as bendy is: dictionary keys must be byte strings in
//! sorted order without duplicates, integers have no leading zeros and no `-0`.
//! Nesting depth and the number of items are bounded so hostile input cannot
//! exhaust the stack or memory.
//!
//! [`decode_lenient`] is the exception, for .torrent files only: torrents made
//! by old or careless tools have unsorted or repeated keys, leading zeros and
//! bytes after the root value, and libtorrent loads them (its `bdecode` records
//! those as "soft errors" and only v2 metadata refuses them). The info-hash
//! stays the SHA-1 of the info dictionary's bytes as they are in the file
//! ([`raw_dict_value_lenient`]). Resume data and peer messages keep the strict
//! decoder: lt writes its resume data itself, and a peer whose extension
//! messages are not canonical is broken in a way tolerance would hide. Tracker
//! replies keep it too for now; libtorrent tolerates them, so `tracker.rs` may
//! switch to `decode_lenient` when a tracker in the field needs it.

use std::borrow::Cow;
use std::collections::BTreeMap;

use bendy::decoding::{Decoder, Object};

/// Default nesting limit for untrusted input (libtorrent uses 100).
pub const MAX_DEPTH: usize = 100;
/// Default limit on the number of values in one document.
pub const MAX_ITEMS: usize = 3_000_000;

/// A decoded bencode value borrowing its strings from the input buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value<'a> {
    Int(i64),
    Bytes(&'a [u8]),
    List(Vec<Value<'a>>),
    Dict(BTreeMap<&'a [u8], Value<'a>>),
}

/// Why a document is not acceptable bencode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("invalid bencoding: {0}")]
    Syntax(String),
    #[error("invalid bencoding: integer out of range")]
    IntOverflow,
    #[error("invalid bencoding: more than {0} values")]
    TooManyItems(usize),
    #[error("invalid bencoding: trailing bytes after the value")]
    TrailingBytes,
    #[error("invalid bencoding: empty input")]
    Empty,
}

impl From<bendy::decoding::Error> for Error {
    fn from(e: bendy::decoding::Error) -> Self {
        Error::Syntax(e.to_string())
    }
}

/// Limits applied while decoding.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_depth: usize,
    pub max_items: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_depth: MAX_DEPTH, max_items: MAX_ITEMS }
    }
}

/// Decodes exactly one value filling all of `buf`, with the default limits.
pub fn decode(buf: &[u8]) -> Result<Value<'_>, Error> {
    decode_with(buf, Limits::default())
}

/// Decodes exactly one value filling all of `buf`.
pub fn decode_with(buf: &[u8], limits: Limits) -> Result<Value<'_>, Error> {
    let (value, used) = decode_prefix(buf, limits)?;
    if used != buf.len() {
        return Err(Error::TrailingBytes);
    }
    Ok(value)
}

/// Decodes the first value in `buf` and answers it with the number of bytes
/// it took (for messages where bencode is followed by raw data, as in BEP 9).
pub fn decode_prefix(buf: &[u8], limits: Limits) -> Result<(Value<'_>, usize), Error> {
    let mut decoder = Decoder::new(buf).with_max_depth(limits.max_depth);
    let mut items = 0usize;
    let value = {
        let obj = decoder.next_object()?.ok_or(Error::Empty)?;
        convert(obj, &mut items, limits.max_items)?
    };
    // The decoder does not say how far it read; re-measure the value instead
    // by encoding length arithmetic over the tree.
    let used = encoded_len(&value);
    Ok((value, used))
}

fn convert<'a>(obj: Object<'_, 'a>, items: &mut usize, max: usize) -> Result<Value<'a>, Error> {
    *items += 1;
    if *items > max {
        return Err(Error::TooManyItems(max));
    }
    Ok(match obj {
        Object::Integer(s) => Value::Int(s.parse::<i64>().map_err(|_| Error::IntOverflow)?),
        Object::Bytes(b) => Value::Bytes(b),
        Object::List(mut list) => {
            let mut out = Vec::new();
            while let Some(item) = list.next_object()? {
                out.push(convert(item, items, max)?);
            }
            Value::List(out)
        }
        Object::Dict(mut dict) => {
            let mut out = BTreeMap::new();
            while let Some((key, item)) = dict.next_pair()? {
                let v = convert(item, items, max)?;
                out.insert(key, v);
            }
            Value::Dict(out)
        }
    })
}

/// Decodes the first value in `buf` as libtorrent's `bdecode` does for
/// .torrent files, with the same depth and item limits as [`decode_with`]:
/// dictionary keys may come in any order (the first of repeated keys wins,
/// as libtorrent's lookups find the first), integers and string lengths may
/// have leading zeros, and bytes after the value are ignored. Answers the
/// value and the number of bytes it took.
pub fn decode_lenient(buf: &[u8], limits: Limits) -> Result<(Value<'_>, usize), Error> {
    let mut parser = Lenient { buf, pos: 0, items: 0, limits };
    let value = parser.value(0)?;
    Ok((value, parser.pos))
}

/// Returns the raw bytes of the first value stored under `key` in the
/// top-level dictionary of `buf`, parsed as [`decode_lenient`] parses: the
/// bytes exactly as they stand in the file, whatever their key order.
pub fn raw_dict_value_lenient<'a>(
    buf: &'a [u8],
    key: &[u8],
    limits: Limits,
) -> Result<Option<&'a [u8]>, Error> {
    let mut parser = Lenient { buf, pos: 0, items: 0, limits };
    if parser.peek()? != b'd' {
        return Ok(None);
    }
    parser.pos += 1;
    while parser.peek()? != b'e' {
        let k = parser.string()?;
        let start = parser.pos;
        parser.value(1)?;
        if k == key {
            return Ok(Some(&buf[start..parser.pos]));
        }
    }
    Ok(None)
}

/// Splits the value under `key` out of the top-level dictionary `buf`, for
/// documents that embed a .torrent's info dictionary and are otherwise
/// strict (resume data): answers `buf` with that value replaced by `de` (an
/// empty dictionary), ready for a strict decode, and the value's own bytes,
/// found as [`raw_dict_value_lenient`] finds them. Only a dictionary value
/// is split out; otherwise `buf` is answered as it is, with `None`.
pub fn split_dict_value<'a>(buf: &'a [u8], key: &[u8], limits: Limits) -> (Cow<'a, [u8]>, Option<&'a [u8]>) {
    let raw = match raw_dict_value_lenient(buf, key, limits) {
        Ok(Some(raw)) if raw.first() == Some(&b'd') => raw,
        // Not there, or not a dictionary; a document that is not even
        // lenient bencode is left for the strict decoder to refuse.
        Ok(_) | Err(_) => return (Cow::Borrowed(buf), None),
    };
    let start = raw.as_ptr() as usize - buf.as_ptr() as usize;
    let mut rest = Vec::with_capacity(buf.len() - raw.len() + 2);
    rest.extend_from_slice(&buf[..start]);
    rest.extend_from_slice(b"de");
    rest.extend_from_slice(&buf[start + raw.len()..]);
    (Cow::Owned(rest), Some(raw))
}

/// A recursive-descent reader for [`decode_lenient`]; recursion is bounded
/// by `limits.max_depth`.
struct Lenient<'a> {
    buf: &'a [u8],
    pos: usize,
    items: usize,
    limits: Limits,
}

impl<'a> Lenient<'a> {
    fn peek(&self) -> Result<u8, Error> {
        self.buf.get(self.pos).copied().ok_or_else(|| Error::Syntax("unexpected end of input".into()))
    }

    fn syntax(&self, what: &str) -> Error {
        Error::Syntax(format!("{what} at byte {}", self.pos))
    }

    /// Digits up to `end`, as a number; leading zeros are allowed.
    fn number(&mut self, end: u8) -> Result<u64, Error> {
        let start = self.pos;
        let mut n: u64 = 0;
        loop {
            let c = self.peek()?;
            if c == end && self.pos > start {
                self.pos += 1;
                return Ok(n);
            }
            if !c.is_ascii_digit() {
                return Err(self.syntax("expected a digit"));
            }
            n = n
                .checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(c - b'0')))
                .ok_or(Error::IntOverflow)?;
            self.pos += 1;
        }
    }

    fn string(&mut self) -> Result<&'a [u8], Error> {
        let len = self.number(b':')?;
        let end = usize::try_from(len)
            .ok()
            .and_then(|len| self.pos.checked_add(len))
            .filter(|end| *end <= self.buf.len())
            .ok_or_else(|| self.syntax("string longer than the input"))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn value(&mut self, depth: usize) -> Result<Value<'a>, Error> {
        if depth >= self.limits.max_depth {
            return Err(Error::Syntax(format!("nesting deeper than {}", self.limits.max_depth)));
        }
        self.items += 1;
        if self.items > self.limits.max_items {
            return Err(Error::TooManyItems(self.limits.max_items));
        }
        match self.peek()? {
            b'i' => {
                self.pos += 1;
                let negative = self.peek()? == b'-';
                if negative {
                    self.pos += 1;
                }
                let n = self.number(b'e')?;
                let n = if negative { 0i64.checked_sub_unsigned(n) } else { i64::try_from(n).ok() };
                n.map(Value::Int).ok_or(Error::IntOverflow)
            }
            b'l' => {
                self.pos += 1;
                let mut out = Vec::new();
                while self.peek()? != b'e' {
                    out.push(self.value(depth + 1)?);
                }
                self.pos += 1;
                Ok(Value::List(out))
            }
            b'd' => {
                self.pos += 1;
                let mut out = BTreeMap::new();
                while self.peek()? != b'e' {
                    if !self.peek()?.is_ascii_digit() {
                        return Err(self.syntax("dictionary key is not a string"));
                    }
                    let k = self.string()?;
                    let v = self.value(depth + 1)?;
                    out.entry(k).or_insert(v);
                }
                self.pos += 1;
                Ok(Value::Dict(out))
            }
            c if c.is_ascii_digit() => self.string().map(Value::Bytes),
            _ => Err(self.syntax("expected a value")),
        }
    }
}

/// The exact number of bytes `value` takes when encoded. Because decoding is
/// canonical (sorted keys, no leading zeros), this equals the input span.
pub fn encoded_len(value: &Value<'_>) -> usize {
    fn digits(mut n: u64) -> usize {
        let mut d = 1;
        while n >= 10 {
            n /= 10;
            d += 1;
        }
        d
    }
    fn bytes_len(b: &[u8]) -> usize {
        digits(b.len() as u64) + 1 + b.len()
    }
    match value {
        Value::Int(i) => 2 + (*i < 0) as usize + digits(i.unsigned_abs()),
        Value::Bytes(b) => bytes_len(b),
        Value::List(l) => 2 + l.iter().map(encoded_len).sum::<usize>(),
        Value::Dict(d) => 2 + d.iter().map(|(k, v)| bytes_len(k) + encoded_len(v)).sum::<usize>(),
    }
}

impl<'a> Value<'a> {
    /// The value under `key` when `self` is a dictionary.
    pub fn get(&self, key: &str) -> Option<&Value<'a>> {
        match self {
            Value::Dict(d) => d.get(key.as_bytes()),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    pub fn as_bytes(&self) -> Option<&'a [u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The byte string as UTF-8, when it is valid UTF-8.
    pub fn as_str(&self) -> Option<&'a str> {
        self.as_bytes().and_then(|b| std::str::from_utf8(b).ok())
    }

    pub fn as_list(&self) -> Option<&[Value<'a>]> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }

    pub fn as_dict(&self) -> Option<&BTreeMap<&'a [u8], Value<'a>>> {
        match self {
            Value::Dict(d) => Some(d),
            _ => None,
        }
    }

    /// Encodes the value canonically.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(encoded_len(self));
        self.encode_into(&mut out);
        out
    }

    /// Appends the canonical encoding of the value to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            Value::Int(i) => {
                out.push(b'i');
                out.extend_from_slice(i.to_string().as_bytes());
                out.push(b'e');
            }
            Value::Bytes(b) => put_bytes(out, b),
            Value::List(l) => {
                out.push(b'l');
                for v in l {
                    v.encode_into(out);
                }
                out.push(b'e');
            }
            Value::Dict(d) => {
                out.push(b'd');
                for (k, v) in d {
                    put_bytes(out, k);
                    v.encode_into(out);
                }
                out.push(b'e');
            }
        }
    }
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(b.len().to_string().as_bytes());
    out.push(b':');
    out.extend_from_slice(b);
}

/// Builds an owned dictionary conveniently: `dict([("a", Value::Int(1))])`.
pub fn dict<'a>(pairs: impl IntoIterator<Item = (&'a str, Value<'a>)>) -> Value<'a> {
    Value::Dict(pairs.into_iter().map(|(k, v)| (k.as_bytes(), v)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let src = b"d3:bari-42e3:fool4:spami0eee";
        let v = decode(src).unwrap();
        assert_eq!(v.get("bar").and_then(Value::as_int), Some(-42));
        assert_eq!(v.encode(), src);
        assert_eq!(encoded_len(&v), src.len());
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            &b""[..],
            b"i01e",
            b"i-0e",
            b"ie",
            b"i-e",
            b"i92337203t854775807e",
            b"i9223372036854775808e",
            b"-10:foobar",
            b"99999999:foobar",
            b"18446744073709551615:",
            b"d3:fooi1e",
            b"di5e1:ae",
            b"d1:bi1e1:ai2ee",
            b"d1:ai1e1:ai2ee",
            b"e",
            b"l",
            b"i1ei2e",
        ] {
            assert!(decode(bad).is_err(), "{:?} accepted", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn depth_limit() {
        let mut deep = vec![b'l'; 1024];
        deep.extend(vec![b'e'; 1024]);
        assert!(decode(&deep).is_err());
        let mut ok = vec![b'l'; 50];
        ok.extend(vec![b'e'; 50]);
        assert!(decode(&ok).is_ok());
        let mut deep = vec![b'l'; 1_000_000];
        deep.extend(vec![b'e'; 1_000_000]);
        assert!(decode(&deep).is_err());
    }

    #[test]
    fn item_limit() {
        let mut doc = b"l".to_vec();
        for _ in 0..5000 {
            doc.extend_from_slice(b"0:");
        }
        doc.push(b'e');
        let limits = Limits { max_depth: 10, max_items: 1000 };
        assert_eq!(decode_with(&doc, limits), Err(Error::TooManyItems(1000)));
        assert!(decode(&doc).is_ok());
    }

    #[test]
    fn prefix_reports_length() {
        let (v, used) = decode_prefix(b"d1:ai1eeRAWDATA", Limits::default()).unwrap();
        assert_eq!(v.get("a").and_then(Value::as_int), Some(1));
        assert_eq!(used, 8);
    }

    #[test]
    fn lenient_accepts_what_libtorrent_accepts() {
        let limits = Limits::default();
        // Unsorted keys, a repeated key (the first wins), leading zeros, a
        // trailing newline: the strict decoder refuses each, the lenient one
        // reads them and says where the value ended.
        let src = b"d1:bi07e1:ai1e1:bi2e03:xyzi-0ee\n";
        assert!(decode(src).is_err());
        let (v, used) = decode_lenient(src, limits).unwrap();
        assert_eq!(used, src.len() - 1);
        assert_eq!(v.get("b").and_then(Value::as_int), Some(7));
        assert_eq!(v.get("a").and_then(Value::as_int), Some(1));
        assert_eq!(v.get("xyz").and_then(Value::as_int), Some(0));
        // What is not bencode stays refused.
        for bad in [
            &b""[..],
            b"ie",
            b"i-e",
            b"i1x",
            b"d1:a",
            b"di1ei2ee",
            b"5:ab",
            b"l",
            b"x",
            b"i9223372036854775808e",
        ] {
            assert!(decode_lenient(bad, limits).is_err(), "{:?} accepted", String::from_utf8_lossy(bad));
        }
        assert_eq!(decode_lenient(b"i-9223372036854775808e", limits).unwrap().0, Value::Int(i64::MIN));
    }

    #[test]
    fn lenient_keeps_the_limits() {
        let mut deep = vec![b'l'; 1_000_000];
        deep.extend(vec![b'e'; 1_000_000]);
        assert!(decode_lenient(&deep, Limits::default()).is_err());
        let mut ok = vec![b'l'; 50];
        ok.extend(vec![b'e'; 50]);
        assert!(decode_lenient(&ok, Limits::default()).is_ok());
        let mut doc = b"l".to_vec();
        for _ in 0..5000 {
            doc.extend_from_slice(b"0:");
        }
        doc.push(b'e');
        let limits = Limits { max_depth: 10, max_items: 1000 };
        assert_eq!(decode_lenient(&doc, limits).map(|_| ()), Err(Error::TooManyItems(1000)));
    }

    #[test]
    fn split_leaves_the_rest_strict() {
        let limits = Limits::default();
        let src = b"d4:infod4:name1:x6:lengthi5ee4:zzzzi1ee";
        let (rest, raw) = split_dict_value(src, b"info", limits);
        assert_eq!(raw, Some(&b"d4:name1:x6:lengthi5ee"[..]));
        assert_eq!(&rest[..], b"d4:infode4:zzzzi1ee");
        assert!(decode(&rest).is_ok());
        // Outside the split value, strictness is untouched.
        let (rest, _) = split_dict_value(b"d4:zzzzi1e4:infodee", b"info", limits);
        assert!(decode(&rest).is_err());
        // Nothing to split: the document as it is.
        let (rest, raw) = split_dict_value(b"d4:infoi5ee", b"info", limits);
        assert_eq!((&rest[..], raw), (&b"d4:infoi5ee"[..], None));
    }

    #[test]
    fn lenient_raw_value_is_exact() {
        // The info dictionary's own keys are out of order: its bytes are
        // returned as they stand, not re-encoded.
        let src = b"d3:zzzi1e4:infod4:name1:x6:lengthi5ee1:ai0ee\r\n";
        let raw = raw_dict_value_lenient(src, b"info", Limits::default()).unwrap().unwrap();
        assert_eq!(raw, b"d4:name1:x6:lengthi5ee");
        assert_eq!(raw_dict_value_lenient(src, b"nope", Limits::default()).unwrap(), None);
        assert_eq!(raw_dict_value_lenient(b"le", b"info", Limits::default()).unwrap(), None);
    }

    proptest::proptest! {
        /// The lenient decoder never panics, and where the strict one
        /// accepts a document both read the same value from all of it.
        #[test]
        fn lenient_agrees_with_strict(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)) {
            let lenient = decode_lenient(&bytes, Limits::default());
            if let Ok(strict) = decode(&bytes) {
                proptest::prop_assert_eq!(lenient, Ok((strict, bytes.len())));
            }
        }

        #[test]
        fn lenient_reads_canonical_documents(keys in proptest::collection::btree_set("[a-z]{1,6}", 0..8), n in proptest::prelude::any::<i64>()) {
            let doc = Value::Dict(keys.iter().map(|k| (k.as_bytes(), Value::Int(n))).collect()).encode();
            let (v, used) = decode_lenient(&doc, Limits::default()).unwrap();
            proptest::prop_assert_eq!(used, doc.len());
            proptest::prop_assert_eq!(v.encode(), doc);
        }
    }
}
