//! Accounts: users, groups, passwords, app passwords, browser sessions, login flows, and the
//! rules around them (who may change what, throttling, the credential cache).
//!
//! Knows nothing about HTTP: surfaces call these functions with an explicit [`Actor`].

pub mod access;
mod avatar;
mod cache;
mod invites;
pub mod login_flow;
pub mod model;
mod password;
mod throttle;
mod users;

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::blobs::LocalBlobs;
use crate::config::AuthConfig;
use crate::error::{Categorized, Category};
use crate::schema;
use crate::store::{self, Store, StoreError};
pub use avatar::image_type as avatar_image_type;
pub use cache::CredentialCache;
pub use model::{ADMIN_GROUP, AppPassword, Group, Session, User};
pub use password::Hasher;
pub use throttle::{Throttle, Verdict};
pub use users::{NewUser, UserField, parse_quota};

/// Browser sessions live this long.
const SESSION_TTL: Duration = Duration::from_secs(14 * 24 * 3600);

#[derive(Debug, thiserror::Error)]
pub enum AccountsError {
    #[error("no such user")]
    NoSuchUser,
    #[error("no such group")]
    NoSuchGroup,
    #[error("{0} already exists")]
    AlreadyExists(String),
    #[error("{0}")]
    InvalidInput(String),
    #[error("wrong login or password")]
    WrongCredentials,
    #[error("this account is disabled")]
    Disabled,
    #[error("too many failed logins from this address; try again later")]
    Throttled { retry_after: Duration },
    #[error("only an administrator may do this")]
    NotAdmin,
    #[error("not found")]
    NotFound,
    #[error("Hearth is already set up")]
    AlreadyInstalled,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("internal error: {0}")]
    Internal(String),
}

pub type Result<T, E = AccountsError> = std::result::Result<T, E>;

impl Categorized for AccountsError {
    fn category(&self) -> Category {
        match self {
            AccountsError::NoSuchUser | AccountsError::NoSuchGroup | AccountsError::NotFound => {
                Category::NotFound
            }
            AccountsError::AlreadyExists(_) => Category::AlreadyExists,
            AccountsError::InvalidInput(_) | AccountsError::AlreadyInstalled => {
                Category::BadRequest
            }
            AccountsError::WrongCredentials | AccountsError::Disabled => Category::Unauthenticated,
            AccountsError::Throttled { .. } => Category::Throttled,
            AccountsError::NotAdmin => Category::Forbidden,
            AccountsError::Store(_) | AccountsError::Internal(_) => Category::Internal,
        }
    }

    fn public_message(&self) -> Cow<'_, str> {
        Cow::Borrowed(match self {
            AccountsError::NoSuchUser => "User does not exist",
            AccountsError::NoSuchGroup => "Group does not exist",
            AccountsError::NotFound => "Not found",
            AccountsError::NotAdmin => "Logged in account must be an admin",
            AccountsError::InvalidInput(m) => m,
            _ => return Cow::Owned(self.to_string()),
        })
    }
}

/// Who is asking. Every service call takes one.
#[derive(Debug, Clone)]
pub enum Actor {
    User(Principal),
    Anonymous,
}

#[derive(Debug, Clone)]
pub struct Principal {
    pub uid: String,
    pub is_admin: bool,
    pub via: AuthMethod,
    /// The groups the user is in, read with the user record when the request was
    /// authenticated (a group change forgets cached credentials, so they are current).
    pub groups: Arc<[String]>,
}

impl Principal {
    /// The principal of a user record, signed in `via`.
    pub fn of(user: &User, via: AuthMethod) -> Principal {
        Principal {
            uid: user.uid.clone(),
            is_admin: user.is_admin(),
            via,
            groups: user.groups.iter().cloned().collect(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    Password,
    AppPassword(u64),
    Session,
    /// The local control socket (the machine's owner at its console).
    Console,
}

impl Actor {
    pub fn principal(&self) -> Option<&Principal> {
        match self {
            Actor::User(p) => Some(p),
            Actor::Anonymous => None,
        }
    }
    pub fn require_admin(&self) -> Result<&Principal> {
        match self {
            Actor::User(p) if p.is_admin => Ok(p),
            _ => Err(AccountsError::NotAdmin),
        }
    }
    pub fn console() -> Actor {
        Actor::User(Principal {
            uid: String::new(),
            is_admin: true,
            via: AuthMethod::Console,
            groups: Arc::default(),
        })
    }

    /// The console acting as `uid` on their own things (`hearth export` on a PC, which whoever
    /// holds the data directory may read anyway).
    pub fn console_as(uid: &str) -> Actor {
        Actor::User(Principal {
            uid: uid.to_owned(),
            is_admin: false,
            via: AuthMethod::Console,
            groups: Arc::default(),
        })
    }
}

pub(crate) fn sha256_hex(s: &str) -> String {
    let d = Sha256::digest(s.as_bytes());
    let mut out = String::with_capacity(64);
    for b in d {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// A random token of `len` characters from a URL- and form-safe alphabet. Drawn from the
/// thread-local CSPRNG (ChaCha, seeded and periodically reseeded from the OS): one system call
/// per character would cost more than the rest of a small request.
pub fn random_token(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
        .collect()
}

pub struct Accounts {
    store: Arc<Store>,
    blobs: Arc<LocalBlobs>,
    hasher: Hasher,
    cache: CredentialCache,
    throttle: Throttle,
    pub login_flows: login_flow::LoginFlows,
    instance: std::sync::OnceLock<String>,
    inflight: std::sync::Mutex<std::collections::HashMap<[u8; 32], Arc<tokio::sync::Mutex<()>>>>,
}

impl Accounts {
    pub fn new(store: Arc<Store>, blobs: Arc<LocalBlobs>, cfg: &AuthConfig) -> Result<Self> {
        Ok(Accounts {
            store,
            blobs,
            hasher: Hasher::new(cfg)?,
            cache: CredentialCache::new(
                cfg.credential_cache,
                Duration::from_secs(cfg.credential_cache_ttl_secs),
                cfg.credential_cache_entries,
            ),
            throttle: Throttle::default(),
            login_flows: login_flow::LoginFlows::default(),
            instance: std::sync::OnceLock::new(),
            inflight: std::sync::Mutex::default(),
        })
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    // ---- installation -------------------------------------------------------------------

    pub fn is_installed(&self) -> Result<bool> {
        Ok(self.store.read(|tx| tx.meta("installed"))?.as_deref() == Some("true"))
    }

    pub fn box_name(&self) -> Result<String> {
        Ok(self
            .store
            .read(|tx| tx.meta("box_name"))?
            .unwrap_or_else(|| "hearth".into()))
    }

    /// The instance id (part of every `oc:id`); fixed at creation, so read once.
    pub fn instance_id(&self) -> Result<String> {
        if let Some(id) = self.instance.get() {
            return Ok(id.clone());
        }
        let id = self
            .store
            .read(|tx| tx.meta("instance_id"))?
            .unwrap_or_else(|| "ochearth".into());
        Ok(self.instance.get_or_init(|| id).clone())
    }

    /// First-time setup without the wizard: names the box and creates the first admin.
    pub async fn setup(&self, box_name: &str, admin: &str, password: String) -> Result<()> {
        self.create_first_admin(box_name, admin, password).await?;
        self.mark_installed()
    }

    /// Names the box and creates (or, while set-up is unfinished, replaces the password of)
    /// the first administrator. The wizard calls this before the family steps.
    pub async fn create_first_admin(
        &self,
        box_name: &str,
        admin: &str,
        password: String,
    ) -> Result<()> {
        if self.is_installed()? {
            return Err(AccountsError::AlreadyInstalled);
        }
        let name = box_name.trim().to_lowercase();
        if name.is_empty()
            || name.len() > 63
            || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            || name.starts_with('-')
        {
            return Err(AccountsError::InvalidInput(
                "the box name must be 1–63 letters, digits or '-' (it becomes NAME.local)".into(),
            ));
        }
        users::validate_uid(admin)?;
        users::validate_password(&password)?;
        let hash = self.hasher.hash(password).await?;
        self.store.write(|tx| {
            if tx.meta("installed")?.as_deref() == Some("true") {
                return Err(AccountsError::AlreadyInstalled);
            }
            users::ensure_group(tx, ADMIN_GROUP)?;
            match tx.get(&schema::USERID_USER, admin)? {
                Some(mut u) if u.is_admin() => {
                    u.password_hash = hash;
                    u.credential_epoch += 1;
                    tx.put(&schema::USERID_USER, admin, &u)?;
                }
                Some(_) => return Err(AccountsError::AlreadyExists(format!("user {admin:?}"))),
                None => {
                    users::insert_user(
                        tx,
                        NewUser {
                            uid: admin.to_owned(),
                            display_name: None,
                            email: None,
                            quota: None,
                            groups: vec![ADMIN_GROUP.to_owned()],
                        },
                        hash,
                    )?;
                }
            }
            tx.set_meta("box_name", &name)?;
            Ok(())
        })?;
        self.cache.forget_user(admin);
        Ok(())
    }

    pub fn mark_installed(&self) -> Result<()> {
        self.store.write(|tx| {
            if tx.meta("installed")?.as_deref() == Some("true") {
                return Err(AccountsError::AlreadyInstalled);
            }
            tx.set_meta("installed", "true")?;
            Ok(())
        })
    }

    /// Throttling for secrets that are not passwords (the claim code): same rules, own key.
    pub fn throttle_check(&self, ip: IpAddr, key: &str) -> Verdict {
        self.throttle.check(ip, key)
    }
    pub fn throttle_failed(&self, ip: IpAddr, key: &str) {
        self.throttle.failed(ip, key);
    }

    // ---- authentication -----------------------------------------------------------------

    /// Checks a Basic-auth pair: the login (uid or e-mail) with the account password or one of
    /// its app passwords. Throttled per address and account; cached once verified.
    pub async fn authenticate(&self, login: &str, secret: &str, ip: IpAddr) -> Result<Principal> {
        if let Some(hit) = self.cache.get(login, secret) {
            return Ok(Self::principal_from_cache(&hit));
        }
        // A client opening many connections at once (the desktop opens six) sends the same
        // credentials on all of them: let one verify while the others wait for its result.
        let key = self.cache.key_of(login, secret);
        let gate = {
            let mut inflight = self
                .inflight
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            inflight.entry(key).or_default().clone()
        };
        let result = {
            let _turn = gate.lock().await;
            match self.cache.get(login, secret) {
                Some(hit) => Ok(Self::principal_from_cache(&hit)),
                None => self.authenticate_uncached(login, secret, ip).await,
            }
        };
        let mut inflight = self
            .inflight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if Arc::strong_count(&gate) <= 2 {
            inflight.remove(&key);
        }
        result
    }

    async fn authenticate_uncached(
        &self,
        login: &str,
        secret: &str,
        ip: IpAddr,
    ) -> Result<Principal> {
        match self.throttle.check(ip, login) {
            Verdict::Go => {}
            Verdict::Delay(d) => tokio::time::sleep(d).await,
            Verdict::Refuse { retry_after } => {
                return Err(AccountsError::Throttled { retry_after });
            }
        }
        let generation = self
            .find_login(login)?
            .map_or(0, |u| self.cache.generation(&u.uid));
        match self.verify_uncached(login, secret).await {
            Ok((user, via)) => {
                self.throttle.succeeded(ip, login);
                let app_pw = match via {
                    AuthMethod::AppPassword(id) => Some(id),
                    _ => None,
                };
                let principal = Principal::of(&user, via);
                self.cache
                    .insert(login, secret, &principal, app_pw, generation);
                self.touch_login(&user.uid, app_pw);
                Ok(principal)
            }
            Err(e @ (AccountsError::WrongCredentials | AccountsError::Disabled)) => {
                self.throttle.failed(ip, login);
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    /// A cache hit needs no store read: every change that could invalidate it (password,
    /// disable, delete, group change, revocation) forgets the entry first.
    fn principal_from_cache(hit: &cache::Entry) -> Principal {
        let via = match hit.app_password {
            Some(id) => AuthMethod::AppPassword(id),
            None => AuthMethod::Password,
        };
        Principal {
            uid: hit.uid.clone(),
            is_admin: hit.is_admin,
            via,
            groups: hit.groups.clone(),
        }
    }

    async fn verify_uncached(&self, login: &str, secret: &str) -> Result<(User, AuthMethod)> {
        // App passwords are 72 random characters: a SHA-256 lookup is as strong as argon2 for
        // them and costs nothing, which is what a sync client polling every 30 s needs.
        let hash = sha256_hex(secret);
        let by_app = self
            .store
            .read(|tx| tx.get(&schema::APPPWHASH_KEY, &hash))?;
        if let Some(key) = by_app {
            let (uid, id) = key.split_once('\0').unwrap_or((&key, "0"));
            let user = self.user(uid)?;
            if user.uid.eq_ignore_ascii_case(login)
                || user
                    .email
                    .as_deref()
                    .is_some_and(|e| e.eq_ignore_ascii_case(login))
            {
                if !user.enabled {
                    return Err(AccountsError::Disabled);
                }
                let id = id.parse().unwrap_or(0);
                return Ok((user, AuthMethod::AppPassword(id)));
            }
        }
        let Some(user) = self.find_login(login)? else {
            // Spend the same time as a real check so the answer does not reveal who exists.
            let _ = self
                .hasher
                .verify(secret.to_owned(), DUMMY_HASH.to_owned())
                .await;
            return Err(AccountsError::WrongCredentials);
        };
        if !self
            .hasher
            .verify(secret.to_owned(), user.password_hash.clone())
            .await
        {
            return Err(AccountsError::WrongCredentials);
        }
        if !user.enabled {
            return Err(AccountsError::Disabled);
        }
        Ok((user, AuthMethod::Password))
    }

    /// Records the last login (and app-password use) without slowing the request down.
    fn touch_login(&self, uid: &str, app_pw: Option<u64>) {
        let now = crate::clock::now_ms();
        let _ = self.store.write(|tx| -> Result<()> {
            if let Some(mut u) = tx.get(&schema::USERID_USER, uid)? {
                u.last_login_ms = now;
                tx.put(&schema::USERID_USER, uid, &u)?;
            }
            if let Some(id) = app_pw {
                let key = schema::app_password_key(uid, id);
                if let Some(mut a) = tx.get(&schema::USERID_APPPWID_APPPW, &key)? {
                    a.last_used_ms = now;
                    tx.put(&schema::USERID_APPPWID_APPPW, &key, &a)?;
                }
            }
            Ok(())
        });
    }

    /// Checks a password typed into a login form (same throttle as Basic auth).
    pub async fn login_form(&self, login: &str, password: &str, ip: IpAddr) -> Result<Principal> {
        match self.throttle.check(ip, login) {
            Verdict::Go => {}
            Verdict::Delay(d) => tokio::time::sleep(d).await,
            Verdict::Refuse { retry_after } => {
                return Err(AccountsError::Throttled { retry_after });
            }
        }
        match self.verify_uncached(login, password).await {
            Ok((user, _)) => {
                self.throttle.succeeded(ip, login);
                self.touch_login(&user.uid, None);
                Ok(Principal::of(&user, AuthMethod::Password))
            }
            Err(e @ (AccountsError::WrongCredentials | AccountsError::Disabled)) => {
                self.throttle.failed(ip, login);
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    // ---- app passwords --------------------------------------------------------------------

    /// Creates an app password; the secret is returned once and stored only as a digest.
    pub fn create_app_password(&self, uid: &str, name: &str) -> Result<(AppPassword, String)> {
        let secret = random_token(72);
        let hash = sha256_hex(&secret);
        let name: String = name.chars().take(200).collect();
        let app = self.store.write(|tx| {
            if tx.get(&schema::USERID_USER, uid)?.is_none() {
                return Err(AccountsError::NoSuchUser);
            }
            let id = tx.next_id("next_app_password_id")?;
            let app = AppPassword {
                id,
                uid: uid.to_owned(),
                name: if name.is_empty() {
                    "unknown client".into()
                } else {
                    name
                },
                created_ms: crate::clock::now_ms(),
                last_used_ms: 0,
            };
            let key = schema::app_password_key(uid, id);
            tx.put(&schema::USERID_APPPWID_APPPW, &key, &app)?;
            tx.put(&schema::APPPWHASH_KEY, &hash, &key)?;
            Ok(app)
        })?;
        Ok((app, secret))
    }

    pub fn list_app_passwords(&self, uid: &str) -> Result<Vec<AppPassword>> {
        let mut out = Vec::new();
        self.store.read(|tx| {
            tx.scan(
                &schema::USERID_APPPWID_APPPW,
                &schema::app_passwords_of(uid),
                |_, a| {
                    out.push(a);
                    true
                },
            )
        })?;
        Ok(out)
    }

    /// Revokes one app password of `uid`; the next request that uses it gets 401.
    pub fn revoke_app_password(&self, uid: &str, id: u64) -> Result<()> {
        self.store.write(|tx| {
            let key = schema::app_password_key(uid, id);
            if !tx.delete(&schema::USERID_APPPWID_APPPW, &key)? {
                return Err(AccountsError::NotFound);
            }
            remove_app_hash(tx, &key)?;
            Ok(())
        })?;
        self.cache.forget_app_password(id);
        Ok(())
    }

    // ---- browser sessions -----------------------------------------------------------------

    /// Starts a browser session; returns (cookie value, CSRF token).
    pub fn create_session(&self, uid: &str) -> Result<(String, String)> {
        let cookie = random_token(48);
        let csrf = random_token(32);
        let user = self.user(uid)?;
        let now = crate::clock::now_ms();
        let s = Session {
            uid: uid.to_owned(),
            csrf_token: csrf.clone(),
            created_ms: now,
            expires_ms: now + u64::try_from(SESSION_TTL.as_millis()).unwrap_or(0),
            credential_epoch: user.credential_epoch,
        };
        self.store
            .write(|tx| tx.put(&schema::SESSIONHASH_SESSION, &sha256_hex(&cookie), &s))?;
        Ok((cookie, csrf))
    }

    pub fn session(&self, cookie: &str) -> Result<Option<(Principal, Session)>> {
        let Some(s) = self
            .store
            .read(|tx| tx.get(&schema::SESSIONHASH_SESSION, &sha256_hex(cookie)))?
        else {
            return Ok(None);
        };
        if s.expires_ms < crate::clock::now_ms() {
            return Ok(None);
        }
        let Ok(user) = self.user(&s.uid) else {
            return Ok(None);
        };
        if !user.enabled || user.credential_epoch != s.credential_epoch {
            return Ok(None);
        }
        let p = Principal::of(&user, AuthMethod::Session);
        Ok(Some((p, s)))
    }

    pub fn end_session(&self, cookie: &str) -> Result<()> {
        self.store.write(|tx| {
            tx.delete(&schema::SESSIONHASH_SESSION, &sha256_hex(cookie))
                .map(|_| ())
        })?;
        Ok(())
    }
}

fn remove_app_hash(tx: &store::WriteTx, key: &str) -> Result<()> {
    // The digest index is small (one row per app password): find the row pointing at `key`.
    let mut victim = None;
    let all = tx.keys(&schema::APPPWHASH_KEY, "")?;
    for h in all {
        if tx.get(&schema::APPPWHASH_KEY, &h)?.as_deref() == Some(key) {
            victim = Some(h);
            break;
        }
    }
    if let Some(h) = victim {
        tx.delete(&schema::APPPWHASH_KEY, &h)?;
    }
    Ok(())
}

/// A valid argon2id hash of a random string, verified against when a login does not exist.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$J7pYg0tyf5pC/2x6nYE0pIgdrKJ6DbsNpT7eDxPXE5Y";
