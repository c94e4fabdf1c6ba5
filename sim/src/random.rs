//! Random strings for tokens, keys and generated names.

use rand::distributions::Alphanumeric;
use rand::Rng;

/// A random alphanumeric string of `len` characters.
pub fn random_token(len: usize) -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}
