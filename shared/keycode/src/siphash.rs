//! SipHash-2-4, the MAC and hash-chain primitive of both keycode protocols.
//!
//! Written here rather than pulled in because both protocols hash tiny inputs
//! (5 to 16 bytes) in tight loops: OpenPAYGO walks a hash chain once per
//! count, so this function is the whole cost of token generation.

#[inline(always)]
fn sipround(v: &mut [u64; 4]) {
    v[0] = v[0].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(13);
    v[1] ^= v[0];
    v[0] = v[0].rotate_left(32);
    v[2] = v[2].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(16);
    v[3] ^= v[2];
    v[0] = v[0].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(21);
    v[3] ^= v[0];
    v[2] = v[2].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(17);
    v[1] ^= v[2];
    v[2] = v[2].rotate_left(32);
}

/// A key's SipHash-2-4 initial state, computed once so that a hash chain
/// does not redo it at every step.
#[derive(Clone, Copy)]
pub(crate) struct SipKey {
    initial: [u64; 4],
}

impl SipKey {
    #[inline(always)]
    pub(crate) fn new(key: &[u8; 16]) -> Self {
        let k0 = u64::from_le_bytes([
            key[0], key[1], key[2], key[3], key[4], key[5], key[6], key[7],
        ]);
        let k1 = u64::from_le_bytes([
            key[8], key[9], key[10], key[11], key[12], key[13], key[14], key[15],
        ]);
        Self {
            initial: [
                k0 ^ 0x736f_6d65_7073_6575,
                k1 ^ 0x646f_7261_6e64_6f6d,
                k0 ^ 0x6c79_6765_6e65_7261,
                k1 ^ 0x7465_6462_7974_6573,
            ],
        }
    }

    /// SipHash-2-4 of exactly 8 bytes, given as their little-endian u64.
    #[inline(always)]
    pub(crate) fn hash_8_bytes(&self, word: u64) -> u64 {
        let mut v = self.initial;
        compress(&mut v, word);
        finish(v, 8u64 << 56)
    }

    /// SipHash-2-4 of any input.
    pub(crate) fn hash(&self, data: &[u8]) -> u64 {
        let mut v = self.initial;
        let mut chunks = data.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            compress(&mut v, u64::from_le_bytes(word));
        }
        let mut last = (data.len() as u64 & 0xff) << 56;
        for (i, byte) in chunks.remainder().iter().enumerate() {
            last |= u64::from(*byte) << (8 * i);
        }
        finish(v, last)
    }
}

#[inline(always)]
fn compress(v: &mut [u64; 4], word: u64) {
    v[3] ^= word;
    sipround(v);
    sipround(v);
    v[0] ^= word;
}

#[inline(always)]
fn finish(mut v: [u64; 4], last: u64) -> u64 {
    compress(&mut v, last);
    v[2] ^= 0xff;
    for _ in 0..4 {
        sipround(&mut v);
    }
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

/// SipHash-2-4 of `data` under the 128-bit `key`, as the 64-bit integer the
/// reference packages return (little-endian interpretation of the digest).
pub fn siphash24(key: &[u8; 16], data: &[u8]) -> u64 {
    let key = SipKey::new(key);
    if let Ok(word) = <[u8; 8]>::try_from(data) {
        key.hash_8_bytes(u64::from_le_bytes(word))
    } else {
        key.hash(data)
    }
}

#[cfg(test)]
mod tests {
    use super::{siphash24, SipKey};

    /// The SipHash paper's test vectors: key 00..0f, messages 00, 00 01, ...
    #[test]
    fn matches_the_reference_vectors() {
        let key: [u8; 16] = core::array::from_fn(|i| i as u8);
        let expected: [(usize, u64); 4] = [
            (0, 0x726f_db47_dd0e_0e31),
            (1, 0x74f8_39c5_93dc_67fd),
            (8, 0x93f5_f579_9a93_2462),
            (15, 0xa129_ca61_49be_45e5),
        ];
        for (len, hash) in expected {
            let data: Vec<u8> = (0..len as u8).collect();
            assert_eq!(siphash24(&key, &data), hash, "length {len}");
            assert_eq!(
                SipKey::new(&key).hash(&data),
                hash,
                "length {len}, general path"
            );
        }
    }
}
