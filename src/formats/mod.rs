//! The files `op` reads and writes besides the lock: one module per format, each turning a
//! malformed file into exit 2 with the file, the place and what was expected.

pub mod build_result;
pub mod properties;
pub mod registry_file;
pub mod run_file;
pub mod skaffold_yaml;
pub mod yaml;
