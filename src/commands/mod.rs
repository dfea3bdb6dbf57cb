//! One module per command group; each takes plain values and returns `Result`.

pub mod toolchain;
