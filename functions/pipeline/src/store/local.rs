//! The embedded default: a local directory laid out like the buckets, and JSON-lines campaign files.

use std::path::{Component, Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use async_trait::async_trait;
use seedline_core::campaign::{parse_stored_jsonl, Brand, Campaign, Record};
use seedline_core::catalog::Catalog;

use super::{
    Body, CampaignStore, Object, ObjectMeta, ObjectStore, Precondition, SaveSummary, StoreError,
};

const TMP_PREFIX: &str = ".seedline-tmp-";
/// Held while a compare-and-swap write checks the ETag and renames; never listed.
const LOCK_FILE: &str = ".seedline-lock";

/// A temporary file beside `path`, filled by `fill`: [`write_atomically`] renames it over `path`,
/// [`LocalObjects::put_if`] renames it only when its condition holds. The temporary file is created
/// readable like any written file (0644), and the directory only when it is missing: a report's
/// files are six puts into one new directory.
fn prepare(
    path: &Path,
    fill: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
) -> Result<tempfile::NamedTempFile, StoreError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let create = || {
        let mut b = tempfile::Builder::new();
        b.prefix(TMP_PREFIX);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            b.permissions(std::fs::Permissions::from_mode(0o644));
        }
        b.tempfile_in(dir)
    };
    let mut tmp = in_dir(dir, create)?.map_err(|e| io_err("create", dir, e))?;
    fill(tmp.as_file_mut()).map_err(|e| io_err("write", path, e))?;
    Ok(tmp)
}

/// `create`, and once more after making `dir` if it was missing.
fn in_dir<T>(
    dir: &Path,
    create: impl Fn() -> std::io::Result<T>,
) -> Result<std::io::Result<T>, StoreError> {
    match create() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir).map_err(|e| io_err("mkdir", dir, e))?;
            Ok(create())
        }
        other => Ok(other),
    }
}

/// Writes `path` atomically: a temporary file beside it ([`prepare`]) is renamed over it, so a
/// reader sees the old file or the new one, never half of one.
fn write_atomically(
    path: &Path,
    fill: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
) -> Result<(), StoreError> {
    prepare(path, fill)?
        .persist(path)
        .map_err(|e| io_err("rename", path, e.error))?;
    Ok(())
}

/// [`ObjectStore::put_all`]'s write: a file not there yet is written in place, which spares the
/// temporary file and the rename (a 100k-line day's system time, 1.31 s → 1.14 s); one already there
/// (a claim adopted after a crash, or a twin's) is replaced atomically.
fn write_new(path: &Path, body: &[u8]) -> Result<(), StoreError> {
    let open = || {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
    };
    let mut f = match in_dir(path.parent().unwrap_or(Path::new(".")), open)? {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return write_atomically(path, |f| std::io::Write::write_all(f, body));
        }
        Err(e) => return Err(io_err("create", path, e)),
    };
    std::io::Write::write_all(&mut f, body).map_err(|e| {
        // Not left to be listed as an object.
        let _ = std::fs::remove_file(path);
        io_err("write", path, e)
    })
}

/// Bodies up to this size are written, and files up to it read, on the calling thread.
const INLINE_BYTES: usize = 1 << 20;

/// Runs a file-system call of this store. Small calls run on the calling thread: on a local disk
/// they take microseconds, less than a hand-off to tokio's blocking pool and the wake-up back
/// (publishing a day with 30 days of history made about ten such hand-offs per report, and the
/// thread switches were a fifth of its CPU). Big reads and writes still go to the pool, so that a
/// worker thread never waits long on the disk.
async fn on_disk<T: Send + 'static>(
    small: bool,
    op: &'static str,
    key: &str,
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    if small {
        f()
    } else {
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| StoreError::backend(op, key, false, e))?
    }
}

/// [`LocalObjects::put_if`] on the calling thread: `want` is the ETag required, `None` create-only.
fn put_if_now(
    path: &Path,
    lock_path: &Path,
    body: &[u8],
    want: Option<&str>,
) -> Result<bool, StoreError> {
    // The bytes go to a temporary file first, outside any lock: only the check and the
    // rename need to be atomic, and many reports publish at once.
    let tmp = prepare(path, |f| std::io::Write::write_all(f, body))?;
    let Some(want) = want else {
        // Create-only: a link that fails when the name is taken is atomic by itself.
        return match tmp.persist_noclobber(path) {
            Ok(_) => Ok(true),
            Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(io_err("link", path, e.error)),
        };
    };
    // One lock file for the directory makes check-and-rename atomic across processes too.
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(lock_path)
        .map_err(|e| io_err("open", lock_path, e))?;
    lock.lock().map_err(|e| io_err("lock", lock_path, e))?;
    let current = file_meta(path)?.map(|m| etag_of(&m));
    if current.as_deref() != Some(want) {
        return Ok(false);
    }
    tmp.persist(path)
        .map_err(|e| io_err("rename", path, e.error))?;
    Ok(true)
}

/// [`LocalObjects::list`]: the files under `root` whose key starts with `prefix`, sorted by key.
fn list_now(root: &Path, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError> {
    // Walk only below the deepest directory the prefix names, and only into directories that can
    // hold a key with the prefix (`a/b/` for prefix `a/bc` holds none; `a/bc/`, `a/bcd/` may).
    let dir_part = prefix.rfind('/').map(|i| &prefix[..=i]).unwrap_or("");
    let mut out = Vec::new();
    // Each directory with its key prefix (`a/b/`; empty for the root).
    let mut stack = vec![(root.join(dir_part), dir_part.to_string())];
    while let Some((dir, dir_key)) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_err("list", &dir, e)),
        };
        // What a name in this directory must start with for its key to start with the prefix.
        let rest = prefix.get(dir_key.len()..).unwrap_or("");
        for entry in entries {
            let entry = entry.map_err(|e| io_err("list", &dir, e))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                continue;
            };
            // The entry's type comes with the directory listing: only files listed are stat'ed
            // (match lists a directory per date of the lookback, publish a brand's markers in one).
            let kind = entry
                .file_type()
                .map_err(|e| io_err("stat", &entry.path(), e))?;
            if kind.is_dir() {
                let sub = format!("{dir_key}{name}/");
                if sub.starts_with(prefix) || prefix.starts_with(&sub) {
                    stack.push((entry.path(), sub));
                }
                continue;
            }
            if name.starts_with(TMP_PREFIX) || name == LOCK_FILE || !name.starts_with(rest) {
                continue;
            }
            let meta = entry
                .metadata()
                .map_err(|e| io_err("stat", &entry.path(), e))?;
            out.push(ObjectMeta {
                key: format!("{dir_key}{name}"),
                etag: etag_of(&meta),
                size: meta.len(),
            });
        }
    }
    out.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(out)
}

/// A directory standing in for a bucket: key `a/b/c` is the file `DIR/a/b/c`.
#[derive(Debug, Clone)]
pub struct LocalObjects {
    /// The directory as given, for messages.
    root: PathBuf,
    /// The same directory made absolute: tempfile asks for the working directory on every file
    /// under a relative one (a report version is six files).
    abs: PathBuf,
}

impl LocalObjects {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        let abs = std::path::absolute(&root).unwrap_or_else(|_| root.clone());
        LocalObjects { root, abs }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, key: &str) -> Result<PathBuf, StoreError> {
        let rel = Path::new(key);
        let safe = !key.is_empty() && rel.components().all(|c| matches!(c, Component::Normal(_)));
        if !safe {
            return Err(StoreError::Invalid(format!(
                "not a safe object key: {key:?}"
            )));
        }
        Ok(self.abs.join(rel))
    }
}

fn io_err(op: &'static str, target: &Path, e: std::io::Error) -> StoreError {
    StoreError::backend(op, target.display().to_string(), false, e)
}

/// The file under `path` with its metadata, opened and stat'ed in one go (on a blocking thread);
/// `None` when there is none.
fn open_with_meta(path: &Path) -> Result<Option<(std::fs::File, std::fs::Metadata)>, StoreError> {
    match std::fs::File::open(path) {
        Ok(f) => {
            let meta = f.metadata().map_err(|e| io_err("stat", path, e))?;
            Ok(Some((f, meta)))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err("open", path, e)),
    }
}

/// The metadata of the file under `path`; `None` when there is none (or a directory is there).
fn file_meta(path: &Path) -> Result<Option<std::fs::Metadata>, StoreError> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => Ok(Some(m)),
        Ok(_) => Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err("stat", path, e)),
    }
}

/// A local ETag: size and modification time, which change whenever the file is rewritten.
fn etag_of(meta: &std::fs::Metadata) -> String {
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("\"{:x}-{:x}\"", meta.len(), mtime)
}

#[async_trait]
impl ObjectStore for LocalObjects {
    async fn get(&self, key: &str) -> Result<Option<Object>, StoreError> {
        let path = self.path(key)?;
        // Opening is small; the body is read by the caller.
        let opened = open_with_meta(&path)?;
        Ok(opened.map(|(f, meta)| Object {
            etag: etag_of(&meta),
            body: Body::File(f),
        }))
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StoreError> {
        let path = self.path(key)?;
        Ok(file_meta(&path)?.map(|m| ObjectMeta {
            key: key.to_string(),
            etag: etag_of(&m),
            size: m.len(),
        }))
    }

    async fn put(&self, key: &str, body: Vec<u8>) -> Result<(), StoreError> {
        let path = self.path(key)?;
        if body.is_empty() {
            // Nothing to tear (a published marker): created in place.
            return write_new(&path, &body);
        }
        on_disk(body.len() <= INLINE_BYTES, "put", key, move || {
            write_atomically(&path, |f| std::io::Write::write_all(f, &body))
        })
        .await
    }

    async fn put_all(&self, items: Vec<(String, Vec<u8>)>) -> Result<(), StoreError> {
        let items = items
            .into_iter()
            .map(|(key, body)| Ok((self.path(&key)?, body)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let small = items.iter().map(|(_, b)| b.len()).sum::<usize>() <= INLINE_BYTES;
        on_disk(small, "put", &self.describe(), move || {
            for (path, body) in items {
                write_new(&path, &body)?;
            }
            Ok(())
        })
        .await
    }

    /// The open, the stat and the read in one call (publish reads two small objects per report);
    /// a big file is read on the blocking pool.
    async fn get_bytes_etag(&self, key: &str) -> Result<Option<(Vec<u8>, String)>, StoreError> {
        let path = self.path(key)?;
        let Some((mut f, meta)) = open_with_meta(&path)? else {
            return Ok(None);
        };
        let len = usize::try_from(meta.len()).unwrap_or(usize::MAX);
        on_disk(len <= INLINE_BYTES, "get", key, move || {
            let mut buf = Vec::with_capacity(len.min(INLINE_BYTES));
            std::io::Read::read_to_end(&mut f, &mut buf).map_err(|e| io_err("read", &path, e))?;
            Ok(Some((buf, etag_of(&meta))))
        })
        .await
    }

    async fn put_if(
        &self,
        key: &str,
        body: Vec<u8>,
        cond: Precondition<'_>,
    ) -> Result<bool, StoreError> {
        let path = self.path(key)?;
        let lock_path = self.abs.join(LOCK_FILE);
        let want = match cond {
            Precondition::Absent => None,
            Precondition::Etag(e) => Some(e.to_string()),
        };
        on_disk(body.len() <= INLINE_BYTES, "put", key, move || {
            put_if_now(&path, &lock_path, &body, want.as_deref())
        })
        .await
    }

    async fn put_file(&self, key: &str, src: &Path) -> Result<(), StoreError> {
        let path = self.path(key)?;
        let src = src.to_path_buf();
        tokio::task::spawn_blocking(move || {
            // On the same file system, a hard link beside the target renamed over it: no byte is
            // copied (a big export's staged files are hundreds of MB). Elsewhere, a copy.
            let dir = path.parent().unwrap_or(Path::new("."));
            std::fs::create_dir_all(dir).map_err(|e| io_err("mkdir", dir, e))?;
            let linked = tempfile::Builder::new()
                .prefix(TMP_PREFIX)
                .make_in(dir, |tmp| std::fs::hard_link(&src, tmp));
            match linked {
                Ok(tmp) => tmp
                    .persist(&path)
                    .map(|_| ())
                    .map_err(|e| io_err("rename", &path, e.error)),
                Err(_) => write_atomically(&path, |f| {
                    std::io::copy(&mut std::fs::File::open(&src)?, f).map(|_| ())
                }),
            }
        })
        .await
        .map_err(|e| StoreError::backend("put", key, false, e))?
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError> {
        // A listing walks a directory or a few (publish lists one per report): on the calling thread.
        list_now(&self.abs, prefix)
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let path = self.path(key)?;
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err("delete", &path, e)),
        }
    }

    fn describe(&self) -> String {
        self.root.display().to_string()
    }

    async fn download_link(&self, key: &str, _expires_in: Duration) -> Result<String, StoreError> {
        Ok(self.path(key)?.display().to_string())
    }
}

/// `DIR/brands.jsonl` and `DIR/campaigns.jsonl`, in the shapes of campaigns.md.
#[derive(Debug, Clone)]
pub struct LocalCampaigns {
    dir: PathBuf,
}

impl LocalCampaigns {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        LocalCampaigns { dir: dir.into() }
    }

    fn read(&self, name: &str) -> Result<Vec<Record>, StoreError> {
        let path = self.dir.join(name);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err("read", &path, e)),
        };
        parse_stored_jsonl(&path.display().to_string(), &text)
            .map_err(|e| StoreError::Invalid(e.to_string()))
    }

    fn read_all(&self) -> Result<(Vec<Brand>, Vec<Campaign>), StoreError> {
        let mut brands = Vec::new();
        let mut campaigns = Vec::new();
        for (file, want_campaign) in [("brands.jsonl", false), ("campaigns.jsonl", true)] {
            for r in self.read(file)? {
                match (r, want_campaign) {
                    (Record::Brand(b), false) => brands.push(b),
                    (Record::Campaign(c), true) => campaigns.push(c),
                    (Record::Brand(b), true) => {
                        return Err(StoreError::Invalid(format!(
                            "{file}: brand {} belongs in brands.jsonl",
                            b.brand_id
                        )))
                    }
                    (Record::Campaign(c), false) => {
                        return Err(StoreError::Invalid(format!(
                            "{file}: campaign {} belongs in campaigns.jsonl",
                            c.campaign_id
                        )))
                    }
                }
            }
        }
        Ok((brands, campaigns))
    }

    fn write_jsonl<T: serde::Serialize>(
        &self,
        name: &str,
        records: &[T],
    ) -> Result<(), StoreError> {
        let path = self.dir.join(name);
        let mut text = String::new();
        for r in records {
            text.push_str(
                &serde_json::to_string(r).map_err(|e| StoreError::Invalid(e.to_string()))?,
            );
            text.push('\n');
        }
        write_atomically(&path, |f| std::io::Write::write_all(f, text.as_bytes()))
    }
}

#[async_trait]
impl CampaignStore for LocalCampaigns {
    async fn load_all(&self) -> Result<(Vec<Brand>, Vec<Campaign>), StoreError> {
        self.read_all()
    }

    async fn save(
        &self,
        brands: &[Brand],
        campaigns: &[Campaign],
    ) -> Result<SaveSummary, StoreError> {
        super::check_new_ids(brands, campaigns)?;
        let (mut all_brands, mut all_campaigns) = self.read_all()?;
        for b in brands {
            all_brands.retain(|x| x.brand_id != b.brand_id);
            all_brands.push(b.clone());
        }
        for c in campaigns {
            all_campaigns.retain(|x| x.campaign_id != c.campaign_id);
            all_campaigns.push(c.clone());
        }
        all_brands.sort_by(|a, b| a.brand_id.cmp(&b.brand_id));
        all_campaigns.sort_by(|a, b| a.campaign_id.cmp(&b.campaign_id));
        // The same whole-table checks DynamoDB enforces: refused before anything is written.
        Catalog::new(all_brands.clone(), all_campaigns.clone())
            .map_err(|e| StoreError::Conflict(e.to_string()))?;
        self.write_jsonl("brands.jsonl", &all_brands)?;
        self.write_jsonl("campaigns.jsonl", &all_campaigns)?;
        Ok(SaveSummary {
            brands: brands.len(),
            campaigns: campaigns.len(),
        })
    }

    fn describe(&self) -> String {
        self.dir.display().to_string()
    }
}

#[cfg(test)]
#[path = "local_tests.rs"]
mod tests;
