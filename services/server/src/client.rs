//! What the command-line clients (demo, ingest, eval, bench) put on every call: the
//! tenant and the API key (`UNDERTONE_API_KEY`, or one a tool made for the server it
//! started itself).

use std::path::Path;
use std::sync::RwLock;

use tonic::Request;
use tonic::metadata::MetadataValue;
use undertone_api::TENANT_HEADER;

use crate::auth::{KeyFile, Role};

static PROVISIONED: RwLock<Option<String>> = RwLock::new(None);

/// Creates an admin key for `tenant` in the keys file of a server about to start on
/// `data_dir`, and makes this process's calls carry it.
pub fn provision_key(data_dir: &Path, tenant: &str) -> anyhow::Result<()> {
    let path = data_dir.join(crate::auth::DEFAULT_KEYS_FILE);
    let mut keys = KeyFile::load(&path)?;
    let secret = keys.create(vec![tenant.to_owned()], Role::Admin)?;
    keys.save(&path)?;
    *PROVISIONED.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(secret);
    Ok(())
}

fn api_key() -> Option<String> {
    let provisioned = PROVISIONED.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
    provisioned.or_else(|| std::env::var("UNDERTONE_API_KEY").ok().filter(|k| !k.trim().is_empty()))
}

/// `message` as a call for `tenant`, with the API key when there is one.
pub fn scoped<T>(tenant: &str, message: T) -> anyhow::Result<Request<T>> {
    let mut request = Request::new(message);
    request.metadata_mut().insert(TENANT_HEADER, MetadataValue::try_from(tenant)?);
    if let Some(key) = api_key() {
        request
            .metadata_mut()
            .insert("authorization", MetadataValue::try_from(format!("Bearer {}", key.trim()))?);
    }
    Ok(request)
}
