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

/// Appends a record: its length (u32), then its bytes.
pub fn put_record(out: &mut Vec<u8>, body: &[u8]) {
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(body);
}

/// Appends a record whose bytes `fill` writes; its length is filled in after.
pub fn put_record_with(out: &mut Vec<u8>, fill: impl FnOnce(&mut Vec<u8>)) -> std::io::Result<()> {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    fill(out);
    let len = u32::try_from(out.len() - start - 4).map_err(std::io::Error::other)?;
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    Ok(())
}

/// The next record of a slice written by [`put_record`], or None at its end (or if it is cut).
pub fn take_record<'a>(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
    let len = u32::from_le_bytes(take_array(rest)?) as usize;
    take(rest, len)
}

/// Reads the next record of a stream written by [`put_record`] into `body`. `Ok(false)` at the
/// end; a record cut anywhere, even inside its length, is an error, never the end.
pub fn read_record(input: &mut impl std::io::BufRead, body: &mut Vec<u8>) -> std::io::Result<bool> {
    if input.fill_buf()?.is_empty() {
        return Ok(false);
    }
    let mut len = [0u8; 4];
    input.read_exact(&mut len)?;
    body.resize(u32::from_le_bytes(len) as usize, 0);
    input.read_exact(body)?;
    Ok(true)
}
