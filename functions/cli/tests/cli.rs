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
            r#"{{"campaign_id": "{id}", "brand_id": "b1", "name": "C", "start": "2025-05-01", "end": "2025-05-10", "window_days": 3, "spend_fen": 100, "items": {{"taobao": ["9"]}}, "notes": [{{"note_id": "n", "links": [{{"token": "tok", "kind": "ad_link", "marketplace": "taobao"}}]}}]}}"#
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
    let html = out
        .lines()
        .find_map(|l| l.strip_prefix("Open one in a browser: "))
        .expect("the demo prints a report to open");
    assert!(Path::new(html).is_file());
    for brand in ["b-shuihua", "b-lanting", "b-yunshan"] {
        assert!(
            data.join(format!("reports/{brand}/2025-06-07/latest.json"))
                .is_file(),
            "{brand}"
        );
    }
}
