//! The access tokens the token actors hold, published for callers to read without a message:
//! a delivery asks for its user's token in one lock read instead of a round trip through the
//! registry and the user's actor. The actors stay the only writers, and everything that is not
//! a valid token (none yet, expiring within the margin, parked, refused) still goes to them.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, SystemTime};

use super::AccessToken;
use crate::domain::TokenOwner;
use crate::secrets::Secret;

/// The published tokens, by owner.
#[derive(Debug)]
pub(super) struct Published {
    margin: Duration,
    tokens: RwLock<HashMap<TokenOwner, AccessToken>>,
}

impl Published {
    pub(super) fn new(margin: Duration) -> Published {
        Published {
            margin,
            tokens: RwLock::new(HashMap::new()),
        }
    }

    /// The owner's token if it is valid for longer than the margin at `now`.
    pub(super) fn valid(&self, owner: TokenOwner, now: SystemTime) -> Option<AccessToken> {
        let tokens = self.tokens.read().unwrap_or_else(|e| e.into_inner());
        tokens
            .get(&owner)
            .filter(|t| t.expires_at > now + self.margin)
            .cloned()
    }

    /// What the owner's actor holds now: a token to hand out, or none.
    pub(super) fn set(&self, owner: TokenOwner, token: Option<AccessToken>) {
        let mut tokens = self.tokens.write().unwrap_or_else(|e| e.into_inner());
        match token {
            Some(t) => {
                tokens.insert(owner, t);
            }
            None => {
                tokens.remove(&owner);
            }
        }
    }

    /// Withdraws the owner's token if it is `stale` (a service refused it).
    pub(super) fn withdraw(&self, owner: TokenOwner, stale: &Secret) {
        let mut tokens = self.tokens.write().unwrap_or_else(|e| e.into_inner());
        if tokens.get(&owner).is_some_and(|t| t.token == *stale) {
            tokens.remove(&owner);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::UserId;

    fn token(text: &str, valid_for: Duration) -> AccessToken {
        AccessToken {
            token: Secret::new(text.to_string()),
            expires_at: SystemTime::now() + valid_for,
        }
    }

    #[test]
    fn only_a_token_valid_beyond_the_margin_is_read() {
        let p = Published::new(Duration::from_secs(60));
        let alice = TokenOwner::User(UserId(1));
        assert!(p.valid(alice, SystemTime::now()).is_none());
        p.set(alice, Some(token("a", Duration::from_secs(30))));
        assert!(
            p.valid(alice, SystemTime::now()).is_none(),
            "within the margin"
        );
        p.set(alice, Some(token("b", Duration::from_secs(3600))));
        let got = p.valid(alice, SystemTime::now()).unwrap();
        assert_eq!(got.token.expose(), "b");
        assert!(p
            .valid(TokenOwner::User(UserId(2)), SystemTime::now())
            .is_none());
        p.set(alice, None);
        assert!(p.valid(alice, SystemTime::now()).is_none());
    }

    #[test]
    fn a_refused_token_is_withdrawn_a_newer_one_is_kept() {
        let p = Published::new(Duration::from_secs(60));
        let alice = TokenOwner::User(UserId(1));
        p.set(alice, Some(token("new", Duration::from_secs(3600))));
        p.withdraw(alice, &Secret::new("old".to_string()));
        assert!(p.valid(alice, SystemTime::now()).is_some());
        p.withdraw(alice, &Secret::new("new".to_string()));
        assert!(p.valid(alice, SystemTime::now()).is_none());
    }
}
