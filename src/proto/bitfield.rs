//! A fixed-length bit set with BitTorrent's bit order (piece 0 is the high
//! bit of the first byte).

/// Which pieces a peer (or we) have. Spare bits past `len` are always zero.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Bitfield {
    bytes: Vec<u8>,
    len: u32,
}

impl Bitfield {
    /// All bits clear.
    pub fn new(len: u32) -> Bitfield {
        Bitfield { bytes: vec![0; len.div_ceil(8) as usize], len }
    }

    /// All bits set.
    pub fn full(len: u32) -> Bitfield {
        let mut b = Bitfield { bytes: vec![0xff; len.div_ceil(8) as usize], len };
        b.clear_spare_bits();
        b
    }

    /// From the payload of a `bitfield` message. The byte length must be
    /// exactly `ceil(len / 8)`; spare bits that a peer sets are cleared
    /// (libtorrent tolerates them too).
    pub fn from_bytes(bytes: &[u8], len: u32) -> Option<Bitfield> {
        if bytes.len() != len.div_ceil(8) as usize {
            return None;
        }
        let mut b = Bitfield { bytes: bytes.to_vec(), len };
        b.clear_spare_bits();
        Some(b)
    }

    fn clear_spare_bits(&mut self) {
        let spare = (self.bytes.len() as u32 * 8 - self.len) as u8;
        if spare > 0 {
            if let Some(last) = self.bytes.last_mut() {
                *last &= 0xffu8 << spare;
            }
        }
    }

    pub fn len(&self) -> u32 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// False for an index out of range.
    pub fn get(&self, i: u32) -> bool {
        i < self.len && self.bytes[(i / 8) as usize] & (0x80 >> (i % 8)) != 0
    }

    /// Ignores an index out of range.
    pub fn set(&mut self, i: u32, v: bool) {
        if i >= self.len {
            return;
        }
        let mask = 0x80u8 >> (i % 8);
        let byte = &mut self.bytes[(i / 8) as usize];
        if v {
            *byte |= mask;
        } else {
            *byte &= !mask;
        }
    }

    pub fn count_ones(&self) -> u32 {
        self.bytes.iter().map(|b| b.count_ones()).sum()
    }

    pub fn all(&self) -> bool {
        self.count_ones() == self.len
    }

    pub fn none(&self) -> bool {
        self.bytes.iter().all(|&b| b == 0)
    }

    /// The wire form.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Indices of the set bits, in order.
    pub fn ones(&self) -> impl Iterator<Item = u32> + '_ {
        self.bytes.iter().enumerate().flat_map(|(i, &byte)| {
            (0..8u32).filter_map(move |bit| (byte & (0x80 >> bit) != 0).then_some(i as u32 * 8 + bit))
        })
    }
}

impl std::fmt::Debug for Bitfield {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Bitfield({}/{})", self.count_ones(), self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_order_and_spare_bits() {
        let b = Bitfield::from_bytes(&[0b1000_0001, 0b1111_1111], 10).unwrap();
        assert!(b.get(0) && b.get(7) && b.get(8) && b.get(9));
        assert!(!b.get(10) && !b.get(1));
        assert_eq!(b.count_ones(), 4);
        assert_eq!(b.as_bytes()[1], 0b1100_0000);
        assert_eq!(b.ones().collect::<Vec<_>>(), vec![0, 7, 8, 9]);
    }

    #[test]
    fn wrong_length_refused() {
        assert!(Bitfield::from_bytes(&[0], 9).is_none());
        assert!(Bitfield::from_bytes(&[0, 0, 0], 9).is_none());
    }

    #[test]
    fn full_and_set() {
        let mut b = Bitfield::full(9);
        assert!(b.all());
        b.set(8, false);
        assert!(!b.all());
        b.set(100, true);
        assert_eq!(b.count_ones(), 8);
    }
}
