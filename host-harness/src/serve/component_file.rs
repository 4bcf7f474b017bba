//! Reading a component file named by an administrator (`POST /admin/swap`) or watched
//! (`--watch`): regular files only, up to a size cap, never blocking.
//!
//! A path is untrusted input even from an administrator: `/dev/zero` would be read forever and
//! a FIFO would block the reader (and, before, every request and SIGTERM with it). So the path
//! must name a regular file (after symlinks), it is opened non-blocking and checked again on
//! the open descriptor (the file may have been swapped between the two), and at most the cap
//! is read.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// The default cap on a component file: 64 MiB (the SLO component is well under 1 MiB).
pub const DEFAULT_MAX_COMPONENT_BYTES: u64 = 64 << 20;

/// Why a component file was not read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ComponentFileError {
    /// The path cannot be inspected or opened.
    #[error("cannot read {path}: {reason}")]
    Unreadable {
        /// The path.
        path: String,
        /// The operating system's reason.
        reason: String,
    },
    /// The path names a directory, a device, a FIFO or a socket.
    #[error("{path} is not a regular file ({kind})")]
    NotRegular {
        /// The path.
        path: String,
        /// What it is instead.
        kind: &'static str,
    },
    /// The file is larger than the cap.
    #[error("{path} is larger than the {cap}-byte cap on component files")]
    TooLarge {
        /// The path.
        path: String,
        /// The cap in bytes.
        cap: u64,
    },
}

fn kind_of(file_type: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if file_type.is_dir() {
        "a directory"
    } else if file_type.is_fifo() {
        "a FIFO"
    } else if file_type.is_char_device() {
        "a character device"
    } else if file_type.is_block_device() {
        "a block device"
    } else if file_type.is_socket() {
        "a socket"
    } else {
        "not a file"
    }
}

/// Reads the component file at `path`: a regular file of at most `cap` bytes.
pub fn read_component(path: &Path, cap: u64) -> Result<Vec<u8>, ComponentFileError> {
    let shown = path.display().to_string();
    let unreadable = |e: std::io::Error| ComponentFileError::Unreadable {
        path: shown.clone(),
        reason: e.to_string(),
    };
    let check = |meta: &std::fs::Metadata| {
        if !meta.is_file() {
            return Err(ComponentFileError::NotRegular {
                path: shown.clone(),
                kind: kind_of(meta.file_type()),
            });
        }
        if meta.len() > cap {
            return Err(ComponentFileError::TooLarge {
                path: shown.clone(),
                cap,
            });
        }
        Ok(())
    };
    check(&std::fs::metadata(path).map_err(unreadable)?)?;
    let file = File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(unreadable)?;
    check(&file.metadata().map_err(unreadable)?)?;
    let mut bytes = Vec::new();
    file.take(cap.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    if bytes.len() as u64 > cap {
        return Err(ComponentFileError::TooLarge { path: shown, cap });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("slo-component-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    #[test]
    fn a_regular_file_under_the_cap_is_read() {
        let path = scratch("ok.wasm");
        std::fs::write(&path, b"\0asm").unwrap();
        assert_eq!(read_component(&path, 4).unwrap(), b"\0asm");
    }

    #[test]
    fn a_file_over_the_cap_is_refused() {
        let path = scratch("big.wasm");
        std::fs::write(&path, vec![0u8; 100]).unwrap();
        assert!(matches!(
            read_component(&path, 99),
            Err(ComponentFileError::TooLarge { cap: 99, .. })
        ));
    }

    #[test]
    fn devices_directories_and_fifos_are_refused_without_blocking() {
        for (path, kind) in [
            (Path::new("/dev/zero").to_path_buf(), "a character device"),
            (std::env::temp_dir(), "a directory"),
        ] {
            assert_eq!(
                read_component(&path, DEFAULT_MAX_COMPONENT_BYTES),
                Err(ComponentFileError::NotRegular {
                    path: path.display().to_string(),
                    kind
                })
            );
        }
        let fifo = scratch("pipe");
        let _ = std::fs::remove_file(&fifo);
        let c_path = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: mkfifo reads a NUL-terminated path that outlives the call.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        assert!(matches!(
            read_component(&fifo, DEFAULT_MAX_COMPONENT_BYTES),
            Err(ComponentFileError::NotRegular { kind: "a FIFO", .. })
        ));
    }

    #[test]
    fn a_missing_file_is_unreadable() {
        assert!(matches!(
            read_component(Path::new("/nonexistent/x.wasm"), 10),
            Err(ComponentFileError::Unreadable { .. })
        ));
    }
}
