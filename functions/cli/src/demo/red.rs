//! The demo's RED note reports (funnel.md): a row per note and day, each file re-exporting the
//! last three days.

use std::path::Path;

use anyhow::Result;
use chrono::{Duration, NaiveDate};

use super::data::{csv_bytes, write};
use crate::rng::Rng;

/// The demo's notes on RED: (note id, daily impressions, plans promoting it).
const RED_NOTES: &[(&str, u64, u64)] = &[
    ("664f1c2a000000001e02b3c4", 18_000, 2),
    ("664f1c2a000000001e02b3c5", 4_000, 1),
    ("665a00000000000012345678", 11_000, 1),
    ("665b00000000000000000001", 5_000, 1),
    ("665c00000000000000000001", 2_000, 1),
];

/// RED's note report of each day (聚光 笔记报表, 分日), covering the day and the two before it, with
/// figures that settle between exports; one day also holds an account report, which is no note report.
pub(super) fn red_reports(dir: &Path, days: &[NaiveDate]) -> Result<()> {
    const HEADER: &[&str] = &[
        "日期",
        "笔记ID",
        "计划名称",
        "展现量",
        "点击量",
        "点击率",
        "互动量",
        "组件点击量",
        "消费",
    ];
    let mut rng = Rng(0x4ed0_2025_0601);
    for (di, day) in days.iter().enumerate() {
        let dash = || "-".to_string();
        let mut rows = vec![vec![
            "合计".to_string(),
            String::new(),
            String::new(),
            dash(),
            dash(),
            String::new(),
            dash(),
            dash(),
            dash(),
        ]];
        for back in (0..3).rev() {
            let date = *day - Duration::days(back);
            for (note, base, plans) in RED_NOTES {
                for plan in 1..=*plans {
                    let impressions = base / plans * (80 + rng.below(40)) / 100;
                    let clicks = impressions * (3 + rng.below(5)) / 100;
                    let link_clicks = clicks * (10 + rng.below(20)) / 100;
                    // The brand without a media budget promotes its note for free.
                    let spend = if note.starts_with("665c") {
                        0
                    } else {
                        clicks as i64 * (25 + rng.below(40) as i64)
                    };
                    let date_cell = match rng.below(3) {
                        0 => date.format("%Y/%-m/%-d").to_string(),
                        1 => date.format("%Y%m%d").to_string(),
                        _ => date.to_string(),
                    };
                    rows.push(vec![
                        date_cell,
                        note.to_string(),
                        format!("种草计划-{plan}"),
                        seedline_core::money::grouped(impressions),
                        clicks.to_string(),
                        format!("{:.2}%", clicks as f64 * 100.0 / impressions.max(1) as f64),
                        if rng.chance(10) {
                            dash()
                        } else {
                            (clicks / 2).to_string()
                        },
                        link_clicks.to_string(),
                        if spend == 0 {
                            dash()
                        } else {
                            seedline_core::money::yuan_grouped(seedline_core::money::Fen(spend))
                        },
                    ]);
                }
            }
        }
        if di == 4 {
            let mut bad = rows[1].clone();
            bad[3] = "1.2万".into();
            rows.push(bad);
            // A note no campaign lists: kept in staging, counted as unknown_note.
            let mut other = rows[1].clone();
            other[1] = "6660000000000000000000ff".into();
            rows.push(other);
        }
        let compact = day.format("%Y%m%d");
        let preamble = format!(
            "聚光平台 笔记数据报表\r\n导出时间：{day} 02:10\r\n时间范围：{} 至 {day}",
            *day - Duration::days(2)
        );
        let csv = csv_bytes(Some(&preamble), HEADER, &rows)?;
        let name = format!("exports/xhs/{day}/聚光_笔记报表_{compact}.csv");
        if di % 2 == 0 {
            let (gb, _, _) = encoding_rs::GB18030.encode(std::str::from_utf8(&csv)?);
            write(dir, &name, &gb)?;
        } else {
            write(dir, &name, &csv)?;
        }
        if di == 3 {
            let account =
                "日期,账户,展现量,点击量,消费\r\n2025-06-03,全部,98000,3100,\"¥2,480.00\"\r\n";
            write(
                dir,
                &format!("exports/xhs/{day}/账户日报_{compact}.csv"),
                account.as_bytes(),
            )?;
        }
    }
    Ok(())
}
