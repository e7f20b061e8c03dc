//! API keys bound to tenants. A key is `ut_<id>_<secret>`; only its SHA-256 is stored
//! (the keys file, `[auth] keys_file`). Each key grants one or more tenants and a role:
//! `read` (queries, Analyze), `write` (also ingest and feedback), `admin` (also erasure).
//! Every RPC carries `authorization: Bearer <key>`; `x-tenant-id` only chooses among the
//! key's tenants. `[auth] mode = "none"` switches this off (logged loudly at start).

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tonic::Request;
use tonic::metadata::MetadataMap;
use undertone_api::TENANT_HEADER;
use undertone_core::TenantId;

use crate::error::ServiceError;
use crate::tenant::id_error;

/// The keys file's name inside `data_dir` when `[auth] keys_file` is not set.
pub const DEFAULT_KEYS_FILE: &str = "api-keys.toml";

/// What a key may do; each role includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Read,
    Write,
    Admin,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
            Self::Admin => "admin",
        }
    }
}

/// One stored key: never the secret, only its hash.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredKey {
    pub id: String,
    pub sha256: String,
    pub tenants: Vec<String>,
    pub role: Role,
    pub created: String,
    #[serde(default)]
    pub revoked: bool,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct KeyFile {
    #[serde(default, rename = "key")]
    pub keys: Vec<StoredKey>,
}

impl KeyFile {
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        match std::fs::read_to_string(path) {
            Ok(text) => Ok(toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(anyhow::anyhow!("{}: {e}", path.display())),
        }
    }

    /// Writes the file through a temporary one, so a reader never sees half of it.
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension("toml.tmp");
        std::fs::write(&tmp, toml::to_string(self)?)?;
        std::fs::rename(&tmp, path)?;
        Ok(())
    }

    /// Adds a key and returns its secret (shown once).
    pub fn create(&mut self, tenants: Vec<String>, role: Role) -> anyhow::Result<String> {
        for tenant in &tenants {
            TenantId::new(tenant).map_err(|e| anyhow::anyhow!("tenant {tenant:?}: {e}"))?;
        }
        anyhow::ensure!(!tenants.is_empty(), "a key needs at least one tenant");
        let id = random_hex(6)?;
        let secret = format!("ut_{id}_{}", random_hex(24)?);
        self.keys.push(StoredKey {
            id,
            sha256: digest(&secret),
            tenants,
            role,
            created: chrono::Utc::now().to_rfc3339(),
            revoked: false,
        });
        Ok(secret)
    }

    pub fn revoke(&mut self, id: &str) -> bool {
        self.keys.iter_mut().filter(|k| k.id == id && !k.revoked).map(|k| k.revoked = true).count() > 0
    }
}

fn random_hex(bytes: usize) -> anyhow::Result<String> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

fn digest(secret: &str) -> String {
    format!("{:x}", Sha256::digest(secret.as_bytes()))
}

/// Who is calling: a verified key, or anyone when auth is off.
#[derive(Debug, Clone)]
pub enum Principal {
    Key { id: String, tenants: Vec<String>, role: Role },
    Anyone,
}

/// The keys the server checks, re-read when the file changes (so a revocation takes
/// effect without a restart).
pub struct KeyRing {
    path: PathBuf,
    state: RwLock<(Option<SystemTime>, Vec<StoredKey>)>,
}

impl KeyRing {
    pub fn open(path: PathBuf) -> anyhow::Result<Self> {
        let keys = KeyFile::load(&path)?.keys;
        let modified = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
        Ok(Self { path, state: RwLock::new((modified, keys)) })
    }

    pub fn active_keys(&self) -> usize {
        self.state.read().map_or(0, |s| s.1.iter().filter(|k| !k.revoked).count())
    }

    fn refresh(&self) {
        let modified = std::fs::metadata(&self.path).and_then(|m| m.modified()).ok();
        let stale = self.state.read().map_or(true, |s| s.0 != modified);
        if stale
            && let Ok(file) = KeyFile::load(&self.path)
            && let Ok(mut state) = self.state.write()
        {
            *state = (modified, file.keys);
        }
    }

    /// The principal of `authorization: Bearer <key>`.
    pub fn verify(&self, metadata: &MetadataMap) -> Result<Principal, ServiceError> {
        let header = metadata.get("authorization").ok_or_else(|| {
            ServiceError::Unauthenticated("authorization: a bearer API key is required".into())
        })?;
        let secret = header
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim)
            .ok_or_else(|| {
                ServiceError::Unauthenticated("authorization: expected \"Bearer <key>\"".into())
            })?;
        self.refresh();
        let hash = digest(secret);
        let state = self.state.read().map_err(|_| ServiceError::Internal("key ring poisoned".into()))?;
        let key = state.1.iter().find(|k| k.sha256 == hash && !k.revoked).ok_or_else(|| {
            ServiceError::Unauthenticated("authorization: unknown or revoked API key".into())
        })?;
        Ok(Principal::Key { id: key.id.clone(), tenants: key.tenants.clone(), role: key.role })
    }
}

/// The tonic interceptor in front of every service: verifies the key and hands the
/// principal to the handler through the request's extensions.
#[derive(Clone)]
pub struct Authenticate {
    ring: Option<Arc<KeyRing>>,
}

impl Authenticate {
    pub fn new(ring: Option<Arc<KeyRing>>) -> Self {
        Self { ring }
    }
}

impl tonic::service::Interceptor for Authenticate {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, tonic::Status> {
        let principal = match &self.ring {
            Some(ring) => ring.verify(request.metadata())?,
            None => Principal::Anyone,
        };
        request.extensions_mut().insert(principal);
        Ok(request)
    }
}

/// The tenant a call acts on, if its key may do `action` (which needs `need`) there.
/// Writes, erasures and feedback are written to the audit log (who, when, what; never
/// the text).
pub fn authorize<T>(request: &Request<T>, need: Role, action: &str) -> Result<TenantId, ServiceError> {
    let chosen = match request.metadata().get(TENANT_HEADER) {
        Some(v) => Some(
            v.to_str()
                .map_err(|_| ServiceError::invalid(TENANT_HEADER, "must be printable ASCII"))?
                .trim()
                .to_owned(),
        ),
        None => None,
    };
    let principal = request.extensions().get::<Principal>().cloned().unwrap_or(Principal::Anyone);
    let (tenant, key) = match principal {
        Principal::Anyone => {
            let raw = chosen.ok_or_else(|| ServiceError::invalid(TENANT_HEADER, "metadata is required"))?;
            (raw, None)
        }
        Principal::Key { id, tenants, role } => {
            let tenant = match (chosen, tenants.as_slice()) {
                (Some(t), _) if tenants.contains(&t) => t,
                (Some(t), _) => {
                    return Err(ServiceError::PermissionDenied(format!(
                        "{TENANT_HEADER}: this API key does not grant tenant {t:?}"
                    )));
                }
                (None, [only]) => only.clone(),
                (None, _) => {
                    return Err(ServiceError::invalid(
                        TENANT_HEADER,
                        "the API key grants several tenants; choose one",
                    ));
                }
            };
            if role < need {
                return Err(ServiceError::PermissionDenied(format!(
                    "{action} needs a {} key; this one is {}",
                    need.name(),
                    role.name()
                )));
            }
            (tenant, Some(id))
        }
    };
    let tenant = TenantId::new(&tenant).map_err(|e| id_error(TENANT_HEADER, e))?;
    if need >= Role::Write {
        tracing::info!(target: "undertone::audit", key = key.as_deref().unwrap_or("-"), tenant = %tenant, action, "call");
    }
    Ok(tenant)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring_with(role: Role, tenants: &[&str]) -> (tempfile::TempDir, KeyRing, String) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("api-keys.toml");
        let mut file = KeyFile::default();
        let secret = file.create(tenants.iter().map(|t| (*t).to_owned()).collect(), role).unwrap();
        file.save(&path).unwrap();
        let ring = KeyRing::open(path).unwrap();
        (dir, ring, secret)
    }

    fn request(ring: &KeyRing, key: Option<&str>, tenant: Option<&str>) -> Result<Request<()>, ServiceError> {
        let mut request = Request::new(());
        if let Some(key) = key {
            request.metadata_mut().insert("authorization", format!("Bearer {key}").parse().unwrap());
        }
        if let Some(tenant) = tenant {
            request.metadata_mut().insert(TENANT_HEADER, tenant.parse().unwrap());
        }
        let principal = ring.verify(request.metadata())?;
        request.extensions_mut().insert(principal);
        Ok(request)
    }

    #[test]
    fn keys_grant_their_tenants_and_role_only() {
        let (_dir, ring, secret) = ring_with(Role::Write, &["acme"]);
        let ok = request(&ring, Some(&secret), None).unwrap();
        assert_eq!(authorize(&ok, Role::Write, "IngestEmail").unwrap().as_str(), "acme");
        let err = authorize(&ok, Role::Admin, "DeleteAccount").unwrap_err();
        assert!(matches!(err, ServiceError::PermissionDenied(_)), "{err}");
        let other = request(&ring, Some(&secret), Some("globex")).unwrap();
        assert!(matches!(authorize(&other, Role::Read, "Analyze"), Err(ServiceError::PermissionDenied(_))));
        assert!(matches!(request(&ring, None, None), Err(ServiceError::Unauthenticated(_))));
        assert!(matches!(request(&ring, Some("ut_nope_00"), None), Err(ServiceError::Unauthenticated(_))));
    }

    #[test]
    fn a_revoked_key_stops_working_without_a_restart() {
        let (dir, ring, secret) = ring_with(Role::Read, &["acme", "globex"]);
        let several = request(&ring, Some(&secret), None).unwrap();
        assert!(matches!(
            authorize(&several, Role::Read, "Analyze"),
            Err(ServiceError::InvalidArgument { .. })
        ));
        let path = dir.path().join("api-keys.toml");
        let mut file = KeyFile::load(&path).unwrap();
        assert!(!file.keys[0].sha256.contains(&secret), "only the hash is stored");
        let id = file.keys[0].id.clone();
        assert!(file.revoke(&id));
        // A later modification time than the first load's.
        std::thread::sleep(std::time::Duration::from_millis(20));
        file.save(&path).unwrap();
        assert!(matches!(request(&ring, Some(&secret), None), Err(ServiceError::Unauthenticated(_))));
    }

    #[test]
    fn without_auth_the_tenant_header_decides() {
        let mut request = Request::new(());
        assert!(
            authorize(&request, Role::Admin, "DeleteAccount")
                .unwrap_err()
                .to_string()
                .starts_with("x-tenant-id:")
        );
        request.metadata_mut().insert(TENANT_HEADER, "acme".parse().unwrap());
        assert_eq!(authorize(&request, Role::Admin, "DeleteAccount").unwrap().as_str(), "acme");
    }
}
