//! The server's two secrets: the netcode private key (connect tokens) and
//! the session-token signing key. Made on first start, stored 0600 in the
//! data dir, never logged (their `Debug` prints nothing of them).

use rand::RngCore;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use thiserror::Error;

pub const KEY_BYTES: usize = 32;
const NETCODE_KEY_FILE: &str = "netcode.key";
const SESSION_KEY_FILE: &str = "session.key";

#[derive(Clone)]
pub struct Keys {
    pub netcode: [u8; KEY_BYTES],
    pub session: [u8; KEY_BYTES],
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Keys { .. }")
    }
}

#[derive(Debug, Error)]
pub enum KeyError {
    #[error("cannot create data dir {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read or write key file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("key file {path} must hold exactly {KEY_BYTES} bytes, found {found}")]
    BadLength { path: PathBuf, found: usize },
    #[error("key file {path} is readable by others (mode {mode:o}); chmod 600 it")]
    TooOpen { path: PathBuf, mode: u32 },
}

impl Keys {
    /// Loads both keys from `data_dir`, creating any that is missing.
    pub fn load_or_create(data_dir: &Path) -> Result<Keys, KeyError> {
        std::fs::create_dir_all(data_dir).map_err(|source| KeyError::DataDir {
            path: data_dir.to_owned(),
            source,
        })?;
        Ok(Keys {
            netcode: load_or_create_key(&data_dir.join(NETCODE_KEY_FILE))?,
            session: load_or_create_key(&data_dir.join(SESSION_KEY_FILE))?,
        })
    }
}

pub(crate) fn load_or_create_key(path: &Path) -> Result<[u8; KEY_BYTES], KeyError> {
    let io = |source| KeyError::Io {
        path: path.to_owned(),
        source,
    };
    match std::fs::read(path) {
        Ok(bytes) => {
            check_mode(path)?;
            bytes
                .as_slice()
                .try_into()
                .map_err(|_| KeyError::BadLength {
                    path: path.to_owned(),
                    found: bytes.len(),
                })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut key = [0u8; KEY_BYTES];
            rand::rng().fill_bytes(&mut key);
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(path).map_err(io)?;
            file.write_all(&key).map_err(io)?;
            file.sync_all().map_err(io)?;
            tracing::info!(path = %path.display(), "created a new key");
            Ok(key)
        }
        Err(e) => Err(io(e)),
    }
}

#[cfg(unix)]
fn check_mode(path: &Path) -> Result<(), KeyError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map_err(|source| KeyError::Io {
            path: path.to_owned(),
            source,
        })?
        .permissions()
        .mode()
        & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyError::TooOpen {
            path: path.to_owned(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_mode(_: &Path) -> Result<(), KeyError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_private_keys_once_and_reloads_them() {
        let dir = tempfile::tempdir().unwrap();
        let first = Keys::load_or_create(dir.path()).unwrap();
        let again = Keys::load_or_create(dir.path()).unwrap();
        assert_eq!(first.netcode, again.netcode);
        assert_eq!(first.session, again.session);
        assert_ne!(first.netcode, first.session);
        assert_eq!(format!("{first:?}"), "Keys { .. }");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for file in [NETCODE_KEY_FILE, SESSION_KEY_FILE] {
                let mode = std::fs::metadata(dir.path().join(file))
                    .unwrap()
                    .permissions()
                    .mode();
                assert_eq!(mode & 0o777, 0o600, "{file}");
            }
        }
    }

    #[test]
    fn refuses_short_or_open_keys() {
        let dir = tempfile::tempdir().unwrap();
        Keys::load_or_create(dir.path()).unwrap();
        let path = dir.path().join(NETCODE_KEY_FILE);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert!(matches!(
                Keys::load_or_create(dir.path()),
                Err(KeyError::TooOpen { .. })
            ));
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        std::fs::write(&path, b"short").unwrap();
        assert!(matches!(
            Keys::load_or_create(dir.path()),
            Err(KeyError::BadLength { found: 5, .. })
        ));
    }
}
