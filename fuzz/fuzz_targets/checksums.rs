//! Upstream checksum files (`hex  name`, `hex *name`, bare hex): what parses holds only
//! lower-case 64-digit digests, and a lookup never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;
use op_cli::toolchain::checksums::{digest_for, parse};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(lines) = parse(text, "SHA256SUMS") {
        for line in &lines {
            assert_eq!(line.sha256.len(), 64);
            assert!(
                line.sha256
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            );
        }
        let _ = digest_for(&lines, "tool_linux_amd64.tar.gz", "SHA256SUMS");
        if let Some(name) = lines.iter().find_map(|line| line.name.clone()) {
            let _ = digest_for(&lines, &name, "SHA256SUMS");
        }
    }
});
