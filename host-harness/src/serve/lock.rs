//! One `serve` per database: an exclusive lock on a file beside the SQLite database, held for
//! the life of the process (the operating system releases it when the process dies, even by
//! `kill -9`, so a crash never leaves a stale lock).
//!
//! Two hosts over one SQLite file would each answer from their own copy of the platform and
//! diverge; until cluster mode exists, the second one is refused at start with the holder's
//! pid.

use std::fs::{File, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// The held lock; dropping it releases the database.
#[derive(Debug)]
pub struct DatabaseLock {
    file: File,
    path: PathBuf,
}

/// Why the database could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds it.
    #[error(
        "another slo-host serve (pid {holder}) is using the database {database}: stop it, or give \
         this one another --db (the lock is {lock})"
    )]
    Held {
        /// The database.
        database: String,
        /// The lock file.
        lock: String,
        /// The holder's pid, as it wrote it (`unknown` when unreadable).
        holder: String,
    },
    /// The lock file cannot be created or locked.
    #[error("cannot lock {lock}: {reason}")]
    Io {
        /// The lock file.
        lock: String,
        /// Why.
        reason: String,
    },
}

impl DatabaseLock {
    /// Locks `database` (through `<database>.lock`) for this process, or says who holds it.
    pub fn acquire(database: &Path) -> Result<DatabaseLock, LockError> {
        let mut name = database.as_os_str().to_owned();
        name.push(".lock");
        let path = PathBuf::from(name);
        let io = |e: std::io::Error| LockError::Io {
            lock: path.display().to_string(),
            reason: e.to_string(),
        };
        let mut file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                return Err(LockError::Held {
                    database: database.display().to_string(),
                    lock: path.display().to_string(),
                    holder: if holder.is_empty() {
                        "unknown".into()
                    } else {
                        holder.to_owned()
                    },
                });
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        writeln!(file, "{}", std::process::id()).map_err(io)?;
        Ok(DatabaseLock { file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for DatabaseLock {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_one_database_is_refused_until_the_first_is_dropped() {
        let dir = std::env::temp_dir().join(format!("slo-lock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let db = dir.join("db.sqlite");
        let first = DatabaseLock::acquire(&db).unwrap();
        match DatabaseLock::acquire(&db) {
            Err(LockError::Held { holder, .. }) => {
                assert_eq!(holder, std::process::id().to_string())
            }
            other => panic!("expected Held, got {other:?}"),
        }
        drop(first);
        let again = DatabaseLock::acquire(&db).unwrap();
        assert!(again.path().ends_with("db.sqlite.lock"));
    }
}
