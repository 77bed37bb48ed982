//! The primitives of seedline's own binary formats (staged line files, report inputs, match's
//! spill): little-endian numbers and u32-length-prefixed UTF-8 strings, read from a shrinking slice.

pub fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// The next `n` bytes, or None when fewer are left.
pub fn take<'a>(rest: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if rest.len() < n {
        return None;
    }
    let (head, tail) = rest.split_at(n);
    *rest = tail;
    Some(head)
}

pub fn take_array<const N: usize>(rest: &mut &[u8]) -> Option<[u8; N]> {
    take(rest, N)?.try_into().ok()
}

/// A string written by [`put_str`], still borrowed.
pub fn take_str_ref<'a>(rest: &mut &'a [u8]) -> Option<&'a str> {
    let len = u32::from_le_bytes(take_array(rest)?) as usize;
    simdutf8::basic::from_utf8(take(rest, len)?).ok()
}

pub fn take_str(rest: &mut &[u8]) -> Option<String> {
    take_str_ref(rest).map(str::to_string)
}
