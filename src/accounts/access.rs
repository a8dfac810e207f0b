//! The access model's vocabulary, shared by every service and surface (docs/architecture.md,
//! Access): who is asking (`Actor`, a `Principal` with its groups, resolved once per request
//! by `http::auth`), what an endpoint requires (`Requirement`, declared per endpoint in
//! `http::router` and checked once in `http::server::dispatch`), and the answer a service gives
//! about a resource (`Denial`). Services decide; surfaces only turn a `Denial` into their
//! protocol's answer, in one place each (`dav::error::denied`, …).

use super::{Actor, Principal};

/// What an endpoint needs of whoever asks, before any handler runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    /// Anyone, signed in or not.
    Public,
    /// A signed-in user of the box.
    User,
    /// An administrator.
    Admin,
}

impl Requirement {
    /// Whether `actor` meets it.
    pub fn met_by(self, actor: &Actor) -> bool {
        match self {
            Requirement::Public => true,
            Requirement::User => actor.principal().is_some(),
            Requirement::Admin => actor.principal().is_some_and(|p| p.is_admin),
        }
    }
}

/// What a principal would do to a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Read,
    Write,
    Create,
    Delete,
    Share,
}

/// A service's refusal, and how it may be told: the surfaces answer `Forbidden` as such
/// (403) and `Hidden` as if nothing were there (404), as Nextcloud does for that resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    Forbidden(&'static str),
    Hidden(&'static str),
}

/// The owner's rule, for the spaces that only their owner reaches (sharing will add grants
/// here): `Ok` for the owner, else `denial`.
pub fn owner_only<'a>(
    actor: &'a Actor,
    owner: &str,
    denial: Denial,
) -> Result<&'a Principal, Denial> {
    match actor.principal() {
        Some(p) if p.uid == owner => Ok(p),
        _ => Err(denial),
    }
}

/// A user's private details and group list are for themselves and the administrators;
/// others see the public part (what a share dialog and avatars need).
pub fn sees_private_details(actor: &Actor, uid: &str) -> bool {
    actor
        .principal()
        .is_some_and(|p| p.is_admin || p.uid == uid)
}
