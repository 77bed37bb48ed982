//! The demo's sample data set, written to a local directory.
//!
//! Two marketplaces, three brands, a week of exports with the quirks of exports.md (GB18030, gzip,
//! preamble lines, text guards, every amount form), refunds that arrive days later and a few bad rows;
//! beside them RED's daily note reports (funnel.md), each re-exporting the last three days.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use chrono::{Duration, NaiveDate, NaiveDateTime};

use crate::rng::Rng;

pub const FIRST_DAY: &str = "2025-06-01";
pub const DAYS: i64 = 7;
/// The brand the demo points a newcomer to: media spend on RED and fixed fees, so its pages show
/// the whole funnel and ROAS on what was actually spent.
pub const SHOWCASE_BRAND: &str = "b-shuihua";

const BRANDS: &str = r#"{"brand_id": "b-shuihua", "name": "水花川行", "shops": {"taobao": ["57301234"], "jd": ["10023456"]}}
{"brand_id": "b-lanting", "name": "兰亭集", "shops": {"taobao": ["57305555", "57305556"]}}
{"brand_id": "b-yunshan", "name": "云杉户外", "shops": {"taobao": ["57307777"], "jd": ["10029999"]}}
"#;

const CAMPAIGNS: &str = r#"{"campaign_id": "c-618-face", "brand_id": "b-shuihua", "name": "全脸盘 618 种草", "start": "2025-05-20", "end": "2025-06-18", "window_days": 15, "spend_fen": 600000, "items": {"taobao": ["712345678901", "712345678902"], "jd": ["100012345678"]}, "notes": [{"note_id": "664f1c2a000000001e02b3c4", "title": "一盘搞定全脸！618 必入眼影腮红高光", "links": [{"token": "xhs_k3j2h1g0f9e8", "kind": "ad_link", "marketplace": "taobao"}, {"token": "xhs_p0o9i8u7y6t5", "kind": "comment_link", "marketplace": "jd"}]}, {"note_id": "664f1c2a000000001e02b3c5", "title": "通勤妆 5 分钟教程", "links": [{"token": "xhs_a1s2d3f4g5h6", "kind": "comment_link", "marketplace": "taobao"}]}]}
{"campaign_id": "c-sun-spf", "brand_id": "b-shuihua", "name": "防晒 夏日计划", "start": "2025-06-01", "end": "2025-06-30", "window_days": 7, "spend_fen": 250000, "items": {"taobao": ["712345670001"], "jd": ["100012340001"]}, "notes": [{"note_id": "665a00000000000012345678", "title": "海边暴晒一周不黑的秘密", "links": [{"token": "xhs_sun_ad_tb01", "kind": "ad_link", "marketplace": "taobao"}, {"token": "xhs_sun_ad_jd01", "kind": "ad_link", "marketplace": "jd"}]}]}
{"campaign_id": "c-tea-gift", "brand_id": "b-lanting", "name": "端午茶礼", "start": "2025-05-25", "end": "2025-06-05", "window_days": 3, "spend_fen": 300000, "items": {"taobao": ["712300009001"]}, "notes": [{"note_id": "665b00000000000000000001", "title": "端午送长辈的茶礼清单", "links": [{"token": "xhs_tea_ad_0001", "kind": "ad_link", "marketplace": "taobao"}, {"token": "xhs_tea_cm_0002", "kind": "comment_link", "marketplace": "taobao"}]}]}
{"campaign_id": "c-trail-run", "brand_id": "b-yunshan", "name": "越野跑鞋 试穿", "start": "2025-06-03", "end": "2025-06-20", "window_days": 10, "spend_fen": 0, "items": {"taobao": ["712377770001"], "jd": ["100077770001"]}, "notes": [{"note_id": "665c00000000000000000001", "links": [{"token": "xhs_trail_tb_01", "kind": "comment_link", "marketplace": "taobao"}, {"token": "xhs_trail_jd_01", "kind": "ad_link", "marketplace": "jd"}]}]}
"#;

struct Shop {
    shop: &'static str,
    items: &'static [&'static str],
    tokens: &'static [&'static str],
}

const TAOBAO_SHOPS: &[Shop] = &[
    Shop {
        shop: "57301234",
        items: &[
            "712345678901",
            "712345678902",
            "712345670001",
            "712345679999",
        ],
        tokens: &["xhs_k3j2h1g0f9e8", "xhs_a1s2d3f4g5h6", "xhs_sun_ad_tb01"],
    },
    Shop {
        shop: "57305555",
        items: &["712300009001", "712300009002"],
        tokens: &["xhs_tea_ad_0001", "xhs_tea_cm_0002"],
    },
    Shop {
        shop: "57307777",
        items: &["712377770001", "712377770002"],
        tokens: &["xhs_trail_tb_01"],
    },
    // Not any brand's shop: a token used here is never credited.
    Shop {
        shop: "57309999",
        items: &["712399990001"],
        tokens: &["xhs_k3j2h1g0f9e8"],
    },
];

const JD_SHOPS: &[Shop] = &[
    Shop {
        shop: "10023456",
        items: &["100012345678", "100012340001", "100012349999"],
        tokens: &["xhs_p0o9i8u7y6t5", "xhs_sun_ad_jd01"],
    },
    Shop {
        shop: "10029999",
        items: &["100077770001", "100077770002"],
        tokens: &["xhs_trail_jd_01"],
    },
];

const TITLES: &[&str] = &[
    "全脸盘 眼影腮红高光一体",
    "保湿面霜\n50ml 礼盒装",
    "防晒喷雾 SPF50+",
    "蛋白粉, 香草味",
    "越野跑鞋 缓震",
    "龙井 明前 礼盒",
    "=HYPERLINK(\"http://x\")",
];
const NAMES: &[&str] = &["张三", "李四", "王五", "赵六"];

fn fmt_ts(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

fn slash_ts(t: NaiveDateTime) -> String {
    t.format("%Y/%-m/%-d %-H:%M").to_string()
}

fn yuan(fen: i64) -> String {
    format!("{}.{:02}", fen / 100, fen % 100)
}

#[derive(Clone)]
struct TbLine {
    line_id: String,
    order_id: String,
    shop: &'static str,
    item: &'static str,
    title: &'static str,
    qty: u32,
    paid: i64,
    refund: i64,
    status: &'static str,
    created: NaiveDateTime,
    paid_at: Option<NaiveDateTime>,
    buyer: String,
    token: &'static str,
    clicked: Option<NaiveDateTime>,
}

fn tb_row(l: &TbLine, rng: &mut Rng) -> Vec<String> {
    let paid = match rng.below(6) {
        0 => format!("¥{}", yuan(l.paid)),
        1 => format!("{}元", yuan(l.paid)),
        _ => yuan(l.paid),
    };
    let refund = if l.refund == 0 {
        if rng.chance(50) {
            "无退款申请".to_string()
        } else {
            String::new()
        }
    } else {
        yuan(l.refund)
    };
    let created = if rng.chance(20) {
        slash_ts(l.created)
    } else {
        fmt_ts(l.created)
    };
    vec![
        l.line_id.clone(),
        format!("=\"{}\"", l.order_id),
        if rng.chance(10) {
            format!("'{}", l.shop)
        } else {
            l.shop.to_string()
        },
        l.item.to_string(),
        format!("SKU-{}", &l.item[l.item.len() - 4..]),
        l.title.to_string(),
        l.qty.to_string(),
        paid,
        refund,
        l.status.to_string(),
        created,
        l.paid_at.map(fmt_ts).unwrap_or_default(),
        l.buyer.clone(),
        rng.pick(NAMES).to_string(),
        "上海市黄浦区某路1号".into(),
        "13800000000".into(),
        l.token.to_string(),
        l.clicked.map(fmt_ts).unwrap_or_default(),
    ]
}

const TB_HEADER: &[&str] = &[
    "子订单编号",
    "主订单编号",
    "店铺Id",
    "商品ID",
    "商家编码",
    "商品标题",
    "购买数量",
    "买家实付金额",
    "退款金额",
    "订单状态",
    "订单创建时间",
    "订单付款时间",
    "买家会员名",
    "收货人姓名",
    "收货地址",
    "联系手机",
    "广告挂链追踪码",
    "挂链点击时间",
];
const JD_HEADER: &[&str] = &[
    "订单号",
    "商品ID",
    "商品名称",
    "订购数量",
    "支付方式",
    "下单时间",
    "京东价",
    "应付金额",
    "订单状态",
    "下单帐号",
    "客户姓名",
    "客户地址",
    "联系电话",
    "付款确认时间",
    "货号",
    "店铺ID",
    "退款金额",
    "广告挂链追踪码",
    "挂链点击时间",
];

#[derive(Clone)]
struct JdOrder {
    order_id: String,
    shop: &'static str,
    rows: Vec<(&'static str, &'static str, u32, i64)>,
    payable: i64,
    status: &'static str,
    created: NaiveDateTime,
    paid_at: Option<NaiveDateTime>,
    buyer: String,
    token: &'static str,
    clicked: Option<NaiveDateTime>,
    refund_first_row: i64,
}

fn jd_rows(o: &JdOrder, rng: &mut Rng) -> Vec<Vec<String>> {
    o.rows
        .iter()
        .enumerate()
        .map(|(i, (item, title, qty, price))| {
            vec![
                o.order_id.clone(),
                item.to_string(),
                title.to_string(),
                qty.to_string(),
                "在线支付".into(),
                fmt_ts(o.created),
                yuan(*price),
                if rng.chance(15) {
                    format!("¥{}", yuan(o.payable))
                } else {
                    yuan(o.payable)
                },
                if rng.chance(10) {
                    format!("(删除){}", o.status)
                } else {
                    o.status.to_string()
                },
                o.buyer.clone(),
                rng.pick(NAMES).to_string(),
                "北京市朝阳区某街2号".into(),
                "13900000000".into(),
                o.paid_at.map(fmt_ts).unwrap_or_default(),
                format!("HH{}", &item[item.len() - 4..]),
                o.shop.to_string(),
                if i == 0 && o.refund_first_row > 0 {
                    yuan(o.refund_first_row)
                } else {
                    "无退款申请".into()
                },
                o.token.to_string(),
                o.clicked.map(fmt_ts).unwrap_or_default(),
            ]
        })
        .collect()
}

pub(super) fn csv_bytes(
    preamble: Option<&str>,
    header: &[&str],
    rows: &[Vec<String>],
) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    if let Some(p) = preamble {
        out.extend_from_slice(p.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let mut w = csv::WriterBuilder::new()
        .flexible(true)
        .terminator(csv::Terminator::CRLF)
        .from_writer(out);
    w.write_record(header)?;
    for r in rows {
        w.write_record(r)?;
    }
    w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))
}

pub(super) fn write(dir: &Path, rel: &str, bytes: &[u8]) -> Result<()> {
    let path = dir.join(rel);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))
}

/// Writes brands, campaigns and a week of exports under `dir`. Returns the days to run.
pub fn generate(dir: &Path) -> Result<Vec<NaiveDate>> {
    write(dir, "brands.jsonl", BRANDS.as_bytes())?;
    write(dir, "campaigns.jsonl", CAMPAIGNS.as_bytes())?;
    let first = NaiveDate::parse_from_str(FIRST_DAY, "%Y-%m-%d")?;
    let days: Vec<NaiveDate> = (0..DAYS).map(|i| first + Duration::days(i)).collect();
    let mut rng = Rng(0x5eed_1ee7_2025_0601);
    let mut tb_changes: Vec<(NaiveDate, TbLine)> = Vec::new();
    let mut jd_changes: Vec<(NaiveDate, JdOrder)> = Vec::new();
    let mut seq = 0u64;
    for (di, day) in days.iter().enumerate() {
        let at = |h: u32, m: u32| day.and_hms_opt(h, m, 0).unwrap_or_default();
        // Taobao
        let mut tb_lines = Vec::new();
        for _ in 0..(30 + rng.below(20)) {
            seq += 1;
            let shop = rng.pick_ref(TAOBAO_SHOPS);
            let order_id = format!("19300000{:011}", 1_000_000 + seq);
            let n_lines = 1 + rng.below(2);
            let token: &'static str = if rng.chance(65) {
                rng.pick(shop.tokens)
            } else if rng.chance(10) {
                "xhs_unknown_zz99"
            } else {
                ""
            };
            let created = at(8 + rng.below(12) as u32, rng.below(60) as u32);
            let status = if rng.chance(10) {
                "等待买家付款"
            } else {
                rng.pick(&[
                    "买家已付款，等待卖家发货",
                    "卖家已发货，等待买家确认",
                    "交易成功",
                ])
            };
            let paid_at = (status != "等待买家付款")
                .then(|| created + Duration::minutes(5 + rng.below(90) as i64));
            let clicked = (!token.is_empty() && rng.chance(50))
                .then(|| created - Duration::hours(rng.below(40) as i64));
            for li in 0..n_lines {
                let qty = 1 + rng.below(3) as u32;
                let line = TbLine {
                    line_id: format!("{order_id}{:02}", li + 1),
                    order_id: order_id.clone(),
                    shop: shop.shop,
                    item: rng.pick(shop.items),
                    title: rng.pick(TITLES),
                    qty,
                    paid: (2_000 + rng.below(60_000) as i64) * i64::from(qty),
                    refund: 0,
                    status,
                    created,
                    paid_at,
                    buyer: format!("tb_buyer_{}", rng.below(400)),
                    token,
                    clicked,
                };
                if paid_at.is_some() && rng.chance(12) && di + 2 < days.len() {
                    // A refund arrives two or three days later: partial, or the whole line closed.
                    let mut later = line.clone();
                    if rng.chance(50) {
                        later.refund = later.paid / 2;
                        later.status = "交易成功";
                    } else {
                        later.status = "交易关闭";
                    }
                    tb_changes.push((
                        days[di + 2 + rng.below(2) as usize % (days.len() - di - 2)],
                        later,
                    ));
                }
                if paid_at.is_none() && rng.chance(50) && di + 1 < days.len() {
                    // Exported unpaid today, paid tomorrow.
                    let mut later = line.clone();
                    later.status = "买家已付款，等待卖家发货";
                    later.paid_at = Some(days[di + 1].and_hms_opt(9, 30, 0).unwrap_or_default());
                    tb_changes.push((days[di + 1], later));
                }
                tb_lines.push(line);
            }
        }
        let mut rows: Vec<Vec<String>> = tb_lines.iter().map(|l| tb_row(l, &mut rng)).collect();
        rows.extend(
            tb_changes
                .iter()
                .filter(|(d, _)| d == day)
                .map(|(_, l)| tb_row(l, &mut rng)),
        );
        if di == 2 {
            // Bad rows: a quantity of 0, an amount that is not a number, a row with a field missing.
            let mut bad = rows[0].clone();
            bad[6] = "0".into();
            rows.push(bad);
            let mut bad = rows[1].clone();
            bad[7] = "N/A".into();
            rows.push(bad);
            let mut short = rows[2].clone();
            short.pop();
            rows.push(short);
        }
        let half = rows.len() / 2;
        let preamble = format!("导出时间：{} 02:00", *day + Duration::days(1));
        let a = csv_bytes(Some(&preamble), TB_HEADER, &rows[..half])?;
        let b = csv_bytes(None, TB_HEADER, &rows[half..])?;
        let compact = day.format("%Y%m%d");
        if di % 2 == 0 {
            // The seller back-end writes GB18030.
            let (gb, _, _) = encoding_rs::GB18030.encode(std::str::from_utf8(&a)?);
            write(
                dir,
                &format!("exports/taobao/{day}/ExportOrderDetailList{compact}-1.csv"),
                &gb,
            )?;
        } else {
            let mut bom = b"\xEF\xBB\xBF".to_vec();
            bom.extend_from_slice(&a);
            write(
                dir,
                &format!("exports/taobao/{day}/ExportOrderDetailList{compact}-1.csv"),
                &bom,
            )?;
        }
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&b)?;
        write(
            dir,
            &format!("exports/taobao/{day}/ExportOrderDetailList{compact}-2.csv.gz"),
            &gz.finish()?,
        )?;

        // JD
        let mut orders = Vec::new();
        for _ in 0..(12 + rng.below(10)) {
            seq += 1;
            let shop = rng.pick_ref(JD_SHOPS);
            let n = 1 + rng.below(3) as usize;
            let mut rows: Vec<(&'static str, &'static str, u32, i64)> = (0..n)
                .map(|_| {
                    (
                        rng.pick(shop.items),
                        rng.pick(TITLES),
                        1 + rng.below(2) as u32,
                        5_000 + rng.below(40_000) as i64,
                    )
                })
                .collect();
            // One row per order and SKU, as JD exports them.
            rows.sort_by_key(|r| r.0);
            rows.dedup_by_key(|r| r.0);
            let list: i64 = rows.iter().map(|r| r.3 * i64::from(r.2)).sum();
            let token: &'static str = if rng.chance(70) {
                rng.pick(shop.tokens)
            } else {
                ""
            };
            let created = at(9 + rng.below(12) as u32, rng.below(60) as u32);
            let status = if rng.chance(8) {
                "等待付款"
            } else {
                rng.pick(&["等待出库", "等待确认收货", "完成"])
            };
            let order = JdOrder {
                order_id: format!("30{:010}", 100_000 + seq),
                shop: shop.shop,
                rows,
                // Coupons: the order pays less than its list price.
                payable: list - list * rng.below(15) as i64 / 100,
                status,
                created,
                paid_at: (status != "等待付款")
                    .then(|| created + Duration::minutes(3 + rng.below(30) as i64)),
                buyer: format!("jd_buyer_{}", rng.below(300)),
                token,
                clicked: (!token.is_empty() && rng.chance(40))
                    .then(|| created - Duration::hours(rng.below(30) as i64)),
                refund_first_row: 0,
            };
            if order.paid_at.is_some() && rng.chance(15) && di + 3 < days.len() {
                let mut later = order.clone();
                if rng.chance(50) {
                    later.status = "已取消";
                } else {
                    later.status = "完成";
                    later.refund_first_row = 1_000;
                }
                jd_changes.push((days[di + 3], later));
            }
            orders.push(order);
        }
        let mut rows: Vec<Vec<String>> = orders.iter().flat_map(|o| jd_rows(o, &mut rng)).collect();
        rows.extend(
            jd_changes
                .iter()
                .filter(|(d, _)| d == day)
                .flat_map(|(_, o)| jd_rows(o, &mut rng)),
        );
        let jd = csv_bytes(None, JD_HEADER, &rows)?;
        if di == 4 {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            gz.write_all(&jd)?;
            write(
                dir,
                &format!("exports/jd/{day}/pop_orders_{compact}.csv.gz"),
                &gz.finish()?,
            )?;
        } else {
            write(
                dir,
                &format!("exports/jd/{day}/pop_orders_{compact}.csv"),
                &jd,
            )?;
        }
        if di == 5 {
            // Somebody dropped a spreadsheet into the bucket: rejected whole, the rest goes on.
            write(
                dir,
                &format!("exports/jd/{day}/pop_orders_{compact}.xlsx"),
                b"PK\x03\x04 not a csv at all",
            )?;
        }
    }
    Ok(days)
}
