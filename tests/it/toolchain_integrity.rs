//! Integrity: a digest or size that differs from the lock is exit 3, the message says what was
//! expected and what arrived (never a password from a URL), and nothing is installed.

use crate::support::{Kind, Lock, Pin, Server, TestEnv, host_platform, sha256_hex};

/// `pin` with a lock digest that is not the digest of what the mirror serves.
fn with_wrong_digest(mut pin: Pin) -> Pin {
    let artifact = pin.artifact_mut();
    artifact.sha256 = sha256_hex(b"not the bytes the mirror serves");
    pin
}

#[test]
fn a_wrong_digest_exits_3_says_what_differs_and_installs_nothing() {
    let pin = with_wrong_digest(Pin::fixture("fixture-tool", "1.2.3", Kind::TarGz));
    let lock = Lock::new(vec![pin.clone()]);
    let (mut env, server) = TestEnv::served(&lock);
    // Credentials in the mirror URL must never reach the output.
    env.mirror(format!(
        "http://ci-user:s3cret-token@127.0.0.1:{}",
        server.port()
    ));
    let artifact = pin.artifact();

    let run = env.op(&["toolchain", "install"]);
    run.code(3)
        .stderr_has("fixture-tool")
        .stderr_has("1.2.3")
        .stderr_has(host_platform())
        .stderr_has(&artifact.mirror_path())
        .stderr_has("expected")
        .stderr_has(&artifact.sha256)
        .stderr_has(&sha256_hex(&artifact.body))
        .stderr_has(&artifact.body.len().to_string())
        .stderr_lacks("s3cret-token");
    env.assert_nothing_installed();
    assert!(server.gets(&artifact.server_path()) >= 1);
    env.op(&["toolchain", "which", "fixture-tool"]).code(1);
}

const PASSWORD: &str = "hunter2-lock-secret";

/// A fixture pin whose lock URL carries a user and [`PASSWORD`], served by a new server at
/// `path` (returned).
fn pin_with_password() -> (Server, Pin, &'static str) {
    let server = Server::http();
    let mut pin = Pin::fixture("fixture-tool", "1.2.3", Kind::Raw);
    let path = "github.com/acme/fixture-tool/releases/download/v1.2.3/fixture-tool";
    pin.artifact_mut().url = format!(
        "http://deploy-bot:{PASSWORD}@127.0.0.1:{}/{path}",
        server.port()
    );
    let body = pin.artifact().body.clone();
    server.route(&format!("/{path}"), crate::support::Route::new(body));
    (server, pin, path)
}

#[test]
fn a_password_in_the_lock_url_is_redacted_from_the_digest_message() {
    let (server, pin, path) = pin_with_password();
    let pin = with_wrong_digest(pin);
    let env = TestEnv::new();
    env.write_lock(&Lock::new(vec![pin]));

    env.op(&["toolchain", "install"])
        .code(3)
        .stderr_has(&format!("127.0.0.1:{}/{path}", server.port()))
        .stderr_lacks(PASSWORD);
    env.assert_nothing_installed();
    assert_eq!(
        server.gets(&format!("/{path}")),
        1,
        "{:?}",
        server.requests()
    );
}

#[test]
fn a_password_in_the_lock_url_is_never_printed_nor_stored() {
    let (_server, pin, _path) = pin_with_password();
    let env = TestEnv::new();
    env.write_lock(&Lock::new(vec![pin]));

    let mut printed = String::new();
    for args in [
        &["toolchain", "install"][..],
        &["toolchain", "list"],
        &["toolchain", "list", "--json"],
        &["toolchain", "list", "--markdown"],
        &["toolchain", "verify"],
    ] {
        let run = env.op(args);
        run.success();
        printed.push_str(&run.stdout);
        printed.push_str(&run.stderr);
    }
    assert!(printed.contains("***@127.0.0.1"), "{printed}");
    assert!(!printed.contains(PASSWORD), "{printed}");
    for file in crate::support::walk(&env.cache()) {
        if file.is_file() {
            let text = String::from_utf8_lossy(&std::fs::read(&file).unwrap()).into_owned();
            assert!(
                !text.contains(PASSWORD),
                "{} holds the password",
                file.display()
            );
        }
    }
}

#[test]
fn a_wrong_digest_from_a_file_mirror_exits_3() {
    let pin = with_wrong_digest(Pin::fixture("fixture-tool", "1.2.3", Kind::Zip));
    let lock = Lock::new(vec![pin.clone()]);
    let mut env = TestEnv::new();
    let url = lock.write_file_mirror(&env.root().join("mirror"));
    env.mirror(url);
    env.write_lock(&lock);

    env.op(&["toolchain", "install"])
        .code(3)
        .stderr_has("fixture-tool")
        .stderr_has(&pin.artifact().sha256);
    env.assert_nothing_installed();
}

#[test]
fn a_body_longer_than_the_locked_size_exits_3() {
    let mut pin = Pin::fixture("fixture-tool", "1.2.3", Kind::Raw);
    // The digest matches what is served: only the size check can catch this.
    let served = pin.artifact().body.len() as u64;
    pin.artifact_mut().size = Some(served - 10);
    let lock = Lock::new(vec![pin.clone()]);
    let (env, _server) = TestEnv::served(&lock);

    env.op(&["toolchain", "install"])
        .code(3)
        .stderr_has("fixture-tool");
    env.assert_nothing_installed();
}

#[test]
fn a_body_shorter_than_the_locked_size_exits_3() {
    let mut pin = Pin::fixture("fixture-tool", "1.2.3", Kind::TarGz);
    let served = pin.artifact().body.len() as u64;
    pin.artifact_mut().size = Some(served + 10);
    let lock = Lock::new(vec![pin.clone()]);
    let (env, _server) = TestEnv::served(&lock);

    env.op(&["toolchain", "install"])
        .code(3)
        .stderr_has("fixture-tool");
    env.assert_nothing_installed();
}

#[test]
fn a_matching_size_installs() {
    let mut pin = Pin::fixture("fixture-tool", "1.2.3", Kind::Zip);
    let served = pin.artifact().body.len() as u64;
    pin.artifact_mut().size = Some(served);
    let lock = Lock::new(vec![pin.clone()]);
    let (env, _server) = TestEnv::served(&lock);

    env.op(&["toolchain", "install"]).success();
    crate::toolchain_install::assert_installed(&env, &lock);
}

#[test]
fn a_corrupt_artifact_among_good_ones_exits_3_and_is_not_installed() {
    // Two tools, one corrupt: the install fails with exit 3, and the corrupt one is not in tools/.
    let good = Pin::fixture("fixture-good", "1.0.0", Kind::Raw);
    let bad = with_wrong_digest(Pin::fixture("fixture-bad", "1.0.0", Kind::Raw));
    let lock = Lock::new(vec![good.clone(), bad.clone()]);
    let (env, _server) = TestEnv::served(&lock);

    env.op(&["toolchain", "install"])
        .code(3)
        .stderr_has("fixture-bad");
    assert!(
        !env.installed().contains(&bad.dir_name(host_platform())),
        "{:?}",
        env.installed()
    );
    assert_eq!(env.staging(), Vec::<String>::new());
}
