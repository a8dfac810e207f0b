//! argon2id hashing, bounded so a burst of logins cannot exhaust a 1 GB box.

use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use super::AccountsError;
use crate::config::AuthConfig;

#[derive(Clone)]
pub struct Hasher {
    params: Params,
    /// Each hash holds `memory_kib` of RAM for its duration; at most this many at once.
    slots: Arc<Semaphore>,
}

impl Hasher {
    pub fn new(cfg: &AuthConfig) -> Result<Self, AccountsError> {
        let params = Params::new(cfg.argon2_memory_kib, cfg.argon2_iterations, 1, None)
            .map_err(|e| AccountsError::Internal(format!("argon2 parameters: {e}")))?;
        Ok(Hasher {
            params,
            slots: Arc::new(Semaphore::new(cfg.argon2_concurrency.max(1))),
        })
    }

    fn argon(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    pub fn hash_blocking(&self, password: &str) -> Result<String, AccountsError> {
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        self.argon()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| AccountsError::Internal(format!("argon2: {e}")))
    }

    pub fn verify_blocking(&self, password: &str, phc: &str) -> bool {
        match PasswordHash::new(phc) {
            // Verification uses the parameters recorded in the hash, so old hashes keep working.
            Ok(h) => self
                .argon()
                .verify_password(password.as_bytes(), &h)
                .is_ok(),
            Err(_) => false,
        }
    }

    pub async fn hash(&self, password: String) -> Result<String, AccountsError> {
        let _slot = self.slots.acquire().await.map_err(closed)?;
        let me = self.clone();
        tokio::task::spawn_blocking(move || me.hash_blocking(&password))
            .await
            .map_err(|e| AccountsError::Internal(e.to_string()))?
    }

    pub async fn verify(&self, password: String, phc: String) -> bool {
        let Ok(_slot) = self.slots.acquire().await else {
            return false;
        };
        let me = self.clone();
        tokio::task::spawn_blocking(move || me.verify_blocking(&password, &phc))
            .await
            .unwrap_or(false)
    }
}

fn closed(_: tokio::sync::AcquireError) -> AccountsError {
    AccountsError::Internal("hasher closed".into())
}
