//! Secrets at rest: AES-256-GCM under a master key, a random nonce per value, and the
//! place the value belongs to (table, column, row id) as associated data, so a ciphertext
//! copied into another row does not decrypt.
//!
//! Stored form: `v1:<key id>:<base64(nonce || ciphertext+tag)>`, where the key id is the first
//! 8 hex digits of the SHA-256 of the master key (it tells "wrong key" apart from "tampered").

use std::fmt;
use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};

/// The format tag of every stored ciphertext.
const VERSION: &str = "v1";
/// AES-GCM standard nonce length (96 bits).
const NONCE_LEN: usize = 12;
/// AES-GCM tag length.
const TAG_LEN: usize = 16;

/// A secret string: its `Debug` and `Display` never show the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The value, for the one place that needs it (a request to Xelion or a CRM).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// The master key and the AEAD built from it.
#[derive(Clone)]
pub struct Cipher {
    inner: Arc<Inner>,
}

struct Inner {
    aead: Aes256Gcm,
    key_id: String,
}

impl fmt::Debug for Cipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cipher")
            .field("key_id", &self.inner.key_id)
            .finish_non_exhaustive()
    }
}

impl Cipher {
    /// A cipher from 32 raw key bytes.
    pub fn from_key(key: [u8; 32]) -> Self {
        let key_id = hex(&Sha256::digest(key))[..8].to_string();
        let aead = Aes256Gcm::new(&key.into());
        Cipher {
            inner: Arc::new(Inner { aead, key_id }),
        }
    }

    /// The master key from `XCTI_MASTER_KEY`-style base64 (32 bytes), with a clear error otherwise.
    pub fn from_base64(b64: &str) -> Result<Self, String> {
        let text = b64.trim();
        if text.is_empty() {
            return Err(
                "the master key is empty: expected base64 of 32 random bytes \
                        (e.g. `openssl rand -base64 32`)"
                    .to_string(),
            );
        }
        // Never echo the key material in an error.
        let bytes = B64
            .decode(text)
            .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(text))
            .map_err(|_| {
                "the master key is not valid base64: expected base64 of 32 random bytes \
                 (e.g. `openssl rand -base64 32`)"
                    .to_string()
            })?;
        let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
            format!(
                "the master key decodes to {} bytes, but AES-256 needs exactly 32 \
                 (e.g. `openssl rand -base64 32`)",
                bytes.len()
            )
        })?;
        Ok(Cipher::from_key(key))
    }

    /// Loads the key file, or creates it (mode 0600, 32 random bytes, base64) if it does not exist.
    ///
    /// Creation is atomic: the key is written to a private temporary file (created with
    /// `create_new` and mode 0600) that is then hard-linked to `path`, which fails if another
    /// process created the file first; in that case its key is used. So a crash never leaves
    /// a half-written key file behind, and two instances never end up with different keys.
    pub fn from_key_file(path: &Path) -> Result<Self, String> {
        match std::fs::read_to_string(path) {
            Ok(text) => return Self::from_file_text(path, &text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("cannot read key file {}: {e}", path.display())),
        }

        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        let encoded = format!("{}\n", B64.encode(key));

        let file_name = path
            .file_name()
            .ok_or_else(|| format!("key file path {} has no file name", path.display()))?;
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(file_name);
        tmp_name.push(format!(".tmp-{:016x}", rand::random::<u64>()));
        let tmp = path.with_file_name(tmp_name);

        let result = write_private(&tmp, encoded.as_bytes())
            .map_err(|e| format!("cannot create key file {}: {e}", path.display()))
            .and_then(|()| match std::fs::hard_link(&tmp, path) {
                Ok(()) => Ok(true),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
                Err(e) => Err(format!("cannot create key file {}: {e}", path.display())),
            });
        let _ = std::fs::remove_file(&tmp);

        if result? {
            tracing::info!(path = %path.display(), "created a new master key file");
            Ok(Cipher::from_key(key))
        } else {
            // Lost a race with another process: use the key it wrote.
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read key file {}: {e}", path.display()))?;
            Self::from_file_text(path, &text)
        }
    }

    fn from_file_text(path: &Path, text: &str) -> Result<Self, String> {
        warn_if_readable_by_others(path);
        Self::from_base64(text).map_err(|e| format!("key file {}: {e}", path.display()))
    }

    /// A short id of the key (first 8 hex digits of SHA-256 of the key), stored beside each ciphertext.
    pub fn key_id(&self) -> &str {
        &self.inner.key_id
    }

    /// Encrypts `plain` for `aad` (e.g. `user_credentials.refresh_token:42`): `v1:<key id>:<base64(nonce || ciphertext)>`.
    ///
    /// Fails only for a plaintext beyond the AES-GCM limit (64 GiB); [`Cipher::try_encrypt`] reports that
    /// as an error instead of panicking.
    pub fn encrypt(&self, plain: &str, aad: &str) -> String {
        match self.try_encrypt(plain, aad) {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        }
    }

    /// [`Cipher::encrypt`] without the panic.
    pub fn try_encrypt(&self, plain: &str, aad: &str) -> Result<String, String> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ct = self
            .inner
            .aead
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plain.as_bytes(),
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| "the value is too long to encrypt".to_string())?;
        let mut blob = Vec::with_capacity(NONCE_LEN + ct.len());
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&ct);
        Ok(format!(
            "{VERSION}:{}:{}",
            self.inner.key_id,
            B64.encode(blob)
        ))
    }

    /// Decrypts what [`Cipher::encrypt`] produced for the same `aad`.
    pub fn decrypt(&self, stored: &str, aad: &str) -> Result<Secret, String> {
        let mut parts = stored.splitn(3, ':');
        let (version, key_id, body) = match (parts.next(), parts.next(), parts.next()) {
            (Some(v), Some(k), Some(b)) => (v, k, b),
            _ => return Err(format!("{aad}: not an encrypted value")),
        };
        if version != VERSION {
            return Err(format!("{aad}: unknown format {version:?}"));
        }
        if key_id != self.inner.key_id {
            return Err(format!(
                "{aad}: encrypted with master key {key_id}, but the configured master key is {}",
                self.inner.key_id
            ));
        }
        let blob = B64
            .decode(body)
            .map_err(|_| format!("{aad}: corrupt ciphertext (bad base64)"))?;
        if blob.len() < NONCE_LEN + TAG_LEN {
            return Err(format!("{aad}: corrupt ciphertext (too short)"));
        }
        let (nonce, ct) = blob.split_at(NONCE_LEN);
        let plain = self
            .inner
            .aead
            .decrypt(
                &Nonce::try_from(nonce)
                    .map_err(|_| "the nonce has the wrong length".to_string())?,
                Payload {
                    msg: ct,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| {
                format!("{aad}: cannot decrypt (the value was altered or belongs to another row)")
            })?;
        String::from_utf8(plain)
            .map(Secret)
            .map_err(|_| format!("{aad}: decrypted value is not UTF-8"))
    }
}

/// SHA-256 of a token, lower-case hex (API tokens are stored only this way).
pub fn token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
    out
}

/// Creates `path` (which must not exist) readable and writable by the owner only, with `data`.
fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(data)?;
    file.sync_all()
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    if let Ok(meta) = std::fs::metadata(path) {
        let mode = meta.permissions().mode();
        if mode & 0o077 != 0 {
            tracing::warn!(
                path = %path.display(),
                mode = format!("{:o}", mode & 0o777),
                "the master key file is accessible to other users; chmod 600 it"
            );
        }
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_path: &Path) {}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("xcti-secrets-{:016x}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn round_trip() {
        let c = Cipher::from_key([7; 32]);
        let stored = c.encrypt("hunter2", "xelion_contexts.admin_password:1");
        assert!(stored.starts_with(&format!("v1:{}:", c.key_id())));
        assert!(!stored.contains("hunter2"));
        let back = c
            .decrypt(&stored, "xelion_contexts.admin_password:1")
            .unwrap();
        assert_eq!(back.expose(), "hunter2");
        // the empty string and non-ASCII survive too
        let e = c.encrypt("", "t.c:1");
        assert_eq!(c.decrypt(&e, "t.c:1").unwrap().expose(), "");
        let u = c.encrypt("pässwörd ✓", "t.c:1");
        assert_eq!(c.decrypt(&u, "t.c:1").unwrap().expose(), "pässwörd ✓");
    }

    #[test]
    fn nonce_is_random() {
        let c = Cipher::from_key([1; 32]);
        assert_ne!(c.encrypt("same", "a:1"), c.encrypt("same", "a:1"));
    }

    #[test]
    fn other_aad_fails() {
        let c = Cipher::from_key([2; 32]);
        let stored = c.encrypt("secret", "user_credentials.refresh_token:1");
        assert!(c
            .decrypt(&stored, "user_credentials.refresh_token:2")
            .is_err());
        assert!(c
            .decrypt(&stored, "user_credentials.client_secret:1")
            .is_err());
    }

    #[test]
    fn other_key_fails() {
        let a = Cipher::from_key([3; 32]);
        let b = Cipher::from_key([4; 32]);
        assert_ne!(a.key_id(), b.key_id());
        let stored = a.encrypt("secret", "x:1");
        let err = b.decrypt(&stored, "x:1").unwrap_err();
        assert!(err.contains("master key"), "{err}");
        // even with the key id forged, the tag check fails
        let forged = stored.replacen(a.key_id(), b.key_id(), 1);
        assert!(b.decrypt(&forged, "x:1").is_err());
    }

    #[test]
    fn tampering_fails() {
        let c = Cipher::from_key([5; 32]);
        let stored = c.encrypt("secret", "x:1");
        let body = stored.rsplit(':').next().unwrap();
        let mut blob = B64.decode(body).unwrap();
        let last = blob.len() - 1;
        blob[last] ^= 1;
        let tampered = format!("v1:{}:{}", c.key_id(), B64.encode(&blob));
        assert!(c.decrypt(&tampered, "x:1").is_err());
        for bad in [
            "",
            "plain",
            "v1:",
            "v2:abc:def",
            &format!("v1:{}:!!", c.key_id()),
        ] {
            assert!(c.decrypt(bad, "x:1").is_err(), "{bad}");
        }
        let short = format!("v1:{}:{}", c.key_id(), B64.encode([0u8; 20]));
        assert!(c.decrypt(&short, "x:1").is_err());
    }

    #[test]
    fn from_base64_checks() {
        let key = B64.encode([9u8; 32]);
        let a = Cipher::from_base64(&format!(" {key}\n")).unwrap();
        assert_eq!(a.key_id(), Cipher::from_key([9; 32]).key_id());
        let err = Cipher::from_base64(&B64.encode([9u8; 16])).unwrap_err();
        assert!(err.contains("16 bytes"), "{err}");
        let err = Cipher::from_base64("not base64 at all!").unwrap_err();
        assert!(err.contains("base64"), "{err}");
        assert!(
            !err.contains("not base64 at all"),
            "error echoes the key: {err}"
        );
        assert!(Cipher::from_base64("").is_err());
    }

    #[test]
    fn key_file_created_once_with_mode_0600() {
        let dir = temp_dir();
        let path = dir.join("master.key");
        let a = Cipher::from_key_file(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(B64.decode(text.trim()).unwrap().len(), 32);
        let b = Cipher::from_key_file(&path).unwrap();
        assert_eq!(a.key_id(), b.key_id());
        let stored = a.encrypt("v", "t.c:1");
        assert_eq!(b.decrypt(&stored, "t.c:1").unwrap().expose(), "v");
        // no temporary files left behind
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn key_file_errors_are_clear() {
        let dir = temp_dir();
        let bad = dir.join("bad.key");
        std::fs::write(&bad, "too short").unwrap();
        let err = Cipher::from_key_file(&bad).unwrap_err();
        assert!(err.contains("bad.key"), "{err}");
        let missing_dir = dir.join("no/such/dir/master.key");
        let err = Cipher::from_key_file(&missing_dir).unwrap_err();
        assert!(err.contains("cannot create key file"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn token_hash_is_sha256_hex() {
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn secret_debug_redacts() {
        let s = Secret::new("topsecret");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        let c = Cipher::from_key([0; 32]);
        assert!(!format!("{c:?}").contains("aead"));
    }
}
