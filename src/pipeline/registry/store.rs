//! Is the registry's certificate still in the system trust store? A record of an earlier
//! install goes stale when someone removes the certificate, so the store itself is asked: one
//! small function per platform. Certificates are compared by their base64 body, whitespace
//! ignored (the same DER always encodes to the same base64).

use std::path::Path;

use anyhow::Result;

use super::trust::{Keychain, LinuxStore};
use crate::pipeline::{Context, args};

/// The base64 bodies of the `CERTIFICATE` blocks of a PEM text, whitespace removed.
pub fn certificate_bodies(pem: &str) -> Vec<String> {
    let mut bodies = Vec::new();
    let mut current: Option<String> = None;
    for line in pem.lines().map(str::trim) {
        if let Some(body) = current.as_mut() {
            if line == "-----END CERTIFICATE-----" {
                if !body.is_empty() {
                    bodies.push(std::mem::take(body));
                }
                current = None;
            } else {
                body.extend(line.chars().filter(|c| !c.is_whitespace()));
            }
        } else if line == "-----BEGIN CERTIFICATE-----" {
            current = Some(String::new());
        }
    }
    bodies
}

/// Does `store_text` (a bundle, an anchor file, `security` output) hold every certificate of
/// `cert_pem`? A file with no certificate is held by nothing.
pub fn holds(store_text: &str, cert_pem: &str) -> bool {
    let wanted = certificate_bodies(cert_pem);
    let present = certificate_bodies(store_text);
    !wanted.is_empty() && wanted.iter().all(|body| present.contains(body))
}

/// Linux: op's anchor file and the bundle the update tool builds from the anchors both hold it.
/// Returns where it was not found.
pub fn linux_missing(root: &Path, store: LinuxStore, cert_pem: &str) -> Option<String> {
    [store.anchor(root), store.bundle(root)]
        .into_iter()
        .find(|file| {
            let text = crate::bounded::read_capped_to_string(
                file,
                "trust store file",
                crate::bounded::APP_FILE_CAP * 8,
            )
            .unwrap_or_default();
            !holds(&text, cert_pem)
        })
        .map(|file| file.display().to_string())
}

/// macOS: `security find-certificate -a -p KEYCHAIN` lists it. Returns where it was not found.
pub fn macos_missing(
    context: &Context,
    keychain: &Keychain,
    cert_pem: &str,
) -> Result<Option<String>> {
    let security = context.runner.from_path("security")?;
    let path = keychain.path();
    let listed = context
        .runner
        .capture(
            &security,
            &args([
                "find-certificate".into(),
                "-a".into(),
                "-p".into(),
                path.clone().into_os_string(),
            ]),
            None,
        )
        .unwrap_or_default();
    Ok((!holds(&listed, cert_pem)).then(|| path.display().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CERT: &str = "-----BEGIN CERTIFICATE-----\nQUJD\nREVG\n-----END CERTIFICATE-----\n";

    #[test]
    fn bodies_ignore_line_breaks_and_other_blocks() {
        let bundle = "# comment\n-----BEGIN CERTIFICATE-----\r\nWFla\r\n-----END CERTIFICATE-----\r\n\
                      -----BEGIN CERTIFICATE-----\nQUJDREVG\n-----END CERTIFICATE-----\n\
                      -----BEGIN PRIVATE KEY-----\nS0VZ\n-----END PRIVATE KEY-----\n";
        assert_eq!(certificate_bodies(bundle), ["WFla", "QUJDREVG"]);
        assert!(holds(bundle, CERT));
        assert!(!holds(
            "-----BEGIN CERTIFICATE-----\nWFla\n-----END CERTIFICATE-----\n",
            CERT
        ));
        assert!(!holds(bundle, "not a certificate"), "nothing to look for");
        assert!(!holds("", CERT));
    }

    #[test]
    fn linux_store_files() {
        let root = tempfile::tempdir().unwrap();
        let store = LinuxStore::Debian;
        let anchor = store.anchor(root.path());
        let bundle = store.bundle(root.path());
        assert_eq!(
            linux_missing(root.path(), store, CERT),
            Some(anchor.display().to_string())
        );
        std::fs::create_dir_all(anchor.parent().unwrap()).unwrap();
        std::fs::write(&anchor, CERT).unwrap();
        assert_eq!(
            linux_missing(root.path(), store, CERT),
            Some(bundle.display().to_string())
        );
        std::fs::create_dir_all(bundle.parent().unwrap()).unwrap();
        std::fs::write(&bundle, format!("other\n{CERT}")).unwrap();
        assert_eq!(linux_missing(root.path(), store, CERT), None);
    }
}
