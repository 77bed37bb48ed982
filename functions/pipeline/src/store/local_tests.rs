use super::*;

fn leftovers(dir: &Path) -> Vec<String> {
    let mut names = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if let Some(n) = p.file_name().and_then(|n| n.to_str()) {
                if n.starts_with(TMP_PREFIX) {
                    names.push(n.to_string());
                }
            }
        }
    }
    names
}

/// A listing of any prefix, one that ends inside a name included, is the full listing's keys
/// that start with it, sorted, with each file's size.
#[tokio::test]
async fn a_listing_is_every_key_with_the_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalObjects::new(dir.path());
    let keys = [
        "staging/published/2025-06-01/b-01@aa",
        "staging/published/2025-06-01/b-01@bb",
        "staging/published/2025-06-01/b-010@cc",
        "staging/published/2025-06-01/b-01/dd",
        "staging/published/2025-06-01/b-010/ee",
        "staging/published/2025-06-02/b-01@ff",
        "staging/keys/taobao/2025-06-01/a.keys.bin",
        "top",
    ];
    for (i, k) in keys.iter().enumerate() {
        store.put(k, vec![0; i]).await.unwrap();
    }
    let all = store.list("").await.unwrap();
    assert_eq!(all.len(), keys.len());
    for prefix in [
        "",
        "s",
        "staging/",
        "staging/published/",
        "staging/published/2025-06-0",
        "staging/published/2025-06-01/",
        "staging/published/2025-06-01/b-01",
        "staging/published/2025-06-01/b-01@",
        "staging/published/2025-06-01/b-01/",
        "staging/published/2025-06-01/b-01@aa",
        "staging/published/2025-06-03/",
        "to",
        "nothing",
    ] {
        let want: Vec<_> = all
            .iter()
            .filter(|o| o.key.starts_with(prefix))
            .cloned()
            .collect();
        assert_eq!(store.list(prefix).await.unwrap(), want, "prefix {prefix:?}");
    }
    let sizes: Vec<_> = all.iter().map(|o| (o.key.as_str(), o.size)).collect();
    assert!(sizes.contains(&("staging/published/2025-06-01/b-01/dd", 3)));
}

/// Create-only and compare-and-swap writes: the first claim wins and keeps its bytes, a stale
/// ETag is refused, and no refused write leaves a temporary file behind.
#[tokio::test]
async fn conditional_writes_hold_their_condition() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalObjects::new(dir.path());
    let key = "reports/b/2025-06-01/latest.json";
    assert!(store
        .put_if(key, b"one".to_vec(), Precondition::Absent)
        .await
        .unwrap());
    assert!(!store
        .put_if(key, b"two".to_vec(), Precondition::Absent)
        .await
        .unwrap());
    let (bytes, etag) = store.get_bytes_etag(key).await.unwrap().unwrap();
    assert_eq!(bytes, b"one");
    assert!(store
        .put_if(key, b"three".to_vec(), Precondition::Etag(&etag))
        .await
        .unwrap());
    assert!(!store
        .put_if(key, b"four".to_vec(), Precondition::Etag(&etag))
        .await
        .unwrap());
    assert!(!store
        .put_if(
            "reports/b/none.json",
            b"x".to_vec(),
            Precondition::Etag(&etag)
        )
        .await
        .unwrap());
    assert_eq!(store.get_bytes(key).await.unwrap().unwrap(), b"three");
    assert!(store.head("reports/b/none.json").await.unwrap().is_none());
    assert_eq!(leftovers(dir.path()), Vec::<String>::new());
}

/// Many writers claiming one key at once: exactly one succeeds, and its bytes are the file's.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_many_create_only_writers_exactly_one_wins() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalObjects::new(dir.path());
    let key = "reports/b/2025-06-01/v1/manifest.json";
    let writers: Vec<_> = (0..32)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let won = store
                    .put_if(
                        key,
                        format!("writer {i}").into_bytes(),
                        Precondition::Absent,
                    )
                    .await
                    .unwrap();
                (i, won)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for w in writers {
        let (i, won) = w.await.unwrap();
        if won {
            winners.push(i);
        }
    }
    assert_eq!(winners.len(), 1, "winners: {winners:?}");
    assert_eq!(
        store.get_bytes(key).await.unwrap().unwrap(),
        format!("writer {}", winners[0]).into_bytes()
    );
    assert_eq!(leftovers(dir.path()), Vec::<String>::new());
}

/// Compare-and-swap writers racing from one ETag: exactly one moves the file.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_many_writers_from_one_etag_exactly_one_wins() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalObjects::new(dir.path());
    let key = "reports/b/2025-06-01/latest.json";
    store.put(key, b"start".to_vec()).await.unwrap();
    let etag = store.head(key).await.unwrap().unwrap().etag;
    let writers: Vec<_> = (0..16)
        .map(|i| {
            let (store, etag) = (store.clone(), etag.clone());
            tokio::spawn(async move {
                store
                    .put_if(
                        key,
                        format!("writer {i:02}").into_bytes(),
                        Precondition::Etag(&etag),
                    )
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut won = 0;
    for w in writers {
        won += usize::from(w.await.unwrap());
    }
    assert_eq!(won, 1);
    assert_eq!(leftovers(dir.path()), Vec::<String>::new());
}

/// `put_all` and an empty `put` create what is missing, directories included, and replace what is
/// there whole, with the bytes of the last write and no temporary file left; under a relative
/// directory as under an absolute one.
#[tokio::test]
async fn new_files_are_written_in_place_and_old_ones_replaced() {
    let dir = tempfile::tempdir_in(".").unwrap();
    let relative = dir.path().strip_prefix(std::env::current_dir().unwrap());
    let relative = relative.map_or(dir.path().to_path_buf(), Path::to_path_buf);
    for root in [dir.path().to_path_buf(), relative] {
        let store = LocalObjects::new(&root);
        let v = format!("reports/b-{}/2025-06-01/v1/", root.is_absolute());
        let files = |body: &str| {
            ["campaigns.csv", "orders.csv"]
                .map(|n| (format!("{v}{n}"), body.as_bytes().to_vec()))
                .to_vec()
        };
        store.put_all(files("first")).await.unwrap();
        store.put_all(files("second, longer")).await.unwrap();
        for (key, _) in files("") {
            let got = store.get_bytes(&key).await.unwrap();
            assert_eq!(got.as_deref(), Some(&b"second, longer"[..]), "{key}");
        }
        let marker = format!("staging/published/2025-06-01/b-{}@aa", root.is_absolute());
        store.put(&marker, b"stale".to_vec()).await.unwrap();
        store.put(&marker, Vec::new()).await.unwrap();
        assert_eq!(store.get_bytes(&marker).await.unwrap(), Some(Vec::new()));
        store.put(&marker, Vec::new()).await.unwrap();
        assert_eq!(leftovers(dir.path()), Vec::<String>::new());
    }
}
