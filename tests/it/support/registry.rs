//! Real OCI registries for the tests: Debian's `docker-registry` (distribution), started from a
//! config of the test's own on a free 127.0.0.1 port, plain HTTP or TLS with a throwaway CA,
//! waited for (bounded) and killed on drop; a tiny OCI image built here (no network) and pushed
//! with the real `skopeo`; digests read back with `skopeo inspect --raw`.
//!
//! [`CRANE_VIA_SKOPEO`] is the pinned crane of these tests: a FIXTURE that performs
//! `crane copy` and `crane digest` with skopeo, so that the references and digests `op` passes
//! meet a real registry. It is not crane.

use std::fs;
use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

use super::archive::{Entry, gzip, tar};
use super::sha256_hex;

/// How long a registry may take to start listening.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// How long one skopeo run may take.
const SKOPEO_TIMEOUT: Duration = Duration::from_secs(60);

/// The programs these tests need, or why they cannot run here.
pub fn missing() -> Option<String> {
    let absent: Vec<&str> = ["docker-registry", "skopeo"]
        .into_iter()
        .filter(|program| find(program).is_none())
        .collect();
    (!absent.is_empty()).then(|| {
        format!(
            "skipped: {} not installed (Debian packages docker-registry and skopeo; .ci/run installs them)",
            absent.join(" and ")
        )
    })
}

/// Whether the tests of real registries must be skipped here; says why when they are.
pub fn skipped() -> bool {
    let Some(why) = missing() else {
        return false;
    };
    #[expect(clippy::print_stderr, reason = "a skipped test says why")]
    {
        eprintln!("{why}");
    }
    true
}

fn find(program: &str) -> Option<PathBuf> {
    super::SYSTEM_PATH
        .split(':')
        .map(|dir| Path::new(dir).join(program))
        .find(|path| path.is_file())
}

/// A running registry; killed (and its storage removed) on drop.
pub struct Registry {
    /// `127.0.0.1:PORT`, the registry part of its references.
    pub host: String,
    /// For TLS: a directory holding `ca.crt`, the throwaway CA (skopeo's `--cert-dir`).
    pub cert_dir: Option<PathBuf>,
    child: Child,
    dir: tempfile::TempDir,
}

impl Registry {
    pub fn http() -> Registry {
        Registry::start(false)
    }

    /// With TLS: a certificate for 127.0.0.1 signed by a CA made for this registry alone.
    pub fn https() -> Registry {
        Registry::start(true)
    }

    fn start(tls: bool) -> Registry {
        let mut log = String::new();
        // A port found free can be taken before the registry binds it: a few attempts.
        for _ in 0..3 {
            match Registry::attempt(tls) {
                Ok(registry) => return registry,
                Err(failed) => log = failed,
            }
        }
        panic!("docker-registry did not start:\n{log}");
    }

    fn attempt(tls: bool) -> Result<Registry, String> {
        let dir = tempfile::tempdir().expect("registry dir");
        let cert_dir = tls.then(|| write_certificates(dir.path()));
        let port = free_port();
        let config = dir.path().join("config.yml");
        fs::write(&config, config_yaml(dir.path(), port, tls)).expect("write config");
        let log = fs::File::create(dir.path().join("registry.log")).expect("log");
        let child = Command::new(find("docker-registry").expect("docker-registry"))
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start docker-registry");
        let mut registry = Registry {
            host: format!("127.0.0.1:{port}"),
            cert_dir,
            child,
            dir,
        };
        if registry.wait_ready() {
            Ok(registry)
        } else {
            Err(registry.log())
        }
    }

    /// Until it accepts connections (and, over HTTP, answers `/v2/` with 200), or it exits, or
    /// [`READY_TIMEOUT`] passes.
    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + READY_TIMEOUT;
        while Instant::now() < deadline {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return false;
            }
            if self.answers() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    fn answers(&self) -> bool {
        let address = self.host.parse().expect("socket address");
        let Ok(mut stream) = TcpStream::connect_timeout(&address, Duration::from_secs(1)) else {
            return false;
        };
        if self.cert_dir.is_some() {
            return true;
        }
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        let request = format!("GET /v2/ HTTP/1.0\r\nHost: {}\r\n\r\n", self.host);
        if std::io::Write::write_all(&mut stream, request.as_bytes()).is_err() {
            return false;
        }
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).is_ok() && head.ends_with(b"200")
    }

    /// What the registry logged.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// `--tls-verify=false` (HTTP) or `--cert-dir=DIR` (TLS), for a skopeo flag with `prefix`
    /// (`src-`, `dest-` or none).
    pub fn skopeo_flag(&self, prefix: &str) -> String {
        match &self.cert_dir {
            Some(dir) => format!("--{prefix}cert-dir={}", dir.display()),
            None => format!("--{prefix}tls-verify=false"),
        }
    }

    /// Pushes `image` as `HOST/path` (e.g. `team/api:1.0.0`) with skopeo; returns the reference.
    pub fn push(&self, image: &Image, path: &str) -> String {
        let reference = format!("{}/{path}", self.host);
        skopeo(&[
            "copy",
            "--insecure-policy",
            "--preserve-digests",
            &self.skopeo_flag("dest-"),
            &format!("oci:{}:{}", image.layout.display(), image.tag),
            &format!("docker://{reference}"),
        ]);
        reference
    }

    /// The digest of the manifest at `reference` (in this registry), read with skopeo.
    pub fn digest(&self, reference: &str) -> String {
        let manifest = skopeo(&[
            "inspect",
            "--raw",
            &self.skopeo_flag(""),
            &format!("docker://{reference}"),
        ]);
        format!("sha256:{}", sha256_hex(&manifest))
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs skopeo (bounded by [`SKOPEO_TIMEOUT`]); its stdout, or a panic with what it said.
pub fn skopeo(args: &[&str]) -> Vec<u8> {
    let mut child = Command::new(find("skopeo").expect("skopeo"))
        .args(args)
        .env("HOME", std::env::temp_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start skopeo");
    let (mut stdout, mut stderr) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let out = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stdout.read_to_end(&mut bytes);
        bytes
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let deadline = Instant::now() + SKOPEO_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for skopeo") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("skopeo {args:?} took over {SKOPEO_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let (out, err) = (out.join().unwrap(), err.join().unwrap());
    assert!(
        status.success(),
        "skopeo {args:?} failed ({status}):\n{err}"
    );
    out
}

/// A one-layer OCI image in an OCI layout directory, made here (no network).
pub struct Image {
    pub layout: PathBuf,
    pub tag: String,
    /// The digest of its manifest, as a registry reports it after a digest-preserving push.
    pub digest: String,
    _dir: tempfile::TempDir,
}

impl Image {
    /// An image whose one file holds `content` (images of different contents differ in digest).
    pub fn new(content: &str) -> Image {
        let dir = tempfile::tempdir().expect("image dir");
        let layout = dir.path().join("layout");
        let blobs = layout.join("blobs/sha256");
        fs::create_dir_all(&blobs).expect("blobs dir");
        let blob = |bytes: &[u8]| -> (String, usize) {
            let hex = sha256_hex(bytes);
            fs::write(blobs.join(&hex), bytes).expect("write blob");
            (format!("sha256:{hex}"), bytes.len())
        };
        let layer_tar = tar(&[Entry::file("hello.txt", content.as_bytes())], true);
        let diff_id = format!("sha256:{}", sha256_hex(&layer_tar));
        let (layer, layer_size) = blob(&gzip(&layer_tar));
        let config = serde_json::json!({
            "architecture": "amd64",
            "os": "linux",
            "config": {"Cmd": ["/hello.txt"]},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        });
        let (config, config_size) = blob(config.to_string().as_bytes());
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config,
                "size": config_size,
            },
            "layers": [{
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": layer,
                "size": layer_size,
            }],
        });
        let (digest, manifest_size) = blob(manifest.to_string().as_bytes());
        let tag = "1.0.0".to_string();
        let index = serde_json::json!({
            "schemaVersion": 2,
            "manifests": [{
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": digest,
                "size": manifest_size,
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }],
        });
        fs::write(layout.join("index.json"), index.to_string()).expect("index.json");
        fs::write(
            layout.join("oci-layout"),
            r#"{"imageLayoutVersion":"1.0.0"}"#,
        )
        .expect("oci-layout");
        Image {
            layout,
            tag,
            digest,
            _dir: dir,
        }
    }
}

/// A pinned crane for these tests: a FIXTURE that performs `crane copy SRC DST` and
/// `crane digest REF` with the real skopeo, against the loopback registries only (any other
/// reference is refused, so nothing leaves 127.0.0.1). `$FIXTURE_HTTP_REGISTRY` names the plain
/// HTTP one (`127.0.0.1:PORT`); every other is reached over TLS trusting `$FIXTURE_CERT_DIR`.
pub const CRANE_VIA_SKOPEO: &str = r#"
# fixture-crane-via-skopeo: not crane; `crane copy` and `crane digest` done by skopeo.
loopback() {
  case "$1" in
    127.0.0.1:*/*) ;;
    *) echo "fixture-crane-via-skopeo: $1 is not in a loopback test registry; refusing" >&2; exit 1 ;;
  esac
}
flag() {
  case "$2" in
    "$FIXTURE_HTTP_REGISTRY"/*) printf -- '--%stls-verify=false' "$1" ;;
    *) printf -- '--%scert-dir=%s' "$1" "$FIXTURE_CERT_DIR" ;;
  esac
}
# skopeo takes a tag or a digest, not both (crane reads `repo:tag@digest` by its digest).
plain() {
  case "$1" in
    *@*) r="${1%@*}"; last="${r##*/}"; case "$last" in *:*) r="${r%:*}" ;; esac; echo "$r@${1#*@}" ;;
    *) echo "$1" ;;
  esac
}
case "$1" in
  digest)
    loopback "$2"; ref=$(plain "$2"); raw="$FIXTURE_LOG.manifest.$$"
    skopeo inspect --raw "$(flag '' "$ref")" "docker://$ref" > "$raw" || exit 1
    echo "sha256:$(sha256sum < "$raw" | cut -d' ' -f1)"; rm -f "$raw" ;;
  copy)
    loopback "$2"; loopback "$3"; src=$(plain "$2"); dst=$(plain "$3")
    skopeo copy --insecure-policy --all --preserve-digests "$(flag src- "$src")" "$(flag dest- "$dst")" \
      "docker://$src" "docker://$dst" >&2 || exit 1 ;;
  *) echo "fixture-crane-via-skopeo: $1 is not supported" >&2; exit 2 ;;
esac
"#;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

fn config_yaml(dir: &Path, port: u16, tls: bool) -> String {
    let mut yaml = format!(
        "version: 0.1\n\
         log:\n  level: warn\n  accesslog:\n    disabled: true\n\
         storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
         http:\n  addr: 127.0.0.1:{port}\n  secret: op-integration-tests\n",
        dir.join("data").display()
    );
    if tls {
        yaml.push_str(&format!(
            "  tls:\n    certificate: {}\n    key: {}\n",
            dir.join("server.crt").display(),
            dir.join("server.key").display()
        ));
    }
    yaml
}

/// A throwaway CA and a server certificate for 127.0.0.1 in `dir`; returns the directory
/// holding only `ca.crt` (what a client trusts).
fn write_certificates(dir: &Path) -> PathBuf {
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "op integration tests registry CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca_params.self_signed(&ca_key).expect("self-sign CA");
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf_key = KeyPair::generate().expect("leaf key");
    let mut leaf_params =
        CertificateParams::new(vec!["127.0.0.1".to_string()]).expect("leaf params");
    leaf_params
        .distinguished_name
        .push(DnType::CommonName, "127.0.0.1");
    let leaf = leaf_params
        .signed_by(&leaf_key, &issuer)
        .expect("sign leaf");
    fs::write(dir.join("server.crt"), leaf.pem()).expect("server.crt");
    fs::write(dir.join("server.key"), leaf_key.serialize_pem()).expect("server.key");
    let trust = dir.join("trust");
    fs::create_dir_all(&trust).expect("trust dir");
    fs::write(trust.join("ca.crt"), ca_cert.pem()).expect("ca.crt");
    trust
}
