//! uTP packets (BEP 29): the 20-byte header, its extension chain and the
//! selective-ack extension, plus the 16-bit wrapping arithmetic that
//! sequence and ack numbers need.
//!
//! Decoding never panics: a packet is checked against its length before any
//! field is read, and an extension chain that runs past the end of the
//! packet makes the whole packet invalid.

/// The only protocol version BEP 29 defines.
pub const VERSION: u8 = 1;
/// Length of the fixed header.
pub const HEADER_LEN: usize = 20;
/// Extension type of a selective ack.
const EXT_SACK: u8 = 1;
/// The longest selective-ack bitmask kept from a packet (bytes). libtorrent
/// sends at most 32 bytes; anything longer is cut here, which loses only
/// information about packets far ahead of the cumulative ack.
pub const MAX_SACK_LEN: usize = 32;

/// The five packet types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PacketType {
    /// Carries payload; uses a sequence number.
    Data = 0,
    /// Ends the stream; uses a sequence number.
    Fin = 1,
    /// An ack (or window update) with no payload; no sequence number of its own.
    State = 2,
    /// Aborts the connection.
    Reset = 3,
    /// Opens a connection.
    Syn = 4,
}

impl PacketType {
    fn from_nibble(n: u8) -> Option<PacketType> {
        Some(match n {
            0 => PacketType::Data,
            1 => PacketType::Fin,
            2 => PacketType::State,
            3 => PacketType::Reset,
            4 => PacketType::Syn,
            _ => return None,
        })
    }
}

/// Why a datagram is not a uTP packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Shorter than the header, or an extension runs past the end.
    Truncated,
    /// Version other than 1.
    Version,
    /// Type nibble above 4.
    Type,
}

/// The selective-ack bitmask: bit `i` (bit `i % 8` of byte `i / 8`) says
/// packet `ack_nr + 2 + i` arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Sack {
    len: u8,
    bytes: [u8; MAX_SACK_LEN],
}

impl Sack {
    /// An empty mask of `len` bytes (rounded up to a multiple of 4, at most
    /// [`MAX_SACK_LEN`]).
    pub fn with_len(len: usize) -> Sack {
        let len = len.div_ceil(4).clamp(1, MAX_SACK_LEN / 4) * 4;
        Sack { len: len as u8, bytes: [0; MAX_SACK_LEN] }
    }

    /// Number of packets the mask covers.
    pub fn bits(&self) -> usize {
        usize::from(self.len) * 8
    }

    /// Whether bit `i` is set (false beyond the mask).
    pub fn get(&self, i: usize) -> bool {
        i < self.bits() && self.bytes[i / 8] & (1 << (i % 8)) != 0
    }

    /// Sets bit `i`; ignored beyond the mask.
    pub fn set(&mut self, i: usize) {
        if i < self.bits() {
            self.bytes[i / 8] |= 1 << (i % 8);
        }
    }

    /// The mask's bytes as sent.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// A decoded header. Fields are named as in BEP 29.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub ty: PacketType,
    pub connection_id: u16,
    pub timestamp_us: u32,
    pub timestamp_diff_us: u32,
    pub wnd_size: u32,
    pub seq_nr: u16,
    pub ack_nr: u16,
    /// The selective ack, if the packet had one.
    pub sack: Option<Sack>,
}

impl Header {
    /// Bytes [`Header::encode`] writes.
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN + self.sack.map_or(0, |s| 2 + s.as_bytes().len())
    }

    /// Writes the header (and its selective ack) at the start of `out`,
    /// which must be at least [`Header::encoded_len`] long; answers the
    /// length written.
    pub fn encode(&self, out: &mut [u8]) -> usize {
        out[0] = (self.ty as u8) << 4 | VERSION;
        out[1] = if self.sack.is_some() { EXT_SACK } else { 0 };
        out[2..4].copy_from_slice(&self.connection_id.to_be_bytes());
        out[4..8].copy_from_slice(&self.timestamp_us.to_be_bytes());
        out[8..12].copy_from_slice(&self.timestamp_diff_us.to_be_bytes());
        out[12..16].copy_from_slice(&self.wnd_size.to_be_bytes());
        out[16..18].copy_from_slice(&self.seq_nr.to_be_bytes());
        out[18..20].copy_from_slice(&self.ack_nr.to_be_bytes());
        match &self.sack {
            None => HEADER_LEN,
            Some(sack) => {
                let mask = sack.as_bytes();
                out[20] = 0;
                out[21] = mask.len() as u8;
                out[22..22 + mask.len()].copy_from_slice(mask);
                22 + mask.len()
            }
        }
    }

    /// Appends the encoded header to `out`.
    pub fn encode_vec(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.resize(start + self.encoded_len(), 0);
        self.encode(&mut out[start..]);
    }
}

/// Reads the connection id and type without decoding the rest; for demux.
pub fn peek(packet: &[u8]) -> Option<(PacketType, u16)> {
    if packet.len() < HEADER_LEN || packet[0] & 0x0f != VERSION {
        return None;
    }
    Some((PacketType::from_nibble(packet[0] >> 4)?, u16::from_be_bytes([packet[2], packet[3]])))
}

/// Decodes a packet into its header and payload. Unknown extensions are
/// skipped. A selective ack of any length is accepted: BEP 29 asks for a
/// multiple of 4 bytes, but libtorrent sends as many bytes as its reorder
/// buffer spans (`(span + 7) / 8`), and refusing those drops the ack the
/// packet carries, which stalls the connection after the first loss. An
/// empty mask counts as none; longer masks keep their first
/// [`MAX_SACK_LEN`] bytes.
pub fn decode(packet: &[u8]) -> Result<(Header, &[u8]), DecodeError> {
    if packet.len() < HEADER_LEN {
        return Err(DecodeError::Truncated);
    }
    if packet[0] & 0x0f != VERSION {
        return Err(DecodeError::Version);
    }
    let ty = PacketType::from_nibble(packet[0] >> 4).ok_or(DecodeError::Type)?;
    let be16 = |i: usize| u16::from_be_bytes([packet[i], packet[i + 1]]);
    let be32 = |i: usize| u32::from_be_bytes([packet[i], packet[i + 1], packet[i + 2], packet[i + 3]]);
    let mut header = Header {
        ty,
        connection_id: be16(2),
        timestamp_us: be32(4),
        timestamp_diff_us: be32(8),
        wnd_size: be32(12),
        seq_nr: be16(16),
        ack_nr: be16(18),
        sack: None,
    };
    let mut ext = packet[1];
    let mut at = HEADER_LEN;
    while ext != 0 {
        let (&next, rest) = packet.get(at..).and_then(<[u8]>::split_first).ok_or(DecodeError::Truncated)?;
        let &len = rest.first().ok_or(DecodeError::Truncated)?;
        let len = usize::from(len);
        let body = packet.get(at + 2..at + 2 + len).ok_or(DecodeError::Truncated)?;
        if ext == EXT_SACK && len > 0 {
            let kept = len.min(MAX_SACK_LEN);
            let mut sack = Sack::with_len(kept);
            sack.bytes[..kept].copy_from_slice(&body[..kept]);
            header.sack = Some(sack);
        }
        ext = next;
        at += 2 + len;
    }
    Ok((header, &packet[at..]))
}

/// `a - b` in 16-bit sequence space, as a signed distance: positive when
/// `a` is after `b` (at most half the space apart).
pub fn seq_diff(a: u16, b: u16) -> i16 {
    a.wrapping_sub(b) as i16
}

/// Whether `a` comes before `b` in sequence space.
pub fn seq_less(a: u16, b: u16) -> bool {
    seq_diff(a, b) < 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(ty: PacketType) -> Header {
        Header {
            ty,
            connection_id: 0xbeef,
            timestamp_us: 0x0102_0304,
            timestamp_diff_us: 0xa0b0_c0d0,
            wnd_size: 1 << 20,
            seq_nr: 65535,
            ack_nr: 7,
            sack: None,
        }
    }

    #[test]
    fn round_trips_every_type_with_and_without_sack() {
        for ty in [PacketType::Data, PacketType::Fin, PacketType::State, PacketType::Reset, PacketType::Syn] {
            let mut h = header(ty);
            let mut buf = Vec::new();
            h.encode_vec(&mut buf);
            buf.extend_from_slice(b"payload");
            assert_eq!(buf[0], (ty as u8) << 4 | 1);
            assert_eq!(decode(&buf), Ok((h, &b"payload"[..])));
            assert_eq!(peek(&buf), Some((ty, 0xbeef)));

            let mut sack = Sack::with_len(4);
            sack.set(0);
            sack.set(9);
            sack.set(31);
            sack.set(32); // beyond a 4-byte mask: ignored
            h.sack = Some(sack);
            let mut buf = Vec::new();
            h.encode_vec(&mut buf);
            assert_eq!(buf.len(), 26);
            assert_eq!(&buf[20..26], &[0, 4, 0b1, 0b10, 0, 0x80]);
            let (back, payload) = decode(&buf).unwrap();
            assert_eq!(back, h);
            assert!(payload.is_empty());
            let s = back.sack.unwrap();
            assert!(s.get(0) && s.get(9) && s.get(31) && !s.get(1) && !s.get(32));
        }
    }

    #[test]
    fn unknown_extensions_are_skipped_and_long_sacks_cut() {
        let mut buf = Vec::new();
        header(PacketType::Data).encode_vec(&mut buf);
        buf[1] = 2; // an unknown extension first
        buf.extend_from_slice(&[1, 3, 9, 9, 9]); // next = sack, 3 bytes
        let mut mask = vec![0u8; 40];
        mask[0] = 1;
        mask[39] = 0xff;
        buf.extend_from_slice(&[0, 40]);
        buf.extend_from_slice(&mask);
        buf.extend_from_slice(b"xy");
        let (h, payload) = decode(&buf).unwrap();
        assert_eq!(payload, b"xy");
        let sack = h.sack.unwrap();
        assert_eq!(sack.as_bytes().len(), MAX_SACK_LEN);
        assert!(sack.get(0));
        assert!(!sack.get(MAX_SACK_LEN * 8));
    }

    #[test]
    fn malformed_packets_are_refused() {
        let mut ok = Vec::new();
        header(PacketType::State).encode_vec(&mut ok);
        assert_eq!(decode(&ok[..19]), Err(DecodeError::Truncated));
        let mut v2 = ok.clone();
        v2[0] = 0x22;
        assert_eq!(decode(&v2), Err(DecodeError::Version));
        assert_eq!(peek(&v2), None);
        let mut ty5 = ok.clone();
        ty5[0] = 0x51;
        assert_eq!(decode(&ty5), Err(DecodeError::Type));
        let mut ext_no_body = ok.clone();
        ext_no_body[1] = 1;
        assert_eq!(decode(&ext_no_body), Err(DecodeError::Truncated));
        ext_no_body.push(0);
        assert_eq!(decode(&ext_no_body), Err(DecodeError::Truncated), "length byte missing");
        ext_no_body.extend_from_slice(&[8, 1, 2]);
        assert_eq!(decode(&ext_no_body), Err(DecodeError::Truncated), "mask shorter than its length");
        // libtorrent's masks are as long as its reorder buffer: 3 bytes here.
        let mut odd = ok.clone();
        odd[1] = 1;
        odd.extend_from_slice(&[0, 3, 0b101, 0, 0x80]);
        let (h, payload) = decode(&odd).unwrap();
        let sack = h.sack.expect("a 3-byte mask is a selective ack");
        assert!(sack.get(0) && !sack.get(1) && sack.get(2) && sack.get(23) && !sack.get(24));
        assert!(payload.is_empty());
        let mut zero = ok.clone();
        zero[1] = 1;
        zero.extend_from_slice(&[0, 0]);
        assert_eq!(decode(&zero).unwrap().0.sack, None, "an empty mask is no mask");
        // A chain that loops forever is impossible: each extension advances.
        let mut chain = ok;
        chain[1] = 7;
        for _ in 0..100 {
            chain.extend_from_slice(&[7, 0]);
        }
        assert_eq!(
            decode(&chain),
            Err(DecodeError::Truncated),
            "the last extension's next byte has nothing after it"
        );
    }

    #[test]
    fn sequence_numbers_wrap() {
        assert_eq!(seq_diff(2, 65535), 3);
        assert_eq!(seq_diff(65535, 2), -3);
        assert!(seq_less(65530, 4));
        assert!(!seq_less(4, 65530));
        assert!(!seq_less(9, 9));
    }
}
