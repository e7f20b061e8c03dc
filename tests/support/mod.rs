//! Running the real `undertone` binary for end-to-end tests: on a free loopback port, with
//! a temporary data directory, stopped with SIGTERM like an operator would.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tonic::Request;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;

pub const TENANT: &str = "e2e-tenant";
/// Test-only API keys, hashed in `tests/support/api-keys.toml`: an admin key on the test
/// tenants, and a read key on `TENANT`.
pub const ADMIN_KEY: &str = "ut_e2eadmin_0123456789abcdef0123456789abcdef";
pub const READ_KEY: &str = "ut_e2ereader_0123456789abcdef0123456789abcdef";
const KEYS_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/support/api-keys.toml");
const START_TIMEOUT: Duration = Duration::from_secs(120);

pub struct Server {
    child: Child,
    pub addr: String,
}

impl Server {
    /// Starts `undertone serve` on an ephemeral port, storing data under `data_dir`.
    pub fn start(data_dir: &Path) -> Self {
        Self::start_with(data_dir, &[("UNDERTONE_INTERNAL_PEOPLE", "Sam Ortiz, Priya Raman, Marcus Bell")])
    }

    /// The same with `env` set on top (the sample corpus's vendor domain is always internal).
    pub fn start_with(data_dir: &Path, env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_undertone"));
        command
            .arg("serve")
            .env("UNDERTONE_LISTEN", "127.0.0.1:0")
            .env("UNDERTONE_METRICS_LISTEN", "off")
            .env("UNDERTONE_DATA_DIR", data_dir)
            .env("UNDERTONE_LOG", "warn")
            // The sample corpus's vendor: its people's mail is internal.
            .env("UNDERTONE_INTERNAL_DOMAINS", "brightloop.io")
            .env("UNDERTONE_API_KEYS_FILE", KEYS_FILE)
            .env_remove("UNDERTONE_AUTH")
            .env_remove("UNDERTONE_CONFIG")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        store_env(&mut command, data_dir);
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("undertone binary starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let started = Instant::now();
        let mut lines = BufReader::new(stdout).lines();
        let addr = loop {
            assert!(started.elapsed() < START_TIMEOUT, "server did not start in time");
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(addr) = line.strip_prefix("undertone listening on ") {
                        break format!("http://{}", addr.trim());
                    }
                }
                _ => panic!(
                    "server exited before listening (are the weights fetched? run scripts/fetch-models)"
                ),
            }
        };
        // Keep reading, so a chatty server never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Self { child, addr }
    }

    pub async fn channel(&self) -> Channel {
        Channel::from_shared(self.addr.clone()).expect("valid address").connect().await.expect("connects")
    }

    /// SIGTERM, then waits for a clean exit.
    pub fn stop(mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let status = self.child.wait().expect("server exits");
        assert!(status.success(), "server exited with {status}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// The store the server runs on: the embedded one, or with `UNDERTONE_E2E_STORE=qdrant`
/// the Qdrant server at `QDRANT_URL` (and `QDRANT_API_KEY`), in a collection named after
/// `data_dir` so a restart on the same data finds the same collection. Those collections are
/// left on the server (names start with `undertone_e2e_`).
fn store_env(command: &mut Command, data_dir: &Path) {
    for key in
        ["UNDERTONE_STORE", "UNDERTONE_QDRANT_URL", "UNDERTONE_QDRANT_API_KEY", "UNDERTONE_QDRANT_COLLECTION"]
    {
        command.env_remove(key);
    }
    if std::env::var("UNDERTONE_E2E_STORE").as_deref() != Ok("qdrant") {
        return;
    }
    let url =
        std::env::var("QDRANT_URL").expect("UNDERTONE_E2E_STORE=qdrant needs QDRANT_URL (a Qdrant gRPC URL)");
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    std::hash::Hash::hash(&data_dir, &mut hasher);
    let collection = format!("undertone_e2e_{:016x}", std::hash::Hasher::finish(&hasher));
    command
        .env("UNDERTONE_STORE", "qdrant")
        .env("UNDERTONE_QDRANT_URL", url)
        .env("UNDERTONE_QDRANT_COLLECTION", collection);
    if let Ok(key) = std::env::var("QDRANT_API_KEY") {
        command.env("UNDERTONE_QDRANT_API_KEY", key);
    }
}

/// `message` scoped to the test tenant, with the admin key.
pub fn scoped<T>(message: T) -> Request<T> {
    scoped_as(TENANT, Some(ADMIN_KEY), message)
}

/// `message` for `tenant`, with `key` when given.
pub fn scoped_as<T>(tenant: &str, key: Option<&str>, message: T) -> Request<T> {
    let mut request = Request::new(message);
    request.metadata_mut().insert("x-tenant-id", MetadataValue::try_from(tenant).expect("ascii tenant"));
    if let Some(key) = key {
        let bearer = MetadataValue::try_from(format!("Bearer {key}")).expect("ascii key");
        request.metadata_mut().insert("authorization", bearer);
    }
    request
}
