//! A store that dies after a given number of writes: the process killed at that point, as far as
//! anything it left behind can tell (every write before it landed, nothing after it did).

use std::path::Path;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use seedline_pipeline::store::{Object, ObjectMeta, ObjectStore, Precondition, StoreError};

#[derive(Debug)]
pub struct Crashing {
    inner: Arc<dyn ObjectStore>,
    /// Writes left before the crash; below zero once crashed.
    budget: AtomicI64,
    pub writes: AtomicU64,
}

impl Crashing {
    pub fn new(inner: Arc<dyn ObjectStore>, writes_before_crash: i64) -> Crashing {
        Crashing {
            inner,
            budget: AtomicI64::new(writes_before_crash),
            writes: AtomicU64::new(0),
        }
    }

    pub fn crashed(&self) -> bool {
        self.budget.load(Ordering::SeqCst) < 0
    }

    fn dead(&self, op: &'static str, key: &str) -> Result<(), StoreError> {
        if self.crashed() {
            return Err(StoreError::backend(op, key, false, "process killed"));
        }
        Ok(())
    }

    fn write(&self, op: &'static str, key: &str) -> Result<(), StoreError> {
        if self.budget.fetch_sub(1, Ordering::SeqCst) <= 0 {
            return Err(StoreError::backend(op, key, false, "process killed"));
        }
        self.writes.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

#[async_trait]
impl ObjectStore for Crashing {
    async fn get(&self, key: &str) -> Result<Option<Object>, StoreError> {
        self.dead("get", key)?;
        self.inner.get(key).await
    }
    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StoreError> {
        self.dead("head", key)?;
        self.inner.head(key).await
    }
    async fn put(&self, key: &str, body: Vec<u8>) -> Result<(), StoreError> {
        self.write("put", key)?;
        self.inner.put(key, body).await
    }
    async fn put_if(
        &self,
        key: &str,
        body: Vec<u8>,
        cond: Precondition<'_>,
    ) -> Result<bool, StoreError> {
        self.write("put", key)?;
        self.inner.put_if(key, body, cond).await
    }
    async fn put_file(&self, key: &str, path: &Path) -> Result<(), StoreError> {
        self.write("put", key)?;
        self.inner.put_file(key, path).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError> {
        self.dead("list", prefix)?;
        self.inner.list(prefix).await
    }
    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.write("delete", key)?;
        self.inner.delete(key).await
    }
    async fn download_link(
        &self,
        key: &str,
        expires_in: std::time::Duration,
    ) -> Result<String, StoreError> {
        self.inner.download_link(key, expires_in).await
    }
    fn describe(&self) -> String {
        format!("crashing {}", self.inner.describe())
    }
}
