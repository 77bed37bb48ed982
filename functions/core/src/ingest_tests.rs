//! Every quirk of exports.md, with expected values worked out by hand.

use super::*;
use crate::line::StatusClass;
use crate::money::Fen;
use crate::time::parse_timestamp;
use std::io::{Cursor, Write};

const KEY: &[u8] = b"test-key-0123456789abcdef";

struct Out {
    lines: Vec<OrderLine>,
    rejects: Vec<Reject>,
    summary: Result<Summary, IngestError>,
}

fn run(mkt: Marketplace, bytes: Vec<u8>) -> Out {
    let hasher = BuyerHasher::new(KEY).unwrap();
    let mut lines = Vec::new();
    let mut rejects = Vec::new();
    let summary = normalise(
        Cursor::new(bytes),
        mkt,
        &hasher,
        &mut |l| {
            lines.push(l.clone());
            Ok(())
        },
        &mut |r| {
            rejects.push(r.clone());
            Ok(())
        },
    );
    if let Ok(s) = &summary {
        let c = &s.counts;
        assert_eq!(c.rows_in, c.rows_kept + c.rows_rejected, "counts add up");
        assert_eq!(c.rows_kept, lines.len() as u64);
        assert_eq!(c.rows_rejected, rejects.len() as u64);
        assert_eq!(c.rejected_by_reason.values().sum::<u64>(), c.rows_rejected);
    }
    Out {
        lines,
        rejects,
        summary,
    }
}

fn ts(s: &str) -> chrono::NaiveDateTime {
    parse_timestamp(s).unwrap()
}

const TB_HEADER: &str = "子订单编号,主订单编号,店铺Id,商品ID,商家编码,商品标题,购买数量,买家实付金额,退款金额,订单状态,订单创建时间,订单付款时间,买家会员名,收货人姓名,收货地址,联系手机,广告挂链追踪码,挂链点击时间";

fn tb(rows: &[&str]) -> Vec<u8> {
    let mut s = format!("{TB_HEADER}\n");
    for r in rows {
        s.push_str(r);
        s.push('\n');
    }
    s.into_bytes()
}

#[test]
fn taobao_row_with_text_guards_preamble_and_every_field() {
    let body = format!(
        "导出时间：2025-05-28 02:00\n\n{TB_HEADER}\r\n\
         =\"193000000000017421801\",\"=\"\"1930000000000174218\"\"\",'57300051, 712300005004 ,SKU-5004,\"蛋白粉, 香草味\",2,\"¥1,299.00\",无退款申请,交易成功,2025-05-26 07:43:22,2025/5/26 15:27,tb_user_192,张三,上海市黄浦区某路1号,13800000000,xhs_qeqpno35ye4s,2025/5/25 9:05\r\n"
    );
    let out = run(Marketplace::Taobao, body.into_bytes());
    let s = out.summary.unwrap();
    assert_eq!(s.header_line, 3);
    assert_eq!(s.encoding, TextEncoding::Utf8);
    assert_eq!(out.rejects, vec![]);
    let l = &out.lines[0];
    assert_eq!(l.line_id, "193000000000017421801");
    assert_eq!(l.order_id, "1930000000000174218");
    assert_eq!(l.shop_id, "57300051");
    assert_eq!(l.item_id, "712300005004");
    assert_eq!(l.title, "蛋白粉, 香草味");
    assert_eq!(l.quantity, 2);
    assert_eq!(l.paid_fen, Fen(129900));
    assert_eq!(l.refund_fen, Fen(0));
    assert_eq!(l.status_class, StatusClass::Paid);
    assert_eq!(l.created_at, ts("2025-05-26 07:43:22"));
    assert_eq!(l.paid_at, Some(ts("2025-05-26 15:27:00")));
    assert_eq!(l.clicked_at, Some(ts("2025-05-25 09:05:00")));
    assert_eq!(l.token, "xhs_qeqpno35ye4s");
    assert_eq!(l.source_line, 4);
    assert_eq!(
        l.buyer_hash,
        BuyerHasher::new(KEY).unwrap().hash("tb_user_192")
    );
}

#[test]
fn header_must_be_within_the_first_six_non_blank_rows() {
    let pre = |n: usize| {
        let mut s = String::new();
        for i in 0..n {
            s.push_str(&format!("导出说明第{i}行\n\n"));
        }
        s.push_str(&String::from_utf8(tb(&[])).unwrap());
        s.into_bytes()
    };
    assert!(run(Marketplace::Taobao, pre(5)).summary.is_ok());
    let err = run(Marketplace::Taobao, pre(6)).summary.unwrap_err();
    assert!(matches!(err, IngestError::FileRejected(m) if m.contains("header")));
    // A JD export handed to the Taobao reader is not of the dialect.
    let jd = run(Marketplace::Taobao, jd(&[JD_OK_ROW]));
    assert!(matches!(jd.summary, Err(IngestError::FileRejected(_))));
    // Random bytes and an empty file are rejected whole, not panics.
    assert!(matches!(
        run(Marketplace::Jd, vec![0x89, b'P', b'N', b'G', 0, 1, 2]).summary,
        Err(IngestError::FileRejected(_))
    ));
    assert!(matches!(
        run(Marketplace::Jd, vec![]).summary,
        Err(IngestError::FileRejected(_))
    ));
}

#[test]
fn bad_rows_are_rejected_with_line_and_reason_and_the_rest_kept() {
    let rows = [
        // 1: good (line 2)
        "1,O1,573,712,S,t,1,10.00,,交易成功,2025-05-26 07:43:22,2025-05-26 08:00:00,u1,n,a,p,xhs_a,",
        // 2: quantity 0
        "2,O2,573,712,S,t,0,10.00,,交易成功,2025-05-26 07:43:22,2025-05-26 08:00:00,u1,n,a,p,xhs_a,",
        // 3: negative amount
        "3,O3,573,712,S,t,1,-10.00,,交易成功,2025-05-26 07:43:22,2025-05-26 08:00:00,u1,n,a,p,xhs_a,",
        // 4: three decimals
        "4,O4,573,712,S,t,1,10.001,,交易成功,2025-05-26 07:43:22,2025-05-26 08:00:00,u1,n,a,p,xhs_a,",
        // 5: unknown status
        "5,O5,573,712,S,t,1,10.00,,已发货,2025-05-26 07:43:22,2025-05-26 08:00:00,u1,n,a,p,xhs_a,",
        // 6: paid state without payment time
        "6,O6,573,712,S,t,1,10.00,,交易成功,2025-05-26 07:43:22,,u1,n,a,p,xhs_a,",
        // 7: one field too many
        "7,O7,573,712,S,t,1,10.00,,交易成功,2025-05-26 07:43:22,2025-05-26 08:00:00,u1,n,a,p,xhs_a,,extra",
        // 8: bad timestamp
        "8,O8,573,712,S,t,1,10.00,,交易成功,26/05/2025,2025-05-26 08:00:00,u1,n,a,p,xhs_a,",
        // 9: empty order id
        "9,,573,712,S,t,1,10.00,,交易成功,2025-05-26 07:43:22,2025-05-26 08:00:00,u1,n,a,p,xhs_a,",
        // 10: unpaid without payment time: kept, never paid
        "10,O10,573,712,S,t,1,10.00,,等待买家付款,2025-05-26 07:43:22,,u1,n,a,p,xhs_a,",
    ];
    let out = run(Marketplace::Taobao, tb(&rows));
    let reasons: Vec<(u64, &str)> = out
        .rejects
        .iter()
        .map(|r| (r.line, r.reason.as_str()))
        .collect();
    assert_eq!(
        reasons,
        vec![
            (3, reason::BAD_QUANTITY),
            (4, reason::BAD_AMOUNT),
            (5, reason::BAD_AMOUNT),
            (6, reason::UNKNOWN_STATUS),
            (7, reason::PAID_WITHOUT_PAYMENT_TIME),
            (8, reason::FIELD_COUNT),
            (9, reason::BAD_TIMESTAMP),
            (10, reason::MISSING_FIELD),
        ]
    );
    assert_eq!(out.rejects[0].order_id, "O2");
    let kept: Vec<&str> = out.lines.iter().map(|l| l.line_id.as_str()).collect();
    assert_eq!(kept, vec!["1", "10"]);
    assert!(!out.lines[1].is_paid());
    let c = out.summary.unwrap().counts;
    assert_eq!((c.rows_in, c.rows_kept, c.rows_rejected), (10, 2, 8));
}

#[test]
fn refunds_closed_lines_and_unpaid_with_payment_time() {
    let rows = [
        // refund above paid: capped at paid and noted
        "1,O1,573,712,S,t,1,10.00,15.00,交易成功,2025-05-26 07:43:22,2025-05-26 08:00:00,u1,n,a,p,xhs_a,",
        // closed after payment: a full refund
        "2,O2,573,712,S,t,1,20.50,,交易关闭,2025-05-26 07:43:22,2025-05-26 08:00:00,u1,n,a,p,xhs_a,",
        // closed, never paid
        "3,O3,573,712,S,t,1,20.50,,交易关闭,2025-05-26 07:43:22,,u1,n,a,p,xhs_a,",
        // unpaid state with a payment time: not paid yet
        "4,O4,573,712,S,t,1,20.50,0.00,买家未付款,2025-05-26 07:43:22,2025-05-26 08:00:00,u1,n,a,p,xhs_a,",
        // partial refund
        "5,O5,573,712,S,t,1,20.50,5.5元,卖家已发货，等待买家确认,2025-05-26 07:43:22,2025-05-26 08:00:00,u1,n,a,p,xhs_a,",
    ];
    let out = run(Marketplace::Taobao, tb(&rows));
    assert!(out.rejects.is_empty(), "{:?}", out.rejects);
    let l = &out.lines;
    assert_eq!((l[0].paid_fen.fen(), l[0].refund_fen.fen()), (1000, 1000));
    assert_eq!(
        (l[1].paid_fen.fen(), l[1].refund_fen.fen(), l[1].is_paid()),
        (2050, 2050, true)
    );
    assert_eq!((l[2].refund_fen.fen(), l[2].is_paid()), (0, false));
    assert!(!l[3].is_paid());
    assert_eq!((l[4].refund_fen.fen(), l[4].net_fen().fen()), (550, 1500));
    assert_eq!(out.summary.unwrap().counts.refunds_capped, 1);
}

#[test]
fn old_taobao_format_without_line_ids_uses_order_and_item() {
    let body = "订单编号,商品ID,标题,店铺ID,宝贝总数量,买家实际支付金额,订单状态,买家下单时间,买家付款时间,买家会员名称,联系手机,收货地址,追踪码,退款金额\n\
                \"=\"\"1930000000000190056\"\"\",712300003005,轻薄粉底液,57300031,1,111.00,卖家已发货，等待买家确认,2025-05-25 22:12:41,2025-05-26 02:15:41,tb_user_1129,13800000000,上海市,xhs_t,0.00\n";
    let out = run(Marketplace::Taobao, body.as_bytes().to_vec());
    assert_eq!(out.lines[0].line_id, "1930000000000190056/712300003005");
    assert_eq!(out.lines[0].title, "轻薄粉底液");
    assert_eq!(out.lines[0].clicked_at, None);
}

#[test]
fn gb18030_bom_crlf_and_quoted_line_breaks() {
    let text = format!(
        "{TB_HEADER}\r\n1,O1,573,712,S,\"保湿面霜\r\n50ml \"\"限定\"\"\",1,10.00,,交易成功,2025-05-26 07:43:22,2025-05-26 08:00:00,买家甲,张三,\"上海市, 黄浦区\",138,xhs_a,\r\n2,O2,573,712,S,t,1,10.00,,交易成功,2025-05-26 07:43:22,2025-05-26 08:00:00,u1,n,a,p,,\r\n"
    );
    let (gb, _, _) = encoding_rs::GB18030.encode(&text);
    let out = run(Marketplace::Taobao, gb.into_owned());
    assert_eq!(
        out.summary.as_ref().unwrap().encoding,
        TextEncoding::Gb18030
    );
    assert_eq!(out.lines[0].title, "保湿面霜\r\n50ml \"限定\"");
    assert_eq!(
        out.lines[0].buyer_hash,
        BuyerHasher::new(KEY).unwrap().hash("买家甲")
    );
    assert_eq!(
        out.lines[1].source_line, 4,
        "the quoted line break counts as a line"
    );
    assert_eq!(out.lines[1].token, "");

    let mut bom = b"\xEF\xBB\xBF".to_vec();
    bom.extend_from_slice(text.as_bytes());
    let out = run(Marketplace::Taobao, bom);
    assert_eq!(out.summary.unwrap().encoding, TextEncoding::Utf8);
    assert_eq!(out.lines.len(), 2);
}

#[test]
fn gzip_exports_and_truncated_gzip() {
    let rows: Vec<String> = (0..3000)
        .map(|i| format!("{i},O{i},573,712,S,t,1,10.00,,交易成功,2025-05-26 07:43:22,2025-05-26 08:00:00,u1,n,a,p,xhs_a,"))
        .collect();
    let refs: Vec<&str> = rows.iter().map(|s| s.as_str()).collect();
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(&tb(&refs)).unwrap();
    let gz = enc.finish().unwrap();
    let out = run(Marketplace::Taobao, gz.clone());
    assert!(out.summary.as_ref().unwrap().gzip);
    assert_eq!(out.lines.len(), 3000);
    let cut = run(Marketplace::Taobao, gz[..gz.len() - 40].to_vec());
    assert!(matches!(cut.summary, Err(IngestError::FileRejected(m)) if m.contains("truncated")));
}

const JD_HEADER: &str = "订单号,商品ID,商品名称,订购数量,下单时间,京东价,应付金额,订单状态,下单帐号,客户姓名,联系电话,付款确认时间,货号,店铺ID,退款金额,广告挂链追踪码,挂链点击时间";
const JD_OK_ROW: &str = "300,1001,面霜,1,2025-05-26 11:47:01,10.00,10.00,完成,jd_1,张三,138,2025-05-26 18:27:01,H1,100,,xhs_j,";

fn jd(rows: &[&str]) -> Vec<u8> {
    let mut s = format!("{JD_HEADER}\n");
    for r in rows {
        s.push_str(r);
        s.push('\n');
    }
    s.into_bytes()
}

fn jd_row(order: &str, item: &str, qty: u32, price: &str, payable: &str, status: &str) -> String {
    format!("{order},{item},t,{qty},2025-05-26 11:47:01,{price},{payable},{status},jd_1,张三,138,2025-05-26 18:27:01,H,100,,xhs_j,")
}

#[test]
fn rows_of_many_batches_are_handed_on_in_file_order() {
    // About 4 MiB: several batches, normalised on more than one thread where there are cores.
    // Every 97th row is bad; kept lines and rejects must come out in the file's order, each once.
    let (mut order, mut rows) = (Vec::new(), Vec::new());
    let mut file = format!("{TB_HEADER}\n");
    for i in 0..30_000u64 {
        let line = i + 2;
        let paid = if i % 97 == 0 { "x" } else { "10.00" };
        file.push_str(&format!(
            "{i},O{i},573,712,S,an item with a long enough title to fill the batches,1,{paid},,交易成功,2025-05-26 07:43:22,2025-05-26 08:00:00,u{i},n,some address or other,p,xhs_a,\n"
        ));
        rows.push(line);
    }
    let hasher = BuyerHasher::new(KEY).unwrap();
    let order_cell = std::cell::RefCell::new(&mut order);
    let summary = normalise(
        Cursor::new(file.into_bytes()),
        Marketplace::Taobao,
        &hasher,
        &mut |l| {
            order_cell.borrow_mut().push((l.source_line, true));
            Ok(())
        },
        &mut |r| {
            order_cell.borrow_mut().push((r.line, false));
            Ok(())
        },
    )
    .unwrap();
    assert_eq!(summary.counts.rows_in, 30_000);
    assert_eq!(order.iter().map(|(l, _)| *l).collect::<Vec<_>>(), rows);
    for (line, kept) in &order {
        assert_eq!(*kept, (line - 2) % 97 != 0, "line {line}");
    }
}

#[test]
fn jd_payable_is_shared_by_largest_remainder() {
    // 10.00 over weights 1.00 and 2.00: 333.33 -> 333, 666.67 -> 666; the one fen left goes to the larger remainder.
    // 100.00 over three equal weights: 3333 each and the fen left to the earliest row.
    // 12.00 over 5.00x2 and 0.00x1 -> 1200 and 0.
    let rows = [
        jd_row("A", "1", 1, "1.00", "10.00", "完成"),
        jd_row("A", "2", 1, "2.00", "¥10.00元", "等待出库"),
        jd_row("B", "1", 1, "33.33", "100", "完成"),
        jd_row("B", "2", 1, "33.33", "100.00", "完成"),
        jd_row("B", "3", 1, "33.33", "100.0", "完成"),
        jd_row("C", "1", 2, "5.00", "12.00", "完成"),
        jd_row("C", "2", 1, "0", "12.00", "完成"),
        jd_row("D", "1", 3, "99.00", "50.00", "(删除)等待确认收货"),
    ];
    let refs: Vec<&str> = rows.iter().map(|s| s.as_str()).collect();
    let out = run(Marketplace::Jd, jd(&refs));
    assert!(out.rejects.is_empty(), "{:?}", out.rejects);
    let paid: Vec<(&str, i64)> = out
        .lines
        .iter()
        .map(|l| (l.line_id.as_str(), l.paid_fen.fen()))
        .collect();
    assert_eq!(
        paid,
        vec![
            ("A/1", 333),
            ("A/2", 667),
            ("B/1", 3334),
            ("B/2", 3333),
            ("B/3", 3333),
            ("C/1", 1200),
            ("C/2", 0),
            ("D/1", 5000)
        ]
    );
    assert_eq!(out.lines[7].status, "等待确认收货");
    assert_eq!(out.lines[7].status_class, StatusClass::Paid);
}

#[test]
fn jd_gift_only_orders_share_equally() {
    let rows = [
        jd_row("G", "1", 1, "0.00", "0.10", "完成"),
        jd_row("G", "2", 1, "0", "0.10", "完成"),
        jd_row("G", "3", 5, "0", "0.10", "完成"),
    ];
    let refs: Vec<&str> = rows.iter().map(|s| s.as_str()).collect();
    let out = run(Marketplace::Jd, jd(&refs));
    let paid: Vec<i64> = out.lines.iter().map(|l| l.paid_fen.fen()).collect();
    assert_eq!(paid, vec![4, 3, 3]);
}

#[test]
fn jd_orders_are_all_or_nothing() {
    let rows = [
        jd_row("A", "1", 1, "1.00", "10.00", "完成"),
        jd_row("A", "2", 1, "N/A", "10.00", "完成"),
        jd_row("B", "1", 1, "1.00", "10.00", "完成"),
        jd_row("B", "2", 1, "1.00", "11.00", "完成"),
        jd_row("C", "1", 1, "1.00", "10.00", "完成"),
        format!("{},extra", jd_row("C", "2", 1, "1.00", "10.00", "完成")),
        jd_row("C", "3", 1, "3.00", "10.00", "完成"),
    ];
    let refs: Vec<&str> = rows.iter().map(|s| s.as_str()).collect();
    let out = run(Marketplace::Jd, jd(&refs));
    let rej: Vec<(u64, &str, &str)> = out
        .rejects
        .iter()
        .map(|r| (r.line, r.order_id.as_str(), r.reason.as_str()))
        .collect();
    assert_eq!(
        rej,
        vec![
            (2, "A", reason::BAD_AMOUNT),
            (3, "A", reason::BAD_AMOUNT),
            (4, "B", reason::PAYABLE_MISMATCH),
            (5, "B", reason::PAYABLE_MISMATCH),
            (7, "C", reason::FIELD_COUNT),
        ]
    );
    assert!(
        out.rejects[0].detail.contains("line 3"),
        "{}",
        out.rejects[0].detail
    );
    // The row with a wrong field count belongs to no order: C's two good rows share 10.00 over 1.00 and 3.00.
    let paid: Vec<(&str, i64)> = out
        .lines
        .iter()
        .map(|l| (l.line_id.as_str(), l.paid_fen.fen()))
        .collect();
    assert_eq!(paid, vec![("C/1", 250), ("C/3", 750)]);
}

#[test]
fn jd_header_with_spaces_and_aliases() {
    let body = "下单时间, 应付金额 ,商家SKUID,下单帐号, 订单状态 , 追踪码 ,挂链点击时间,订购数量,商品名称,退款金额,发票抬头,店铺Id,京东价,商品ID,付款确认时间,订单号\n\
                2025-05-26 05:46:42,1231.29,HH44007,jd_3228,等待确认收货,xhs_6x,2025-05-23 09:05:42,5,跑步鞋,无退款申请,某某科技有限公司,10020004,249.91,100012344007,2025-05-26 08:07:42,300000744386\n";
    let out = run(Marketplace::Jd, body.as_bytes().to_vec());
    assert!(out.rejects.is_empty(), "{:?}", out.rejects);
    let l = &out.lines[0];
    assert_eq!(l.line_id, "300000744386/100012344007");
    assert_eq!(l.paid_fen, Fen(123129));
    assert_eq!(l.sku_code, "HH44007");
    assert_eq!(l.shop_id, "10020004");
    assert_eq!(l.clicked_at, Some(ts("2025-05-23 09:05:42")));
}

#[test]
fn jd_cancelled_after_payment_is_a_full_refund() {
    let rows = [jd_row("X", "1", 1, "1.00", "8.00", "已取消")];
    let refs: Vec<&str> = rows.iter().map(|s| s.as_str()).collect();
    let out = run(Marketplace::Jd, jd(&refs));
    assert_eq!(
        (out.lines[0].paid_fen.fen(), out.lines[0].refund_fen.fen()),
        (800, 800)
    );
}

#[test]
fn largest_remainder_adds_up() {
    assert_eq!(largest_remainder(10, &[1, 1, 1]), vec![4, 3, 3]);
    assert_eq!(largest_remainder(0, &[5, 5]), vec![0, 0]);
    assert_eq!(largest_remainder(7, &[0, 0]), vec![4, 3]);
    assert_eq!(largest_remainder(100, &[1]), vec![100]);
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn shares_always_add_up(total in 0i64..10_000_000, weights in proptest::collection::vec(0i128..1_000_000, 1..20)) {
            let s = largest_remainder(total, &weights);
            prop_assert_eq!(s.iter().sum::<i64>(), total);
            prop_assert!(s.iter().all(|v| *v >= 0));
        }

        #[test]
        fn random_bytes_never_panic_and_counts_add_up(bytes in proptest::collection::vec(any::<u8>(), 0..2000), jd_dialect in any::<bool>()) {
            let mkt = if jd_dialect { Marketplace::Jd } else { Marketplace::Taobao };
            let _ = run(mkt, bytes);
        }

        #[test]
        fn mangled_rows_are_kept_or_rejected(cells in proptest::collection::vec("[0-9a-z,=' ¥元.]{0,12}", 18)) {
            let row = cells.join(",");
            let out = run(Marketplace::Taobao, tb(&[&row, "1,O1,573,712,S,t,1,10.00,,交易成功,2025-05-26 07:43:22,2025-05-26 08:00:00,u1,n,a,p,xhs_a,"]));
            let s = out.summary.unwrap();
            prop_assert_eq!(s.counts.rows_in, 2);
            prop_assert!(s.counts.rows_kept >= 1);
        }

        #[test]
        fn quotes_and_line_breaks_never_lose_a_row(cells in proptest::collection::vec("[0-9a-z,\"=' \\r\\n¥元.]{0,12}", 18)) {
            let row = cells.join(",");
            // run() checks that every row is kept or rejected and the counts add up.
            let out = run(Marketplace::Taobao, tb(&[&row]));
            prop_assert!(out.summary.is_ok());
        }
    }
}
