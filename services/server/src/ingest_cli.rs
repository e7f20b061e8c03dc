//! `undertone ingest PATH...`: a gRPC client that walks folders of `.eml`, `.mbox`,
//! ticket `.json`, transcript `.vtt` / `.srt` / `.json` files and sends each to a running
//! server, with a progress line per document and a summary at the end: ingested, skipped
//! as unchanged, failed with the reason per file. One bad file never stops the batch.
//!
//! * Account: `--account`, else the folder the file is in (or the one above it when that
//!   folder is `emails`, `tickets`, `calls`, ... as in `tests/corpus/<account>/<kind>/`).
//! * `accounts.toml` (given with `--accounts`, or found at the top of PATH): its accounts
//!   are sent with UpsertAccount, and its `internal_people` give call speakers their
//!   role (every other speaker is the customer's). Mail senders' roles come from the
//!   server's `ingest.internal_domains`.
//! * Emails are sent oldest first, so a thread's parents are stored before their replies.
//! * Transcripts: external id `<account>/<file stem>`; metadata (`title`, `started_at`)
//!   from a `X.srt.toml` / `X.vtt.toml` sidecar, else the WebVTT NOTE block.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::client::scoped;
use anyhow::Context;
use serde::Deserialize;
use tonic::transport::Channel;
use undertone_api::timestamp_from_ms;
use undertone_api::v1::ingest_service_client::IngestServiceClient;
use undertone_api::v1::{
    self, IngestEmailRequest, IngestTicketRequest, IngestTranscriptRequest, UpsertAccountRequest,
    ingest_ticket_request,
};
use undertone_ingest::{EmailLimits, TranscriptFormat, parse_email, parse_transcript, split_mbox};

/// Folder names that say what a folder holds rather than whose it is.
const KIND_FOLDERS: &[&str] = &["emails", "email", "mail", "mbox", "tickets", "calls", "transcripts"];

#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Every document belongs to this account.
    pub account: Option<String>,
    /// An accounts.toml; default: `accounts.toml` at the top of the first folder.
    pub accounts_file: Option<PathBuf>,
}

#[derive(Debug, Default)]
pub struct Summary {
    pub ingested: usize,
    pub replaced: usize,
    pub unchanged: usize,
    pub segments: u64,
    /// (file, reason) of every document that failed.
    pub failed: Vec<(String, String)>,
}

/// An `accounts.toml` (documented in `tests/corpus/README.md`): the vendor's domains and
/// people, and the accounts with their customers' people.
#[derive(Debug, Deserialize)]
pub(crate) struct AccountsFile {
    #[serde(default)]
    pub internal_domains: Vec<String>,
    #[serde(default)]
    pub internal_people: Vec<InternalPerson>,
    #[serde(default, rename = "account")]
    pub accounts: Vec<AccountEntry>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct InternalPerson {
    pub name: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct AccountEntry {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub domains: Vec<String>,
    #[serde(default)]
    pub arr_usd: f64,
    /// `YYYY-MM-DD` or RFC 3339.
    #[serde(default)]
    pub renewal_date: Option<String>,
    #[serde(default, rename = "contact")]
    pub contacts: Vec<ContactEntry>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ContactEntry {
    pub name: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub title: String,
}

impl AccountEntry {
    /// The UpsertAccount form of this entry.
    pub fn to_proto(&self) -> v1::Account {
        v1::Account {
            account_id: self.id.clone(),
            name: self.name.clone(),
            arr_usd: self.arr_usd,
            renewal_date: self.renewal_date.as_deref().and_then(parse_date).map(timestamp_from_ms),
            domains: self.domains.clone(),
            contacts: self
                .contacts
                .iter()
                .map(|c| v1::Contact { name: c.name.clone(), email: c.email.clone(), title: c.title.clone() })
                .collect(),
        }
    }
}

/// One document to send.
enum Item {
    Email { raw: Vec<u8>, fallback_id: String, sent_at: Option<i64>, depth: usize },
    Ticket { json: Vec<u8> },
    Transcript { content: Vec<u8>, format: TranscriptFormat, external_id: String, sidecar: Option<PathBuf> },
}

struct Doc {
    label: String,
    account: Result<String, String>,
    item: Result<Item, String>,
}

/// `undertone ingest`: connects, ingests every path, prints the summary.
pub async fn run(
    server: &str,
    tenant: &str,
    paths: &[PathBuf],
    options: &Options,
) -> anyhow::Result<Summary> {
    let mut client = IngestServiceClient::connect(server.to_owned())
        .await
        .with_context(|| format!("connecting to {server}"))?;
    let summary = ingest_paths(&mut client, tenant, paths, options).await?;
    print_summary(&summary);
    Ok(summary)
}

pub fn print_summary(summary: &Summary) {
    println!(
        "\nIngested {} documents ({} replaced earlier versions, {} segments stored); {} skipped as unchanged; {} failed.",
        summary.ingested + summary.replaced,
        summary.replaced,
        summary.segments,
        summary.unchanged,
        summary.failed.len()
    );
    for (file, reason) in &summary.failed {
        println!("  failed {file}: {reason}");
    }
}

/// Ingests every supported file under `paths` (files or folders) over `client`.
pub async fn ingest_paths(
    client: &mut IngestServiceClient<Channel>,
    tenant: &str,
    paths: &[PathBuf],
    options: &Options,
) -> anyhow::Result<Summary> {
    let mut files = Vec::new();
    for path in paths {
        walk(path, &mut files).with_context(|| format!("reading {}", path.display()))?;
    }
    files.sort();
    let accounts_file = options.accounts_file.clone().or_else(|| {
        paths.first().filter(|p| p.is_dir()).map(|p| p.join("accounts.toml")).filter(|p| p.exists())
    });
    let mut internal_people = Vec::new();
    if let Some(file) = &accounts_file {
        let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        let parsed: AccountsFile =
            toml::from_str(&text).with_context(|| format!("parsing {}", file.display()))?;
        internal_people = parsed.internal_people.iter().map(|p| p.name.clone()).collect();
        upsert_accounts(client, tenant, &parsed).await?;
        println!(
            "{}: {} accounts, {} internal people (mail roles use the server's ingest.internal_domains; this file lists {:?})",
            file.display(),
            parsed.accounts.len(),
            internal_people.len(),
            parsed.internal_domains
        );
    }

    let mut docs: Vec<Doc> = files.iter().flat_map(|f| read_documents(f, options)).collect();
    // Parents before replies: emails by date, then tickets and calls as found.
    docs.sort_by_key(|d| match &d.item {
        Ok(Item::Email { sent_at, depth, .. }) => (0, sent_at.unwrap_or(i64::MAX), *depth),
        Ok(Item::Ticket { .. }) => (1, 0, 0),
        Ok(Item::Transcript { .. }) => (2, 0, 0),
        Err(_) => (3, 0, 0),
    });

    let mut summary = Summary::default();
    let total = docs.len();
    let width = total.to_string().len();
    for (n, doc) in docs.into_iter().enumerate() {
        let result = match (doc.account, doc.item) {
            (Ok(account), Ok(item)) => send(client, tenant, &account, item, &internal_people).await,
            (Err(e), _) | (_, Err(e)) => Err(e),
        };
        let progress = format!("[{:>width$}/{total}]", n + 1);
        match result {
            Ok(response) => {
                let status =
                    v1::IngestStatus::try_from(response.status).unwrap_or(v1::IngestStatus::Unspecified);
                let word = match status {
                    v1::IngestStatus::Unchanged => {
                        summary.unchanged += 1;
                        "unchanged"
                    }
                    v1::IngestStatus::Replaced => {
                        summary.replaced += 1;
                        summary.segments += u64::from(response.segments_stored);
                        "replaced "
                    }
                    _ => {
                        summary.ingested += 1;
                        summary.segments += u64::from(response.segments_stored);
                        "ingested "
                    }
                };
                println!("{progress} {word} {} ({} segments)", doc.label, response.segments_stored);
            }
            Err(reason) => {
                println!("{progress} FAILED    {}: {reason}", doc.label);
                summary.failed.push((doc.label, reason));
            }
        }
    }
    Ok(summary)
}

async fn upsert_accounts(
    client: &mut IngestServiceClient<Channel>,
    tenant: &str,
    file: &AccountsFile,
) -> anyhow::Result<()> {
    for entry in &file.accounts {
        let account = entry.to_proto();
        client
            .upsert_account(scoped(tenant, UpsertAccountRequest { account: Some(account) })?)
            .await
            .with_context(|| format!("UpsertAccount {}", entry.id))?;
    }
    Ok(())
}

/// Milliseconds of `YYYY-MM-DD` (midnight UTC) or an RFC 3339 timestamp.
fn parse_date(raw: &str) -> Option<i64> {
    let raw = raw.trim();
    chrono::DateTime::parse_from_rfc3339(raw).map(|t| t.timestamp_millis()).ok().or_else(|| {
        chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|t| t.and_utc().timestamp_millis())
    })
}

fn walk(path: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if path.is_file() {
        files.push(path.to_owned());
        return Ok(());
    }
    for entry in std::fs::read_dir(path)? {
        let entry = entry?;
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        if entry.file_type()?.is_dir() {
            walk(&entry.path(), files)?;
        } else if supported(&entry.path()) {
            files.push(entry.path());
        }
    }
    Ok(())
}

fn extension(path: &Path) -> String {
    path.extension().map(|e| e.to_string_lossy().to_ascii_lowercase()).unwrap_or_default()
}

fn supported(path: &Path) -> bool {
    matches!(extension(path).as_str(), "eml" | "mbox" | "json" | "vtt" | "srt")
}

fn file_stem(path: &Path) -> String {
    path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
}

/// The account a file belongs to: the option, else its folder (skipping a kind folder).
fn account_of(path: &Path, options: &Options) -> Result<String, String> {
    if let Some(account) = &options.account {
        return Ok(account.clone());
    }
    let mut dir = path.parent();
    if let Some(d) = dir
        && d.file_name()
            .is_some_and(|n| KIND_FOLDERS.contains(&n.to_string_lossy().to_ascii_lowercase().as_str()))
    {
        dir = d.parent();
    }
    dir.and_then(|d| d.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| !n.is_empty())
        .ok_or_else(|| "cannot tell the account from the path; pass --account".to_owned())
}

/// The documents in one file (an mbox holds many).
fn read_documents(path: &Path, options: &Options) -> Vec<Doc> {
    let label = path.display().to_string();
    let account = account_of(path, options);
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) => return vec![Doc { label, account, item: Err(format!("reading the file: {e}")) }],
    };
    let id_base = format!("{}/{}", account.as_deref().unwrap_or("unknown"), file_stem(path));
    match extension(path).as_str() {
        "eml" => vec![Doc { label, account, item: Ok(email_item(bytes, id_base)) }],
        "mbox" => match split_mbox(&bytes) {
            Ok(messages) => messages
                .into_iter()
                .map(|m| Doc {
                    label: format!("{label}#{} (line {})", m.index + 1, m.line),
                    account: account.clone(),
                    item: Ok(email_item(m.raw, format!("{id_base}#{}", m.index + 1))),
                })
                .collect(),
            Err(e) => vec![Doc { label, account, item: Err(e.to_string()) }],
        },
        "json" if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') => {
            let item = Item::Transcript {
                content: bytes,
                format: TranscriptFormat::Json,
                external_id: id_base,
                sidecar: sidecar(path),
            };
            vec![Doc { label, account, item: Ok(item) }]
        }
        "json" => vec![Doc { label, account, item: Ok(Item::Ticket { json: bytes }) }],
        ext => {
            let format = TranscriptFormat::from_extension(ext).unwrap_or(TranscriptFormat::Srt);
            let item =
                Item::Transcript { content: bytes, format, external_id: id_base, sidecar: sidecar(path) };
            vec![Doc { label, account, item: Ok(item) }]
        }
    }
}

fn sidecar(path: &Path) -> Option<PathBuf> {
    let mut name = path.file_name()?.to_os_string();
    name.push(".toml");
    Some(path.with_file_name(name)).filter(|p| p.exists())
}

/// An email to send; read locally only to order the thread and to name a message that
/// has no Message-ID (the server does the real parsing and reports any error).
fn email_item(raw: Vec<u8>, fallback_id: String) -> Item {
    let limits = EmailLimits { max_email_bytes: usize::MAX, max_text_bytes: usize::MAX };
    let parsed = parse_email(&raw, &limits).ok();
    let sent_at = parsed.as_ref().and_then(|e| e.sent_at_ms);
    let depth = parsed.as_ref().map_or(0, |e| e.ancestors().len());
    let fallback_id =
        if parsed.as_ref().is_some_and(|e| e.message_id.is_some()) { String::new() } else { fallback_id };
    Item::Email { raw, fallback_id, sent_at, depth }
}

#[derive(Debug, Default, Deserialize)]
struct Sidecar {
    #[serde(default)]
    title: String,
    #[serde(default)]
    started_at: Option<String>,
}

async fn send(
    client: &mut IngestServiceClient<Channel>,
    tenant: &str,
    account: &str,
    item: Item,
    internal_people: &[String],
) -> Result<v1::IngestResponse, String> {
    let result = match item {
        Item::Email { raw, fallback_id, .. } => {
            let request =
                IngestEmailRequest { account_id: account.into(), external_id: fallback_id, raw_message: raw };
            client.ingest_email(scoped(tenant, request).map_err(|e| e.to_string())?).await
        }
        Item::Ticket { json } => {
            let request = IngestTicketRequest {
                account_id: account.into(),
                ticket_source: Some(ingest_ticket_request::TicketSource::TicketJson(json)),
            };
            client.ingest_ticket(scoped(tenant, request).map_err(|e| e.to_string())?).await
        }
        Item::Transcript { content, format, external_id, sidecar } => {
            let meta: Sidecar = match sidecar {
                Some(path) => {
                    let text =
                        std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                    toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?
                }
                None => Sidecar::default(),
            };
            let started_at = match meta.started_at.as_deref() {
                Some(raw) => Some(timestamp_from_ms(
                    parse_date(raw).ok_or_else(|| format!("sidecar started_at {raw:?} is not RFC 3339"))?,
                )),
                None => None,
            };
            let speaker_roles = speaker_roles(&content, format, internal_people);
            let request = IngestTranscriptRequest {
                account_id: account.into(),
                external_id,
                format: match format {
                    TranscriptFormat::WebVtt => v1::TranscriptFormat::Webvtt,
                    TranscriptFormat::Srt => v1::TranscriptFormat::Srt,
                    TranscriptFormat::Json => v1::TranscriptFormat::Json,
                } as i32,
                content,
                started_at,
                speaker_roles,
                title: meta.title,
            };
            client.ingest_transcript(scoped(tenant, request).map_err(|e| e.to_string())?).await
        }
    };
    result.map(|r| r.into_inner()).map_err(|status| format!("{:?}: {}", status.code(), status.message()))
}

/// With an accounts file: its internal people are the team's, every other speaker the
/// customer's. Without one, the server decides (its internal people, else unknown).
fn speaker_roles(
    content: &[u8],
    format: TranscriptFormat,
    internal_people: &[String],
) -> HashMap<String, i32> {
    if internal_people.is_empty() {
        return HashMap::new();
    }
    let Ok(transcript) = parse_transcript(content, format, usize::MAX) else { return HashMap::new() };
    let internal = |s: &str| internal_people.iter().any(|p| p.trim().eq_ignore_ascii_case(s.trim()));
    transcript
        .speakers()
        .into_iter()
        .map(|s| {
            let role = if internal(&s) { v1::SpeakerRole::Internal } else { v1::SpeakerRole::Customer };
            (s, role as i32)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_come_from_the_folder_layout() {
        let options = Options::default();
        assert_eq!(account_of(Path::new("corpus/northwind/emails/a.eml"), &options).unwrap(), "northwind");
        assert_eq!(account_of(Path::new("export/acme/a.vtt"), &options).unwrap(), "acme");
        let fixed = Options { account: Some("x".into()), ..Options::default() };
        assert_eq!(account_of(Path::new("a.eml"), &fixed).unwrap(), "x");
    }

    #[test]
    fn dates_and_corpus_accounts_file() {
        assert_eq!(parse_date("2027-01-31"), Some(1_801_353_600_000));
        assert_eq!(parse_date("2026-10-14T16:00:00Z"), Some(1_791_993_600_000));
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/corpus/accounts.toml"))
                .unwrap();
        let file: AccountsFile = toml::from_str(&text).unwrap();
        assert_eq!(file.accounts.len(), 9);
        assert!(file.internal_people.iter().any(|p| p.name == "Sam Ortiz"));
    }

    #[test]
    fn every_corpus_file_becomes_a_document() {
        let corpus = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/corpus"));
        let mut files = Vec::new();
        walk(&corpus, &mut files).unwrap();
        let docs: Vec<Doc> = files.iter().flat_map(|f| read_documents(f, &Options::default())).collect();
        assert_eq!(docs.len(), 67, "31 emails, 22 tickets, 14 calls");
        assert!(docs.iter().all(|d| d.account.is_ok() && d.item.is_ok()));
    }
}
