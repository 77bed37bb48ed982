//! Hostile exports: giant fields, a million columns, NUL bytes, invalid GB18030, mixed line ends.
//! No panic, every row kept or rejected with a reason, and memory bounded whatever the input's size
//! (measured by this test binary's own allocator, which counts every live byte).

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Cursor, Read};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use seedline_core::ingest::{normalise, IngestError, Summary, MAX_ROW_BYTES};
use seedline_core::line::Marketplace;
use seedline_core::pii::BuyerHasher;

struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            let now = LIVE.fetch_add(l.size(), Ordering::Relaxed) + l.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) };
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// One case at a time, so that the peak is this case's.
static SERIAL: Mutex<()> = Mutex::new(());

const TB_HEADER: &str = "子订单编号,主订单编号,店铺Id,商品ID,商家编码,商品标题,购买数量,买家实付金额,退款金额,订单状态,订单创建时间,订单付款时间,买家会员名,收货人姓名,收货地址,联系手机,广告挂链追踪码,挂链点击时间\n";
const GOOD: &str =
    "1,O1,573,712,S,t,1,10.00,,交易成功,2025-05-26 07:43:22,2025-05-26 08:00:00,u1,n,a,p,xhs_a,\n";

struct Outcome {
    summary: Result<Summary, IngestError>,
    kept_lines: Vec<u64>,
    rejects: Vec<(u64, String)>,
    /// Bytes allocated at the peak, above what was live before the run.
    peak: usize,
}

fn run(mkt: Marketplace, input: impl Read + Send + 'static) -> Outcome {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let hasher = BuyerHasher::new(b"hostile-test-key-0123456789").unwrap();
    let mut kept_lines = Vec::new();
    let mut rejects = Vec::new();
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let summary = normalise(
        input,
        mkt,
        &hasher,
        &mut |l| {
            kept_lines.push(l.source_line);
            Ok(())
        },
        &mut |r| {
            assert!(!r.reason.is_empty(), "a reject without a reason");
            rejects.push((r.line, r.reason.clone()));
            Ok(())
        },
    );
    let peak = PEAK.load(Ordering::Relaxed).saturating_sub(base);
    if let Ok(s) = &summary {
        let c = &s.counts;
        assert_eq!(c.rows_in, c.rows_kept + c.rows_rejected, "counts add up");
        assert_eq!(c.rows_kept, kept_lines.len() as u64);
        assert_eq!(c.rows_rejected, rejects.len() as u64);
    }
    Outcome {
        summary,
        kept_lines,
        rejects,
        peak,
    }
}

fn text(s: &str) -> Cursor<Vec<u8>> {
    Cursor::new(s.as_bytes().to_vec())
}

const MIB: usize = 1 << 20;
/// What any of these cases may hold at once: a few rows' worth, whatever the input's size.
const BOUND: usize = 8 * MIB;

#[test]
fn a_giant_quoted_field_is_rejected_as_its_own_row_in_bounded_memory() {
    // Row 3 holds a 64 MiB quoted address with line breaks and quotes inside it.
    let giant = Cursor::new(format!("{TB_HEADER}{GOOD}2,O2,573,712,S,t,1,10.00,,交易成功,2025-05-26 07:43:22,2025-05-26 08:00:00,u2,n,\"").into_bytes())
        .chain(std::io::repeat(b'x').take(16 * MIB as u64))
        .chain(text("\n\"\"line two\n"))
        .chain(std::io::repeat(b'y').take(48 * MIB as u64))
        .chain(text("\",p,xhs_a,\n"))
        .chain(text(GOOD));
    let out = run(Marketplace::Taobao, giant);
    let s = out.summary.expect("the file is read");
    assert_eq!(s.counts.rows_in, 3);
    assert_eq!(out.rejects, vec![(3, "row_too_long".to_string())]);
    // The row after it keeps its physical line: 1 header + 1 + the giant's 3 lines.
    assert_eq!(out.kept_lines, vec![2, 6]);
    assert!(
        out.peak < BOUND,
        "peak {} bytes for a 64 MiB field",
        out.peak
    );
}

#[test]
fn a_giant_unquoted_field_is_rejected_as_its_own_row_in_bounded_memory() {
    let giant = Cursor::new(format!("{TB_HEADER}3,O3,573,712,S,").into_bytes())
        .chain(std::io::repeat(b'z').take(64 * MIB as u64))
        .chain(text(
            ",1,10.00,,交易成功,2025-05-26 07:43:22,2025-05-26 08:00:00,u2,n,a,p,xhs_a,\r\n",
        ))
        .chain(text(GOOD));
    let out = run(Marketplace::Taobao, giant);
    out.summary.expect("the file is read");
    assert_eq!(out.rejects, vec![(2, "row_too_long".to_string())]);
    assert_eq!(out.kept_lines, vec![3]);
    assert!(out.peak < BOUND, "peak {} bytes", out.peak);
}

#[test]
fn a_million_columns_and_endless_quotes_stay_bounded() {
    // A row of a million fields (under the row limit), one of two million (over it), then a row
    // of 32 Mi + 1 quote characters: a quoted field that never closes, so it runs to the end of
    // the file and swallows the row after it, as in any CSV reader.
    let input = text(TB_HEADER)
        .chain(std::io::repeat(b',').take(999_999))
        .chain(text("\n"))
        .chain(std::io::repeat(b',').take(1_999_999))
        .chain(text("\n"))
        .chain(text(GOOD))
        .chain(text("\""))
        .chain(std::io::repeat(b'"').take(32 * MIB as u64))
        .chain(text("\n"))
        .chain(text(GOOD));
    let out = run(Marketplace::Taobao, input);
    out.summary.expect("the file is read");
    assert_eq!(
        out.rejects,
        vec![
            (2, "field_count".to_string()),
            (3, "row_too_long".to_string()),
            (5, "row_too_long".to_string())
        ]
    );
    assert_eq!(out.kept_lines, vec![4]);
    // A row of a million fields holds 8 MiB of field offsets; the reading thread may be up to
    // three rows ahead of the normalising one.
    assert!(out.peak < 6 * BOUND, "peak {} bytes", out.peak);
}

#[test]
fn a_file_that_is_one_endless_row_is_rejected_whole_in_bounded_memory() {
    let input = std::io::repeat(b'a').take(200 * MIB as u64);
    let out = run(Marketplace::Taobao, input);
    match out.summary {
        Err(IngestError::FileRejected(m)) => assert!(m.contains("header"), "{m}"),
        other => panic!(
            "expected a rejected file, got {:?}",
            other.map(|s| s.counts)
        ),
    }
    assert!(out.peak < BOUND, "peak {} bytes", out.peak);
}

#[test]
fn nul_bytes_and_mixed_line_ends_lose_no_row() {
    let mut bytes = TB_HEADER.trim_end().as_bytes().to_vec();
    bytes.extend_from_slice(b"\r\n");
    bytes.extend_from_slice(GOOD.trim_end().as_bytes());
    bytes.extend_from_slice(b"\r");
    bytes.extend_from_slice(b"4,O4,573,712,S,t\0\0,1,10.00,,\xe4\xba\xa4\xe6\x98\x93\xe6\x88\x90\xe5\x8a\x9f,2025-05-26 07:43:22,2025-05-26 08:00:00,u\0,n,a,p,xhs_a,\n");
    bytes.extend_from_slice(b"\0\0\0\n");
    bytes.extend_from_slice(GOOD.trim_end().as_bytes());
    let out = run(Marketplace::Taobao, Cursor::new(bytes));
    let s = out.summary.expect("the file is read");
    assert_eq!(s.counts.rows_in, 4);
    assert_eq!(
        out.kept_lines.len() + out.rejects.len(),
        4,
        "{:?} {:?}",
        out.kept_lines,
        out.rejects
    );
}

#[test]
fn invalid_gb18030_rejects_its_rows_and_keeps_the_rest() {
    let header = "订单号,商品ID,商品名称,订购数量,下单时间,京东价,应付金额,订单状态,下单帐号,客户姓名,联系电话,付款确认时间,货号,店铺ID,退款金额,广告挂链追踪码,挂链点击时间\n";
    let row = |order: &str| {
        format!("{order},1,精华,1,2025-05-26 11:47:01,10.00,10.00,完成,jd_1,张三,138,2025-05-26 18:27:01,H,100,,xhs_j,\n")
    };
    let first = format!("{header}{}", row("A"));
    let mut bytes = encoding_rs::GB18030.encode(&first).0.into_owned();
    // A lead byte followed by a byte no GB18030 sequence may hold, inside the title.
    let bad = encoding_rs::GB18030.encode(&row("B")).0.into_owned();
    let title = bad.iter().position(|b| *b >= 0x80).unwrap();
    let mut bad = bad;
    bad[title + 1] = 0x7f;
    bytes.extend_from_slice(&bad);
    bytes.extend_from_slice(&encoding_rs::GB18030.encode(&row("C")).0);
    let out = run(Marketplace::Jd, Cursor::new(bytes));
    let s = out.summary.expect("the file is read");
    assert_eq!(s.counts.rows_in, 3);
    assert_eq!(out.kept_lines, vec![2, 4]);
    assert_eq!(out.rejects, vec![(3, "encoding".to_string())]);
}

#[test]
fn the_row_limit_is_what_a_real_row_never_reaches() {
    const { assert!(MAX_ROW_BYTES >= 64 * 1024 && MAX_ROW_BYTES <= 8 * MIB as u64) };
}
