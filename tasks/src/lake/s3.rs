//! `s3://` (and `s3a://`) table locations, opened with object_store's own S3 client.
//!
//! delta-rs's `s3` feature does the same through the AWS SDK, which brings a second TLS
//! stack (aws-lc) and about thirty crates to build; object_store's client signs requests
//! itself and reads the same `AWS_*` environment (keys, session token, endpoint, web
//! identity, ECS and EC2 instance credentials). Commits are conditional puts
//! (`If-None-Match`), so two writers racing for one version cannot both win.

use deltalake::logstore::object_store::path::Path;
use deltalake::logstore::{
    LogStore, LogStoreFactory, ObjectStoreFactory, ObjectStoreRef, StorageConfig, default_logstore,
    logstore_factories, object_store_factories,
};
use deltalake::{DeltaResult, DeltaTableError};
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use std::sync::{Arc, Once};
use url::Url;

/// Makes delta-rs open `s3://` and `s3a://` locations (once per process).
pub fn register() {
    static REGISTERED: Once = Once::new();
    REGISTERED.call_once(|| {
        for scheme in ["s3://", "s3a://"] {
            let Ok(url) = Url::parse(scheme) else {
                continue;
            };
            object_store_factories().insert(url.clone(), Arc::new(S3Stores));
            logstore_factories().insert(url, Arc::new(S3LogStores));
        }
    });
}

struct S3Stores;

impl ObjectStoreFactory for S3Stores {
    fn parse_url_opts(
        &self,
        url: &Url,
        config: &StorageConfig,
    ) -> DeltaResult<(ObjectStoreRef, Path)> {
        // Options given with the table win over the environment; keys are accepted in
        // either case, as delta-rs accepts them.
        let mut builder = AmazonS3Builder::from_env()
            .with_url(url.as_str())
            // S3 has no copy-if-absent; object_store emulates it with a multipart upload.
            .with_config(AmazonS3ConfigKey::CopyIfNotExists, "multipart");
        for (key, value) in config.raw() {
            if let Ok(key) = key.to_ascii_lowercase().parse::<AmazonS3ConfigKey>() {
                builder = builder.with_config(key, value.clone());
            }
        }
        let store = builder.build().map_err(|e| DeltaTableError::GenericError {
            source: Box::new(e),
        })?;
        let prefix =
            Path::from_url_path(url.path()).map_err(|e| DeltaTableError::GenericError {
                source: Box::new(e),
            })?;
        Ok((Arc::new(store), prefix))
    }
}

struct S3LogStores;

impl LogStoreFactory for S3LogStores {
    fn with_options(
        &self,
        prefixed_store: ObjectStoreRef,
        root_store: ObjectStoreRef,
        location: &Url,
        options: &StorageConfig,
    ) -> DeltaResult<Arc<dyn LogStore>> {
        Ok(default_logstore(
            prefixed_store,
            root_store,
            location,
            options,
        ))
    }
}

/// The object store of an `s3://bucket/prefix` URL (credentials and endpoint from the
/// `AWS_*` environment, as for tables) and the prefix under its root: where task logs go
/// when they go to the lake's object store.
pub fn object_store_at(
    url: &str,
) -> Result<(Arc<dyn object_store::ObjectStore>, object_store::path::Path), crate::TaskError> {
    let parsed = Url::parse(url)
        .map_err(|e| crate::TaskError::Config(format!("`{url}` is not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "s3" | "s3a") {
        return Err(crate::TaskError::Config(format!(
            "`{url}`: object-store URLs are s3://bucket/prefix"
        )));
    }
    let store = AmazonS3Builder::from_env()
        .with_url(url)
        .build()
        .map_err(|e| crate::TaskError::Config(format!("`{url}`: {e}")))?;
    let prefix = object_store::path::Path::from_url_path(parsed.path())
        .map_err(|e| crate::TaskError::Config(format!("`{url}`: {e}")))?;
    Ok((Arc::new(store), prefix))
}
