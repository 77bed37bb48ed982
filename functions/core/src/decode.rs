//! Byte-level framing of an export: gzip or not, and which text encoding.
//!
//! Detection peeks at the first bytes and never buffers the file: a multi-gigabyte export streams.

use std::io::{self, Chain, Cursor, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use encoding_rs::GB18030;

const SNIFF_BYTES: u64 = 64 * 1024;

/// The text encoding of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextEncoding {
    Utf8,
    Gb18030,
}

impl TextEncoding {
    pub fn as_str(self) -> &'static str {
        match self {
            TextEncoding::Utf8 => "utf-8",
            TextEncoding::Gb18030 => "gb18030",
        }
    }

    /// Decodes one field. A UTF-8 file's field that is not UTF-8 is tried as GB18030 before giving up,
    /// since a file can be detected on an ASCII-only start.
    pub fn decode<'a>(self, bytes: &'a [u8]) -> Option<std::borrow::Cow<'a, str>> {
        match self {
            TextEncoding::Utf8 => match simdutf8::basic::from_utf8(bytes) {
                Ok(s) => Some(std::borrow::Cow::Borrowed(s)),
                Err(_) => GB18030.decode_without_bom_handling_and_without_replacement(bytes),
            },
            TextEncoding::Gb18030 => {
                GB18030.decode_without_bom_handling_and_without_replacement(bytes)
            }
        }
    }
}

/// A reader that remembers whether the underlying source (S3, a file) failed, so that a network
/// fault is told apart from a corrupt file: the first is retried, the second rejects the file.
pub struct Tracked<R> {
    inner: R,
    failed: Arc<AtomicBool>,
}

impl<R: Read> Read for Tracked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner
            .read(buf)
            .inspect_err(|_| self.failed.store(true, Ordering::Relaxed))
    }
}

/// An export opened for reading: decompressed, BOM stripped, encoding known.
pub struct Opened {
    pub reader: Box<dyn Read>,
    pub encoding: TextEncoding,
    pub gzip: bool,
    source_failed: Arc<AtomicBool>,
}

impl Opened {
    /// Set when an I/O error came from the source itself rather than from decoding it.
    pub fn source_flag(&self) -> Arc<AtomicBool> {
        self.source_failed.clone()
    }
}

/// Why an export could not even be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("reading the export: {0}")]
    Source(#[source] io::Error),
    #[error("{0}")]
    Corrupt(String),
}

fn peek<R: Read>(mut r: R) -> io::Result<(Vec<u8>, R)> {
    let mut buf = Vec::with_capacity(SNIFF_BYTES as usize);
    (&mut r).take(SNIFF_BYTES).read_to_end(&mut buf)?;
    Ok((buf, r))
}

type Peeked<R> = Chain<Cursor<Vec<u8>>, R>;

/// Opens an export: gunzips when it starts with the gzip magic, strips a UTF-8 BOM, detects the encoding.
pub fn open<R: Read + 'static>(raw: R) -> Result<Opened, OpenError> {
    let failed = Arc::new(AtomicBool::new(false));
    let tracked = Tracked {
        inner: raw,
        failed: failed.clone(),
    };
    let classify = |e: io::Error, failed: &AtomicBool| {
        if failed.load(Ordering::Relaxed) {
            OpenError::Source(e)
        } else {
            OpenError::Corrupt(gzip_message(&e))
        }
    };
    let (head, rest) = peek(tracked).map_err(OpenError::Source)?;
    let gzip = head.starts_with(&[0x1f, 0x8b]);
    let stream: Box<dyn Read> = if gzip {
        Box::new(flate2::read::MultiGzDecoder::new(
            Cursor::new(head).chain(rest),
        ))
    } else {
        Box::new(Cursor::new(head).chain(rest))
    };
    let (mut text_head, text_rest): (Vec<u8>, Box<dyn Read>) =
        peek(stream).map_err(|e| classify(e, &failed))?;
    let encoding = if text_head.starts_with(b"\xEF\xBB\xBF") {
        text_head.drain(..3);
        TextEncoding::Utf8
    } else {
        match std::str::from_utf8(&text_head) {
            Ok(_) => TextEncoding::Utf8,
            // Cut in the middle of a character at the sniff boundary: still UTF-8.
            Err(e) if e.error_len().is_none() => TextEncoding::Utf8,
            Err(_) => TextEncoding::Gb18030,
        }
    };
    let reader: Peeked<Box<dyn Read>> = Cursor::new(text_head).chain(text_rest);
    Ok(Opened {
        reader: Box::new(reader),
        encoding,
        gzip,
        source_failed: failed,
    })
}

/// A reader error as a person would say it.
pub fn gzip_message(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::UnexpectedEof => {
            "truncated gzip: the file ends in the middle of the compressed stream".into()
        }
        _ => format!("corrupt compressed data: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn read_all(o: Opened) -> Vec<u8> {
        let mut v = Vec::new();
        let mut r = o.reader;
        r.read_to_end(&mut v).unwrap();
        v
    }

    #[test]
    fn utf8_with_bom_is_stripped() {
        let o = open(Cursor::new(b"\xEF\xBB\xBF\xE8\xAE\xA2,b\n".to_vec())).unwrap();
        assert_eq!(o.encoding, TextEncoding::Utf8);
        assert_eq!(read_all(o), "订,b\n".as_bytes());
    }

    #[test]
    fn gb18030_is_detected() {
        let (bytes, _, _) = GB18030.encode("订单号,商品ID\n");
        let o = open(Cursor::new(bytes.into_owned())).unwrap();
        assert_eq!(o.encoding, TextEncoding::Gb18030);
    }

    #[test]
    fn gzip_is_detected_and_truncation_is_corrupt() {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let body = "订单号,x\n".repeat(20000);
        enc.write_all(body.as_bytes()).unwrap();
        let gz = enc.finish().unwrap();
        let o = open(Cursor::new(gz.clone())).unwrap();
        assert!(o.gzip);
        assert_eq!(read_all(o), body.as_bytes());

        let cut = gz[..gz.len() / 2].to_vec();
        let res = open(Cursor::new(cut)).and_then(|o| {
            let mut r = o.reader;
            let mut v = Vec::new();
            r.read_to_end(&mut v)
                .map_err(|e| OpenError::Corrupt(gzip_message(&e)))
        });
        assert!(matches!(res, Err(OpenError::Corrupt(m)) if m.contains("truncated")));
    }

    #[test]
    fn fields_decode_in_either_encoding() {
        assert_eq!(
            TextEncoding::Utf8.decode("店铺".as_bytes()).unwrap(),
            "店铺"
        );
        let (gb, _, _) = GB18030.encode("店铺");
        assert_eq!(TextEncoding::Gb18030.decode(&gb).unwrap(), "店铺");
        // A GB18030 field inside a file detected as UTF-8 still decodes.
        assert_eq!(TextEncoding::Utf8.decode(&gb).unwrap(), "店铺");
        assert!(TextEncoding::Gb18030.decode(&[0x81, 0x20]).is_none());
    }
}
