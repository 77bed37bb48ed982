use super::*;
use proptest::prelude::*;

/// Records and physical lines as this module reads them, in batches of any size.
fn scan(input: &[u8]) -> Vec<(Vec<Vec<u8>>, u64)> {
    let mut s = Scanner::new(input);
    let mut b = Batch::default();
    let mut out = Vec::new();
    loop {
        let more = s.fill(&mut b).unwrap();
        for i in 0..b.len() {
            let (r, line, cut) = b.get(i).unwrap();
            assert!(!cut);
            out.push((r.iter().map(<[u8]>::to_vec).collect(), line));
        }
        if !more {
            return out;
        }
    }
}

/// The csv crate's records of `input`, and the line each starts on (1 + the `\n` before its
/// first byte, found from the crate's byte position past the line breaks it skipped).
fn reference(input: &[u8]) -> Vec<(Vec<Vec<u8>>, u64)> {
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(input);
    let mut rec = csv::ByteRecord::new();
    let mut out = Vec::new();
    while r.read_byte_record(&mut rec).unwrap() {
        let blank = rec.len() <= 1 && rec.iter().all(|f| f.iter().all(u8::is_ascii_whitespace));
        if blank {
            continue;
        }
        let mut at = rec.position().map_or(0, |p| p.byte()) as usize;
        while at < input.len() && is_term(input[at]) {
            at += 1;
        }
        let line = 1 + input[..at].iter().filter(|b| **b == b'\n').count() as u64;
        out.push((rec.iter().map(<[u8]>::to_vec).collect(), line));
    }
    out
}

#[test]
fn reads_what_the_csv_crate_reads() {
    for input in [
        &b"a,b\nc,d"[..],
        b"a,b\r\n\r\n\nc,\"d\"\"e\"x,\"f\nf\"\r",
        b"\"\"",
        b",\n,",
        b"\"ab\"cd\"e\",x",
        b"\"unclosed,\nstill",
        b"\"\"\"",
        b"x\"y\",z",
        b"\r\r\n\n",
        "中,\"文\"\"字\"\n".as_bytes(),
    ] {
        assert_eq!(
            scan(input),
            reference(input),
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn a_block_mask_marks_the_special_bytes() {
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..20_000 {
        let mut b = [0u8; block::LEN];
        for x in &mut b {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            *x = (rng >> 24) as u8;
            if rng & 3 == 0 {
                *x = b",\"\n\ra"[(rng >> 8) as usize % 5];
            }
        }
        let m = block::mask(&b);
        assert_eq!(block::mask_by_words(&b), m, "the word trick, {b:?}");
        for (i, c) in b.iter().enumerate() {
            let special = matches!(c, b',' | b'"' | b'\n' | b'\r');
            assert_eq!(m >> i & 1 == 1, special, "{b:?}");
        }
    }
}

#[test]
fn escaped_fields_leave_the_record_valid_text() {
    let input = "\"中\"\"文\"字,x\n".as_bytes();
    let mut s = Scanner::new(input);
    let mut b = Batch::default();
    s.fill(&mut b).unwrap();
    let (r, _, _) = b.get(0).unwrap();
    assert!(std::str::from_utf8(r.as_slice()).is_ok());
    assert_eq!(r.get(0).unwrap(), "中\"文字".as_bytes());
}

#[test]
fn records_straddling_reads_are_read_whole() {
    // A record across the batch boundary, and a quote as the last byte of a read.
    let mut input = vec![b'a'; BATCH_BYTES - 3];
    input.extend_from_slice(b"\n\"x\"\"y\",z\nlast");
    assert_eq!(scan(&input), reference(&input));
    let mut input = vec![b'b'; BATCH_BYTES - 5];
    input.extend_from_slice(b"\n,\"\"\"\",q\n");
    assert_eq!(scan(&input), reference(&input));
}

proptest! {
    #[test]
    fn any_bytes_read_as_the_csv_crate_reads_them(
        bytes in proptest::collection::vec(prop_oneof![Just(b'"'), Just(b','), Just(b'\n'), Just(b'\r'), Just(b'a'), Just(b' '), Just(0xe4u8)], 0..200)
    ) {
        prop_assert_eq!(scan(&bytes), reference(&bytes));
    }
}
