//! The `seedline` binary as an operator runs it: clear errors, non-zero exits, the demo end to end.

use std::path::Path;
use std::process::{Command, Output};

fn seedline(args: &[&str], key: Option<&str>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_seedline"));
    c.args(args)
        .env_remove("SEEDLINE_BUYER_KEY")
        .env_remove("SEEDLINE_DATA");
    if let Some(k) = key {
        c.env("SEEDLINE_BUYER_KEY", k);
    }
    c.output().expect("seedline runs")
}

const KEY: &str = "cli-test-key-0123456789abcdef";

/// Every file below `dirs`.
fn files_under(dirs: Vec<std::path::PathBuf>) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let mut stack = dirs;
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                files.push(p);
            }
        }
    }
    files
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn run_refuses_without_a_buyer_key() {
    let dir = tempfile::tempdir().unwrap();
    let o = seedline(
        &[
            "run",
            "--data",
            dir.path().to_str().unwrap(),
            "--date",
            "2025-05-20",
        ],
        None,
    );
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("SEEDLINE_BUYER_KEY is not set"),
        "{}",
        stderr(&o)
    );
}

/// A brand id names keys: one the rule refuses is refused where it enters, before any store.
#[test]
fn a_brand_id_outside_the_rule_is_refused_on_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    for args in [
        vec!["presign", "--data", d, "--brand", "../b-01", "--to-date"],
        vec![
            "explain",
            "--data",
            d,
            "--brand",
            "b/01",
            "--date",
            "2025-05-20",
        ],
    ] {
        let o = seedline(&args, None);
        assert!(!o.status.success(), "{args:?}");
        assert!(
            stderr(&o).contains("is not an id: use 1 to 64"),
            "{}",
            stderr(&o)
        );
    }
}

#[test]
fn run_on_an_empty_directory_is_refused_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let o = seedline(&["run", "--data", d, "--date", "2025-05-20"], Some(KEY));
    assert!(!o.status.success());
    assert!(stderr(&o).contains("has no brands.jsonl"), "{}", stderr(&o));
    std::fs::write(dir.path().join("brands.jsonl"), "").unwrap();
    std::fs::write(dir.path().join("campaigns.jsonl"), "").unwrap();
    let o = seedline(&["run", "--data", d, "--date", "2025-05-20"], Some(KEY));
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("has no exports/ directory"),
        "{}",
        stderr(&o)
    );
    assert!(!dir.path().join("staging").exists(), "nothing written");
    // Logs on a pipe carry no colour codes.
    assert!(!stderr(&o).contains('\u{1b}'), "{}", stderr(&o));
}

#[test]
fn campaign_records_are_refused_naming_the_field_and_what_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let file = dir.path().join("in.jsonl");
    let base = r#"{"campaign_id": "c1", "brand_id": "b1", "name": "C", "start": "2025-05-01", "end": "2025-05-10", "window_days": 3, "spend_fen": 100, "items": {}, "notes": [{"note_id": "n1", "links": [{"token": "t", "kind": "ad_link", "marketplace": "taobao"}]}]}"#;
    let brand = r#"{"brand_id": "b1", "name": "B", "shops": {"taobao": ["1"]}}"#;
    for (from, to, field, says) in [
        (
            "\"ad_link\"",
            "\"adlink\"",
            "notes[0].links[0].kind",
            "expected \"ad_link\" or \"comment_link\"",
        ),
        (
            "\"window_days\": 3",
            "\"window_days\": 5000.0",
            "window_days",
            "whole number 1..90",
        ),
        (
            "\"2025-05-10\"",
            "\"2025-02-30\"",
            "end",
            "a day that exists",
        ),
        (
            "\"c1\"",
            "\"c-evil/../../x\"",
            "campaign_id",
            "1 to 64 ASCII letters",
        ),
        (
            "\"n1\"",
            "\"n-1\"",
            "notes[0].note_id",
            "ASCII letters and digits",
        ),
    ] {
        std::fs::write(&file, format!("{brand}\n{}\n", base.replacen(from, to, 1))).unwrap();
        let o = seedline(
            &["campaigns", "load", file.to_str().unwrap(), "--data", d],
            None,
        );
        assert!(!o.status.success(), "{to}");
        let e = stderr(&o);
        assert!(
            e.contains("in.jsonl:2") && e.contains(&format!("field `{field}`")) && e.contains(says),
            "{to}: {e}"
        );
    }
    std::fs::write(
        &file,
        r#"{"brand_id": "../evil", "name": "B", "shops": {}}"#,
    )
    .unwrap();
    let o = seedline(
        &["campaigns", "load", file.to_str().unwrap(), "--data", d],
        None,
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("field `brand_id`"), "{}", stderr(&o));
    assert!(
        !dir.path().join("campaigns.jsonl").exists(),
        "nothing written"
    );
}

#[test]
fn run_on_a_missing_directory_fails_clearly() {
    let o = seedline(
        &[
            "run",
            "--data",
            "/nonexistent/seedline",
            "--date",
            "2025-05-20",
        ],
        Some(KEY),
    );
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("/nonexistent/seedline does not exist"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn run_with_a_bad_campaigns_file_names_the_record_and_field() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("brands.jsonl"),
        r#"{"brand_id": "b1", "name": "B", "shops": {"taobao": ["1"]}}"#,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("campaigns.jsonl"),
        "\n{\"campaign_id\": \"c1\", \"brand_id\": \"b1\", \"name\": \"C\", \"start\": \"2025-05-10\", \"end\": \"2025-05-01\", \"window_days\": 3, \"spend_fen\": 1, \"items\": {}, \"notes\": []}\n",
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("exports")).unwrap();
    let o = seedline(
        &[
            "run",
            "--data",
            dir.path().to_str().unwrap(),
            "--date",
            "2025-05-20",
        ],
        Some(KEY),
    );
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("campaigns.jsonl:2") && e.contains("c1") && e.contains("`end`"),
        "{e}"
    );
}

#[test]
fn campaigns_load_refuses_a_shared_token_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let file = dir.path().join("in.jsonl");
    let camp = |id: &str| {
        format!(
            r#"{{"campaign_id": "{id}", "brand_id": "b1", "name": "C", "start": "2025-05-01", "end": "2025-05-10", "window_days": 3, "spend_fen": 100, "items": {{"taobao": ["9"]}}, "notes": [{{"note_id": "n{id}", "links": [{{"token": "tok", "kind": "ad_link", "marketplace": "taobao"}}]}}]}}"#
        )
    };
    std::fs::write(
        &file,
        format!(
            "{}\n{}\n",
            r#"{"brand_id": "b1", "name": "B", "shops": {"taobao": ["1"]}}"#,
            camp("c1")
        ),
    )
    .unwrap();
    let o = seedline(
        &["campaigns", "load", file.to_str().unwrap(), "--data", d],
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let before = std::fs::read(dir.path().join("campaigns.jsonl")).unwrap();
    std::fs::write(&file, camp("c2")).unwrap();
    let o = seedline(
        &["campaigns", "load", file.to_str().unwrap(), "--data", d],
        None,
    );
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("token tok is already used by campaign"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        std::fs::read(dir.path().join("campaigns.jsonl")).unwrap(),
        before
    );
}

#[test]
fn the_demo_runs_a_week_and_points_at_a_report() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let o = seedline(&["demo", "--data", data.to_str().unwrap()], None);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(out.contains("2025-06-07:"), "{out}");
    assert!(out.contains("rejected whole"), "{out}");
    // It points at the showcased brand's to-date page: the whole funnel, ROAS on actual spend.
    let html = out
        .lines()
        .skip_while(|l| !l.starts_with("Open b-shuihua's to-date report"))
        .nth(1)
        .map(str::trim)
        .expect("the demo prints a report to open");
    assert!(Path::new(html).is_file(), "{html}");
    let funnel = std::fs::read_to_string(Path::new(html).with_file_name("funnel.csv")).unwrap();
    for row in funnel.lines().skip(1) {
        let cells: Vec<&str> = row.split(',').collect();
        assert!(cells[4].parse::<u64>().unwrap() > 0, "impressions: {row}");
        assert_ne!(cells[8], "0.00", "media spend: {row}");
        assert!(!cells[17].is_empty(), "roas: {row}");
    }
    for brand in ["b-shuihua", "b-lanting", "b-yunshan"] {
        assert!(
            data.join(format!("reports/{brand}/2025-06-07/latest.json"))
                .is_file(),
            "{brand}"
        );
    }
}

/// `seedline setup --aws`, `campaigns load --aws` and `run --aws` against moto server (started by
/// scripts/test.sh), configured only through the environment as an operator would.
#[test]
fn run_against_s3_and_dynamodb_named_by_the_environment() {
    let Ok(endpoint) = std::env::var("SEEDLINE_TEST_ENDPOINT") else {
        panic!("SEEDLINE_TEST_ENDPOINT is not set: run the tests with scripts/test.sh, which starts moto server");
    };
    let id = format!("cli-{}", std::process::id());
    let env = [
        ("AWS_ENDPOINT_URL", endpoint.clone()),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("SEEDLINE_EXPORTS_BUCKET", format!("exports-{id}")),
        ("SEEDLINE_REPORTS_BUCKET", format!("reports-{id}")),
        ("SEEDLINE_TABLE", format!("table-{id}")),
        ("SEEDLINE_BUYER_KEY", KEY.into()),
    ];
    let run = |args: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_seedline"))
            .args(args)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .output()
            .unwrap();
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        String::from_utf8(o.stdout).unwrap()
    };
    assert!(run(&["setup", "--aws"]).contains("created table"));
    assert!(
        run(&["setup", "--aws"]).contains("exists"),
        "setup twice is harmless"
    );
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures");
    let brands = fixtures.join("brands.jsonl");
    let campaigns = fixtures.join("campaigns.jsonl");
    let out = run(&[
        "campaigns",
        "load",
        brands.to_str().unwrap(),
        campaigns.to_str().unwrap(),
        "--aws",
    ]);
    assert!(out.contains("loaded 2 brands and 1 campaigns"), "{out}");

    let rt = tokio::runtime::Runtime::new().unwrap();
    let s3 = rt.block_on(async {
        let conf = aws_sdk_s3::config::Builder::new()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .endpoint_url(&endpoint)
            .force_path_style(true)
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                "test", "test", None, None, "t",
            ))
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    });
    let key = "exports/taobao/2025-05-20/ExportOrderDetailList20250520-1.csv";
    let body = std::fs::read(fixtures.join(key)).unwrap();
    rt.block_on(
        s3.put_object()
            .bucket(format!("exports-{id}"))
            .key(key)
            .body(body.into())
            .send(),
    )
    .unwrap();

    let out = run(&["run", "--aws", "--date", "2025-05-20"]);
    assert!(
        out.contains("1 export files (0 rejected whole), 6 rows in, 1 rejected"),
        "{out}"
    );
    assert!(
        out.contains("warning: no jd export for 2025-05-20"),
        "{out}"
    );
    let latest = rt
        .block_on(
            s3.get_object()
                .bucket(format!("reports-{id}"))
                .key("reports/b-fix/2025-05-20/latest.json")
                .send(),
        )
        .unwrap();
    let latest = rt.block_on(latest.body.collect()).unwrap().into_bytes();
    let latest: serde_json::Value = serde_json::from_slice(&latest).unwrap();
    assert_eq!(latest["version"], 1);
    assert_eq!(latest["prefix"], "reports/b-fix/2025-05-20/v1/");
    // The operator commands work on AWS too.
    let status = run(&["status", "--aws", "--date", "2025-05-20"]);
    assert!(
        status.contains("b-fix  v1  reports/b-fix/2025-05-20/v1/"),
        "{status}"
    );
    assert!(status.contains("warning: no jd export"), "{status}");
    let rejects = run(&["rejects", "--aws", "--date", "2025-05-20"]);
    assert!(rejects.contains(",8,O6,bad_quantity,"), "{rejects}");
    let explain = run(&[
        "explain",
        "--aws",
        "--marketplace",
        "taobao",
        "--line",
        "1004",
    ]);
    assert!(explain.contains("foreign_shop"), "{explain}");
    assert!(run(&["campaigns", "list", "--aws"]).contains("c-fix"));
}

fn ok(args: &[&str], key: Option<&str>) -> String {
    let o = seedline(args, key);
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn operator_commands_on_the_local_default() {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    let d = demo.to_str().unwrap();
    ok(&["demo", "--data", d], None);

    let status = ok(&["status", "--data", d, "--date", "2025-06-06"], None);
    assert!(
        status.contains("REJECTED WHOLE: no jd header row"),
        "{status}"
    );
    assert!(status.contains("excluded foreign_shop"), "{status}");
    assert!(status.contains("b-shuihua  v"), "{status}");
    let json: serde_json::Value = serde_json::from_str(&ok(
        &["status", "--data", d, "--date", "2025-06-06", "--json"],
        None,
    ))
    .unwrap();
    // Taobao (2), JD (2, one rejected whole) and RED's note report.
    assert_eq!(json["files"].as_array().unwrap().len(), 5);
    let status = ok(&["status", "--data", d, "--date", "2025-06-05"], None);
    assert!(status.contains("(unknown_note): 1"), "{status}");
    assert!(status.contains("bad_count: 1"), "{status}");
    assert!(json["missing_exports"].as_array().unwrap().is_empty());

    let rejects = ok(&["rejects", "--data", d, "--date", "2025-06-03"], None);
    let lines: Vec<&str> = rejects.lines().collect();
    assert_eq!(lines[0], "export_key,line,order_id,reason,detail");
    let reasons: Vec<&str> = lines[1..]
        .iter()
        .map(|l| l.split(',').nth(3).unwrap())
        .collect();
    assert_eq!(reasons, vec!["bad_quantity", "bad_amount", "field_count"]);

    // A credited line from a report, explained.
    let latest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(demo.join("reports/b-shuihua/2025-06-02/latest.json")).unwrap(),
    )
    .unwrap();
    let orders = std::fs::read_to_string(
        demo.join(format!("{}orders.csv", latest["prefix"].as_str().unwrap())),
    )
    .unwrap();
    let row: Vec<&str> = orders.lines().nth(1).unwrap().split(',').collect();
    let out = ok(
        &[
            "explain",
            "--data",
            d,
            "--marketplace",
            row[5],
            "--line",
            row[8],
        ],
        None,
    );
    assert!(out.contains("rule 4 holds"), "{out}");
    assert!(
        out.contains(&format!("credited to {} as {}", row[2], row[17].trim())),
        "{out}"
    );
    let missing = seedline(
        &[
            "explain",
            "--data",
            d,
            "--marketplace",
            "jd",
            "--line",
            "nope",
        ],
        None,
    );
    assert!(!missing.status.success());

    let list = ok(&["campaigns", "list", "--data", d], None);
    assert_eq!(list.lines().count(), 5, "{list}");
    let show: serde_json::Value =
        serde_json::from_str(&ok(&["campaigns", "show", "c-tea-gift", "--data", d], None)).unwrap();
    assert_eq!(show["brand_id"], "b-lanting");
    let dry = ok(
        &[
            "campaigns",
            "load",
            demo.join("campaigns.jsonl").to_str().unwrap(),
            "--data",
            d,
            "--dry-run",
        ],
        None,
    );
    assert!(
        dry.contains("unchanged campaign c-tea-gift") && dry.contains("nothing written"),
        "{dry}"
    );
}

/// The demo's week run into `dir/demo`, and a second directory `dir/{name}` with the same inputs
/// (brands, campaigns, exports) and nothing run: (the demo, the copy, the demo's buyer key).
fn demo_and_a_copy(dir: &Path, name: &str) -> (std::path::PathBuf, std::path::PathBuf, String) {
    let demo = dir.join("demo");
    ok(&["demo", "--data", demo.to_str().unwrap()], None);
    let key = std::fs::read_to_string(demo.join(".buyer-key")).unwrap();
    let copy = dir.join(name);
    copy_inputs(&demo, &copy);
    (demo, copy, key)
}

/// `from`'s inputs (brands, campaigns, exports) into a new directory `to`.
fn copy_inputs(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for f in ["brands.jsonl", "campaigns.jsonl"] {
        std::fs::copy(from.join(f), to.join(f)).unwrap();
    }
    let status = Command::new("cp")
        .arg("-r")
        .arg(from.join("exports"))
        .arg(to.join("exports"))
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn a_backfill_stopped_half_way_does_only_what_is_left() {
    let dir = tempfile::tempdir().unwrap();
    // A second directory with the same inputs, backfilled in two goes.
    let (demo, bf, key) = demo_and_a_copy(dir.path(), "bf");
    let b = bf.to_str().unwrap();
    let backfill_to = |to: &str| {
        ok(
            &["backfill", "--data", b, "--from", "2025-06-01", "--to", to],
            Some(&key),
        )
    };
    let first = backfill_to("2025-06-03");
    assert!(first.contains("3 days run, 0 skipped"), "{first}");
    let second = backfill_to("2025-06-07");
    assert!(second.contains("4 days run, 3 skipped"), "{second}");
    let again = backfill_to("2025-06-07");
    assert!(again.contains("0 days run, 7 skipped"), "{again}");
    // Same reports as the demo's day-by-day run.
    for brand in ["b-shuihua", "b-lanting", "b-yunshan"] {
        for day in ["2025-06-03", "2025-06-07"] {
            let read = |root: &Path, name: &str| latest_report_file(root, brand, day, name);
            for name in ["campaigns.csv", "notes.csv", "orders.csv"] {
                assert_eq!(read(&demo, name), read(&bf, name), "{brand} {day} {name}");
            }
        }
    }
}

/// A file of the version latest.json points to.
fn latest_report_file(root: &Path, brand: &str, day: &str, name: &str) -> Vec<u8> {
    let latest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(root.join(format!("reports/{brand}/{day}/latest.json"))).unwrap(),
    )
    .unwrap();
    std::fs::read(root.join(format!("{}{name}", latest["prefix"].as_str().unwrap()))).unwrap()
}

/// Staging written by an earlier seedline (every row in a CSV line file, no key files): match
/// stops and names the command that fixes it; `restage` stages those exports again, and the reports
/// come out as a fresh run's.
#[test]
fn staging_from_an_earlier_version_is_refused_until_restaged() {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    ok(&["demo", "--data", demo.to_str().unwrap()], None);
    let key = std::fs::read_to_string(demo.join(".buyer-key")).unwrap();
    let old = dir.path().join("old");
    let status = Command::new("cp")
        .arg("-r")
        .arg(&demo)
        .arg(&old)
        .status()
        .unwrap();
    assert!(status.success());
    let staged = files_under(vec![old.join("staging")]);
    let mut v1 = 0;
    for f in &staged {
        let name = f.to_string_lossy().to_string();
        if name.ends_with(".keys.bin") {
            std::fs::remove_file(f).unwrap();
        } else if let Some(stem) = name.strip_suffix(".tokens.bin") {
            std::fs::rename(f, format!("{stem}.lines.csv")).unwrap();
            v1 += 1;
        } else if name.contains("/staging/ingest/") {
            let mut rec: serde_json::Value =
                serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap();
            rec.as_object_mut().unwrap().remove("keys_key");
            std::fs::write(f, serde_json::to_vec(&rec).unwrap()).unwrap();
        }
    }
    assert!(v1 > 0);
    let o = old.to_str().unwrap();
    let refused = seedline(&["run", "--data", o, "--date", "2025-06-07"], Some(&key));
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("seedline restage"),
        "{}",
        stderr(&refused)
    );
    let restaged = ok(&["restage", "--data", o], Some(&key));
    assert!(
        restaged.contains(&format!("{v1} export(s) staged again")),
        "{restaged}"
    );
    ok(&["run", "--data", o, "--date", "2025-06-07"], Some(&key));
    let left: Vec<_> = files_under(vec![old.join("staging")])
        .into_iter()
        .filter(|f| f.to_string_lossy().ends_with(".lines.csv"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    for brand in ["b-shuihua", "b-lanting", "b-yunshan"] {
        for day in ["2025-06-03", "2025-06-07"] {
            let read = |root: &Path, name: &str| latest_report_file(root, brand, day, name);
            for name in ["campaigns.csv", "notes.csv", "orders.csv"] {
                assert_eq!(read(&demo, name), read(&old, name), "{brand} {day} {name}");
            }
        }
    }
}

/// Personal data planted in the demo's exports (names, phones, addresses, buyer accounts) appears
/// nowhere in what the pipeline staged or published.
#[test]
fn no_personal_data_leaves_ingest() {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    ok(&["demo", "--data", demo.to_str().unwrap()], None);
    let planted = [
        "张三",
        "李四",
        "王五",
        "赵六",
        "13800000000",
        "13900000000",
        "上海市黄浦区某路1号",
        "北京市朝阳区某街2号",
        "tb_buyer_",
        "jd_buyer_",
    ];
    let files = files_under(vec![demo.join("staging"), demo.join("reports")]);
    for p in &files {
        let text = String::from_utf8_lossy(&std::fs::read(p).unwrap()).into_owned();
        for pii in planted {
            assert!(!text.contains(pii), "{} contains {pii}", p.display());
        }
    }
    assert!(files.len() > 100, "searched {} files", files.len());
    // The exports did carry them (in GB18030 for some files), so the search means something.
    let export =
        std::fs::read(demo.join("exports/taobao/2025-06-02/ExportOrderDetailList20250602-1.csv"))
            .unwrap();
    assert!(String::from_utf8_lossy(&export).contains("13800000000"));
}

/// Under reports/{brand}/ every row names that brand and one of its own campaigns, and no other
/// brand's campaign or note id appears anywhere in its files.
#[test]
fn no_brand_sees_another_brands_reports() {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    ok(&["demo", "--data", demo.to_str().unwrap()], None);
    let rows = assert_isolated(&demo);
    assert!(rows > 100, "checked {rows} rows");
}

/// Sixty brands, with 3% of their token lines paid in another brand's shop: every brand's reports
/// hold only its own rows, campaigns, notes and shops, and no foreign-shop line is credited.
#[test]
fn many_brands_see_only_their_own_and_foreign_shops_are_never_credited() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("brands");
    let data = d.to_str().unwrap();
    ok(
        &[
            "bench-data",
            "--data",
            data,
            "--lines",
            "30000",
            "--brands",
            "60",
            "--campaigns-per-brand",
            "3",
        ],
        None,
    );
    ok(&["run", "--data", data, "--date", "2025-06-01"], Some(KEY));
    let rows = assert_isolated(&d);
    assert!(rows > 1000, "checked {rows} rows");
    let mut shops: std::collections::BTreeMap<String, String> = Default::default();
    for line in std::fs::read_to_string(d.join("brands.jsonl"))
        .unwrap()
        .lines()
    {
        let b: serde_json::Value = serde_json::from_str(line).unwrap();
        for shop in b["shops"]["taobao"].as_array().unwrap() {
            shops.insert(
                shop.as_str().unwrap().into(),
                b["brand_id"].as_str().unwrap().into(),
            );
        }
    }
    let mut credited = 0;
    for p in files_under(vec![d.join("reports")]) {
        if p.file_name().is_some_and(|n| n == "orders.csv") {
            let mut rdr = csv::Reader::from_path(&p).unwrap();
            for rec in rdr.records() {
                let rec = rec.unwrap();
                assert_eq!(
                    shops[&rec[6]],
                    rec[1],
                    "{}: a line of another brand's shop",
                    p.display()
                );
                credited += 1;
            }
        }
    }
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("staging/match/2025-06-01.json")).unwrap())
            .unwrap();
    let foreign = record["stats"]["excluded"]["foreign_shop"]
        .as_u64()
        .unwrap_or(0);
    assert!(
        foreign > 0 && credited > 1000,
        "{foreign} foreign, {credited} credited"
    );
}

/// Checks every report under `root/reports/{brand}/` against campaigns.jsonl: no other brand's
/// campaign or note is mentioned anywhere, and every CSV row is the brand's. Returns the rows checked.
fn assert_isolated(root: &Path) -> usize {
    let mut owner: std::collections::BTreeMap<String, String> = Default::default();
    let mut notes: std::collections::BTreeMap<String, String> = Default::default();
    for line in std::fs::read_to_string(root.join("campaigns.jsonl"))
        .unwrap()
        .lines()
    {
        let c: serde_json::Value = serde_json::from_str(line).unwrap();
        let brand = c["brand_id"].as_str().unwrap().to_string();
        owner.insert(c["campaign_id"].as_str().unwrap().into(), brand.clone());
        for n in c["notes"].as_array().unwrap() {
            notes.insert(n["note_id"].as_str().unwrap().into(), brand.clone());
        }
    }
    let mut rows = 0;
    for brand in std::fs::read_dir(root.join("reports")).unwrap() {
        let brand = brand.unwrap();
        let name = brand.file_name().to_string_lossy().into_owned();
        for p in files_under(vec![brand.path()]) {
            let text = std::fs::read_to_string(&p).unwrap();
            for (id, b) in owner.iter().chain(notes.iter()) {
                if *b != name {
                    assert!(
                        !text.contains(id.as_str()),
                        "{} mentions {id} of {b}",
                        p.display()
                    );
                }
            }
            // changes.csv names rows by key; every other CSV has brand_id and campaign_id second and third.
            if p.extension().is_some_and(|x| x == "csv")
                && p.file_name().is_some_and(|n| n != "changes.csv")
            {
                let mut rdr = csv::Reader::from_reader(text.as_bytes());
                for rec in rdr.records() {
                    let rec = rec.unwrap();
                    assert_eq!(&rec[1], name, "{}", p.display());
                    assert_eq!(owner[&rec[2]], name, "{}", p.display());
                    rows += 1;
                }
            }
        }
    }
    rows
}

/// Every latest.json under `root` points to a whole version: each file it names is there with its hash.
fn assert_latest_whole(root: &Path) {
    use sha2::Digest;
    if !root.join("reports").exists() {
        return;
    }
    for f in files_under(vec![root.join("reports")]) {
        if f.file_name().is_some_and(|n| n == "latest.json") {
            let latest: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&f).unwrap()).unwrap();
            let prefix = latest["prefix"].as_str().unwrap();
            for (name, sha) in latest["sha256"].as_object().unwrap() {
                let bytes = std::fs::read(root.join(format!("{prefix}{name}")))
                    .unwrap_or_else(|_| panic!("{} points to a missing {name}", f.display()));
                assert_eq!(
                    hex::encode(sha2::Sha256::digest(&bytes)),
                    sha.as_str().unwrap(),
                    "{} points to a partial {name}",
                    f.display()
                );
            }
        }
    }
}

/// The process killed (SIGKILL, as a Lambda at its timeout) again and again while it runs a week,
/// then run to the end: the same reports as the demo's uninterrupted run.
#[test]
fn a_run_killed_again_and_again_ends_in_the_same_reports() {
    let dir = tempfile::tempdir().unwrap();
    let (demo, k, key) = demo_and_a_copy(dir.path(), "killed");
    let args = [
        "backfill",
        "--data",
        k.to_str().unwrap(),
        "--from",
        "2025-06-01",
        "--to",
        "2025-06-07",
    ];
    let mut kills = 0;
    let mut delay_ms = 15u64;
    for _ in 0..12 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_seedline"))
            .args(args)
            .env("SEEDLINE_BUYER_KEY", &key)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
            kills += 1;
        }
        child.wait().unwrap();
        assert_latest_whole(&k);
        delay_ms = delay_ms * 3 / 2;
    }
    assert!(kills >= 3, "the run was killed mid-way only {kills} times");
    ok(&args, Some(&key));
    assert_latest_whole(&k);
    let latest_files = |root: &Path| -> Vec<String> {
        let mut v: Vec<String> = files_under(vec![root.join("reports")])
            .into_iter()
            .filter(|p| p.ends_with("latest.json"))
            .map(|p| p.strip_prefix(root).unwrap().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let pointers = latest_files(&demo);
    assert!(pointers.len() >= 15, "{pointers:?}");
    assert_eq!(latest_files(&k), pointers);
    for latest in &pointers {
        let read = |root: &Path, name: &str| {
            let l: serde_json::Value =
                serde_json::from_slice(&std::fs::read(root.join(latest)).unwrap()).unwrap();
            std::fs::read(root.join(format!("{}{name}", l["prefix"].as_str().unwrap()))).unwrap()
        };
        let names: &[&str] = if latest.contains("/to-date/") {
            &["campaigns.csv", "funnel.csv", "daily.csv", "report.html"]
        } else {
            &["campaigns.csv", "notes.csv", "orders.csv", "funnel.csv"]
        };
        for name in names {
            assert!(
                read(&demo, name) == read(&k, name),
                "{latest}: {name} differs after {kills} kills"
            );
        }
    }
    println!("killed {kills} times mid-run; reports identical");
}

/// When a call keeps failing after the SDK's retries, the run says what failed and exits non-zero.
#[test]
fn a_run_whose_calls_keep_failing_exits_non_zero_and_says_why() {
    // Nothing listens on port 9 of this host: every connection is refused.
    let o = Command::new(env!("CARGO_BIN_EXE_seedline"))
        .args(["run", "--aws", "--date", "2025-05-20"])
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_MAX_ATTEMPTS", "2")
        .env("SEEDLINE_EXPORTS_BUCKET", "exports")
        .env("SEEDLINE_REPORTS_BUCKET", "reports")
        .env("SEEDLINE_TABLE", "table")
        .env("SEEDLINE_BUYER_KEY", KEY)
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("s3://exports") && err.to_lowercase().contains("error"),
        "{err}"
    );
    assert!(o.stdout.is_empty(), "no report summary on failure");
}

/// A run logged at info, the log without its colours (`\x1b[…m` sequences).
fn run_logged(root: &Path, day: &str, key: &str) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_seedline"))
        .args(["run", "--data", root.to_str().unwrap(), "--date", day])
        .env("SEEDLINE_BUYER_KEY", key)
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let mut log = String::new();
    let mut rest = stderr(&o);
    while let Some(at) = rest.find('\x1b') {
        log.push_str(&rest[..at]);
        rest = rest[at..]
            .find('m')
            .map_or(String::new(), |m| rest[at + m + 1..].to_string());
    }
    log.push_str(&rest);
    log
}

/// The sum of every `field=N` in a log.
fn logged_sum(log: &str, field: &str) -> u64 {
    log.split(&format!("{field}="))
        .skip(1)
        .map(|rest| {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse::<u64>().unwrap()
        })
        .sum()
}

/// Edits the first occurrence of `from` in `root`'s campaigns.jsonl with `to(from's value)`.
fn edit_campaigns(root: &Path, from: &str, to: impl Fn(&str) -> String) {
    edit_records(root, "campaigns.jsonl", from, to);
}

fn edit_records(root: &Path, file: &str, from: &str, to: impl Fn(&str) -> String) {
    let path = root.join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    let at = text.find(from).expect("the field") + from.len();
    let end = at + text[at..].find([',', '"']).unwrap();
    std::fs::write(
        &path,
        format!("{}{}{}", &text[..at], to(&text[at..end]), &text[end..]),
    )
    .unwrap();
}

/// Every content file of every version under `root/reports`.
fn report_contents(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = files_under(vec![root.join("reports")])
        .into_iter()
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n != "manifest.json" && n != "latest.json")
        })
        .map(|p| {
            let name = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect();
    v.sort();
    v
}

fn assert_same_reports(a: &Path, b: &Path) {
    let (with, without) = (report_contents(a), report_contents(b));
    assert!(with.len() > 100, "{} report files", with.len());
    let names = |v: &[(String, Vec<u8>)]| {
        v.iter()
            .map(|f| f.0.clone())
            .collect::<std::collections::BTreeSet<_>>()
    };
    let (a_names, b_names) = (names(&with), names(&without));
    assert!(
        a_names == b_names,
        "the same versions of the same reports; only with the cache: {:?}; only without: {:?}",
        a_names.difference(&b_names).take(8).collect::<Vec<_>>(),
        b_names.difference(&a_names).take(8).collect::<Vec<_>>()
    );
    for (x, y) in with.iter().zip(&without) {
        assert!(x.1 == y.1, "{} differs", x.0);
    }
}

/// Every report published with the cache on has exactly one marker: match deletes a report's
/// markers when it stages a changed input, and publish adds one.
fn assert_one_marker_per_report(root: &Path) {
    let published = root.join("staging/published");
    let mut markers: std::collections::BTreeMap<String, usize> = Default::default();
    for p in files_under(vec![published.clone()]) {
        let rest = p
            .strip_prefix(&published)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let (report, _sha) = rest.split_once('@').unwrap_or_else(|| panic!("{rest}"));
        *markers.entry(report.to_string()).or_default() += 1;
    }
    let twice: Vec<_> = markers.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "reports with several markers: {twice:?}");
    let latest = files_under(vec![root.join("reports")])
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n == "latest.json"))
        .count();
    assert_eq!(markers.len(), latest, "one marker per published report");
}

/// The cache contract: a cache may cost time, never change a byte of a report. The only state kept
/// between runs to save time is the published markers (`staging/published/`: which input each
/// report was last published from). A week with late refunds; a campaign's spend edited and the
/// last day run again; a campaign's items edited (direct lines become halo) and again; an older
/// day re-run: every version of every report, statements and to-date, is the same as when every
/// marker is removed before each run, and the markers did save work.
#[test]
fn a_run_with_every_cache_removed_publishes_the_same_reports() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, key) = demo_and_a_copy(dir.path(), "without-caches");
    // The no-cache implementation, on markers lost as well.
    let run_uncached = |day: &str| {
        let _ = std::fs::remove_dir_all(b.join("staging/published"));
        ok(
            &[
                "run",
                "--no-cache",
                "--data",
                b.to_str().unwrap(),
                "--date",
                day,
            ],
            Some(&key),
        );
    };
    for d in 1..=7 {
        run_uncached(&format!("2025-06-0{d}"));
    }
    let log = run_logged(&a, "2025-06-08", &key);
    run_uncached("2025-06-08");
    assert!(
        logged_sum(&log, "unchanged_inputs") > 0,
        "no report was known to be published already: {log}"
    );
    assert_same_reports(&a, &b);
    assert!(a.join("staging/published").exists());
    // A campaign's spend edited: the to-date funnel's ROAS moves, no statement does.
    for root in [&a, &b] {
        edit_campaigns(root, "\"spend_fen\": ", |v| {
            (v.trim().parse::<i64>().unwrap() + 100).to_string()
        });
    }
    let log = run_logged(&a, "2025-06-07", &key);
    run_uncached("2025-06-07");
    assert!(logged_sum(&log, "unchanged_inputs") > 0, "{log}");
    assert_same_reports(&a, &b);
    // An item of the first campaign replaced: its direct lines of that item become halo.
    for root in [&a, &b] {
        edit_campaigns(root, "\"items\": {\"taobao\": [\"", |_| {
            "799999999999".into()
        });
    }
    run_logged(&a, "2025-06-07", &key);
    run_uncached("2025-06-07");
    assert_same_reports(&a, &b);
    // An older day run again after newer ones.
    run_logged(&a, "2025-06-03", &key);
    run_uncached("2025-06-03");
    assert_same_reports(&a, &b);
    // The first brand's shops replaced: its statements of earlier days lose every line, and are
    // restated empty whether or not a marker says they were published.
    for root in [&a, &b] {
        let shops = "\"shops\": {\"taobao\": [\"";
        edit_records(root, "brands.jsonl", shops, |_| "99999991".into());
        edit_records(root, "brands.jsonl", "\"jd\": [\"", |_| "99999992".into());
    }
    let before = report_contents(&a).len();
    run_logged(&a, "2025-06-07", &key);
    run_uncached("2025-06-07");
    assert!(report_contents(&a).len() > before, "nothing was restated");
    assert_same_reports(&a, &b);
    // A brand's campaigns all deleted: its statements lose every line and RED figure, and are
    // restated empty, which only the reports themselves tell a run without the cache.
    for root in [&a, &b] {
        let path = root.join("campaigns.jsonl");
        let text = std::fs::read_to_string(&path).unwrap();
        let kept: Vec<&str> = text
            .lines()
            .filter(|l| !l.contains("\"brand_id\": \"b-yunshan\""))
            .collect();
        assert!(kept.len() < text.lines().count());
        std::fs::write(&path, kept.join("\n") + "\n").unwrap();
    }
    run_logged(&a, "2025-06-07", &key);
    run_uncached("2025-06-07");
    assert_same_reports(&a, &b);
    assert_one_marker_per_report(&a);
    // Markers written by a run without the cache are true for the next run with it.
    let log = run_logged(&b, "2025-06-07", &key);
    assert!(logged_sum(&log, "unchanged_inputs") > 0, "{log}");
    assert_same_reports(&a, &b);
}

/// The benchmark's history: late refunds restate lines of earlier days' exports, unless
/// `--same-day-restatements`, where every restatement stays in its own day's export, or
/// `--no-restatements`, where no row restates another.
#[test]
fn bench_history_restates_earlier_days_only_with_late_refunds() {
    let dir = tempfile::tempdir().unwrap();
    let spread = |flag: Option<&str>| {
        let d = dir.path().join(flag.unwrap_or("late"));
        let data = d.to_str().unwrap();
        let mut args = vec![
            "bench-data",
            "--data",
            data,
            "--lines",
            "20000",
            "--days",
            "3",
        ];
        args.extend(flag);
        ok(&args, None);
        // line id -> the days it appears on, and how many rows restate a line of the same day.
        let mut days: std::collections::HashMap<String, std::collections::BTreeSet<usize>> =
            Default::default();
        let mut same_day = 0;
        let mut files: Vec<_> = files_under(vec![d.join("exports")]);
        files.sort();
        assert_eq!(files.len(), 3);
        for (i, p) in files.iter().enumerate() {
            let mut seen = std::collections::HashSet::new();
            for rec in csv::Reader::from_path(p).unwrap().records() {
                let id = rec.unwrap()[0].to_string();
                if !seen.insert(id.clone()) {
                    same_day += 1;
                }
                days.entry(id).or_default().insert(i);
            }
        }
        let across = days.values().filter(|d| d.len() > 1).count();
        (across, same_day)
    };
    let (across, same_day) = spread(None);
    assert!(
        across > 50 && same_day > 10,
        "{across} across days, {same_day} within"
    );
    let (across, same_day) = spread(Some("--same-day-restatements"));
    assert!(
        across == 0 && same_day > 50,
        "{across} across days, {same_day} within"
    );
    // The benchmark's one-day sets: a query skipping the latest-state rule gives the same rows.
    let (across, same_day) = spread(Some("--no-restatements"));
    assert!(
        across == 0 && same_day == 0,
        "{across} across days, {same_day} within"
    );
}

/// What each report's latest.json points to, by report: its CSV files, and the to-date page (a
/// statement's page and changes.csv tell its own history, which the order of runs shapes).
fn latest_contents(root: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    for p in files_under(vec![root.join("reports")]) {
        if p.file_name().is_none_or(|n| n != "latest.json") {
            continue;
        }
        let latest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        let prefix = latest["prefix"].as_str().unwrap();
        let report = p.parent().unwrap().strip_prefix(root).unwrap();
        let to_date = report.ends_with("to-date");
        for name in latest["sha256"].as_object().unwrap().keys() {
            let history = name == "changes.csv" || (name == "report.html" && !to_date);
            if name == "manifest.json" || history {
                continue;
            }
            let bytes = std::fs::read(root.join(format!("{prefix}{name}"))).unwrap();
            out.insert(format!("{}/{name}", report.display()), bytes);
        }
    }
    out
}

/// With a one-day lookback, a statement of X sees only the exports of X and X + 1, so a run of an
/// older day after newer ones evaluates its dates in several cuts of the files: shuffled, the week
/// ends in the same reports as in order, and not in those of a 30-day lookback.
#[test]
fn days_run_in_any_order_with_a_short_lookback_end_in_the_same_reports() {
    let dir = tempfile::tempdir().unwrap();
    let (demo, in_order, key) = demo_and_a_copy(dir.path(), "in-order");
    let shuffled = dir.path().join("shuffled");
    copy_inputs(&in_order, &shuffled);
    let run = |root: &Path, day: &str| {
        let o = Command::new(env!("CARGO_BIN_EXE_seedline"))
            .args(["run", "--data", root.to_str().unwrap(), "--date", day])
            .args(["--lookback-days", "1"])
            .env("SEEDLINE_BUYER_KEY", &key)
            .env("RUST_LOG", "info")
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        stderr(&o)
    };
    for d in 1..=7 {
        run(&in_order, &format!("2025-06-0{d}"));
    }
    let mut evaluations = 0;
    for d in [7, 3, 1, 5, 2, 6, 4] {
        let log = run(&shuffled, &format!("2025-06-0{d}"));
        evaluations = evaluations.max(logged_sum(&log, "evaluations"));
    }
    assert!(evaluations > 2, "no run evaluated its dates in cuts");
    let (a, b) = (latest_contents(&in_order), latest_contents(&shuffled));
    assert!(a.len() >= 50, "{} files", a.len());
    assert_eq!(
        a.keys().collect::<Vec<_>>(),
        b.keys().collect::<Vec<_>>(),
        "the same reports"
    );
    for (name, bytes) in &a {
        assert!(*bytes == b[name], "{name} differs");
    }
    let thirty = latest_contents(&demo);
    assert!(
        a.iter().any(|(n, bytes)| thirty.get(n) != Some(bytes)),
        "a one-day lookback changed nothing: the test sees no late data"
    );
}
