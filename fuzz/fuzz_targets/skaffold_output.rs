//! Image references read from skaffold's output, with and without an `--image-pattern`.
#![no_main]
use libfuzzer_sys::fuzz_target;
use op_cli::pipeline::push::parse_output;

static PATTERN: std::sync::LazyLock<regex::Regex> =
    std::sync::LazyLock::new(|| regex::Regex::new(r"(?P<image>\S+)\s+(?P<tag>\S+)$").unwrap());

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for build in parse_output(&text, None) {
        assert!(!build.tag.is_empty(), "empty reference");
    }
    for build in parse_output(&text, Some(&PATTERN)) {
        assert!(!build.tag.is_empty(), "empty reference");
    }
});
