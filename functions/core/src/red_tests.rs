use super::*;
use crate::money::Fen;
use proptest::prelude::*;

fn read(bytes: &[u8]) -> Result<(Vec<RedRow>, Vec<RedReject>, Summary), IngestError> {
    let (mut rows, mut rejects) = (Vec::new(), Vec::new());
    let s = read_note_report(
        std::io::Cursor::new(bytes.to_vec()),
        &mut |r| {
            rows.push(r);
            Ok(())
        },
        &mut |r| {
            rejects.push(r);
            Ok(())
        },
    )?;
    Ok((rows, rejects, s))
}

fn ok(text: &str) -> (Vec<RedRow>, Vec<RedReject>) {
    let (rows, rejects, s) = read(text.as_bytes()).expect("a note report");
    assert_eq!(
        s.counts.rows_in,
        s.counts.rows_kept + s.counts.rows_rejected
    );
    assert_eq!(s.counts.rows_kept as usize, rows.len());
    (rows, rejects)
}

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

#[test]
fn the_first_listed_alias_wins_and_derived_columns_are_ignored() {
    // 笔记分日数据 files carry both 时间 (the export time) and 日期: 日期 is the date.
    let (rows, rejects) = ok(
        "计划名称,时间,日期,笔记ID,展现量,点击量,互动量,组件点击量,消费,点击率,CPM\n\
         p1,2025-05-27 02:18:00,2025-05-25,n1,\"15,161\",679,679,0,1890.45,4.48%,12.3\n",
    );
    assert!(rejects.is_empty(), "{rejects:?}");
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!(
        (r.line, r.date, r.note_id.as_str()),
        (2, d("2025-05-25"), "n1")
    );
    assert_eq!(
        r.figures,
        NoteFigures {
            impressions: 15_161,
            clicks: 679,
            engagements: 679,
            link_clicks: 0,
            spend_fen: Fen(189_045),
        }
    );
}

#[test]
fn other_aliases_preamble_and_optional_columns() {
    let (rows, rejects) = ok("\u{feff}聚光平台 笔记数据报表\n导出时间：2025-05-27 02:10\n时间范围：x\n数据说明：y\n账户：b-05\n\
         数据日期,笔记 ID,曝光量,点击数,花费\n20250524,n1,630,25,¥1,299.00\n2025/5/27,n2,9886,393,598元\n");
    // `¥1,299.00` unquoted is two fields: a bad row, not a misread amount.
    assert_eq!(rejects.len(), 1);
    assert_eq!(rejects[0].reason, reason::FIELD_COUNT);
    assert_eq!(rejects[0].line, 7);
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].date, rows[0].figures.spend_fen.fen()),
        (d("2025-05-27"), 59_800)
    );
    assert_eq!(
        (rows[0].figures.engagements, rows[0].figures.link_clicks),
        (0, 0)
    );
}

#[test]
fn totals_rows_are_skipped_like_blank_lines() {
    let (rows, rejects, s) = read(
        "日期,笔记ID,展现量,点击量,消费\n合计,,\"442,037\",\"14,287\",53040.76\n\n\
         2025-05-25,n1,1,1,1\n,总计,5,5,5\n 汇总 ,,1,1,1\n"
            .as_bytes(),
    )
    .unwrap();
    assert!(rejects.is_empty(), "{rejects:?}");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].line, 4);
    assert_eq!(s.counts.rows_in, 1);
}

#[test]
fn dash_and_empty_are_zero_and_bad_counts_reject_the_row() {
    let (rows, rejects) = ok("日期,笔记ID,展现量,点击量,互动量,消费\n\
         2025-05-25,n1,-,,-,-\n\
         2025-05-25,n2,1.5,1,1,1\n\
         2025-05-25,n3,-3,1,1,1\n\
         2025-05-25,n4,1.2万,1,1,1\n\
         2025-05-25,n5,5,5%,1,1\n\
         2025-05-25,n6,\"12,34\",1,1,1\n");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].figures, NoteFigures::default());
    let got: Vec<(&str, &str)> = rejects
        .iter()
        .map(|r| (r.note_id.as_str(), r.reason))
        .collect();
    assert_eq!(
        got,
        [
            ("n2", red_reason::BAD_COUNT),
            ("n3", red_reason::BAD_COUNT),
            ("n4", red_reason::BAD_COUNT),
            ("n5", red_reason::BAD_COUNT),
            ("n6", red_reason::BAD_COUNT),
        ]
    );
    assert!(
        rejects[0].detail.contains("展现量"),
        "{}",
        rejects[0].detail
    );
    assert!(
        rejects[3].detail.contains("点击量"),
        "{}",
        rejects[3].detail
    );
}

#[test]
fn spend_is_an_amount_in_fen() {
    let (rows, rejects) = ok("日期,笔记ID,展现量,点击量,消费\n\
         2025-05-25,n1,1,1,\"¥1,299.00\"\n2025-05-25,n2,1,1,129.9\n2025-05-25,n3,1,1,598元\n\
         2025-05-25,n4,1,1,1.234\n2025-05-25,n5,1,1,-5\n2025-05-25,n6,1,1,十元\n");
    let fen: Vec<i64> = rows.iter().map(|r| r.figures.spend_fen.fen()).collect();
    assert_eq!(fen, [129_900, 12_990, 59_800]);
    assert!(rejects.iter().all(|r| r.reason == reason::BAD_AMOUNT));
    assert_eq!(rejects.len(), 3);
}

#[test]
fn dates_in_the_three_forms_and_bad_dates() {
    for (raw, want) in [
        ("2025-05-28", Some("2025-05-28")),
        ("2025/5/28", Some("2025-05-28")),
        ("2025/05/08", Some("2025-05-08")),
        ("20250528", Some("2025-05-28")),
        ("2025-02-30", None),
        ("20250230", None),
        ("5月25日", None),
        ("2025-05-28 02:18:00", None),
        ("2025-5-28", None),
        ("", None),
    ] {
        assert_eq!(parse_report_date(raw).ok(), want.map(d), "{raw:?}");
    }
    assert!(parse_report_date("2025-02-30")
        .unwrap_err()
        .contains("no such day"));
    let (rows, rejects) =
        ok("日期,笔记ID,展现量,点击量,消费\n5月25日,n1,1,1,1\n2025-05-25,,1,1,1\n");
    assert!(rows.is_empty());
    assert_eq!(
        rejects
            .iter()
            .map(|r| (r.line, r.note_id.as_str(), r.reason))
            .collect::<Vec<_>>(),
        [
            (2, "n1", red_reason::BAD_DATE),
            (3, "", reason::MISSING_FIELD)
        ]
    );
}

#[test]
fn text_guards_and_spaces_are_stripped() {
    let (rows, _) = ok("日期,笔记ID,展现量,点击量,消费\n'2025-05-25,=\"n1\", 10 ,\t2,1\n");
    assert_eq!(rows[0].note_id, "n1");
    assert_eq!(
        (rows[0].date, rows[0].figures.impressions),
        (d("2025-05-25"), 10)
    );
}

#[test]
fn a_file_that_is_not_a_note_report_is_rejected_whole() {
    // 账户日报: daily account totals, no 笔记ID column.
    let e = read(
        "\u{feff}聚光平台 笔记数据报表\n日期,账户,展现量,点击量,消费\n2025-05-25,全部,1,1,1\n"
            .as_bytes(),
    )
    .unwrap_err();
    let IngestError::FileRejected(why) = e else {
        panic!("{e:?}")
    };
    assert!(
        why.contains("笔记ID") && why.contains("not a note report"),
        "{why}"
    );
    // An order export is no note report either.
    assert!(matches!(
        read("主订单编号,店铺Id\n1,2\n".as_bytes()),
        Err(IngestError::FileRejected(_))
    ));
    assert!(matches!(read(b""), Err(IngestError::FileRejected(_))));
}

#[test]
fn gb18030_and_gzip_read_like_utf8() {
    let text = "日期,笔记ID,展现量,点击量,消费\n2025-05-25,n1,1,2,3.5\n";
    let (gb, _, _) = encoding_rs::GB18030.encode(text);
    let (rows, _, s) = read(&gb).unwrap();
    assert_eq!(s.encoding, decode::TextEncoding::Gb18030);
    assert_eq!(rows[0].figures.spend_fen, Fen(350));
    let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut z, text.as_bytes()).unwrap();
    let (rows, _, s) = read(&z.finish().unwrap()).unwrap();
    assert!(s.gzip);
    assert_eq!(rows[0].figures.clicks, 2);
}

#[test]
fn every_sample_note_report_reads_and_its_counts_add_up() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/spec/samples/exports/xhs");
    let Ok(days) = std::fs::read_dir(&dir) else {
        return; // the spec is beside the repository in CI; this test reads it when it is there
    };
    let mut reports = 0;
    for day in days.flatten() {
        for f in std::fs::read_dir(day.path()).unwrap().flatten() {
            let bytes = std::fs::read(f.path()).unwrap();
            let name = f.file_name().to_string_lossy().into_owned();
            match read(&bytes) {
                Ok((rows, rejects, s)) => {
                    reports += 1;
                    assert_eq!(
                        s.counts.rows_in as usize,
                        rows.len() + rejects.len(),
                        "{name}"
                    );
                }
                Err(e) => assert!(name.starts_with("账户日报"), "{name}: {e}"),
            }
        }
    }
    assert!(reports >= 20, "{reports} sample reports read");
}

proptest! {
    #[test]
    fn any_bytes_are_kept_or_rejected_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let mut text = b"\xe6\x97\xa5\xe6\x9c\x9f,\xe7\xac\x94\xe8\xae\xb0ID,\xe5\xb1\x95\xe7\x8e\xb0\xe9\x87\x8f,\xe7\x82\xb9\xe5\x87\xbb\xe9\x87\x8f,\xe6\xb6\x88\xe8\xb4\xb9\n".to_vec();
        text.extend_from_slice(&bytes);
        if let Ok((rows, rejects, s)) = read(&text) {
            prop_assert_eq!(s.counts.rows_in, s.counts.rows_kept + s.counts.rows_rejected);
            prop_assert_eq!(s.counts.rows_kept as usize, rows.len());
            prop_assert_eq!(s.counts.rows_rejected as usize, rejects.len());
        }
    }

    #[test]
    fn counts_round_trip_with_or_without_commas(n in 0u64..10_000_000_000) {
        prop_assert_eq!(parse_count(&n.to_string()), Ok(n));
        prop_assert_eq!(parse_count(&crate::money::grouped(n)), Ok(n));
    }
}
