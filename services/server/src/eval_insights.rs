//! `undertone eval insights [--json]`: the insights measured on the sample corpus and its
//! hand-written ground truth (`tests/corpus/ground_truth.toml`).
//!
//! By default it starts this very binary (`undertone serve`) on a free loopback port with
//! a fresh temporary data folder, so the store is the embedded one and nothing else is
//! touched; `--server URL` measures a running server instead (under its own tenant). It
//! registers the accounts (UpsertAccount), ingests every email, ticket and transcript of
//! the corpus over gRPC (formats the server refuses are counted and skipped), then asks
//! the insights service as a client would and prints:
//!
//! - ranking: AUC of the risk score, at-risk accounts against healthy ones (1.0: every
//!   at-risk account above every healthy one; ties count half), and the same with the
//!   "watch" accounts counted as at risk; the ranked list.
//! - evidence: every quote cited by GetAccountRisk (all accounts), GetThemes and
//!   GetNextBestActions; precision = the share that is a verbatim substring of a document
//!   ingested for the same account (the decoded document text, whitespace runs compared
//!   as one space, redaction placeholders such as `[PHONE]` standing for what they hid).
//! - themes: recall of the planted `[[theme]]`s. A planted theme is found when a returned
//!   theme over the whole corpus covers at least half of its accounts and either has its
//!   topic or shows one of its `keywords`; each returned theme matches one planted theme.
//!   For found themes, whether the trend over the last 60 days against the 60 before
//!   agrees with `growing`.
//! - resolved: each `[[resolved]]` complaint's account must not be at high risk.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use serde::Deserialize;
use serde_json::json;
use tonic::transport::Channel;
use undertone_api::timestamp_from_ms;
use undertone_api::v1::ingest_service_client::IngestServiceClient;
use undertone_api::v1::insights_service_client::InsightsServiceClient;
use undertone_api::v1::{self, ingest_ticket_request};

use crate::ingest_cli::AccountsFile;

const DAY_MS: i64 = 86_400_000;
const RISK_WINDOW_DAYS: i64 = 90;
const THEMES_WINDOW_DAYS: i64 = 120;
const TREND_WINDOW_DAYS: i64 = 60;
const TENANT: &str = "eval-insights";

#[derive(Args)]
pub struct InsightsArgs {
    /// Print one JSON object instead of a report.
    #[arg(long)]
    json: bool,
    /// A corpus folder (accounts.toml, ground_truth.toml, one folder per account); may be
    /// given more than once. Default: the dev set `tests/corpus` and the held-apart test
    /// set `tests/scenarios`.
    #[arg(long)]
    corpus: Vec<PathBuf>,
    /// Configuration for the started server (models, weights; as for `serve`).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Measure this running server instead of starting one (its data is added to).
    #[arg(long)]
    server: Option<String>,
}

#[derive(Deserialize)]
pub struct GroundTruth {
    pub as_of: String,
    /// `dev` (rules and thresholds may be tuned on it) or `test` (held apart, never).
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default, rename = "account")]
    pub accounts: Vec<ExpectedAccount>,
    #[serde(default, rename = "theme")]
    pub themes: Vec<PlantedTheme>,
    #[serde(default)]
    pub resolved: Vec<Resolved>,
}

#[derive(Deserialize)]
pub struct ExpectedAccount {
    pub id: String,
    pub expected: String,
    /// low | medium | high | critical.
    #[serde(default)]
    pub tier: Option<String>,
    /// 1 = most at risk; low-tier accounts share one rank.
    #[serde(default)]
    pub rank: Option<u32>,
    /// Expected next-best-action ids; any one in the top 3 counts.
    #[serde(default)]
    pub actions: Vec<String>,
    #[serde(default, rename = "reason")]
    pub reasons: Vec<ExpectedReason>,
}

#[derive(Deserialize)]
pub struct ExpectedReason {
    pub category: String,
    /// The sentences a careful CSM would cite, verbatim.
    #[serde(default)]
    pub evidence: Vec<String>,
}

#[derive(Deserialize)]
pub struct PlantedTheme {
    pub id: String,
    pub topic: String,
    pub accounts: Vec<String>,
    #[serde(default)]
    pub growing: bool,
    #[serde(default)]
    pub keywords: Vec<String>,
}

#[derive(Deserialize)]
pub struct Resolved {
    pub account: String,
    pub topic: String,
}

pub fn run(args: InsightsArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let corpora = if args.corpus.is_empty() {
        vec![PathBuf::from("tests/corpus"), PathBuf::from("tests/scenarios")]
    } else {
        args.corpus.clone()
    };
    if args.server.is_some() && corpora.len() > 1 {
        anyhow::bail!("--server measures one corpus: give exactly one --corpus");
    }
    let mut sets = Vec::new();
    for corpus in &corpora {
        sets.push(runtime.block_on(evaluate(&args, corpus))?);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&json!({ "sets": sets }))?);
    } else {
        sets.iter().for_each(print_report);
    }
    Ok(())
}

/// A started `undertone serve`, stopped (and its data removed) on drop.
struct OwnServer {
    child: Child,
    data: PathBuf,
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

fn start_server(config: Option<&Path>, accounts: &AccountsFile) -> anyhow::Result<(OwnServer, String)> {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_nanos();
    let data = std::env::temp_dir().join(format!("undertone-eval-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&data)?;
    crate::client::provision_key(&data, TENANT)?;
    let people: Vec<&str> = accounts.internal_people.iter().map(|p| p.name.as_str()).collect();
    let mut command = Command::new(std::env::current_exe()?);
    command
        .arg("serve")
        .env("UNDERTONE_LISTEN", "127.0.0.1:0")
        .env("UNDERTONE_METRICS_LISTEN", "off")
        .env("UNDERTONE_DATA_DIR", &data)
        .env("UNDERTONE_INTERNAL_DOMAINS", accounts.internal_domains.join(","))
        .env("UNDERTONE_INTERNAL_PEOPLE", people.join(","))
        .env("UNDERTONE_LOG", std::env::var("UNDERTONE_LOG").unwrap_or_else(|_| "warn".into()))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if let Some(config) = config {
        command.arg("--config").arg(config);
    }
    let mut child = command.spawn().context("starting undertone serve")?;
    let stdout = child.stdout.take().context("server stdout")?;
    let server = OwnServer { child, data };
    let mut lines = BufReader::new(stdout).lines();
    let addr = loop {
        match lines.next() {
            Some(Ok(line)) => {
                if let Some(addr) = line.strip_prefix("undertone listening on ") {
                    break format!("http://{}", addr.trim());
                }
            }
            _ => anyhow::bail!(
                "the server exited before listening (are the weights fetched? scripts/fetch-models)"
            ),
        }
    };
    // Keep draining its stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    Ok((server, addr))
}

fn scoped<T>(message: T) -> anyhow::Result<tonic::Request<T>> {
    crate::client::scoped(TENANT, message)
}

/// Reference texts of the ingested documents, per account.
#[derive(Default)]
pub struct References {
    texts: BTreeMap<String, Vec<String>>,
}

impl References {
    fn add(&mut self, account: &str, text: String) {
        self.texts.entry(account.to_owned()).or_default().push(collapse(&text));
    }

    /// Whether `quote` is a verbatim substring of a document of `account`.
    pub fn contains(&self, account: &str, quote: &str) -> bool {
        let quote = collapse(quote);
        let pieces = placeholder_pieces(&quote);
        self.texts.get(account).is_some_and(|docs| docs.iter().any(|doc| pieces_in_order(doc, &pieces)))
    }
}

/// Whitespace runs as one space, trimmed.
fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

const PLACEHOLDERS: [&str; 5] = ["[EMAIL]", "[PHONE]", "[CARD]", "[IBAN]", "[BANK]"];

/// The quote split at redaction placeholders (each stands for the text it hid).
fn placeholder_pieces(quote: &str) -> Vec<String> {
    let mut pieces = vec![quote.to_owned()];
    for placeholder in PLACEHOLDERS {
        pieces =
            pieces.iter().flat_map(|p| p.split(placeholder).map(str::to_owned).collect::<Vec<_>>()).collect();
    }
    pieces.into_iter().map(|p| p.trim().to_owned()).filter(|p| !p.is_empty()).collect()
}

fn pieces_in_order(doc: &str, pieces: &[String]) -> bool {
    let mut at = 0;
    for piece in pieces {
        match doc[at..].find(piece.as_str()) {
            Some(i) => at += i + piece.len(),
            None => return false,
        }
    }
    !pieces.is_empty()
}

/// Every string value of a JSON document.
fn json_strings(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(items) => items.iter().for_each(|v| json_strings(v, out)),
        serde_json::Value::Object(map) => map.values().for_each(|v| json_strings(v, out)),
        _ => {}
    }
}

/// Files with extension `ext` in `<corpus>/<account>/<kind>/`, sorted by path.
fn files(corpus: &Path, account: &str, kind: &str, ext: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(corpus.join(account).join(kind)) else { return Vec::new() };
    let mut found: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    found.sort();
    found
}

/// Speaker names of a transcript file, roughly (`<v Name>` or `Name: ` at a line start).
fn transcript_speakers(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("<v ")
            && let Some(end) = rest.find('>')
        {
            names.insert(rest[..end].trim().to_owned());
        } else if let Some((name, _)) = line.split_once(": ")
            && !name.is_empty()
            && name.len() <= 60
            && name.split(' ').count() <= 4
            && name.chars().all(|c| c.is_alphabetic() || c == ' ' || c == '-' || c == '\'' || c == '.')
            && name.chars().next().is_some_and(char::is_uppercase)
        {
            names.insert(name.trim().to_owned());
        }
    }
    names
}

#[derive(Default, serde::Serialize)]
struct IngestTally {
    stored: BTreeMap<&'static str, u32>,
    refused: BTreeMap<&'static str, u32>,
    segments: u32,
    failures: Vec<String>,
}

async fn ingest_corpus(
    channel: Channel,
    corpus: &Path,
    accounts: &AccountsFile,
) -> anyhow::Result<(IngestTally, References)> {
    let mut ingest = IngestServiceClient::new(channel);
    let mut tally = IngestTally::default();
    let mut refs = References::default();
    let internal: HashMap<String, i32> =
        accounts.internal_people.iter().map(|p| (p.name.clone(), v1::SpeakerRole::Internal as i32)).collect();
    for account in &accounts.accounts {
        let record = account.to_proto();
        if let Err(status) =
            ingest.upsert_account(scoped(v1::UpsertAccountRequest { account: Some(record) })?).await
        {
            tally.failures.push(format!("UpsertAccount {}: {}", account.id, status.message()));
        }
        let id = account.id.as_str();
        let mut outcome =
            |kind: &'static str,
             name: &Path,
             result: Result<tonic::Response<v1::IngestResponse>, tonic::Status>| {
                match result {
                    Ok(response) => {
                        *tally.stored.entry(kind).or_default() += 1;
                        tally.segments += response.into_inner().segments_stored;
                        true
                    }
                    Err(status) => {
                        *tally.refused.entry(kind).or_default() += 1;
                        tally.failures.push(format!(
                            "{}: {:?} {}",
                            name.display(),
                            status.code(),
                            status.message()
                        ));
                        false
                    }
                }
            };
        for path in files(corpus, id, "tickets", "json") {
            let bytes = std::fs::read(&path)?;
            let request = v1::IngestTicketRequest {
                account_id: id.into(),
                ticket_source: Some(ingest_ticket_request::TicketSource::TicketJson(bytes.clone())),
            };
            if outcome("ticket", &path, ingest.ingest_ticket(scoped(request)?).await) {
                let mut strings = Vec::new();
                json_strings(&serde_json::from_slice(&bytes)?, &mut strings);
                strings.into_iter().for_each(|s| refs.add(id, s));
            }
        }
        for path in files(corpus, id, "emails", "eml") {
            let bytes = std::fs::read(&path)?;
            let request = v1::IngestEmailRequest {
                account_id: id.into(),
                external_id: String::new(),
                raw_message: bytes.clone(),
            };
            if outcome("email", &path, ingest.ingest_email(scoped(request)?).await) {
                refs.add(id, String::from_utf8_lossy(&bytes).into_owned());
                let limits =
                    undertone_ingest::EmailLimits { max_email_bytes: usize::MAX, max_text_bytes: usize::MAX };
                if let Ok(email) = undertone_ingest::parse_email(&bytes, &limits) {
                    refs.add(id, email.subject);
                    refs.add(id, email.body);
                }
            }
        }
        for (ext, format) in [("vtt", v1::TranscriptFormat::Webvtt), ("srt", v1::TranscriptFormat::Srt)] {
            for path in files(corpus, id, "calls", ext) {
                let bytes = std::fs::read(&path)?;
                let text = String::from_utf8_lossy(&bytes).into_owned();
                let sidecar: Option<toml::Table> = std::fs::read_to_string(path.with_extension("srt.toml"))
                    .ok()
                    .and_then(|t| toml::from_str(&t).ok())
                    .filter(|_| ext == "srt");
                let field =
                    |key: &str| sidecar.as_ref().and_then(|t| t.get(key)?.as_str().map(str::to_owned));
                let started_at = field("started_at")
                    .and_then(|raw| chrono::DateTime::parse_from_rfc3339(&raw).ok())
                    .map(|t| timestamp_from_ms(t.timestamp_millis()));
                let speaker_roles = transcript_speakers(&text)
                    .into_iter()
                    .map(|name| {
                        let role = internal.get(&name).copied().unwrap_or(v1::SpeakerRole::Customer as i32);
                        (name, role)
                    })
                    .collect();
                let stem = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                let request = v1::IngestTranscriptRequest {
                    account_id: id.into(),
                    external_id: format!("{id}/{stem}"),
                    format: format as i32,
                    content: bytes.clone(),
                    started_at,
                    speaker_roles,
                    title: field("title").unwrap_or_default(),
                };
                if outcome("call", &path, ingest.ingest_transcript(scoped(request)?).await) {
                    refs.add(id, text);
                    let parsed = match format {
                        v1::TranscriptFormat::Srt => undertone_ingest::TranscriptFormat::Srt,
                        _ => undertone_ingest::TranscriptFormat::WebVtt,
                    };
                    if let Ok(transcript) = undertone_ingest::parse_transcript(&bytes, parsed, usize::MAX) {
                        transcript.utterances.into_iter().for_each(|u| refs.add(id, u.text));
                    }
                }
            }
        }
    }
    Ok((tally, refs))
}

/// AUC of `scores` for positives against negatives (ties count half); `None` without both.
pub fn auc(positives: &[f64], negatives: &[f64]) -> Option<f64> {
    if positives.is_empty() || negatives.is_empty() {
        return None;
    }
    let mut wins = 0.0;
    for p in positives {
        for n in negatives {
            wins += match p.partial_cmp(n) {
                Some(std::cmp::Ordering::Greater) => 1.0,
                Some(std::cmp::Ordering::Equal) => 0.5,
                _ => 0.0,
            };
        }
    }
    Some(wins / (positives.len() * negatives.len()) as f64)
}

fn window(end: i64, days: i64) -> v1::TimeWindow {
    v1::TimeWindow { start: Some(timestamp_from_ms(end - days * DAY_MS)), end: Some(timestamp_from_ms(end)) }
}

/// Planted themes matched by returned themes: (planted id, returned theme) pairs.
pub fn match_themes<'a>(planted: &[PlantedTheme], found: &'a [v1::Theme]) -> Vec<(String, &'a v1::Theme)> {
    let mut used = BTreeSet::new();
    let mut matches = Vec::new();
    for theme in planted {
        let need = theme.accounts.len().div_ceil(2);
        let candidate = found.iter().enumerate().find(|(i, t)| {
            let covered = t.accounts.iter().filter(|a| theme.accounts.contains(&a.account_id)).count();
            let text = format!("{} {}", t.label, t.keywords.join(" ")).to_lowercase();
            let named =
                t.topic == theme.topic || theme.keywords.iter().any(|k| text.contains(&k.to_lowercase()));
            !used.contains(i) && covered >= need && named
        });
        if let Some((i, t)) = candidate {
            used.insert(i);
            matches.push((theme.id.clone(), t));
        }
    }
    matches
}

async fn evaluate(args: &InsightsArgs, corpus: &Path) -> anyhow::Result<serde_json::Value> {
    let read = |name: &str| {
        let path = corpus.join(name);
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))
    };
    let accounts: AccountsFile = toml::from_str(&read("accounts.toml")?).context("accounts.toml")?;
    let truth: GroundTruth = toml::from_str(&read("ground_truth.toml")?).context("ground_truth.toml")?;
    let as_of = chrono::DateTime::parse_from_rfc3339(&truth.as_of).context("as_of")?.timestamp_millis();

    let started = Instant::now();
    let (own, addr) = match &args.server {
        Some(addr) => (None, addr.clone()),
        None => {
            let (server, addr) = start_server(args.config.as_deref(), &accounts)?;
            (Some(server), addr)
        }
    };
    let channel = Channel::from_shared(addr.clone())?
        .connect()
        .await
        .with_context(|| format!("connecting to {addr}"))?;
    let (tally, refs) = ingest_corpus(channel.clone(), corpus, &accounts).await?;
    let ingest_secs = started.elapsed().as_secs_f64();
    let mut insights = InsightsServiceClient::new(channel);

    // Ranking.
    let request = v1::ListAccountsByRiskRequest {
        window: Some(window(as_of, RISK_WINDOW_DAYS)),
        limit: 100,
        min_level: 0,
    };
    let ranked = insights.list_accounts_by_risk(scoped(request)?).await?.into_inner().accounts;
    let score_of: BTreeMap<&str, f64> = ranked.iter().map(|a| (a.account_id.as_str(), a.score)).collect();
    let scores_with = |labels: &[&str]| -> Vec<f64> {
        truth
            .accounts
            .iter()
            .filter(|a| labels.contains(&a.expected.as_str()))
            .map(|a| score_of.get(a.id.as_str()).copied().unwrap_or(0.0))
            .collect()
    };
    let healthy = scores_with(&["healthy"]);
    let auc_at_risk = auc(&scores_with(&["at_risk"]), &healthy);
    let auc_with_watch = auc(&scores_with(&["at_risk", "watch"]), &healthy);
    let expected_of: BTreeMap<&str, &str> =
        truth.accounts.iter().map(|a| (a.id.as_str(), a.expected.as_str())).collect();

    // Evidence: risk reasons of every account, themes, next-best-actions.
    let mut quotes: Vec<(String, v1::Evidence)> = Vec::new();
    for account in &ranked {
        for reason in &account.reasons {
            quotes.extend(reason.evidence.iter().map(|e| ("risk".to_owned(), e.clone())));
        }
    }
    let request = v1::GetThemesRequest {
        window: Some(window(as_of, THEMES_WINDOW_DAYS)),
        limit: 20,
        ..Default::default()
    };
    let themes = insights.get_themes(scoped(request)?).await?.into_inner();
    for theme in &themes.themes {
        quotes.extend(theme.representative_quotes.iter().map(|e| ("themes".to_owned(), e.clone())));
    }
    let mut actions = BTreeMap::new();
    for account in &ranked {
        let request = v1::GetNextBestActionsRequest {
            account_id: account.account_id.clone(),
            window: Some(window(as_of, RISK_WINDOW_DAYS)),
            limit: 3,
        };
        let suggested = insights.get_next_best_actions(scoped(request)?).await?.into_inner().actions;
        for action in &suggested {
            quotes.extend(action.evidence.iter().map(|e| ("actions".to_owned(), e.clone())));
        }
        actions.insert(
            account.account_id.clone(),
            suggested.iter().map(|a| a.action_id.clone()).collect::<Vec<_>>(),
        );
    }
    let mut by_source: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut misses = Vec::new();
    for (source, e) in &quotes {
        let ok = refs.contains(&e.account_id, &e.quote);
        let entry = by_source.entry(source.clone()).or_default();
        entry.0 += 1;
        entry.1 += usize::from(ok);
        if !ok {
            misses.push(json!({"source": source, "account": e.account_id, "document": e.document_id, "quote": e.quote}));
        }
    }
    let (total, verbatim) = by_source.values().fold((0, 0), |acc, v| (acc.0 + v.0, acc.1 + v.1));

    // Themes: recall over the whole corpus, trend over the last 60 days.
    let matched = match_themes(&truth.themes, &themes.themes);
    let request = v1::GetThemesRequest {
        window: Some(window(as_of, TREND_WINDOW_DAYS)),
        limit: 20,
        ..Default::default()
    };
    let recent = insights.get_themes(scoped(request)?).await?.into_inner();
    let recent_matched = match_themes(&truth.themes, &recent.themes);
    let planted: Vec<serde_json::Value> = truth
        .themes
        .iter()
        .map(|p| {
            let found = matched.iter().find(|(id, _)| id == &p.id).map(|(_, t)| *t);
            let trend = recent_matched.iter().find(|(id, _)| id == &p.id).and_then(|(_, t)| t.trend);
            let growing = trend.map(|t| t.direction == v1::TrendDirection::Worsening as i32);
            json!({
                "id": p.id,
                "found": found.is_some(),
                "theme": found.map(|t| &t.label),
                "accounts": found.map(|t| t.accounts.iter().map(|a| a.account_id.clone()).collect::<Vec<_>>()),
                "expected_growing": p.growing,
                "growing": growing,
                "trend_agrees": growing.map(|g| g == p.growing),
            })
        })
        .collect();
    let trend_checked: Vec<bool> = planted.iter().filter_map(|p| p["trend_agrees"].as_bool()).collect();

    let resolved: Vec<serde_json::Value> = truth
        .resolved
        .iter()
        .map(|r| {
            let account = ranked.iter().find(|a| a.account_id == r.account);
            let level = account.map_or(0, |a| a.level);
            json!({
                "account": r.account,
                "topic": r.topic,
                "score": account.map(|a| a.score),
                "not_high": level < v1::RiskLevel::High as i32,
            })
        })
        .collect();

    let reasons = crate::eval_reasons::reason_report(&truth, &ranked, &actions);
    drop(own);
    let share =
        |n: usize, d: usize| if d == 0 { serde_json::Value::Null } else { json!(n as f64 / d as f64) };
    Ok(json!({
        "corpus": corpus.display().to_string(),
        "role": truth.role.as_deref().unwrap_or("dev"),
        "as_of": truth.as_of,
        "reasons": reasons,
        "ingest": { "documents": tally.stored, "refused": tally.refused, "segments": tally.segments, "failures": tally.failures, "seconds": ingest_secs },
        "ranking": {
            "auc_at_risk_vs_healthy": auc_at_risk,
            "auc_at_risk_and_watch_vs_healthy": auc_with_watch,
            "accounts": ranked.iter().map(|a| json!({
                "account": a.account_id,
                "score": a.score,
                "level": v1::RiskLevel::try_from(a.level).map(|l| l.as_str_name()).unwrap_or("?"),
                "expected": expected_of.get(a.account_id.as_str()),
                "explanation": a.explanation,
                "reasons": a.reasons.iter().map(|r| json!({
                    "category": v1::RiskCategory::try_from(r.category).map(|c| c.as_str_name()).unwrap_or("?"),
                    "contribution": r.contribution,
                    "strength": r.strength,
                    "summary": r.summary,
                    "quotes": r.evidence.iter().map(quote_json).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
                "actions": actions.get(&a.account_id),
            })).collect::<Vec<_>>(),
        },
        "evidence": {
            "quotes": total,
            "verbatim": verbatim,
            "precision": share(verbatim, total),
            "by_source": by_source.iter().map(|(s, (n, ok))| (s.clone(), json!({"quotes": n, "verbatim": ok}))).collect::<serde_json::Map<_, _>>(),
            "misses": misses,
        },
        "themes": {
            "planted": truth.themes.len(),
            "found": matched.len(),
            "recall": share(matched.len(), truth.themes.len()),
            "trend_agreement": share(trend_checked.iter().filter(|&&b| b).count(), trend_checked.len()),
            "details": planted,
            "segments_considered": themes.segments_considered,
            "unassigned_share": themes.unassigned_share,
            "returned": themes.themes.iter().map(|t| json!({
                "label": t.label,
                "size": t.segment_count,
                "previous": t.previous_segment_count,
                "accounts": t.accounts.iter().map(|a| a.account_id.clone()).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        },
        "resolved": resolved,
    }))
}

/// A quote with what the models said about it.
fn quote_json(e: &v1::Evidence) -> serde_json::Value {
    let sentiment = e.sentiment.unwrap_or_default();
    json!({
        "quote": e.quote,
        "document": e.document_id,
        "sentiment": sentiment.score,
        "confidence": sentiment.confidence,
        "topics": e.topics.iter().map(|t| format!("{} {:.2}", t.topic, t.score)).collect::<Vec<_>>(),
        "signals": e.signals.iter().map(|s| format!("{} {:.2}", s.category, s.probability)).collect::<Vec<_>>(),
    })
}

fn print_report(report: &serde_json::Value) {
    println!();
    let num = |v: &serde_json::Value| v.as_f64().map_or("-".to_owned(), |x| format!("{x:.3}"));
    println!(
        "Insights on {} ({} set, as of {})",
        report["corpus"].as_str().unwrap_or(""),
        report["role"].as_str().unwrap_or(""),
        report["as_of"].as_str().unwrap_or("")
    );
    let reasons = &report["reasons"];
    println!(
        "  reasons: precision {} recall {} ({} emitted, {} expected); healthy without reasons {}",
        num(&reasons["reason_precision"]),
        num(&reasons["reason_recall"]),
        reasons["reasons_emitted"],
        reasons["reasons_expected"],
        num(&reasons["healthy_without_reasons"])
    );
    println!(
        "  evidence relevance {} (all quotes {}); tier accuracy {}; high tier found {}; Spearman {}; expected action in top 3 {}",
        num(&reasons["evidence_relevance"]),
        num(&reasons["evidence_relevance_all_quotes"]),
        num(&reasons["tier_accuracy"]),
        num(&reasons["high_tier_found"]),
        num(&reasons["spearman"]),
        num(&reasons["action_in_top3"])
    );
    for w in reasons["wrong_reasons"].as_array().into_iter().flatten() {
        println!("  wrong reason: {} {}: {}", w["account"], w["category"], w["summary"]);
    }
    for m in reasons["missed_reasons"].as_array().into_iter().flatten() {
        println!("  missed reason: {} {}", m["account"], m["category"]);
    }
    let ingest = &report["ingest"];
    println!(
        "  ingested {} segments from {} (refused: {})",
        ingest["segments"], ingest["documents"], ingest["refused"]
    );
    let ranking = &report["ranking"];
    println!(
        "\nRanking: AUC at-risk vs healthy {}, with watch {}",
        num(&ranking["auc_at_risk_vs_healthy"]),
        num(&ranking["auc_at_risk_and_watch_vs_healthy"])
    );
    for a in ranking["accounts"].as_array().into_iter().flatten() {
        println!(
            "  {:<12} {:>5.1} {:<20} expected {:<8} actions {}",
            a["account"].as_str().unwrap_or(""),
            a["score"].as_f64().unwrap_or(0.0),
            a["level"].as_str().unwrap_or(""),
            a["expected"].as_str().unwrap_or("-"),
            a["actions"]
        );
        for r in a["reasons"].as_array().into_iter().flatten() {
            println!(
                "      {} ({:.0} points)",
                r["summary"].as_str().unwrap_or(""),
                r["contribution"].as_f64().unwrap_or(0.0)
            );
            for q in r["quotes"].as_array().into_iter().flatten() {
                println!("        \"{}\"", q["quote"].as_str().unwrap_or(""));
            }
        }
    }
    let evidence = &report["evidence"];
    println!(
        "\nEvidence precision {} ({} of {} quotes verbatim)",
        num(&evidence["precision"]),
        evidence["verbatim"],
        evidence["quotes"]
    );
    for miss in evidence["misses"].as_array().into_iter().flatten() {
        println!("  not found: {} {}: {}", miss["account"], miss["document"], miss["quote"]);
    }
    let themes = &report["themes"];
    println!(
        "\nTheme recall {} ({} of {} planted), trend agreement {}, unassigned share {}",
        num(&themes["recall"]),
        themes["found"],
        themes["planted"],
        num(&themes["trend_agreement"]),
        num(&themes["unassigned_share"])
    );
    for t in themes["details"].as_array().into_iter().flatten() {
        println!("  {:<26} found {:<5} as {}", t["id"].as_str().unwrap_or(""), t["found"], t["theme"]);
    }
    for r in report["resolved"].as_array().into_iter().flatten() {
        println!(
            "\nResolved {} ({}): score {}, not at high risk: {}",
            r["account"],
            r["topic"],
            num(&r["score"]),
            r["not_high"]
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_counts_ties_half() {
        assert_eq!(auc(&[3.0, 2.0], &[1.0]), Some(1.0));
        assert_eq!(auc(&[1.0], &[1.0, 0.0]), Some(0.75));
        assert_eq!(auc(&[], &[1.0]), None);
    }

    #[test]
    fn verbatim_allows_whitespace_and_placeholders_only() {
        let mut refs = References::default();
        refs.add("acme", "Call me at +1 (312) 555-0147 about the\n  invoice, please.".into());
        assert!(refs.contains("acme", "Call me at [PHONE] about the invoice, please."));
        assert!(refs.contains("acme", "about the invoice"));
        assert!(!refs.contains("acme", "about the invoices"));
        assert!(!refs.contains("beta", "about the invoice"));
    }

    #[test]
    fn finds_speakers_of_both_transcript_formats() {
        let names = transcript_speakers(
            "<v Sam Ortiz>Hi.\n00:00:01,000 --> 00:00:02,000\nDana Lee: Hello: there\nwrapped line\n",
        );
        assert_eq!(names.into_iter().collect::<Vec<_>>(), vec!["Dana Lee", "Sam Ortiz"]);
    }
}
