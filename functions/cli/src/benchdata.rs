//! `seedline bench-data`: order exports and campaigns at production scale, for the benchmark
//! (`scripts/bench.sh`). Deterministic for a seed: the same files on every machine.
//!
//! Taobao dialect; about 20% of lines carry a token, a share of them out of window, in a foreign
//! shop or through a JD link; refunds, closures, unpaid orders, bad rows (quantity 0, amount N/A)
//! and later rows restating earlier lines, in the same file or (a late refund) an earlier day's
//! unless `--same-day-restatements`. Every line paid on its export's day.

use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::{Context, Result};
use chrono::{Duration, NaiveDate};

use crate::rng::Rng;

/// What to generate.
#[derive(clap::Args)]
pub struct Spec {
    /// Order lines per daily export.
    #[arg(long, default_value_t = 1_000_000)]
    pub lines: u64,
    /// Daily exports, from --first-day on.
    #[arg(long, default_value_t = 1)]
    pub days: u32,
    #[arg(long, value_parser = seedline_core::time::parse_date, default_value = "2025-06-01")]
    pub first_day: NaiveDate,
    #[arg(long, default_value_t = 500)]
    pub brands: u32,
    #[arg(long, default_value_t = 40)]
    pub campaigns_per_brand: u32,
    /// Links (tokens) per campaign.
    #[arg(long, default_value_t = 10)]
    pub links_per_campaign: u32,
    /// Write the exports in GB18030 instead of UTF-8.
    #[arg(long)]
    pub gb18030: bool,
    /// Restate only lines of the same day's export (no late refunds): a day's exports then touch
    /// no earlier report date, which tells the cost of history itself from that of republishing.
    #[arg(long)]
    pub same_day_restatements: bool,
    /// Write every line once, no row restating another: the data on which a query that skips the
    /// latest-state rule gives the same rows as one that keeps it.
    #[arg(long, conflicts_with = "same_day_restatements")]
    pub no_restatements: bool,
    /// Also write RED's daily note reports: each day's export holds one row per note of every
    /// campaign for that day and the two before it (RED revises recent figures).
    #[arg(long)]
    pub red: bool,
    /// Write the brands, campaigns and RED note reports only, no order export (with --red).
    #[arg(long, requires = "red")]
    pub red_only: bool,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

fn tb_shop(brand: u32, i: u32) -> u64 {
    57_000_000 + u64::from(brand) * 10 + u64::from(i)
}
fn item(brand: u32, i: u32) -> u64 {
    700_000_000_000 + u64::from(brand) * 1000 + u64::from(i)
}
fn token(c: u32, l: u32) -> String {
    format!("xhs_b{c:06}l{l:02}")
}

const TITLES: &[&str] = &[
    "水光精华面霜 50ml 保湿修护",
    "氨基酸洁面乳 120g 温和清洁",
    "防晒喷雾 SPF50+ 清爽不油腻",
    "玻尿酸补水面膜 10片装",
    "轻薄粉底液 30ml 持久遮瑕",
];
const STATUSES_PAID: &[&str] = &[
    "交易成功",
    "卖家已发货，等待买家确认",
    "买家已付款，等待卖家发货",
];

/// Writes brands.jsonl, campaigns.jsonl and `days` daily Taobao exports of `lines` lines under `dir`.
pub fn generate(dir: &Path, spec: &Spec) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let flight_start = spec.first_day - Duration::days(10);
    let flight_end = spec.first_day + Duration::days(i64::from(spec.days) + 30);
    let mut rng = Rng(spec.seed.max(1));
    let campaigns = spec.brands * spec.campaigns_per_brand;

    let mut brands = BufWriter::new(std::fs::File::create(dir.join("brands.jsonl"))?);
    for b in 0..spec.brands {
        writeln!(
            brands,
            r#"{{"brand_id":"b-{b:04}","name":"品牌{b:04}","shops":{{"taobao":["{}","{}"],"jd":["{}"]}}}}"#,
            tb_shop(b, 0),
            tb_shop(b, 1),
            10_000_000 + u64::from(b)
        )?;
    }
    brands.flush()?;
    let mut out = BufWriter::new(std::fs::File::create(dir.join("campaigns.jsonl"))?);
    let mut windows = Vec::with_capacity(campaigns as usize);
    for c in 0..campaigns {
        let b = c / spec.campaigns_per_brand;
        let window = 7 + rng.below(24) as u32;
        windows.push(window);
        let notes: Vec<String> = (0..spec.links_per_campaign / 2)
            .map(|n| {
                let links: Vec<String> = (0..2)
                    .map(|k| {
                        let l = n * 2 + k;
                        // Every fifth link is a JD link: a Taobao order through it is a marketplace mismatch.
                        let mkt = if l % 5 == 4 { "jd" } else { "taobao" };
                        let kind = if k == 0 { "ad_link" } else { "comment_link" };
                        format!(
                            r#"{{"token":"{}","kind":"{kind}","marketplace":"{mkt}"}}"#,
                            token(c, l)
                        )
                    })
                    .collect();
                format!(
                    r#"{{"note_id":"n{c:08}{n:02}","links":[{}]}}"#,
                    links.join(",")
                )
            })
            .collect();
        writeln!(
            out,
            r#"{{"campaign_id":"c-{c:06}","brand_id":"b-{b:04}","name":"种草计划 {c}","start":"{flight_start}","end":"{flight_end}","window_days":{window},"spend_fen":{},"items":{{"taobao":["{}","{}"],"jd":["{}"]}},"notes":[{}]}}"#,
            100_000 + rng.below(10_000_000),
            item(b, (c % spec.campaigns_per_brand) * 2),
            item(b, (c % spec.campaigns_per_brand) * 2 + 1),
            100_000_000 + u64::from(c),
            notes.join(",")
        )?;
    }
    out.flush()?;
    if spec.red {
        red_reports(dir, spec)?;
    }
    if spec.red_only {
        return Ok(());
    }

    let header = "子订单编号,主订单编号,店铺Id,商品ID,商家编码,商品标题,购买数量,买家实付金额,退款金额,订单状态,订单创建时间,订单付款时间,买家会员名,收货人姓名,收货地址,联系手机,广告挂链追踪码,挂链点击时间\r\n";
    let mut line_id: u64 = 1_000_000_000_000;
    // Lines a later row may restate, in this file or a later day's (a late refund).
    let mut recent: Vec<(u64, u64, String)> = Vec::new();
    let mut order_id: u64 = 3_000_000_000_000;
    for day in 0..spec.days {
        let date = spec.first_day + Duration::days(i64::from(day));
        let d = date.format("%Y-%m-%d").to_string();
        let dest = dir.join(format!("exports/taobao/{d}"));
        std::fs::create_dir_all(&dest)?;
        let path = dest.join(format!(
            "ExportOrderDetailList{}-1.csv",
            date.format("%Y%m%d")
        ));
        let file = std::fs::File::create(&path).with_context(|| path.display().to_string())?;
        let mut w = BufWriter::with_capacity(1 << 20, file);
        if spec.same_day_restatements {
            recent.clear();
        }
        let mut enc = encoding_rs::GB18030.new_encoder();
        let mut encoded = Vec::with_capacity(1024);
        let mut put = |w: &mut BufWriter<std::fs::File>, s: &str| -> std::io::Result<()> {
            if spec.gb18030 {
                encoded.clear();
                encoded.reserve(s.len() * 2);
                let (_, _) =
                    enc.encode_from_utf8_to_vec_without_replacement(s, &mut encoded, false);
                w.write_all(&encoded)
            } else {
                w.write_all(s.as_bytes())
            }
        };
        put(&mut w, header)?;
        let mut row = String::with_capacity(512);
        let mut written = 0u64;
        let mut lines_in_order = 0;
        while written < spec.lines {
            // About 1% of rows restate a line written earlier in this file: closed, or part refunded.
            if !spec.no_restatements && !recent.is_empty() && rng.per_mille(10) {
                let i = rng.below(recent.len() as u64) as usize;
                let (lid, paid, rest) = recent.swap_remove(i);
                row.clear();
                let refund = if rng.per_mille(500) { paid } else { paid / 3 };
                let status = if refund == paid {
                    "交易关闭"
                } else {
                    "交易成功"
                };
                row.push_str(
                    &rest
                        .replacen("{LID}", &lid.to_string(), 1)
                        .replacen("{REFUND}", &money(refund), 1)
                        .replacen("{STATUS}", status, 1),
                );
                put(&mut w, &row)?;
                written += 1;
                continue;
            }
            line_id += 1;
            if lines_in_order == 0 {
                order_id += 1;
                lines_in_order = 1 + rng.below(3);
            }
            lines_in_order -= 1;
            let hour = rng.below(24);
            let minute = rng.below(60);
            let created = format!("{d} {hour:02}:{minute:02}:{:02}", rng.below(60));
            let paid_at = format!("{d} {hour:02}:{minute:02}:59");
            let qty = 1 + rng.below(3);
            let paid = qty * (990 + rng.below(50_000));
            let (brand, shop, itm, tok, click) = if rng.per_mille(200) {
                let c = rng.below(u64::from(campaigns)) as u32;
                let b = c / spec.campaigns_per_brand;
                let l = rng.below(u64::from(spec.links_per_campaign)) as u32;
                // 3% of token lines are paid in a shop of another brand.
                let shop_brand = if rng.per_mille(30) {
                    (b + 1) % spec.brands
                } else {
                    b
                };
                let shop = tb_shop(shop_brand, rng.below(2) as u32);
                // 60% the campaign's own items (direct), the rest the brand's other items (halo).
                let itm = if rng.per_mille(600) {
                    item(b, (c % spec.campaigns_per_brand) * 2 + rng.below(2) as u32)
                } else {
                    item(b, 900 + rng.below(50) as u32)
                };
                let window_h = i64::from(windows[c as usize]) * 24;
                // Clicked 0 to 48 hours before paying; 3% too early for the window; 10% no click time.
                let before_h = if rng.per_mille(30) {
                    window_h + 1 + rng.below(48) as i64
                } else {
                    rng.below(48) as i64
                };
                let click = if rng.per_mille(100) {
                    String::new()
                } else {
                    let t = chrono::NaiveDateTime::parse_from_str(&paid_at, "%Y-%m-%d %H:%M:%S")
                        .context("generated time")?
                        - Duration::hours(before_h);
                    t.format("%Y-%m-%d %H:%M:%S").to_string()
                };
                (b, shop, itm, token(c, l), click)
            } else {
                let b = rng.below(u64::from(spec.brands)) as u32;
                (
                    b,
                    tb_shop(b, rng.below(2) as u32),
                    item(b, rng.below(1000) as u32),
                    String::new(),
                    String::new(),
                )
            };
            let _ = brand;
            let title = TITLES[rng.below(TITLES.len() as u64) as usize];
            // Unpaid 3%; bad rows 0.5% (quantity 0 or amount N/A).
            let unpaid = rng.per_mille(30);
            let bad = rng.per_mille(5);
            let qty_s = if bad && rng.per_mille(500) {
                "0".to_string()
            } else {
                qty.to_string()
            };
            let paid_s = if bad && qty_s != "0" {
                "N/A".to_string()
            } else {
                money(paid)
            };
            let refund_s = if !unpaid && rng.per_mille(30) {
                money(paid / 2)
            } else {
                String::new()
            };
            let status = if unpaid {
                "等待买家付款"
            } else {
                STATUSES_PAID[rng.below(STATUSES_PAID.len() as u64) as usize]
            };
            let paid_at = if unpaid { String::new() } else { paid_at };
            let buyer = rng.below(2_000_000);
            let tail = format!(
                ",{order_id},{shop},{itm},SKU-{itm},{title},{qty_s},{paid_s},{{REFUND}},{{STATUS}},{created},{paid_at},tb_buyer_{buyer},张{buyer},浙江省杭州市西湖区文三路{} 号,138****{:04},{tok},{click}\r\n",
                buyer % 997,
                buyer % 10_000
            );
            row.clear();
            row.push_str(&line_id.to_string());
            row.push_str(
                &tail
                    .replacen("{REFUND}", &refund_s, 1)
                    .replacen("{STATUS}", status, 1),
            );
            put(&mut w, &row)?;
            written += 1;
            if !unpaid && !bad && !tok.is_empty() && recent.len() < 10_000 {
                recent.push((line_id, paid, format!("{{LID}}{tail}")));
            }
        }
        w.flush()?;
    }
    Ok(())
}

/// RED note reports for every day: one file per 50 brands (an agency's ad accounts), a row per note
/// and report date, figures drawn afresh in each export (re-exports replace them).
fn red_reports(dir: &Path, spec: &Spec) -> Result<()> {
    const BRANDS_PER_FILE: u32 = 50;
    let notes_per_campaign = spec.links_per_campaign / 2;
    let mut rng = Rng(spec.seed.wrapping_mul(31).max(1));
    for day in 0..spec.days {
        let date = spec.first_day + Duration::days(i64::from(day));
        let dest = dir.join(format!("exports/xhs/{date}"));
        std::fs::create_dir_all(&dest)?;
        for first in (0..spec.brands).step_by(BRANDS_PER_FILE as usize) {
            let path = dest.join(format!(
                "聚光_笔记报表_{}_{first:04}.csv",
                date.format("%Y%m%d")
            ));
            let file = std::fs::File::create(&path).with_context(|| path.display().to_string())?;
            let mut w = BufWriter::with_capacity(1 << 20, file);
            w.write_all(
                "日期,笔记ID,计划名称,展现量,点击量,点击率,互动量,组件点击量,消费\r\n".as_bytes(),
            )?;
            let brands = first..(first + BRANDS_PER_FILE).min(spec.brands);
            for back in (0..3).rev() {
                let d = date - Duration::days(back);
                for b in brands.clone() {
                    for c in b * spec.campaigns_per_brand..(b + 1) * spec.campaigns_per_brand {
                        for n in 0..notes_per_campaign {
                            let impressions = 200 + rng.below(20_000);
                            let clicks = impressions * (1 + rng.below(8)) / 100;
                            writeln!(
                                w,
                                "{d},n{c:08}{n:02},种草计划 {c},\"{}\",{clicks},{:.2}%,{},{},{}\r",
                                seedline_core::money::grouped(impressions),
                                clicks as f64 * 100.0 / impressions as f64,
                                clicks / 2,
                                clicks / 5,
                                money(clicks * (20 + rng.below(80)))
                            )?;
                        }
                    }
                }
            }
            w.flush()?;
        }
    }
    Ok(())
}

fn money(fen: u64) -> String {
    format!("{}.{:02}", fen / 100, fen % 100)
}
