//! The lake as a DataFusion catalog whose schemas are its folders: `"marts"."orders"`
//! is the Delta table at `<lake>/marts/orders`, opened at its newest version each time
//! a query is planned, so a session sees what was written since it began (a dbt build
//! reads the models it has just written). Tables registered by hand (a step's
//! temporary rows) live beside them in memory.

use super::open;
use deltalake::datafusion::catalog::{CatalogProvider, SchemaProvider, TableProvider};
use deltalake::datafusion::error::DataFusionError;
use deltalake::datafusion::execution::SessionStateBuilder;
use deltalake::datafusion::execution::session_state::SessionState;
use deltalake::datafusion::prelude::SessionContext;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Where the lake is and how its storage is opened.
#[derive(Debug, Clone)]
pub struct LakeRoot {
    /// A local folder or a URL (`s3://bucket/lake`).
    pub root: String,
    pub storage: BTreeMap<String, String>,
}

impl LakeRoot {
    /// The location of table `name` of `schema`.
    pub fn location(&self, schema: &str, name: &str) -> String {
        format!("{}/{schema}/{name}", self.root.trim_end_matches('/'))
    }

    /// A local root's folder (None for object storage).
    fn local(&self) -> Option<&Path> {
        if self.root.contains("://") && !self.root.starts_with("file://") {
            return None;
        }
        Some(Path::new(
            self.root.strip_prefix("file://").unwrap_or(&self.root),
        ))
    }
}

/// A session whose default catalog is the lake at `root` (see the module's doc).
pub fn lake_session(root: &LakeRoot) -> SessionContext {
    let ctx = super::query_session();
    // A state of its own (sharing the session's object stores) to register the stores
    // of the tables it opens: the catalog must not hold the session that holds it.
    let stores = SessionStateBuilder::new()
        .with_runtime_env(ctx.runtime_env())
        .build();
    let catalog = LakeCatalog {
        root: root.clone(),
        stores: Arc::new(stores),
        schemas: Mutex::new(HashMap::new()),
    };
    let default = ctx
        .state()
        .config()
        .options()
        .catalog
        .default_catalog
        .clone();
    ctx.register_catalog(default, Arc::new(catalog));
    ctx
}

#[derive(Debug)]
struct LakeCatalog {
    root: LakeRoot,
    stores: Arc<SessionState>,
    /// One provider per schema asked for, keeping what was registered in it.
    schemas: Mutex<HashMap<String, Arc<LakeSchema>>>,
}

impl CatalogProvider for LakeCatalog {
    fn schema_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .root
            .local()
            .and_then(|root| std::fs::read_dir(root).ok())
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().is_dir())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        if let Ok(schemas) = self.schemas.lock() {
            names.extend(schemas.keys().cloned());
        }
        names.sort();
        names.dedup();
        names
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        let mut schemas = self.schemas.lock().ok()?;
        let schema = schemas.entry(name.to_string()).or_insert_with(|| {
            Arc::new(LakeSchema {
                root: self.root.clone(),
                name: name.to_string(),
                stores: self.stores.clone(),
                registered: Mutex::new(HashMap::new()),
            })
        });
        Some(schema.clone() as Arc<dyn SchemaProvider>)
    }
}

#[derive(Debug)]
struct LakeSchema {
    root: LakeRoot,
    name: String,
    stores: Arc<SessionState>,
    registered: Mutex<HashMap<String, Arc<dyn TableProvider>>>,
}

impl LakeSchema {
    fn registered(&self, name: &str) -> Option<Arc<dyn TableProvider>> {
        self.registered.lock().ok()?.get(name).cloned()
    }
}

#[async_trait::async_trait]
impl SchemaProvider for LakeSchema {
    fn table_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .root
            .local()
            .and_then(|root| std::fs::read_dir(root.join(&self.name)).ok())
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().join("_delta_log").is_dir())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        if let Ok(registered) = self.registered.lock() {
            names.extend(registered.keys().cloned());
        }
        names.sort();
        names
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>, DataFusionError> {
        if let Some(found) = self.registered(name) {
            return Ok(Some(found));
        }
        if self.root.local().is_some() && !self.table_exist(name) {
            // Opening would make the folder of a table that is not there.
            return Ok(None);
        }
        let location = self.root.location(&self.name, name);
        let table = open(&location, &self.root.storage)
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        if table.version().is_none() {
            return Ok(None);
        }
        table
            .update_datafusion_session(self.stores.as_ref())
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        table.table_provider().await.map(Some)
    }

    fn register_table(
        &self,
        name: String,
        table: Arc<dyn TableProvider>,
    ) -> Result<Option<Arc<dyn TableProvider>>, DataFusionError> {
        let mut registered = self
            .registered
            .lock()
            .map_err(|_| DataFusionError::Internal("a poisoned lock".into()))?;
        Ok(registered.insert(name, table))
    }

    fn deregister_table(
        &self,
        name: &str,
    ) -> Result<Option<Arc<dyn TableProvider>>, DataFusionError> {
        let mut registered = self
            .registered
            .lock()
            .map_err(|_| DataFusionError::Internal("a poisoned lock".into()))?;
        Ok(registered.remove(name))
    }

    fn table_exist(&self, name: &str) -> bool {
        if self.registered(name).is_some() {
            return true;
        }
        match self.root.local() {
            Some(root) => root.join(&self.name).join(name).join("_delta_log").is_dir(),
            // Object storage is asked when the table is read.
            None => false,
        }
    }
}
