//! Arbitrary bytes as a zip artifact (see unpack_common.rs for what must hold).
#![no_main]
use libfuzzer_sys::fuzz_target;
use op_cli::toolchain::lock::ArchiveKind;

#[path = "unpack_common.rs"]
mod unpack_common;

fuzz_target!(|data: &[u8]| unpack_common::check(ArchiveKind::Zip, data));
