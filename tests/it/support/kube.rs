//! A loopback stand-in for the Kubernetes API server (plain HTTP on 127.0.0.1:0, std threads),
//! enough for a real `kubectl get deployment` and `kubectl rollout status`: legacy discovery
//! (`/version`, `/api`, `/apis`, `/api/v1`, `/apis/apps/v1`), GET of one Deployment (or a 404
//! `Status` when there is none) and of any namespace, and the list and watch of deployments that
//! `rollout status` makes (the watch stays open without events until the client leaves, the
//! stand-in stops, or 60 s pass). One response per connection (`Connection: close`); a request
//! log; a kubeconfig.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::server::listen;
use super::wire::{parse_head, read_head, reason};

/// The longest a watch is held open.
const WATCH_LIMIT: Duration = Duration::from_secs(60);

/// The one Deployment the stand-in serves.
#[derive(Clone, Debug)]
pub struct Deployment {
    pub namespace: String,
    pub name: String,
    /// `(name, image)` of each container, in order.
    pub containers: Vec<(String, String)>,
    /// Every replica updated and available (`rollout status` succeeds), or none updated (it
    /// waits).
    pub rolled_out: bool,
}

impl Deployment {
    pub fn new(namespace: &str, name: &str, containers: &[(&str, &str)]) -> Deployment {
        Deployment {
            namespace: namespace.to_string(),
            name: name.to_string(),
            containers: containers
                .iter()
                .map(|(name, image)| (name.to_string(), image.to_string()))
                .collect(),
            rolled_out: true,
        }
    }

    pub fn stuck(mut self) -> Deployment {
        self.rolled_out = false;
        self
    }

    fn json(&self) -> Value {
        let containers: Vec<Value> = self
            .containers
            .iter()
            .map(|(name, image)| json!({"name": name, "image": image}))
            .collect();
        let updated = u32::from(self.rolled_out);
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": self.name,
                "namespace": self.namespace,
                "uid": "00000000-0000-0000-0000-000000000001",
                "resourceVersion": "7",
                "generation": 2,
                "creationTimestamp": "2025-01-01T00:00:00Z"
            },
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": self.name}},
                "template": {
                    "metadata": {"labels": {"app": self.name}},
                    "spec": {"containers": containers}
                }
            },
            "status": {
                "observedGeneration": 2,
                "replicas": 1,
                "updatedReplicas": updated,
                "readyReplicas": 1,
                "availableReplicas": 1
            }
        })
    }
}

struct Shared {
    deployment: Mutex<Option<Deployment>>,
    log: Mutex<Vec<String>>,
    stop: AtomicBool,
}

pub struct Kube {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl Kube {
    /// A stand-in serving `deployment` (`None`: no deployment at all).
    pub fn start(deployment: Option<Deployment>) -> Kube {
        let shared = Arc::new(Shared {
            deployment: Mutex::new(deployment),
            log: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
        });
        let (addr, accept) = listen(
            &shared,
            |shared| &shared.stop,
            |stream, shared| {
                let _ = handle(stream, shared);
            },
        );
        Kube {
            addr,
            shared,
            accept: Some(accept),
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.addr.port())
    }

    /// The request targets so far (method and target, e.g. `GET /api?timeout=32s`).
    pub fn requests(&self) -> Vec<String> {
        self.shared.log.lock().unwrap().clone()
    }

    /// How many GETs of the deployment itself arrived (`kubectl get deployment NAME`).
    pub fn deployment_gets(&self) -> usize {
        self.requests()
            .iter()
            .filter(|request| {
                let path = request.split('?').next().unwrap_or_default();
                path.starts_with("GET /apis/apps/v1/namespaces/") && path.contains("/deployments/")
            })
            .count()
    }

    /// Has a watch of deployments begun (`kubectl rollout status` waiting)?
    pub fn watching(&self) -> bool {
        self.requests()
            .iter()
            .any(|request| request.contains("/deployments?") && request.contains("watch="))
    }
}

impl Drop for Kube {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

/// Writes at `path` a kubeconfig whose only cluster is `server` (no credentials).
pub fn write_kubeconfig(path: &Path, server: &str) {
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: stand-in\n  cluster:\n    server: {server}\n\
         contexts:\n- name: stand-in\n  context:\n    cluster: stand-in\n    user: tester\n\
         current-context: stand-in\nusers:\n- name: tester\n  user: {{}}\npreferences: {{}}\n"
    );
    std::fs::write(path, text).expect("write kubeconfig");
}

fn status(code: u16, reason: &str, message: &str, name: &str) -> Value {
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "details": {"name": name, "group": "apps", "kind": "deployments"},
        "code": code
    })
}

fn discovery(path: &str) -> Option<Value> {
    Some(match path {
        "/version" => json!({
            "major": "1", "minor": "32", "gitVersion": "v1.32.0",
            "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
            "buildDate": "2025-01-01T00:00:00Z", "goVersion": "go1.23.4", "compiler": "gc",
            "platform": "linux/amd64"
        }),
        "/api" => json!({"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]}),
        "/apis" => json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": [{
            "name": "apps",
            "versions": [{"groupVersion": "apps/v1", "version": "v1"}],
            "preferredVersion": {"groupVersion": "apps/v1", "version": "v1"}
        }]}),
        "/api/v1" => json!({"kind": "APIResourceList", "groupVersion": "v1", "resources": [
            {"name": "namespaces", "singularName": "namespace", "namespaced": false,
             "kind": "Namespace", "verbs": ["get", "list", "watch"], "shortNames": ["ns"]},
            {"name": "pods", "singularName": "pod", "namespaced": true, "kind": "Pod",
             "verbs": ["get", "list", "watch"], "shortNames": ["po"]}
        ]}),
        "/apis/apps/v1" => json!({"kind": "APIResourceList", "apiVersion": "v1",
            "groupVersion": "apps/v1", "resources": [
            {"name": "deployments", "singularName": "deployment", "namespaced": true,
             "kind": "Deployment", "verbs": ["get", "list", "watch"], "shortNames": ["deploy"],
             "categories": ["all"]}
        ]}),
        _ => return None,
    })
}

fn handle(mut stream: TcpStream, shared: &Shared) -> io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    let Some(head) = read_head(&mut stream)? else {
        return Ok(());
    };
    let request = parse_head(&head);
    shared
        .log
        .lock()
        .unwrap()
        .push(format!("{} {}", request.method, request.target));
    let (path, query) = request
        .target
        .split_once('?')
        .unwrap_or((request.target.as_str(), ""));
    if let Some(body) = discovery(path) {
        return respond(&mut stream, 200, &body);
    }
    let deployment = shared.deployment.lock().unwrap().clone();
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match parts.as_slice() {
        // Any namespace exists (kubectl asks after a NotFound, to word its message).
        ["api", "v1", "namespaces", namespace] => {
            let namespace = json!({"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": namespace, "resourceVersion": "1"},
                "status": {"phase": "Active"}});
            respond(&mut stream, 200, &namespace)
        }
        [
            "apis",
            "apps",
            "v1",
            "namespaces",
            namespace,
            "deployments",
            name,
        ] => match deployment.filter(|d| d.namespace == *namespace && d.name == *name) {
            Some(deployment) => respond(&mut stream, 200, &deployment.json()),
            None => {
                let message = format!("deployments.apps \"{name}\" not found");
                respond(&mut stream, 404, &status(404, "NotFound", &message, name))
            }
        },
        ["apis", "apps", "v1", "namespaces", namespace, "deployments"] => {
            let items: Vec<Value> = deployment
                .filter(|d| d.namespace == *namespace)
                .map(|d| d.json())
                .into_iter()
                .collect();
            let watch = query
                .split('&')
                .any(|pair| pair == "watch=true" || pair == "watch=1");
            if watch {
                return hold_watch(&mut stream, shared);
            }
            let list = json!({"kind": "DeploymentList", "apiVersion": "apps/v1",
                "metadata": {"resourceVersion": "7"}, "items": items});
            respond(&mut stream, 200, &list)
        }
        _ => {
            let message = "the server could not find the requested resource";
            respond(&mut stream, 404, &status(404, "NotFound", message, ""))
        }
    }
}

fn respond(stream: &mut TcpStream, code: u16, body: &Value) -> io::Result<()> {
    let body = body.to_string();
    let head = format!(
        "HTTP/1.1 {code} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        reason(code),
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body.as_bytes())?;
    stream.flush()?;
    let _ = stream.shutdown(Shutdown::Write);
    Ok(())
}

/// A watch with no events: the head, then nothing until the client hangs up (bounded).
fn hold_watch(stream: &mut TcpStream, shared: &Shared) -> io::Result<()> {
    stream.write_all(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
    )?;
    stream.flush()?;
    stream.set_read_timeout(Some(Duration::from_millis(100)))?;
    let started = Instant::now();
    let mut buffer = [0u8; 512];
    while !shared.stop.load(Ordering::SeqCst) && started.elapsed() < WATCH_LIMIT {
        match stream.read(&mut buffer) {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(error)
                if matches!(
                    error.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return Ok(()),
        }
    }
    stream.write_all(b"0\r\n\r\n")?;
    stream.flush()
}
