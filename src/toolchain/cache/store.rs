//! The cache's one door to the filesystem. Every open, create, rename and removal under the
//! cache root goes through a [`Dir`]: an open directory handle that names things relative to
//! itself and never follows a symbolic link. Whatever a directory holds (a link planted to
//! `~/docs`, another user's files, a FIFO where a receipt should be), nothing here reaches past
//! it, and everything it hands out was checked to belong to this user (or root) and to be
//! writable by nobody else — the rule ssh's `StrictModes` applies to `~/.ssh`.
//!
//! Only the root itself may be reached through a link: that path is the user's own choice
//! (`OP_CACHE_DIR`), while everything below it is op's.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context, Result};

use crate::error::{Code, OpError};

/// What a name in a directory is, read without following links.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Dir,
    File,
    Link,
    Other,
}

impl Kind {
    pub fn describe(self) -> &'static str {
        match self {
            Kind::Dir => "a directory",
            Kind::File => "a regular file",
            Kind::Link => "a symbolic link",
            Kind::Other => "a special file (FIFO, socket or device)",
        }
    }
}

/// Permission bits for what op creates: explicit, whatever the umask.
pub mod mode {
    /// Entries, `tools/`, `locks/`, `staging/`, `bin/`, executables.
    pub const SHARED_DIR: u32 = 0o755;
    /// Work in progress under `staging/`: nobody else may even look inside.
    pub const PRIVATE_DIR: u32 = 0o700;
    /// Receipts, kept artifacts, lock files.
    pub const SHARED_FILE: u32 = 0o644;
    pub const EXECUTABLE: u32 = 0o755;
}

/// An open directory of the cache, with the path it was opened at (for messages only).
#[derive(Debug)]
pub struct Dir {
    handle: File,
    path: PathBuf,
}

/// A cache path that is not what op expects there: the error to report, exit code 2.
pub fn refuse(path: &Path, problem: &str, hint: &str) -> anyhow::Error {
    OpError::new(
        Code::Config,
        format!("refusing to use the cache at {}: {problem}", path.display()),
    )
    .with_hint(hint.to_string())
    .into()
}

fn link_hint(path: &Path) -> String {
    format!(
        "op never follows links inside its cache; remove {} (op re-creates what it needs) or set OP_CACHE_DIR to a fresh directory",
        path.display()
    )
}

impl Dir {
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// When this directory was last modified (op records an entry's last use there).
    pub fn modified(&self) -> Option<SystemTime> {
        self.handle.metadata().ok()?.modified().ok()
    }

    /// Sets the modification time to now; errors are ignored (a read-only cache still runs).
    pub fn touch(&self) {
        let _ = self
            .handle
            .set_times(std::fs::FileTimes::new().set_modified(SystemTime::now()));
    }

    /// Flushes the directory's entries so a rename survives power loss.
    pub fn sync(&self) {
        let _ = self.handle.sync_all();
    }

    /// Makes `files` and `dirs` durable before the rename that commits them: on Linux one
    /// `syncfs` of this directory's filesystem does it all at once; elsewhere each file, then
    /// (not on Windows) each directory, is synced. Files that do not exist are skipped.
    pub fn sync_tree(&self, files: &[PathBuf], dirs: &[&Dir]) -> std::io::Result<()> {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            let _ = (files, dirs);
            rustix::fs::syncfs(&self.handle).map_err(std::io::Error::from)
        }
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        {
            // Windows flushes only through a handle with write access, which a directory
            // handle cannot have; NTFS journals the directory entries a rename changes.
            // https://learn.microsoft.com/en-us/windows/win32/api/fileapi/nf-fileapi-flushfilebuffers
            for path in files {
                match File::options().read(true).write(cfg!(windows)).open(path) {
                    Ok(file) => file.sync_all()?,
                    Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                    Err(error) => return Err(error),
                }
            }
            if !cfg!(windows) {
                for dir in dirs {
                    dir.handle.sync_all()?;
                }
            }
            Ok(())
        }
    }
}

#[cfg(unix)]
mod imp {
    use std::ffi::CStr;
    use std::os::fd::OwnedFd;
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};

    use rustix::fs::{AtFlags, FileType, Mode, OFlags, RenameFlags};
    use rustix::io::Errno;

    use super::*;

    /// `Mode` from permission bits, bit by bit (its raw type differs between systems).
    fn to_mode(bits: u32) -> Mode {
        [
            (0o400, Mode::RUSR),
            (0o200, Mode::WUSR),
            (0o100, Mode::XUSR),
            (0o040, Mode::RGRP),
            (0o020, Mode::WGRP),
            (0o010, Mode::XGRP),
            (0o004, Mode::ROTH),
            (0o002, Mode::WOTH),
            (0o001, Mode::XOTH),
        ]
        .into_iter()
        .filter(|(bit, _)| bits & bit != 0)
        .fold(Mode::empty(), |mode, (_, flag)| mode | flag)
    }

    fn euid() -> u32 {
        rustix::process::geteuid().as_raw()
    }

    /// The ssh `StrictModes` rule: owned by this user or by root, writable by nobody else.
    fn check_owner(path: &Path, uid: u32, mode: u32) -> Result<()> {
        let me = euid();
        if uid != me && uid != 0 {
            return Err(refuse(
                path,
                &format!(
                    "it belongs to uid {uid}, not to you (uid {me}) or root, so that user could put programs there that op would run"
                ),
                "use a cache of your own (unset OP_CACHE_DIR, or point it at a directory you own); to share a cache, prepare it as root (see the README, \"Sharing a cache\")",
            ));
        }
        if mode & 0o022 != 0 {
            return Err(refuse(
                path,
                &format!(
                    "it is writable by {} (mode {:o}), so another user could put programs there that op would run",
                    if mode & 0o002 != 0 {
                        "everyone"
                    } else {
                        "its group"
                    },
                    mode & 0o7777
                ),
                &format!(
                    "run `chmod go-w {}`, or use a cache of your own",
                    path.display()
                ),
            ));
        }
        Ok(())
    }

    fn check_handle(handle: &File, path: &Path) -> Result<()> {
        let meta = handle
            .metadata()
            .with_context(|| format!("cannot inspect {}", path.display()))?;
        check_owner(path, meta.uid(), meta.mode())
    }

    fn kind_of(file_type: FileType) -> Kind {
        match file_type {
            FileType::Directory => Kind::Dir,
            FileType::RegularFile => Kind::File,
            FileType::Symlink => Kind::Link,
            _ => Kind::Other,
        }
    }

    /// A rename flag this filesystem does not support (`ENOTSUP` and `EOPNOTSUPP` differ on
    /// macOS, and are one value on Linux).
    fn unsupported(error: Errno) -> bool {
        [Errno::INVAL, Errno::NOSYS, Errno::OPNOTSUPP, Errno::NOTSUP].contains(&error)
    }

    fn io(error: Errno) -> std::io::Error {
        std::io::Error::from(error)
    }

    impl Dir {
        /// Opens the cache root (following a link: that path is the user's choice), creating
        /// it `0755` when `create` is set. `None` when it does not exist and `create` is not set.
        pub fn open_root(path: &Path, create: bool) -> Result<Option<Dir>> {
            if create {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(mode::SHARED_DIR)
                    .create(path)
                    .map_err(|error| {
                        super::super::unwritable(
                            format!("cannot create cache directory {}", path.display()),
                            error,
                        )
                    })?;
            }
            let handle = match rustix::fs::open(
                path,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            ) {
                Ok(fd) => File::from(fd),
                Err(Errno::NOENT) if !create => return Ok(None),
                Err(Errno::NOTDIR) => {
                    return Err(refuse(
                        path,
                        "it is not a directory",
                        "set OP_CACHE_DIR to a directory",
                    ));
                }
                Err(error) => {
                    return Err(io(error)).with_context(|| {
                        format!("cannot open cache directory {}", path.display())
                    });
                }
            };
            check_handle(&handle, path)?;
            Ok(Some(Dir {
                handle,
                path: path.to_path_buf(),
            }))
        }

        /// What `name` is, without following a link; `None` when absent.
        pub fn kind(&self, name: &str) -> Result<Option<Kind>> {
            match rustix::fs::statat(&self.handle, name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(stat) => Ok(Some(kind_of(FileType::from_raw_mode(stat.st_mode)))),
                Err(Errno::NOENT) => Ok(None),
                Err(error) => Err(io(error))
                    .with_context(|| format!("cannot inspect {}", self.join(name).display())),
            }
        }

        /// Whether `name` is a directory owned by this user (not by root, not by anyone else).
        pub fn is_own_dir(&self, name: &str) -> bool {
            rustix::fs::statat(&self.handle, name, AtFlags::SYMLINK_NOFOLLOW).is_ok_and(|stat| {
                kind_of(FileType::from_raw_mode(stat.st_mode)) == Kind::Dir && stat.st_uid == euid()
            })
        }

        fn open_at(&self, name: &str, flags: OFlags, mode_bits: u32) -> Result<Option<OwnedFd>> {
            let path = self.join(name);
            match rustix::fs::openat(
                &self.handle,
                name,
                flags | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                to_mode(mode_bits),
            ) {
                Ok(fd) => Ok(Some(fd)),
                Err(Errno::NOENT) => Ok(None),
                // ELOOP: a link (O_NOFOLLOW); ENOTDIR: not a directory (O_DIRECTORY).
                Err(Errno::LOOP | Errno::NOTDIR | Errno::MLINK) => {
                    let kind = self.kind(name)?.unwrap_or(Kind::Other);
                    Err(refuse(
                        &path,
                        &format!("it is {} where op expects its own entry", kind.describe()),
                        &link_hint(&path),
                    ))
                }
                Err(error) => {
                    Err(io(error)).with_context(|| format!("cannot open {}", path.display()))
                }
            }
        }

        /// Opens the subdirectory `name`: `None` when absent; an error when it is a link,
        /// not a directory, or not safely owned.
        pub fn open_dir(&self, name: &str) -> Result<Option<Dir>> {
            let Some(fd) = self.open_at(name, OFlags::RDONLY | OFlags::DIRECTORY, 0)? else {
                return Ok(None);
            };
            let handle = File::from(fd);
            let path = self.join(name);
            check_handle(&handle, &path)?;
            Ok(Some(Dir { handle, path }))
        }

        /// Opens `name`, creating it with `mode_bits` when absent.
        pub fn create_dir(&self, name: &str, mode_bits: u32) -> Result<Dir> {
            match rustix::fs::mkdirat(&self.handle, name, to_mode(mode_bits)) {
                Ok(()) | Err(Errno::EXIST) => {}
                Err(error) => {
                    return Err(super::super::unwritable(
                        format!(
                            "cannot create cache directory {}",
                            self.join(name).display()
                        ),
                        io(error),
                    ));
                }
            }
            self.open_dir(name)?.ok_or_else(|| {
                anyhow::anyhow!("{} vanished while op created it", self.join(name).display())
            })
        }

        /// Creates `name`, which must not exist yet.
        pub fn create_new_dir(&self, name: &str, mode_bits: u32) -> Result<Dir> {
            rustix::fs::mkdirat(&self.handle, name, to_mode(mode_bits)).map_err(|error| {
                super::super::unwritable(
                    format!("cannot create {}", self.join(name).display()),
                    io(error),
                )
            })?;
            self.open_dir(name)?.ok_or_else(|| {
                anyhow::anyhow!("{} vanished while op created it", self.join(name).display())
            })
        }

        /// Sets this directory's permission bits.
        pub fn set_mode(&self, mode_bits: u32) -> Result<()> {
            rustix::fs::fchmod(&self.handle, to_mode(mode_bits))
                .map_err(io)
                .with_context(|| format!("cannot set the mode of {}", self.path.display()))
        }

        /// Opens the regular file `name` for reading: `None` when absent; an error when it is
        /// a link, a FIFO, a device or not safely owned. A FIFO cannot block the open.
        pub fn open_file(&self, name: &str) -> Result<Option<File>> {
            let Some(fd) = self.open_at(name, OFlags::RDONLY | OFlags::NONBLOCK, 0)? else {
                return Ok(None);
            };
            let file = File::from(fd);
            let path = self.join(name);
            let meta = file
                .metadata()
                .with_context(|| format!("cannot inspect {}", path.display()))?;
            if !meta.file_type().is_file() {
                let kind = if meta.is_dir() {
                    Kind::Dir
                } else {
                    Kind::Other
                };
                return Err(refuse(
                    &path,
                    &format!("it is {}, not a regular file", kind.describe()),
                    &link_hint(&path),
                ));
            }
            check_owner(&path, meta.uid(), meta.mode())?;
            Ok(Some(file))
        }

        /// Creates the file `name` (which must not exist) with exactly `mode_bits`.
        pub fn create_file(&self, name: &str, mode_bits: u32) -> Result<File> {
            let path = self.join(name);
            let fd = rustix::fs::openat(
                &self.handle,
                name,
                OFlags::RDWR | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                to_mode(mode_bits),
            )
            .map_err(|error| {
                super::super::unwritable(format!("cannot create {}", path.display()), io(error))
            })?;
            rustix::fs::fchmod(&fd, to_mode(mode_bits))
                .map_err(io)
                .with_context(|| format!("cannot set the mode of {}", path.display()))?;
            Ok(File::from(fd))
        }

        /// Opens (creating when absent) the lock file `name`, read-write, never through a link.
        pub fn open_lock_file(&self, name: &str) -> Result<File> {
            let path = self.join(name);
            let fd = rustix::fs::openat(
                &self.handle,
                name,
                OFlags::RDWR
                    | OFlags::CREATE
                    | OFlags::NOFOLLOW
                    | OFlags::NONBLOCK
                    | OFlags::CLOEXEC,
                to_mode(mode::SHARED_FILE),
            );
            let fd = match fd {
                Ok(fd) => fd,
                Err(Errno::LOOP | Errno::MLINK) => {
                    return Err(refuse(
                        &path,
                        "it is a symbolic link where op keeps a lock file",
                        &link_hint(&path),
                    ));
                }
                Err(error) => {
                    return Err(super::super::unwritable(
                        format!("cannot open lock file {}", path.display()),
                        io(error),
                    ));
                }
            };
            let file = File::from(fd);
            let meta = file
                .metadata()
                .with_context(|| format!("cannot inspect {}", path.display()))?;
            if !meta.file_type().is_file() {
                return Err(refuse(
                    &path,
                    "it is not a regular file where op keeps a lock file",
                    &link_hint(&path),
                ));
            }
            check_owner(&path, meta.uid(), meta.mode())?;
            Ok(file)
        }

        /// Names in this directory with what they are (links not followed), sorted.
        pub fn names(&self) -> Result<Vec<(String, Kind)>> {
            let listing = rustix::fs::Dir::read_from(&self.handle)
                .map_err(io)
                .with_context(|| format!("cannot list {}", self.path.display()))?;
            let mut names = Vec::new();
            for item in listing {
                let item = item
                    .map_err(io)
                    .with_context(|| format!("cannot list {}", self.path.display()))?;
                let raw: &CStr = item.file_name();
                let Ok(name) = raw.to_str() else { continue };
                if name == "." || name == ".." {
                    continue;
                }
                let kind = match item.file_type() {
                    FileType::Unknown => self.kind(name)?.unwrap_or(Kind::Other),
                    known => kind_of(known),
                };
                names.push((name.to_string(), kind));
            }
            names.sort();
            Ok(names)
        }

        /// Moves `name` to `to`/`to_name`; fails when the target exists.
        pub fn rename(&self, name: &str, to: &Dir, to_name: &str) -> Result<()> {
            let result = rustix::fs::renameat_with(
                &self.handle,
                name,
                &to.handle,
                to_name,
                RenameFlags::NOREPLACE,
            );
            let result = match result {
                // A filesystem without RENAME_NOREPLACE: op holds the artifact lock, so a
                // plain rename cannot replace anyone's work.
                Err(error) if unsupported(error) => {
                    if to.kind(to_name)?.is_some() {
                        Err(Errno::EXIST)
                    } else {
                        rustix::fs::renameat(&self.handle, name, &to.handle, to_name)
                    }
                }
                other => other,
            };
            result.map_err(io).with_context(|| {
                format!(
                    "cannot move {} to {}",
                    self.join(name).display(),
                    to.join(to_name).display()
                )
            })
        }

        /// Swaps `name` and `to`/`to_name` in one step, so that a reader of either path sees
        /// one complete directory or the other. `false` when the filesystem cannot swap.
        pub fn exchange(&self, name: &str, to: &Dir, to_name: &str) -> Result<bool> {
            match rustix::fs::renameat_with(
                &self.handle,
                name,
                &to.handle,
                to_name,
                RenameFlags::EXCHANGE,
            ) {
                Ok(()) => Ok(true),
                Err(error) if unsupported(error) => Ok(false),
                Err(error) => Err(io(error)).with_context(|| {
                    format!(
                        "cannot swap {} with {}",
                        self.join(name).display(),
                        to.join(to_name).display()
                    )
                }),
            }
        }

        /// Removes `name` and, for a directory, everything under it, without following any link
        /// (a link is removed as a name; what it points to is never touched).
        pub fn remove_tree(&self, name: &str) -> Result<()> {
            match self.kind(name)? {
                None => Ok(()),
                Some(Kind::Dir) => {
                    if let Some(inner) = self.open_dir_unchecked(name)? {
                        for (child, _) in inner.names()? {
                            inner.remove_tree(&child)?;
                        }
                    }
                    self.unlink(name, AtFlags::REMOVEDIR)
                }
                Some(_) => self.unlink(name, AtFlags::empty()),
            }
        }

        /// Opens a subdirectory for removal: no link followed, ownership not required (op only
        /// removes trees whose top it checked to be its own).
        fn open_dir_unchecked(&self, name: &str) -> Result<Option<Dir>> {
            Ok(self
                .open_at(name, OFlags::RDONLY | OFlags::DIRECTORY, 0)?
                .map(|fd| Dir {
                    handle: File::from(fd),
                    path: self.join(name),
                }))
        }

        /// Whether `name` (not followed) is still the file `file` has open: a lock file taken
        /// after `prune` unlinked it locks nothing, and is opened again.
        pub fn same_file(&self, name: &str, file: &File) -> bool {
            let (Ok(open), Ok(named)) =
                (file.metadata(), std::fs::symlink_metadata(self.join(name)))
            else {
                return false;
            };
            open.dev() == named.dev() && open.ino() == named.ino()
        }

        /// Removes the lock file `name` when it is a regular file of this user's and no process
        /// holds it: unlinked while this process holds it itself (a non-blocking try-lock), so a
        /// waiter that had it open sees with [`Dir::same_file`] that it must open it again.
        /// `false` when it is left.
        pub fn remove_free_lock(&self, name: &str) -> Result<bool> {
            let Ok(fd) = rustix::fs::openat(
                &self.handle,
                name,
                OFlags::RDWR | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
                Mode::empty(),
            ) else {
                return Ok(false);
            };
            let file = File::from(fd);
            let Ok(meta) = file.metadata() else {
                return Ok(false);
            };
            if !meta.file_type().is_file() || meta.uid() != euid() || file.try_lock().is_err() {
                return Ok(false);
            }
            if !self.same_file(name, &file) {
                return Ok(false);
            }
            self.unlink(name, AtFlags::empty())?;
            Ok(true)
        }

        fn unlink(&self, name: &str, flags: AtFlags) -> Result<()> {
            match rustix::fs::unlinkat(&self.handle, name, flags) {
                Ok(()) | Err(Errno::NOENT) => Ok(()),
                Err(error) => Err(io(error))
                    .with_context(|| format!("cannot remove {}", self.join(name).display())),
            }
        }
    }
}

#[cfg(not(unix))]
mod imp {
    //! Elsewhere (Windows): the same rules through paths, links refused by `symlink_metadata`.
    //! Windows has no uid/mode bits to check; its per-user cache lives under the user's own
    //! profile directory, which other users cannot write.

    use super::*;

    /// A directory handle that can read and set its times: Windows opens a directory only with
    /// `FILE_FLAG_BACKUP_SEMANTICS`.
    fn open_dir_handle(path: &Path) -> std::io::Result<File> {
        use std::os::windows::fs::OpenOptionsExt;
        const FILE_READ_ATTRIBUTES: u32 = 0x80;
        const FILE_WRITE_ATTRIBUTES: u32 = 0x100;
        const FILE_FLAG_BACKUP_SEMANTICS: u32 = 0x0200_0000;
        std::fs::OpenOptions::new()
            .access_mode(FILE_READ_ATTRIBUTES | FILE_WRITE_ATTRIBUTES)
            .custom_flags(FILE_FLAG_BACKUP_SEMANTICS)
            .open(path)
            .or_else(|_| {
                std::fs::OpenOptions::new()
                    .access_mode(FILE_READ_ATTRIBUTES)
                    .custom_flags(FILE_FLAG_BACKUP_SEMANTICS)
                    .open(path)
            })
    }

    fn kind_of(meta: &std::fs::Metadata) -> Kind {
        if meta.file_type().is_symlink() {
            Kind::Link
        } else if meta.is_dir() {
            Kind::Dir
        } else if meta.is_file() {
            Kind::File
        } else {
            Kind::Other
        }
    }

    impl Dir {
        pub fn open_root(path: &Path, create: bool) -> Result<Option<Dir>> {
            if create {
                std::fs::create_dir_all(path).map_err(|error| {
                    super::super::unwritable(
                        format!("cannot create cache directory {}", path.display()),
                        error,
                    )
                })?;
            }
            if !path.exists() {
                return Ok(None);
            }
            if !path.is_dir() {
                return Err(refuse(
                    path,
                    "it is not a directory",
                    "set OP_CACHE_DIR to a directory",
                ));
            }
            let handle = open_dir_handle(path)
                .with_context(|| format!("cannot open cache directory {}", path.display()))?;
            Ok(Some(Dir {
                handle,
                path: path.to_path_buf(),
            }))
        }

        pub fn kind(&self, name: &str) -> Result<Option<Kind>> {
            match std::fs::symlink_metadata(self.join(name)) {
                Ok(meta) => Ok(Some(kind_of(&meta))),
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(error) => Err(error)
                    .with_context(|| format!("cannot inspect {}", self.join(name).display())),
            }
        }

        pub fn is_own_dir(&self, name: &str) -> bool {
            matches!(self.kind(name), Ok(Some(Kind::Dir)))
        }

        fn expect(&self, name: &str, wanted: Kind) -> Result<bool> {
            match self.kind(name)? {
                None => Ok(false),
                Some(kind) if kind == wanted => Ok(true),
                Some(kind) => {
                    let path = self.join(name);
                    Err(refuse(
                        &path,
                        &format!("it is {} where op expects its own entry", kind.describe()),
                        &link_hint(&path),
                    ))
                }
            }
        }

        pub fn open_dir(&self, name: &str) -> Result<Option<Dir>> {
            if !self.expect(name, Kind::Dir)? {
                return Ok(None);
            }
            let path = self.join(name);
            let handle = open_dir_handle(&path)
                .with_context(|| format!("cannot open {}", path.display()))?;
            Ok(Some(Dir { handle, path }))
        }

        pub fn create_dir(&self, name: &str, _mode_bits: u32) -> Result<Dir> {
            // Another thread or op may create it first: what is there is then checked by
            // `open_dir` (a directory, not a link), as on Unix.
            match std::fs::create_dir(self.join(name)) {
                Ok(()) => {}
                Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(error) => {
                    return Err(super::super::unwritable(
                        format!(
                            "cannot create cache directory {}",
                            self.join(name).display()
                        ),
                        error,
                    ));
                }
            }
            self.open_dir(name)?.ok_or_else(|| {
                anyhow::anyhow!("{} vanished while op created it", self.join(name).display())
            })
        }

        pub fn create_new_dir(&self, name: &str, _mode_bits: u32) -> Result<Dir> {
            std::fs::create_dir(self.join(name)).map_err(|error| {
                super::super::unwritable(
                    format!("cannot create {}", self.join(name).display()),
                    error,
                )
            })?;
            self.open_dir(name)?.ok_or_else(|| {
                anyhow::anyhow!("{} vanished while op created it", self.join(name).display())
            })
        }

        pub fn set_mode(&self, _mode_bits: u32) -> Result<()> {
            Ok(())
        }

        pub fn open_file(&self, name: &str) -> Result<Option<File>> {
            if !self.expect(name, Kind::File)? {
                return Ok(None);
            }
            let path = self.join(name);
            Ok(Some(File::open(&path).with_context(|| {
                format!("cannot open {}", path.display())
            })?))
        }

        pub fn create_file(&self, name: &str, _mode_bits: u32) -> Result<File> {
            let path = self.join(name);
            File::options()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&path)
                .map_err(|error| {
                    super::super::unwritable(format!("cannot create {}", path.display()), error)
                })
        }

        pub fn open_lock_file(&self, name: &str) -> Result<File> {
            let path = self.join(name);
            if self.kind(name)?.is_some_and(|kind| kind != Kind::File) {
                return Err(refuse(
                    &path,
                    "it is not a regular file where op keeps a lock file",
                    &link_hint(&path),
                ));
            }
            File::options()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(|error| {
                    super::super::unwritable(
                        format!("cannot open lock file {}", path.display()),
                        error,
                    )
                })
        }

        pub fn names(&self) -> Result<Vec<(String, Kind)>> {
            let mut names = Vec::new();
            for item in std::fs::read_dir(&self.path)
                .with_context(|| format!("cannot list {}", self.path.display()))?
            {
                let item = item.with_context(|| format!("cannot list {}", self.path.display()))?;
                let Ok(name) = item.file_name().into_string() else {
                    continue;
                };
                let kind = self.kind(&name)?.unwrap_or(Kind::Other);
                names.push((name, kind));
            }
            names.sort();
            Ok(names)
        }

        pub fn rename(&self, name: &str, to: &Dir, to_name: &str) -> Result<()> {
            if to.kind(to_name)?.is_some() {
                anyhow::bail!(
                    "cannot move {}: {} exists",
                    self.join(name).display(),
                    to.join(to_name).display()
                );
            }
            std::fs::rename(self.join(name), to.join(to_name)).with_context(|| {
                format!(
                    "cannot move {} to {}",
                    self.join(name).display(),
                    to.join(to_name).display()
                )
            })
        }

        pub fn exchange(&self, _name: &str, _to: &Dir, _to_name: &str) -> Result<bool> {
            Ok(false)
        }

        /// Windows keeps an open file's name: a lock file is never unlinked under a waiter.
        pub fn same_file(&self, _name: &str, _file: &File) -> bool {
            true
        }

        /// Lock files are left in place here (see [`Dir::same_file`]).
        pub fn remove_free_lock(&self, _name: &str) -> Result<bool> {
            Ok(false)
        }

        pub fn remove_tree(&self, name: &str) -> Result<()> {
            let path = self.join(name);
            let result = match self.kind(name)? {
                None => return Ok(()),
                Some(Kind::Dir) => std::fs::remove_dir_all(&path),
                Some(Kind::Link) => {
                    std::fs::remove_dir(&path).or_else(|_| std::fs::remove_file(&path))
                }
                Some(_) => std::fs::remove_file(&path),
            };
            result.with_context(|| format!("cannot remove {}", path.display()))
        }
    }
}

/// Bytes of `file` up to `cap`; an error naming `path` when it holds more.
pub fn read_capped(file: File, path: &Path, cap: u64) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    file.take(cap + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {}", path.display()))?;
    if bytes.len() as u64 > cap {
        return Err(refuse(
            path,
            &format!("it is larger than {cap} bytes, more than op ever writes there"),
            &link_hint(path),
        ));
    }
    Ok(bytes)
}

impl Dir {
    /// The regular file `name`, read up to `cap` bytes; `None` when absent.
    pub fn read_file(&self, name: &str, cap: u64) -> Result<Option<Vec<u8>>> {
        match self.open_file(name)? {
            None => Ok(None),
            Some(file) => read_capped(file, &self.join(name), cap).map(Some),
        }
    }
}
