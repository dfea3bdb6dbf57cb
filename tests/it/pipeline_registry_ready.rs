//! `op start-registry` against the started registry: it waits for `https://…/v2/` on a real
//! loopback socket (late, failing, silent and dead listeners), copies only the certificate and
//! never a private key, needs no program inside the image, and checks the system trust store
//! instead of only its own record.

use std::io::Write;
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::pipeline_registry::{
    anchor, assert_copies_only_the_certificate, certs, fixture_cert, linux_trust, registry, start,
    trust_commands,
};
use crate::support::server::dead_url;
use crate::support::tls::Tls;
use crate::support::wire::read_head;
use crate::support::{Reply, Route, walk};

/// A TLS registry stand-in on `port` that starts listening only `after` this long (until then a
/// connection is refused) and answers every `GET /v2/` with 401, as a registry with auth does.
struct LateRegistry {
    stop: Arc<AtomicBool>,
    answered: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl LateRegistry {
    fn start(port: u16, after: Duration) -> LateRegistry {
        let stop = Arc::new(AtomicBool::new(false));
        let answered = Arc::new(AtomicBool::new(false));
        let config = Tls::throwaway().config;
        let (thread_stop, thread_answered) = (stop.clone(), answered.clone());
        let thread = std::thread::spawn(move || {
            let started = Instant::now();
            while started.elapsed() < after {
                if thread_stop.load(Ordering::SeqCst) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind the late port");
            listener.set_nonblocking(true).unwrap();
            while !thread_stop.load(Ordering::SeqCst) {
                let Ok((stream, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                stream.set_nonblocking(false).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(5)))
                    .unwrap();
                let connection = rustls::ServerConnection::new(config.clone()).unwrap();
                let mut tls = rustls::StreamOwned::new(connection, stream);
                if let Ok(Some(head)) = read_head(&mut tls) {
                    if head.starts_with("GET /v2/ ") {
                        thread_answered.store(true, Ordering::SeqCst);
                    }
                    let _ = tls.write_all(
                        b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    );
                    tls.conn.send_close_notify();
                    let _ = tls.flush();
                }
            }
        });
        LateRegistry {
            stop,
            answered,
            thread: Some(thread),
        }
    }
}

impl Drop for LateRegistry {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn port_of(url: &str) -> u16 {
    url.rsplit(':').next().unwrap().parse().unwrap()
}

#[test]
fn waits_until_the_registry_answers() {
    let mut pipeline = registry();
    let url = dead_url().replace("http://", "https://");
    let late = LateRegistry::start(port_of(&url), Duration::from_millis(1500));
    pipeline.set("OP_LOCAL_REGISTRY_URL", &url);
    let run = start(&pipeline, &[]);
    run.success()
        .stderr_has(&format!(
            "Waiting up to 30 s for the registry at {url}/v2/ ..."
        ))
        .stderr_has(&format!("Registry answers at {url}/v2/ (HTTP 401)."));
    assert!(late.answered.load(Ordering::SeqCst), "never asked /v2/");
    assert!(
        run.elapsed >= Duration::from_millis(1500),
        "returned before the registry listened: {:?}",
        run.elapsed
    );
    assert!(certs(&pipeline).join("tls.crt").is_file());
}

#[test]
fn a_registry_that_is_not_ready_yet_is_asked_again() {
    let pipeline = registry();
    pipeline.server.route(
        "/v2/",
        Route::new("{}").script([Reply::Status(503), Reply::Status(502)]),
    );
    start(&pipeline, &[]).success().stderr_has("(HTTP 200).");
    assert_eq!(pipeline.server.gets("/v2/"), 3);
}

#[test]
fn a_registry_that_never_answers_times_out_naming_the_url() {
    let mut pipeline = registry();
    let url = dead_url().replace("http://", "https://");
    pipeline.set("OP_LOCAL_REGISTRY_URL", &url);
    let run = start(&pipeline, &["--ready-timeout", "1"]);
    run.code(1)
        .stderr_has(&format!(
            "The registry did not answer at {url}/v2/ within 1 s"
        ))
        .stderr_has("hint: see `docker logs registry`");
    assert!(run.elapsed < Duration::from_secs(10), "{:?}", run.elapsed);
    assert!(!certs(&pipeline).join("tls.crt").exists());
    assert!(
        !pipeline
            .argv_of("docker")
            .iter()
            .any(|argv| argv[0] == "cp"),
        "nothing copied from a registry that is not up"
    );

    // A listener that takes the connection but never says a word: still bounded.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("https://127.0.0.1:{}", silent.local_addr().unwrap().port());
    pipeline.set("OP_LOCAL_REGISTRY_URL", &url);
    let run = start(&pipeline, &["--ready-timeout", "2"]);
    run.code(1).stderr_has(&format!(
        "The registry did not answer at {url}/v2/ within 2 s"
    ));
    assert!(run.elapsed < Duration::from_secs(12), "{:?}", run.elapsed);

    // An answer that is not a registry's.
    let answering = pipeline.server.url();
    pipeline.set("OP_LOCAL_REGISTRY_URL", &answering);
    pipeline
        .server
        .route("/v2/", Route::new("").then(Reply::Status(404)));
    start(&pipeline, &["--ready-timeout", "1"])
        .code(1)
        .stderr_has("(last: HTTP 404)");

    start(&pipeline, &["--ready-timeout", "0"]).code(2);
}

#[test]
fn copies_only_the_certificate_never_the_private_key() {
    let mut pipeline = registry();
    // An image with shell tools, so that a probe inside it would pass.
    pipeline.set("FIXTURE_EXEC_OK", "1");
    let certs = certs(&pipeline);
    start(&pipeline, &[]).success();
    let copies: Vec<Vec<String>> = pipeline
        .argv_of("docker")
        .into_iter()
        .filter(|argv| argv[0] == "cp")
        .collect();
    assert_eq!(copies.len(), 1, "{copies:?}");
    assert_copies_only_the_certificate(&copies[0], &certs);
    for argv in pipeline.argv_of("docker") {
        assert!(
            !argv.iter().any(|arg| arg.contains("tls.key")),
            "docker asked for the key: {argv:?}"
        );
    }
    for path in walk(pipeline.env.root()) {
        // Every file but the fixtures' own scripts and the tool cache.
        let fixture = path.starts_with(pipeline.host_path("docker").parent().unwrap());
        if path.is_file() && !fixture && !path.starts_with(pipeline.env.cache()) {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                !text.contains("PRIVATE KEY"),
                "a private key on the host: {}",
                path.display()
            );
        }
    }
    assert_eq!(
        std::fs::read_to_string(certs.join("tls.crt")).unwrap(),
        fixture_cert("one")
    );

    // A key an earlier version left next to the certificate: op says so, and leaves it to the user.
    let stale = certs.join("tls.key");
    std::fs::write(&stale, "old key\n").unwrap();
    start(&pipeline, &[])
        .success()
        .stderr_has(&format!("warning: {} holds a private key", stale.display()));
}

#[test]
fn the_certificate_probe_needs_no_program_inside_the_image() {
    let pipeline = registry();
    let run = start(&pipeline, &[]);
    run.success()
        .stderr_lacks("executable file not found")
        .stderr_lacks("Timed out");
    assert!(run.elapsed < Duration::from_secs(10), "{:?}", run.elapsed);
    assert!(
        !pipeline
            .argv_of("docker")
            .iter()
            .any(|argv| argv[0] == "exec"),
        "{:?}",
        pipeline.argv_of("docker")
    );
    assert!(certs(&pipeline).join("tls.crt").is_file());

    // The container has no certificate to copy: one clear failure, no loop.
    pipeline.clear_log();
    pipeline.host_tool(
        "docker",
        "case \"$1\" in ps) echo abc123 ;; cp) echo 'Error response from daemon: Could not find the file' >&2; exit 1 ;; esac",
    );
    start(&pipeline, &[])
        .code(1)
        .stderr_has("docker cp abc123:/etc/envoy/certs/tls.crt")
        .stderr_has("hint: see `docker logs registry`");
    let copies = pipeline
        .argv_of("docker")
        .iter()
        .filter(|argv| argv[0] == "cp")
        .count();
    assert_eq!(copies, 1);
}

/// The record of an install is not enough: with the certificate gone from the store, op
/// installs it again.
#[test]
fn reinstalls_when_the_certificate_left_the_system_store() {
    let mut pipeline = registry();
    pipeline.set("FIXTURE_COLIMA_STATUS", "1");
    let cert = certs(&pipeline).join("tls.crt");
    let anchor = anchor(&pipeline);
    start(&pipeline, &[])
        .success()
        .stderr_has("Cert installed for system trust.");
    assert_eq!(
        std::fs::read_to_string(&anchor).unwrap(),
        fixture_cert("one")
    );

    pipeline.clear_log();
    start(&pipeline, &[])
        .success()
        .stderr_has("Cert already trusted (idempotent); skipping install.");
    assert!(trust_commands(&pipeline).is_empty());

    // Removed from the store (anchor and bundle), the record left behind.
    std::fs::remove_file(&anchor).unwrap();
    let bundle = pipeline
        .env
        .root()
        .join("trust-store/etc/ssl/certs/ca-certificates.crt");
    std::fs::write(&bundle, "").unwrap();
    pipeline.clear_log();
    start(&pipeline, &[])
        .success()
        .stderr_lacks("already trusted")
        .stderr_has("is no longer in the system trust store")
        .stderr_has("Cert installed for system trust.");
    assert_eq!(trust_commands(&pipeline), linux_trust(&pipeline, &cert));
    assert_eq!(
        std::fs::read_to_string(&anchor).unwrap(),
        fixture_cert("one")
    );

    // The anchor is there but the bundle never got it (update-ca-certificates did not run).
    std::fs::write(&bundle, "").unwrap();
    pipeline.clear_log();
    start(&pipeline, &[])
        .success()
        .stderr_has("is no longer in the system trust store");
    assert_eq!(trust_commands(&pipeline), linux_trust(&pipeline, &cert));
}
