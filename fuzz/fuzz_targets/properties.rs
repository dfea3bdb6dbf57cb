//! The `.properties` parser: every line numbered in `ignored_lines` exists.
#![no_main]
use libfuzzer_sys::fuzz_target;
use op_cli::formats::properties::parse;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = parse(text);
    let lines = text.lines().count();
    for number in &parsed.ignored_lines {
        assert!(*number >= 1 && *number <= lines, "line {number} of {lines}");
    }
});
