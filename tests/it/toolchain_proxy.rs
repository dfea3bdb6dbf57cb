//! Proxies from the environment: HTTPS_PROXY tunnels (CONNECT) to an HTTPS mirror, HTTP_PROXY
//! carries an http:// mirror, and NO_PROXY bypasses them. The mirror host `mirror.invalid`
//! cannot resolve, so only a proxy can reach it.

use crate::support::tls::Tls;
use crate::support::{Route, Server, TestEnv};
use crate::toolchain_install::{assert_installed, three_tools};

#[test]
fn https_proxy_tunnels_to_an_https_mirror() {
    let lock = three_tools();
    let tls = Tls::throwaway();
    let proxy = Server::https_behind_proxy(&tls);
    proxy.publish(&lock);
    let mut env = TestEnv::new();
    let ca = env.root().join("fixture-ca.pem");
    tls.write_ca(&ca);
    env.mirror("https://mirror.invalid")
        .set("HTTPS_PROXY", proxy.proxy_url())
        .set("SSL_CERT_FILE", ca.to_str().unwrap());
    env.write_lock(&lock);

    env.op(&["toolchain", "install"]).success();

    assert_installed(&env, &lock);
    let requests = proxy.requests();
    let connects: Vec<_> = requests
        .iter()
        .filter(|request| request.method == "CONNECT")
        .collect();
    assert!(!connects.is_empty(), "no CONNECT: {requests:?}");
    for connect in connects {
        assert_eq!(connect.target, "mirror.invalid:443", "{requests:?}");
    }
    for artifact in lock.artifacts() {
        assert_eq!(proxy.gets(&artifact.server_path()), 1, "{requests:?}");
    }
}

#[test]
fn http_proxy_carries_an_http_mirror() {
    let lock = three_tools();
    let proxy = Server::http();
    // A proxy sees the absolute URL as the request target.
    for artifact in lock.artifacts() {
        proxy.route(
            &format!("http://mirror.invalid/{}", artifact.mirror_path()),
            Route::new(artifact.body.clone()),
        );
    }
    let mut env = TestEnv::new();
    env.mirror("http://mirror.invalid")
        .set("HTTP_PROXY", proxy.url());
    env.write_lock(&lock);

    env.op(&["toolchain", "install"]).success();

    assert_installed(&env, &lock);
    for artifact in lock.artifacts() {
        let target = format!("http://mirror.invalid/{}", artifact.mirror_path());
        assert_eq!(proxy.gets(&target), 1, "{:?}", proxy.requests());
    }
}

#[test]
fn no_proxy_bypasses_the_proxy() {
    let lock = three_tools();
    let (mut env, mirror) = TestEnv::served(&lock);
    let proxy = Server::http();
    env.set("HTTP_PROXY", proxy.url())
        .set("HTTPS_PROXY", proxy.url())
        .set("NO_PROXY", "127.0.0.1");

    env.op(&["toolchain", "install"]).success();

    assert_installed(&env, &lock);
    assert_eq!(proxy.request_count(), 0, "{:?}", proxy.requests());
    assert_eq!(mirror.request_count(), 3, "{:?}", mirror.requests());
}
