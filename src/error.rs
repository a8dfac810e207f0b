//! The one vocabulary of failure: every service error says which [`Category`] it falls in and
//! what a person is told, and each surface maps a category once — WebDAV to a status, a Sabre
//! exception and RFC preconditions (`dav::error`), OCS to its status codes (`ocs::failure`).
//! A new service implements [`Categorized`] for its error and every surface can answer with
//! it; a surface adds words or protocol detail only where its protocol has them (CalDAV
//! preconditions, say).

use std::borrow::Cow;

/// What kind of failure, independent of any protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    /// The request itself is wrong (malformed, invalid input).
    BadRequest,
    /// Whoever asks is not signed in, or their credentials are wrong.
    Unauthenticated,
    /// Signed in, but not allowed.
    Forbidden,
    /// Nothing is there (or the asker must not learn that something is).
    NotFound,
    /// What was to be created exists already.
    AlreadyExists,
    /// The request conflicts with the current state (a missing parent, say).
    Conflict,
    /// A condition the client set (an etag, "must not exist") does not hold.
    PreconditionFailed,
    /// The content is larger than allowed.
    TooLarge,
    /// Not enough space left in the quota.
    Quota,
    /// Locked by someone else.
    Locked,
    /// Too many attempts; try again later.
    Throttled,
    /// Something broke inside; the details belong in the log, not in the answer.
    Internal,
}

/// A service error in the shared vocabulary.
pub trait Categorized: std::error::Error {
    fn category(&self) -> Category;

    /// What a person is told: clear, and never an internal detail (for [`Category::Internal`]
    /// the surfaces say only that something went wrong, and log the error itself).
    fn public_message(&self) -> Cow<'_, str> {
        Cow::Owned(self.to_string())
    }
}
