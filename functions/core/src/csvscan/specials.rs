//! The special bytes of a CSV buffer (`,` `"` `\r` `\n`), found a block at a time: what lets
//! [`super::Scanner`] skip every other byte.

/// Finding the special bytes (`,` `"` `\r` `\n`) of a 16-byte block at once: bit `i` of the mask
/// is set when byte `i` is one. SSE2, which every x86-64 has, compares all 16 at once; elsewhere
/// (arm64 Lambdas) a word trick takes 8 bytes at a time, with no carries between bytes.
pub(super) mod block {
    pub(in crate::csvscan) const LEN: usize = 16;

    #[cfg(any(test, not(all(target_arch = "x86_64", target_feature = "sse2"))))]
    const LO: u64 = 0x0101_0101_0101_0101;
    #[cfg(any(test, not(all(target_arch = "x86_64", target_feature = "sse2"))))]
    const HI7: u64 = 0x7f7f_7f7f_7f7f_7f7f;

    #[cfg(any(test, not(all(target_arch = "x86_64", target_feature = "sse2"))))]
    /// The high bit of every byte of `w` that equals `b`.
    #[inline(always)]
    fn eq_bytes(w: u64, b: u8) -> u64 {
        let x = w ^ (LO * u64::from(b));
        !(((x & HI7).wrapping_add(HI7)) | x | HI7)
    }

    #[cfg(any(test, not(all(target_arch = "x86_64", target_feature = "sse2"))))]
    /// Bit `i` set when byte `i` of the eight in `w` is special.
    #[inline(always)]
    pub(in crate::csvscan) fn word_mask(w: u64) -> u64 {
        let high = eq_bytes(w, b',') | eq_bytes(w, b'"') | eq_bytes(w, b'\n') | eq_bytes(w, b'\r');
        // Gathers the eight high bits into the low byte (each product term lands in its own bit).
        ((high >> 7).wrapping_mul(0x0102_0408_1020_4080)) >> 56
    }

    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    #[inline(always)]
    pub(in crate::csvscan) fn mask(b: &[u8; LEN]) -> u64 {
        use std::arch::x86_64::{
            __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128,
            _mm_set1_epi8,
        };
        // SAFETY: SSE2 is enabled for this build (the cfg above), and the load reads the 16 bytes
        // of `b`, which the unaligned load allows at any address.
        let bits = unsafe {
            let v = _mm_loadu_si128(b.as_ptr().cast::<__m128i>());
            let is = |c: u8| _mm_cmpeq_epi8(v, _mm_set1_epi8(c as i8));
            _mm_movemask_epi8(_mm_or_si128(
                _mm_or_si128(is(b','), is(b'"')),
                _mm_or_si128(is(b'\n'), is(b'\r')),
            ))
        };
        u64::from(bits as u16)
    }

    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
    #[inline(always)]
    pub(in crate::csvscan) fn mask(b: &[u8; LEN]) -> u64 {
        mask_by_words(b)
    }

    /// [`mask`] a word at a time (compiled everywhere for the tests, used where there is no SSE2).
    #[cfg(any(test, not(all(target_arch = "x86_64", target_feature = "sse2"))))]
    #[inline(always)]
    pub(in crate::csvscan) fn mask_by_words(b: &[u8; LEN]) -> u64 {
        let mut lo = [0u8; 8];
        let mut hi = [0u8; 8];
        lo.copy_from_slice(&b[..8]);
        hi.copy_from_slice(&b[8..]);
        word_mask(u64::from_le_bytes(lo)) | word_mask(u64::from_le_bytes(hi)) << 8
    }
}

/// Positions of the special bytes of `data[from..to]`, in order, found a block at a time.
pub(super) struct Specials<'a> {
    data: &'a [u8],
    to: usize,
    /// The start of the block `mask` describes.
    word: usize,
    mask: u64,
}

impl<'a> Specials<'a> {
    pub(super) fn new(data: &'a [u8], from: usize, to: usize) -> Specials<'a> {
        let mut s = Specials {
            data,
            to,
            word: from,
            mask: 0,
        };
        s.load(from);
        s
    }

    #[inline(always)]
    fn load(&mut self, at: usize) {
        let mut a = [0u8; block::LEN];
        match self.data.get(at..at + block::LEN) {
            Some(w) if at + block::LEN <= self.to => a.copy_from_slice(w),
            _ => {
                let end = self.to.min(at + block::LEN);
                if at < end {
                    a[..end - at].copy_from_slice(&self.data[at..end]);
                }
            }
        }
        self.word = at;
        self.mask = block::mask(&a);
    }
}

impl Iterator for Specials<'_> {
    type Item = usize;

    #[inline(always)]
    fn next(&mut self) -> Option<usize> {
        loop {
            if self.mask != 0 {
                let p = self.word + self.mask.trailing_zeros() as usize;
                self.mask &= self.mask - 1;
                return Some(p);
            }
            let next = self.word + block::LEN;
            if next >= self.to {
                return None;
            }
            self.load(next);
        }
    }
}
