//! `undertone keys create | list | revoke`: manages the API keys file that `serve` checks
//! (`[auth] keys_file`, default `data_dir/api-keys.toml`). A created key is printed once;
//! only its hash is kept.

use std::path::Path;

use clap::Subcommand;

use crate::auth::{KeyFile, Role};

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Create a key and print it (the only time it is shown).
    Create {
        /// A tenant the key grants; repeat for several.
        #[arg(long = "tenant", required = true)]
        tenants: Vec<String>,
        /// read: queries and Analyze; write: also ingest and feedback; admin: also erasure.
        #[arg(long, value_enum)]
        role: Role,
    },
    /// List the keys (ids, tenants, roles; never a secret).
    List,
    /// Revoke a key by id; a running server stops accepting it at once.
    Revoke { id: String },
}

pub fn run(command: KeysCommand, file: &Path) -> anyhow::Result<()> {
    let mut keys = KeyFile::load(file)?;
    match command {
        KeysCommand::Create { tenants, role } => {
            let secret = keys.create(tenants, role)?;
            keys.save(file)?;
            println!("{secret}");
        }
        KeysCommand::List => {
            for key in &keys.keys {
                let state = if key.revoked { "revoked" } else { "active" };
                println!(
                    "{}  {:?}  {}  {}  created {}",
                    key.id,
                    key.role,
                    key.tenants.join(","),
                    state,
                    key.created
                );
            }
        }
        KeysCommand::Revoke { id } => {
            anyhow::ensure!(keys.revoke(&id), "no active key with id {id:?} in {}", file.display());
            keys.save(file)?;
            eprintln!("revoked {id}");
        }
    }
    Ok(())
}
