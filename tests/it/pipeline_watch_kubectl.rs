//! `op watch-deployment` with the REAL kubectl of this machine (any version from 1.20 on), pinned
//! in a test lock and installed by `op` from a loopback HTTPS mirror with a throwaway CA, talking
//! to the tests' own Kubernetes API stand-in ([`Kube`]). flux stays a fixture stand-in (named so
//! in its script). Without a kubectl on this machine each test says so and skips.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::pipeline_bed::{FLUX, fixture};
use crate::pipeline_watch::watch_args;
use crate::support::kube::{Deployment, Kube, write_kubeconfig};
use crate::support::server::dead_url;
use crate::support::tls::Tls;
use crate::support::{
    Artifact, Kind, Lock, Pin, Run, SYSTEM_PATH, Server, TestEnv, host_platform, wait_until,
};

/// Each `op` run here is bounded far below the harness's limit.
const BOUND: Duration = Duration::from_secs(60);

/// The real kubectl (the file behind any link) and its bytes, read once.
fn real_kubectl() -> Option<&'static (PathBuf, Arc<Vec<u8>>)> {
    static FOUND: OnceLock<Option<(PathBuf, Arc<Vec<u8>>)>> = OnceLock::new();
    FOUND
        .get_or_init(|| {
            let path = SYSTEM_PATH
                .split(':')
                .map(|dir| PathBuf::from(dir).join("kubectl"))
                .find(|path| path.is_file())?;
            let path = path.canonicalize().ok()?;
            let bytes = std::fs::read(&path).ok()?;
            Some((path, Arc::new(bytes)))
        })
        .as_ref()
}

/// The real kubectl and a fixture flux pinned, served over HTTPS; `KUBECONFIG` points at `server`.
struct Bed {
    env: TestEnv,
    _mirror: Server,
}

impl Bed {
    /// `None` (after saying why) when this machine has no kubectl.
    fn new(server: &str) -> Option<Bed> {
        let Some((path, bytes)) = real_kubectl() else {
            #[expect(clippy::print_stderr, reason = "a skipped test says why")]
            {
                eprintln!("skipped: no kubectl in {SYSTEM_PATH} (install kubernetes-client)");
            }
            return None;
        };
        let platform = host_platform();
        let kubectl = Artifact::new(
            platform,
            &format!("https://dl.k8s.io/release/host/bin/{platform}/kubectl"),
            bytes.to_vec(),
            Kind::Raw,
            None,
        );
        let flux_url = format!(
            "https://github.com/acme/flux/releases/download/v1.0.0/fixture-flux-{platform}"
        );
        let flux = Artifact::new(platform, &flux_url, fixture("flux", FLUX), Kind::Raw, None);
        let lock = Lock::new(vec![
            Pin::custom("kubectl", "host-real", kubectl),
            Pin::custom("flux", "1.0.0-fixture", flux),
        ]);
        let tls = Tls::throwaway();
        let mirror = Server::https(&tls);
        mirror.publish(&lock);
        let mut env = TestEnv::new();
        let ca = env.root().join("mirror-ca.pem");
        tls.write_ca(&ca);
        let kubeconfig = env.root().join("kubeconfig");
        write_kubeconfig(&kubeconfig, server);
        let log = env.root().join("fixture.log");
        env.mirror(mirror.url())
            .set("SSL_CERT_FILE", ca.to_str().unwrap())
            .set("KUBECONFIG", kubeconfig.to_str().unwrap())
            .set("FIXTURE_LOG", log.to_str().unwrap())
            .set("GOOGLE_GKE_IMAGE_REPOSITORY", "dev.io/p");
        env.write_lock(&lock);
        env.write_file(
            "work/build_result.json",
            r#"{"builds":[{"imageName":"api","tag":"dev.io/p/api:1.2.3"}]}"#,
        );
        // The real kubectl came from the machine, not from a fixture.
        assert!(path.is_absolute());
        Some(Bed {
            env,
            _mirror: mirror,
        })
    }

    /// A stand-in serving `deployment` and a bed pointed at it; `None` as [`Bed::new`].
    fn serving(deployment: Option<Deployment>) -> Option<(Kube, Bed)> {
        let kube = Kube::start(deployment);
        let bed = Bed::new(&kube.url())?;
        Some((kube, bed))
    }

    /// Points `KUBECONFIG` at another API server.
    fn point_at(&self, server: &str) {
        write_kubeconfig(&self.env.root().join("kubeconfig"), server);
    }

    /// `watch-deployment` of `api` in `dev`, namespace `apps`, every 200ms, then `extra`.
    fn args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
        let mut args = vec!["--namespace", "apps", "--interval", "200ms"];
        args.extend_from_slice(extra);
        watch_args("api", "dev", &args)
    }

    /// Runs `op` with [`Bed::args`]`(extra)`.
    fn watch(&self, extra: &[&str]) -> Run {
        self.env.op(&Bed::args(extra))
    }
}

fn app(image: &str) -> Deployment {
    Deployment::new("apps", "api", &[("api", image)])
}

#[test]
fn real_kubectl_sees_the_built_image_and_the_finished_rollout() {
    let Some((kube, bed)) = Bed::serving(Some(app("dev.io/p/api:1.2.3"))) else {
        return;
    };
    bed.watch(&["--timeout", "20s"])
        .success()
        .stderr_has("Image matched. Waiting for rollout (timeout 20s) ...")
        .stdout_has("deployment \"api\" successfully rolled out")
        .stderr_has("Rollout complete.")
        .faster_than(BOUND);
    assert!(kube.deployment_gets() >= 2, "{:?}", kube.requests());
}

#[test]
fn real_kubectl_a_sidecar_first_with_the_built_tag_does_not_match() {
    let deployment = Deployment::new(
        "apps",
        "api",
        &[
            ("envoy", "envoyproxy/envoy:1.2.3"),
            ("api", "dev.io/p/api:1.2.2"),
        ],
    );
    let Some((_kube, bed)) = Bed::serving(Some(deployment)) else {
        return;
    };
    bed.watch(&["--poll-timeout", "1s"])
        .code(1)
        .stderr_has("its container api runs dev.io/p/api:1.2.2")
        .stderr_lacks("Image matched")
        .faster_than(BOUND);

    // A container of another name: the names come from kubectl.
    bed.watch(&["--container", "app", "--poll-timeout", "30s"])
        .code(1)
        .stderr_has("has no container named app; its containers: envoy, api")
        .faster_than(BOUND);
}

#[test]
fn real_kubectl_a_stuck_rollout_ends_at_its_timeout() {
    let Some((kube, bed)) = Bed::serving(Some(app("dev.io/p/api:1.2.3").stuck())) else {
        return;
    };
    bed.watch(&["--timeout", "2s"])
        .code(1)
        .stdout_has("Waiting for deployment \"api\" rollout to finish: 0 out of 1 new replicas have been updated")
        .stderr_has("timed out waiting for the condition")
        .stderr_has("error: Flux: deployment rollout failed.")
        .stderr_lacks("Rollout complete.")
        .faster_than(BOUND);
    assert!(kube.watching(), "{:?}", kube.requests());
}

#[test]
fn real_kubectl_a_missing_deployment_fails_fast_with_kubectls_message() {
    let Some((kube, bed)) = Bed::serving(None) else {
        return;
    };
    bed.watch(&["--poll-timeout", "10m"])
        .code(1)
        .stderr_has("Error from server (NotFound): deployments.apps \"api\" not found")
        .stderr_has("error: kubectl could not read deployment api in namespace apps: it failed 3 times in a row")
        .faster_than(BOUND);
    assert_eq!(kube.deployment_gets(), 3, "{:?}", kube.requests());
}

#[test]
fn real_kubectl_a_dead_api_server_fails_fast() {
    let Some(bed) = Bed::new(&dead_url()) else {
        return;
    };
    bed.watch(&["--poll-timeout", "10m"])
        .code(1)
        .stderr_has("was refused")
        .stderr_has("it failed 3 times in a row (exit code 1)")
        .faster_than(BOUND);
}

#[test]
fn real_kubectl_sigterm_during_the_poll_and_the_rollout_stops_op_without_a_failed_rollout() {
    // While polling a deployment that still runs the old image.
    let Some((kube, bed)) = Bed::serving(Some(app("dev.io/p/api:1.2.2"))) else {
        return;
    };
    let spawned = bed.env.spawn(&Bed::args(&["--poll-timeout", "5m"]));
    assert!(
        wait_until(BOUND, || kube.deployment_gets() >= 2),
        "never polled: {}",
        spawned.stderr_so_far()
    );
    let pid = spawned.pid();
    nix_kill(pid);
    let run = spawned.wait(Duration::from_secs(10));
    run.stderr_lacks("rollout failed")
        .stderr_lacks("timed out")
        .faster_than(BOUND);
    assert!(terminated(&run), "op ended by SIGTERM: {:?}", run.code);

    // While `rollout status` watches a rollout that does not finish.
    let kube = Kube::start(Some(app("dev.io/p/api:1.2.3").stuck()));
    bed.point_at(&kube.url());
    let spawned = bed.env.spawn(&Bed::args(&["--timeout", "5m"]));
    assert!(
        wait_until(BOUND, || kube.watching()),
        "never watched: {}",
        spawned.stderr_so_far()
    );
    nix_kill(spawned.pid());
    let run = spawned.wait(Duration::from_secs(10));
    run.stderr_lacks("rollout failed")
        .stderr_lacks("Rollout complete.");
    assert_ne!(run.code, Some(0), "{}", run.stderr);
    #[expect(
        clippy::print_stderr,
        reason = "what kubectl did with the signal, for the log"
    )]
    {
        eprintln!(
            "op after SIGTERM during rollout status: {:?} in {:?}",
            run.code, run.elapsed
        );
    }
}

/// Sends SIGTERM to `pid`.
fn nix_kill(pid: u32) {
    let status = std::process::Command::new("kill")
        .args(["-s", "TERM", &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -s TERM {pid}");
}

/// Did the run end by SIGTERM (killed by it, or 143)?
fn terminated(run: &crate::support::Run) -> bool {
    run.code.is_none() || run.code == Some(143)
}
