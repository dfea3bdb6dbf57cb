//! HTTPS trust: the extra CAs of `SSL_CERT_FILE` (read only if it is a regular file, at most
//! [`CA_FILE_CAP`], holding PEM certificates), and a sentence for a server certificate the
//! client refused, instead of rustls' enum.

use std::path::Path;

use anyhow::Result;
use rustls::CertificateError;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::bounded;
use crate::error::OpError;

/// A CA bundle larger than this is refused; the system bundle of a Linux distribution is
/// about 200 KiB.
pub const CA_FILE_CAP: u64 = 4 << 20;

/// The certificates of `SSL_CERT_FILE`, each checked to be one a root store accepts.
pub fn extra_roots(path: &Path) -> Result<Vec<reqwest::Certificate>> {
    let shown = path.display();
    let bytes = bounded::read_capped(path, "SSL_CERT_FILE", CA_FILE_CAP).map_err(|error| {
        let hint = error
            .hint
            .clone()
            .unwrap_or_else(|| "point SSL_CERT_FILE at a readable PEM file, or unset it".into());
        error.with_hint(hint)
    })?;
    let hint = "point SSL_CERT_FILE at a PEM file of CA certificates \
                (-----BEGIN CERTIFICATE----- blocks), or unset it";
    let mut roots = Vec::new();
    for (index, der) in CertificateDer::pem_slice_iter(&bytes).enumerate() {
        let number = index + 1;
        let der = der.map_err(|error| {
            OpError::config(format!(
                "SSL_CERT_FILE {shown}: certificate {number} is not valid PEM: {error}"
            ))
            .with_hint(hint)
        })?;
        rustls::RootCertStore::empty()
            .add(der.clone())
            .map_err(|error| {
                let why = match error {
                    rustls::Error::InvalidCertificate(problem) => format!("{problem:?}"),
                    other => other.to_string(),
                };
                OpError::config(format!(
                    "SSL_CERT_FILE {shown}: certificate {number} is not a valid X.509 CA certificate ({why})"
                ))
                .with_hint(hint)
            })?;
        let certificate = reqwest::Certificate::from_der(&der).map_err(|error| {
            OpError::config(format!(
                "SSL_CERT_FILE {shown}: certificate {number} cannot be used: {error}"
            ))
            .with_hint(hint)
        })?;
        roots.push(certificate);
    }
    if roots.is_empty() {
        return Err(OpError::config(format!(
            "SSL_CERT_FILE {shown} holds no PEM certificates (no -----BEGIN CERTIFICATE----- block)"
        ))
        .with_hint(hint)
        .into());
    }
    Ok(roots)
}

/// The certificate problem behind a failed request, if rustls refused the server's certificate.
pub fn refused_certificate(error: &reqwest::Error) -> Option<&CertificateError> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(error);
    while let Some(inner) = cause {
        // `io::Error::source` skips the error an `io::Error` wraps (hyper wraps rustls' error
        // in two of them), so unwrap those by hand.
        let mut candidate = inner;
        loop {
            if let Some(rustls::Error::InvalidCertificate(problem)) =
                candidate.downcast_ref::<rustls::Error>()
            {
                return Some(problem);
            }
            match candidate
                .downcast_ref::<std::io::Error>()
                .and_then(std::io::Error::get_ref)
            {
                Some(wrapped) => candidate = wrapped,
                None => break,
            }
        }
        cause = inner.source();
    }
    None
}

/// `the server's certificate for HOST is not signed by a trusted CA (UnknownIssuer)`.
pub fn describe(problem: &CertificateError, host: &str) -> String {
    let subject = format!("the server's certificate for {host}");
    match problem {
        CertificateError::UnknownIssuer => {
            format!("{subject} is not signed by a trusted CA (UnknownIssuer)")
        }
        CertificateError::BadSignature => format!(
            "{subject} is not signed by a trusted CA (BadSignature: a trusted CA has its issuer's name, but did not sign it)"
        ),
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            format!("{subject} does not name {host} (NotValidForName)")
        }
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            format!("{subject} has expired (Expired); check the clock of this machine")
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            format!("{subject} is not valid yet (NotValidYet); check the clock of this machine")
        }
        CertificateError::Revoked => format!("{subject} has been revoked (Revoked)"),
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
            format!("{subject} is not meant for a TLS server (InvalidPurpose)")
        }
        CertificateError::BadEncoding => format!("{subject} is malformed (BadEncoding)"),
        other => format!(
            "{subject} was refused: {}",
            rustls::Error::InvalidCertificate(other.clone())
        ),
    }
}

/// What to do about a refused certificate, given the `SSL_CERT_FILE` in use.
pub fn hint(problem: &CertificateError, host: &str, ca_file: Option<&Path>) -> String {
    match (problem, ca_file) {
        (CertificateError::UnknownIssuer | CertificateError::BadSignature, None) => format!(
            "if {host} (or a proxy in between) uses a private or self-signed CA, set SSL_CERT_FILE \
             to a PEM file holding that CA's certificate"
        ),
        (CertificateError::UnknownIssuer | CertificateError::BadSignature, Some(path)) => format!(
            "SSL_CERT_FILE {} does not hold the CA that signed {host}'s certificate: add that CA's \
             PEM certificate to it",
            path.display()
        ),
        (
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            _,
        ) => "check the host name in toolchain.lock and OP_TOOLCHAIN_MIRROR: the server answers \
             for another name"
            .to_string(),
        _ => format!(
            "check this machine's clock, or ask whoever runs {host} to fix its certificate; if a \
             proxy re-signs HTTPS, set SSL_CERT_FILE to a PEM file holding its CA"
        ),
    }
}
