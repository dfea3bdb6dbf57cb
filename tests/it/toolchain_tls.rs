//! HTTPS trust: `SSL_CERT_FILE` is read only if it is a regular file under 4 MiB holding PEM
//! certificates (exit 2 naming it otherwise, a FIFO or `/dev/zero` included), and a server whose
//! certificate no trusted CA signed is a sentence naming the host, with what to do.

use std::path::Path;
use std::time::Duration;

use crate::support::tls::Tls;
use crate::support::{Kind, Lock, Pin, Server, TestEnv};
use crate::toolchain_install::assert_installed;

fn one_tool() -> Lock {
    Lock::new(vec![Pin::fixture("fixture-tool", "1.2.3", Kind::Raw)])
}

/// A lock served by an HTTPS mirror whose certificate a throwaway CA signed.
fn https_mirror() -> (TestEnv, Server, Tls, Lock) {
    let lock = one_tool();
    let tls = Tls::throwaway();
    let server = Server::https(&tls);
    server.publish(&lock);
    let mut env = TestEnv::new();
    env.mirror(server.url());
    env.write_lock(&lock);
    (env, server, tls, lock)
}

/// Runs `op toolchain install` with `SSL_CERT_FILE=path` (bounded: a hang is a failure) and
/// expects exit 2 naming the file and saying `what`, with no request made.
#[track_caller]
fn refused(env: &mut TestEnv, server: &Server, path: &Path, what: &str) {
    env.set("SSL_CERT_FILE", path.to_str().unwrap());
    env.spawn(&["toolchain", "install"])
        .wait(Duration::from_secs(20))
        .code(2)
        .stderr_has("SSL_CERT_FILE")
        .stderr_has(&path.display().to_string())
        .stderr_has(what)
        .faster_than(Duration::from_secs(10));
    assert_eq!(server.request_count(), 0, "{:?}", server.requests());
    env.assert_nothing_installed();
}

/// [`refused`] for an `SSL_CERT_FILE` named `name` holding `contents`.
#[track_caller]
fn refused_file(name: &str, contents: &str, what: &str) {
    let (mut env, server, _tls, _lock) = https_mirror();
    let path = env.write_file(name, contents);
    refused(&mut env, &server, &path, what);
}

#[test]
fn a_server_certificate_from_an_unknown_ca_is_explained() {
    let (env, server, _tls, _lock) = https_mirror();

    env.op(&["toolchain", "install"])
        .code(4)
        .stderr_has("the server's certificate for 127.0.0.1 is not signed by a trusted CA")
        .stderr_has("SSL_CERT_FILE")
        .stderr_lacks("InvalidCertificate(");
    // Not retried: an untrusted certificate will not become trusted.
    assert_eq!(server.request_count(), 0, "{:?}", server.requests());
    env.assert_nothing_installed();
}

#[test]
fn an_ssl_cert_file_with_another_ca_is_named_in_the_hint() {
    let (mut env, _server, _tls, _lock) = https_mirror();
    let other = env.root().join("other-ca.pem");
    Tls::throwaway().write_ca(&other);
    env.set("SSL_CERT_FILE", other.to_str().unwrap());

    env.op(&["toolchain", "install"])
        .code(4)
        .stderr_has("not signed by a trusted CA")
        .stderr_has(&other.display().to_string());
}

#[test]
fn the_right_ca_in_ssl_cert_file_is_trusted() {
    let (mut env, _server, tls, lock) = https_mirror();
    let ca = env.root().join("ca.pem");
    tls.write_ca(&ca);
    env.set("SSL_CERT_FILE", ca.to_str().unwrap());

    env.op(&["toolchain", "install"]).success();
    assert_installed(&env, &lock);
}

#[test]
fn an_ssl_cert_file_without_pem_certificates_is_exit_2_naming_it() {
    refused_file(
        "not-a-bundle.txt",
        "hello, not a certificate\n",
        "no PEM certificates",
    );
}

#[test]
fn an_ssl_cert_file_with_a_broken_certificate_is_exit_2_naming_it() {
    let broken = "-----BEGIN CERTIFICATE-----\nAAAAAAAA\n-----END CERTIFICATE-----\n";
    refused_file("broken.pem", broken, "certificate 1");
}

#[test]
fn an_empty_ssl_cert_file_is_exit_2_naming_it() {
    refused_file("empty.pem", "", "no PEM certificates");
}

#[test]
fn an_ssl_cert_file_over_4_mib_is_exit_2_naming_it() {
    let (mut env, server, tls, _lock) = https_mirror();
    // A good CA followed by padding: today's parser would skip the padding and accept it.
    let padding = "# padding\n".repeat(5 * 1024 * 1024 / 10);
    let path = env.write_file("huge.pem", &format!("{}{padding}", tls.ca_pem));
    refused(&mut env, &server, &path, "4 MiB");
}

#[cfg(unix)]
#[test]
fn an_ssl_cert_file_that_is_a_fifo_is_exit_2_and_does_not_hang() {
    let (mut env, server, _tls, _lock) = https_mirror();
    let path = env.root().join("ca.fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&path)
        .status()
        .expect("run mkfifo");
    assert!(made.success());
    refused(&mut env, &server, &path, "not a regular file");
}

#[cfg(unix)]
#[test]
fn an_ssl_cert_file_linked_to_dev_zero_is_exit_2_and_reads_nothing() {
    let (mut env, server, _tls, _lock) = https_mirror();
    let path = env.root().join("ca.pem");
    std::os::unix::fs::symlink("/dev/zero", &path).unwrap();
    refused(&mut env, &server, &path, "not a regular file");
}

#[test]
fn an_ssl_cert_file_that_is_a_directory_is_exit_2_naming_it() {
    let (mut env, server, _tls, _lock) = https_mirror();
    let path = env.root().join("certs.d");
    std::fs::create_dir(&path).unwrap();
    refused(&mut env, &server, &path, "not a regular file");
}
