//! The verified-credential cache: sync clients send Basic auth on every request, and an
//! argon2id run costs tens of milliseconds on a Pi. A hit is keyed by HMAC-SHA256(user, secret)
//! under a key that lives only in this process, so the cache never holds a secret.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use sha2::Sha256;

type Digest = [u8; 32];

pub struct CredentialCache {
    key: [u8; 32],
    ttl: Duration,
    capacity: usize,
    enabled: bool,
    entries: Mutex<HashMap<Digest, Entry>>,
    /// Bumped whenever a user's cached credentials are forgotten; an entry verified before a
    /// bump is not inserted after it, so a password change racing a login cannot leave a
    /// stale entry behind.
    generations: Mutex<HashMap<String, u64>>,
}

#[derive(Clone)]
pub struct Entry {
    pub uid: String,
    pub is_admin: bool,
    pub groups: std::sync::Arc<[String]>,
    pub app_password: Option<u64>,
    pub expires: Instant,
}

impl CredentialCache {
    pub fn new(enabled: bool, ttl: Duration, capacity: usize) -> Self {
        CredentialCache {
            key: rand::random(),
            ttl,
            capacity,
            enabled,
            entries: Mutex::new(HashMap::new()),
            generations: Mutex::new(HashMap::new()),
        }
    }

    /// The cache key of a credential pair (also used to coalesce concurrent checks of it).
    pub fn key_of(&self, login: &str, secret: &str) -> Digest {
        self.digest(login, secret)
    }

    fn digest(&self, login: &str, secret: &str) -> Digest {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.key) else {
            return [0; 32];
        };
        mac.update(login.as_bytes());
        mac.update(&[0]);
        mac.update(secret.as_bytes());
        mac.finalize().into_bytes().into()
    }

    pub fn get(&self, login: &str, secret: &str) -> Option<Entry> {
        if !self.enabled {
            return None;
        }
        let d = self.digest(login, secret);
        let mut map = self.entries.lock().ok()?;
        match map.get(&d) {
            Some(e) if e.expires > crate::clock::instant() => Some(e.clone()),
            Some(_) => {
                map.remove(&d);
                None
            }
            None => None,
        }
    }

    /// The generation to pass to `insert`; read it before verifying.
    pub fn generation(&self, uid: &str) -> u64 {
        self.generations
            .lock()
            .map_or(0, |g| g.get(uid).copied().unwrap_or(0))
    }

    pub fn insert(
        &self,
        login: &str,
        secret: &str,
        principal: &super::Principal,
        app_password: Option<u64>,
        generation: u64,
    ) {
        let uid = principal.uid.as_str();
        if !self.enabled || self.generation(uid) != generation {
            return;
        }
        let d = self.digest(login, secret);
        let Ok(mut map) = self.entries.lock() else {
            return;
        };
        if map.len() >= self.capacity {
            let now = crate::clock::instant();
            map.retain(|_, e| e.expires > now);
            if map.len() >= self.capacity {
                map.clear();
            }
        }
        map.insert(
            d,
            Entry {
                uid: uid.to_owned(),
                is_admin: principal.is_admin,
                groups: principal.groups.clone(),
                app_password,
                expires: crate::clock::instant() + self.ttl,
            },
        );
    }

    /// Forgets every cached credential of `uid` (password change, disable, delete, groups).
    pub fn forget_user(&self, uid: &str) {
        if let Ok(mut g) = self.generations.lock() {
            *g.entry(uid.to_owned()).or_insert(0) += 1;
        }
        if let Ok(mut map) = self.entries.lock() {
            map.retain(|_, e| e.uid != uid);
        }
    }

    /// Forgets one app password (revoked).
    pub fn forget_app_password(&self, id: u64) {
        if let Ok(mut map) = self.entries.lock() {
            map.retain(|_, e| e.app_password != Some(id));
        }
    }
}
