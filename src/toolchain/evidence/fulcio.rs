//! The workflow claims Fulcio records in a certificate issued to a GitHub Actions job: the
//! source repository and ref it ran for, and the workflow that signed (the build signer).

use x509_parser::prelude::X509Certificate;

/// Source Repository URI (`https://github.com/owner/repo`), a DER UTF8String.
const SOURCE_REPOSITORY_URI: &str = "1.3.6.1.4.1.57264.1.12";
/// Source Repository Ref (`refs/tags/v1.2.3`), a DER UTF8String.
const SOURCE_REPOSITORY_REF: &str = "1.3.6.1.4.1.57264.1.14";
/// Build Signer URI (the workflow that signed, `…/workflow.yml@ref`), a DER UTF8String.
const BUILD_SIGNER_URI: &str = "1.3.6.1.4.1.57264.1.9";
/// The deprecated GitHub Workflow Repository (`owner/repo`) and Ref, raw strings.
const WORKFLOW_REPOSITORY_V1: &str = "1.3.6.1.4.1.57264.1.5";
const WORKFLOW_REF_V1: &str = "1.3.6.1.4.1.57264.1.6";

/// What a certificate says about the job it was issued to; `None` where it says nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Workflow {
    /// `github.com/owner/repo`, without a scheme.
    pub source: Option<String>,
    pub source_ref: Option<String>,
    pub build_signer: Option<String>,
}

pub fn workflow(cert: &X509Certificate<'_>) -> Workflow {
    let source = utf8_extension(cert, SOURCE_REPOSITORY_URI).or_else(|| {
        raw_extension(cert, WORKFLOW_REPOSITORY_V1).map(|repo| format!("github.com/{repo}"))
    });
    Workflow {
        source: source.map(|uri| repository(&uri)),
        source_ref: utf8_extension(cert, SOURCE_REPOSITORY_REF)
            .or_else(|| raw_extension(cert, WORKFLOW_REF_V1)),
        build_signer: utf8_extension(cert, BUILD_SIGNER_URI),
    }
}

/// A repository URI as `host/owner/repo`: no scheme, no `git+`, no `.git`, no trailing `/`.
pub fn repository(uri: &str) -> String {
    let uri = uri.strip_prefix("git+").unwrap_or(uri);
    let uri = uri
        .split_once("://")
        .map_or(uri, |(_, rest)| rest)
        .trim_end_matches('/');
    uri.strip_suffix(".git").unwrap_or(uri).to_string()
}

fn extension<'a>(cert: &'a X509Certificate<'_>, oid: &str) -> Option<&'a [u8]> {
    cert.extensions()
        .iter()
        .find(|extension| extension.oid.to_id_string() == oid)
        .map(|extension| extension.value)
}

fn raw_extension(cert: &X509Certificate<'_>, oid: &str) -> Option<String> {
    extension(cert, oid).and_then(|value| String::from_utf8(value.to_vec()).ok())
}

fn utf8_extension(cert: &X509Certificate<'_>, oid: &str) -> Option<String> {
    utf8_string(extension(cert, oid)?)
}

/// The text of a DER UTF8String (tag 0x0c, a short or long length of up to two bytes).
pub fn utf8_string(der: &[u8]) -> Option<String> {
    let (&tag, rest) = der.split_first()?;
    let (&length, rest) = rest.split_first()?;
    let (length, rest) = match length {
        0..=0x7f => (usize::from(length), rest),
        0x81 => (usize::from(*rest.first()?), rest.get(1..)?),
        0x82 => (
            usize::from(*rest.first()?) << 8 | usize::from(*rest.get(1)?),
            rest.get(2..)?,
        ),
        _ => return None,
    };
    if tag != 0x0c || rest.len() != length {
        return None;
    }
    String::from_utf8(rest.to_vec()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_strings_of_every_length_form_decode_and_others_do_not() {
        assert_eq!(utf8_string(b"\x0c\x03abc").as_deref(), Some("abc"));
        let long = "x".repeat(200);
        let mut der = vec![0x0c, 0x81, 200];
        der.extend_from_slice(long.as_bytes());
        assert_eq!(utf8_string(&der), Some(long.clone()));
        let longer = "y".repeat(300);
        let mut der = vec![0x0c, 0x82, 0x01, 0x2c];
        der.extend_from_slice(longer.as_bytes());
        assert_eq!(utf8_string(&der), Some(longer));
        assert_eq!(utf8_string(b"\x13\x03abc"), None, "PrintableString");
        assert_eq!(utf8_string(b"\x0c\x04abc"), None, "short");
        assert_eq!(utf8_string(b"\x0c\x02abc"), None, "trailing bytes");
    }

    #[test]
    fn repositories_compare_without_scheme_or_suffix() {
        for uri in [
            "https://github.com/google/go-containerregistry",
            "git+https://github.com/google/go-containerregistry.git",
            "github.com/google/go-containerregistry/",
        ] {
            assert_eq!(repository(uri), "github.com/google/go-containerregistry");
        }
    }
}
