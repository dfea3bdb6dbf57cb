//! Pipeline commands (build, push, build-push, promote-image, watch-deployment, run,
//! start-registry) on top of the pinned toolchain.

pub mod runner;
