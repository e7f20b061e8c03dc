//! The account registry: each tenant's accounts with their name, ARR, renewal date and
//! email domains (UpsertAccount). Small, so one JSON file in `data_dir/accounts.json`,
//! rewritten whole on every change (written to a temporary file, then renamed, so a
//! crash never leaves half a file). The domains attribute mail senders to the account.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use undertone_core::{AccountId, TenantId};
use undertone_insights::{AccountContext, Contact};

use crate::error::ServiceError;

/// One account's metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountRecord {
    pub account_id: String,
    #[serde(default)]
    pub name: String,
    /// Annual recurring revenue in US dollars; 0 when unknown.
    #[serde(default)]
    pub arr_usd: f64,
    #[serde(default)]
    pub renewal_date_ms: Option<i64>,
    /// Lower-case email domains of the account's people.
    #[serde(default)]
    pub domains: Vec<String>,
    /// The customer's people with their titles (who is a decision-maker).
    #[serde(default)]
    pub contacts: Vec<Contact>,
}

impl AccountRecord {
    /// What the risk reasoning knows of the account besides its conversations.
    pub fn risk_context(&self) -> AccountContext {
        AccountContext { renewal_date_ms: self.renewal_date_ms, contacts: self.contacts.clone() }
    }
}

type Tenants = BTreeMap<String, BTreeMap<String, AccountRecord>>;

pub struct AccountRegistry {
    path: Option<PathBuf>,
    tenants: Mutex<Tenants>,
}

impl AccountRegistry {
    /// A registry that lives only as long as the process (tests, tools).
    pub fn in_memory() -> Self {
        Self { path: None, tenants: Mutex::default() }
    }

    /// The registry persisted in `data_dir/accounts.json` (created on first change).
    pub fn open(data_dir: &Path) -> anyhow::Result<Self> {
        let path = data_dir.join("accounts.json");
        let tenants = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Tenants::new(),
            Err(e) => return Err(anyhow::anyhow!("reading {}: {e}", path.display())),
        };
        Ok(Self { path: Some(path), tenants: Mutex::new(tenants) })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tenants> {
        self.tenants.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn persist(&self, tenants: &Tenants) -> Result<(), ServiceError> {
        let Some(path) = &self.path else { return Ok(()) };
        let write = || -> std::io::Result<()> {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let tmp = path.with_extension("json.tmp");
            let bytes = serde_json::to_vec_pretty(tenants).map_err(std::io::Error::other)?;
            std::fs::write(&tmp, bytes)?;
            std::fs::File::open(&tmp)?.sync_all()?;
            std::fs::rename(&tmp, path)
        };
        write().map_err(|e| ServiceError::Internal(format!("writing {}: {e}", path.display())))
    }

    /// Creates or replaces an account's record; nothing changes when it cannot be saved.
    pub fn upsert(&self, tenant: &TenantId, record: AccountRecord) -> Result<AccountRecord, ServiceError> {
        let mut tenants = self.lock();
        let mut next = tenants.clone();
        next.entry(tenant.to_string()).or_default().insert(record.account_id.clone(), record.clone());
        self.persist(&next)?;
        *tenants = next;
        Ok(record)
    }

    pub fn get(&self, tenant: &TenantId, account: &AccountId) -> Option<AccountRecord> {
        self.lock().get(tenant.as_str()).and_then(|accounts| accounts.get(account.as_str())).cloned()
    }

    /// Every record of every tenant (handed to the insights at startup).
    #[allow(dead_code)] // Unused in builds without the insights' account profiles.
    pub fn all(&self) -> Vec<(TenantId, AccountRecord)> {
        let tenants = self.lock();
        tenants
            .iter()
            .filter_map(|(tenant, accounts)| Some((TenantId::new(tenant).ok()?, accounts)))
            .flat_map(|(tenant, accounts)| accounts.values().map(move |r| (tenant.clone(), r.clone())))
            .collect()
    }

    /// Removes the account's record (data-subject erasure); whether there was one.
    pub fn remove(&self, tenant: &TenantId, account: &AccountId) -> Result<bool, ServiceError> {
        let mut tenants = self.lock();
        let mut next = tenants.clone();
        let removed = next.get_mut(tenant.as_str()).and_then(|a| a.remove(account.as_str())).is_some();
        if removed {
            self.persist(&next)?;
            *tenants = next;
        }
        Ok(removed)
    }
}

/// Normalizes and checks one email domain: lower case, no `@`, at least one dot.
pub fn normalize_domain(raw: &str) -> Result<String, String> {
    let domain = raw.trim().trim_start_matches('@').trim_end_matches('.').to_ascii_lowercase();
    let valid = domain.contains('.')
        && domain.len() <= 253
        && domain
            .split('.')
            .all(|label| !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    if valid { Ok(domain) } else { Err(format!("{raw:?} is not a domain name")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, arr: f64) -> AccountRecord {
        AccountRecord {
            account_id: id.into(),
            name: "Northwind Logistics".into(),
            arr_usd: arr,
            renewal_date_ms: Some(1_800_000_000_000),
            domains: vec!["northwind-logistics.com".into()],
            contacts: Vec::new(),
        }
    }

    #[test]
    fn survives_a_restart_and_is_scoped_by_tenant() {
        let dir = tempfile::tempdir().unwrap();
        let (t1, t2) = (TenantId::new("t1").unwrap(), TenantId::new("t2").unwrap());
        let northwind = AccountId::new("northwind").unwrap();
        {
            let registry = AccountRegistry::open(dir.path()).unwrap();
            registry.upsert(&t1, record("northwind", 1.0)).unwrap();
            registry.upsert(&t1, record("northwind", 180_000.0)).unwrap();
        }
        let registry = AccountRegistry::open(dir.path()).unwrap();
        assert_eq!(registry.get(&t1, &northwind).unwrap().arr_usd, 180_000.0);
        assert_eq!(registry.get(&t2, &northwind), None);
        assert_eq!(registry.all().len(), 1);
        assert!(registry.remove(&t1, &northwind).unwrap());
        assert!(!registry.remove(&t1, &northwind).unwrap());
        assert!(AccountRegistry::open(dir.path()).unwrap().all().is_empty());
    }

    #[test]
    fn domains_are_normalized_and_checked() {
        assert_eq!(normalize_domain(" @Northwind-Logistics.COM ").unwrap(), "northwind-logistics.com");
        assert!(normalize_domain("localhost").is_err());
        assert!(normalize_domain("a b.com").is_err());
    }
}
