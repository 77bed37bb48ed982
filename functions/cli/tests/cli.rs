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
}
