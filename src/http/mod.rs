//! Everything hyper-specific: listeners, routing, request parsing, response building and the
//! authentication step. Surfaces (`ocs`, `web`) get a parsed [`Ctx`] and return responses.

pub mod auth;
pub mod body;
pub mod request;
pub mod response;
pub mod router;
pub mod server;

pub use request::{BodyError, Ctx};
pub use response::{Body, Resp};
