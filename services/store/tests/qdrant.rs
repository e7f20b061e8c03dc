//! The conformance suite on a Qdrant server, and how the server backend fails and recovers.
//!
//! Set `QDRANT_URL` to a server's gRPC endpoint (and `QDRANT_API_KEY` if it has one) to run
//! the suite: each test gets a fresh collection with a unique name, dropped when the test
//! ends. Without it those tests print why they are skipped and pass. The tests of an
//! unreachable or silent server need no server and always run.

mod conformance;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use conformance::{DIM, account, document, key, tenant, upsert};
use undertone_core::SourceKind;
use undertone_store::{EvidenceStore, QdrantConfig, QdrantStore, Quantization, SegmentFilter, StoreError};

/// The server's URL, or `None` after printing why the test is skipped.
fn server_url() -> Option<String> {
    match std::env::var("QDRANT_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            eprintln!(
                "skipped: QDRANT_URL is not set (a Qdrant server's gRPC URL, e.g. http://127.0.0.1:6334)"
            );
            None
        }
    }
}

/// A collection name no other test run uses.
fn unique_collection(test: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("undertone_test_{test}_{}_{nanos}_{n}", std::process::id())
}

fn config(url: &str, collection: &str) -> QdrantConfig {
    QdrantConfig {
        url: url.to_owned(),
        api_key: std::env::var("QDRANT_API_KEY").ok().filter(|key| !key.is_empty()),
        collection: collection.to_owned(),
        ..QdrantConfig::default()
    }
}

/// A store on a fresh collection, dropped with the guard (also when the test fails).
struct Fresh(Option<QdrantStore>);

impl Fresh {
    fn open(test: &str) -> Option<Self> {
        Self::with(test, |config| config)
    }

    fn with(test: &str, adjust: impl FnOnce(QdrantConfig) -> QdrantConfig) -> Option<Self> {
        let url = server_url()?;
        let config = adjust(config(&url, &unique_collection(test)));
        Some(Self(Some(QdrantStore::open(&config, DIM).expect("open the server store"))))
    }

    fn store(&self) -> &QdrantStore {
        self.0.as_ref().expect("open until dropped")
    }
}

impl Drop for Fresh {
    fn drop(&mut self) {
        if let Some(store) = self.0.take() {
            let name = store.collection().to_owned();
            if let Err(err) = store.drop_collection() {
                eprintln!("could not drop test collection {name}: {err}");
            }
        }
    }
}

impl std::ops::Deref for Fresh {
    type Target = QdrantStore;

    fn deref(&self) -> &QdrantStore {
        self.store()
    }
}

fn fresh(test: &str) -> Option<Fresh> {
    Fresh::open(test)
}

conformance::test_each_check!();

#[test]
fn whole_suite_on_one_collection() {
    let Some(fresh) = Fresh::open("whole") else { return };
    conformance::run_conformance(fresh.store());
}

#[test]
fn whole_suite_with_int8_quantization() {
    let Some(fresh) = Fresh::with("int8", |c| QdrantConfig { quantization: Quantization::Int8, ..c }) else {
        return;
    };
    conformance::run_conformance(fresh.store());
}

#[test]
fn survives_reopen() {
    let Some(fresh) = Fresh::open("reopen") else { return };
    let config = config(&server_url().unwrap(), fresh.store().collection());
    conformance::survives_reopen(&|| -> Box<dyn EvidenceStore> {
        Box::new(QdrantStore::open(&config, DIM).expect("reopen the collection"))
    });
}

#[test]
fn a_collection_of_another_dimension_is_refused_with_the_reason() {
    let Some(fresh) = Fresh::open("dim") else { return };
    let config = config(&server_url().unwrap(), fresh.store().collection());
    let err = QdrantStore::open(&config, DIM * 2).expect_err("another dimension");
    let message = err.to_string();
    assert!(matches!(err, StoreError::Config(_)), "{message}");
    assert!(message.contains(&format!("holds {DIM}-d vectors, the model makes {}-d", DIM * 2)), "{message}");
    assert!(QdrantStore::open(&config, DIM).is_ok(), "the collection itself is intact");
}

/// Quick retries, so failure tests end in seconds.
fn impatient(url: String) -> QdrantConfig {
    QdrantConfig {
        timeout_secs: 1,
        connect_timeout_secs: 1,
        retry_attempts: 3,
        retry_backoff_ms: 50,
        retry_max_backoff_ms: 100,
        ..config(&url, &unique_collection("failure"))
    }
}

#[test]
fn an_unreachable_server_is_unavailable_within_the_retry_bound() {
    // A port nothing listens on: bound, then released.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let started = Instant::now();
    let err =
        QdrantStore::open(&impatient(format!("http://127.0.0.1:{port}")), DIM).expect_err("nothing listens");
    assert!(matches!(err, StoreError::Unavailable(_)), "{err}");
    assert!(err.to_string().contains("3 tries"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10), "gave up after {:?}", started.elapsed());
}

#[test]
fn a_silent_server_times_out_as_unavailable() {
    // Accepts connections and never answers: a hung server.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let held: Vec<TcpStream> = listener.incoming().map_while(Result::ok).collect();
        drop(held);
    });
    let started = Instant::now();
    let err = QdrantStore::open(&impatient(url), DIM).expect_err("no answer");
    assert!(matches!(err, StoreError::Unavailable(_)), "{err}");
    assert!(started.elapsed() < Duration::from_secs(20), "gave up after {:?}", started.elapsed());
}

#[test]
fn writes_fail_while_the_server_is_away_and_work_when_it_returns() {
    let Some(url) = server_url() else { return };
    let proxy = Proxy::start(&url);
    let config = impatient(proxy.url());
    let fresh = Fresh(Some(QdrantStore::open(&config, DIM).expect("open through the proxy")));
    let store = fresh.store();
    let acme = account("acme");
    let before = key("failover", SourceKind::Email, "before");
    upsert(store, &document(&before, &acme, 2));

    proxy.set_down(true);
    let during = key("failover", SourceKind::Email, "during");
    let err = store.upsert_document(&during, &acme, &document(&during, &acme, 2)).expect_err("server away");
    assert!(matches!(err, StoreError::Unavailable(_)), "{err}");
    assert!(matches!(
        store.count(&SegmentFilter::tenant(tenant("failover"))),
        Err(StoreError::Unavailable(_))
    ));

    proxy.set_down(false);
    upsert(store, &document(&during, &acme, 2));
    assert_eq!(store.count(&SegmentFilter::tenant(tenant("failover"))).expect("count"), 4, "nothing lost");
}

/// A TCP forwarder to the server that can play "server away": while down it cuts every
/// open connection and closes new ones at once.
struct Proxy {
    addr: String,
    down: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    fn start(server_url: &str) -> Self {
        let target = server_url.trim_start_matches("http://").trim_end_matches('/').to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let down = Arc::new(AtomicBool::new(false));
        let open = Arc::new(Mutex::new(Vec::new()));
        let (accept_down, accept_open) = (down.clone(), open.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().map_while(Result::ok) {
                if accept_down.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(&target) else { continue };
                let mut open = accept_open.lock().unwrap();
                open.extend([client.try_clone().unwrap(), server.try_clone().unwrap()]);
                pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
                pipe(server, client);
            }
        });
        Self { addr, down, open }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
        if down {
            for stream in self.open.lock().unwrap().drain(..) {
                let _ = stream.shutdown(Shutdown::Both);
            }
        }
    }
}

/// Copies bytes from `from` to `to` on a thread until either side closes.
fn pipe(mut from: TcpStream, mut to: TcpStream) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        while let Ok(n @ 1..) = from.read(&mut buf) {
            if to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Both);
    });
}
