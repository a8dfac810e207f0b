//! DAV errors: a status, an optional RFC precondition element, and a Sabre-style body that
//! Nextcloud clients read (`d:error` / `s:exception` / `s:message`).

use http::StatusCode;

use crate::accounts::access::Denial;
use crate::error::{Categorized, Category};
use crate::files::FilesError;
use crate::http::{Resp, response};

#[derive(Debug)]
pub struct DavError {
    pub status: StatusCode,
    pub exception: &'static str,
    pub message: String,
    /// An RFC 4918 precondition element in the DAV: namespace, e.g. `propfind-finite-depth`.
    pub condition: Option<&'static str>,
    /// A precondition element in another namespace (CalDAV, CardDAV), written as given.
    pub condition_xml: Option<String>,
}

impl DavError {
    pub fn new(status: StatusCode, exception: &'static str, message: impl Into<String>) -> Self {
        DavError {
            status,
            exception,
            message: message.into(),
            condition: None,
            condition_xml: None,
        }
    }
    pub fn bad_request(m: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "Sabre\\DAV\\Exception\\BadRequest",
            m,
        )
    }
    pub fn not_found(m: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "Sabre\\DAV\\Exception\\NotFound", m)
    }
    pub fn forbidden(m: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "Sabre\\DAV\\Exception\\Forbidden", m)
    }
    pub fn conflict(m: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "Sabre\\DAV\\Exception\\Conflict", m)
    }
    pub fn precondition(m: impl Into<String>) -> Self {
        Self::new(
            StatusCode::PRECONDITION_FAILED,
            "Sabre\\DAV\\Exception\\PreconditionFailed",
            m,
        )
    }
    pub fn locked() -> Self {
        let mut e = Self::new(
            StatusCode::LOCKED,
            "Sabre\\DAV\\Exception\\Locked",
            "The resource is locked",
        );
        e.condition = Some("lock-token-submitted");
        e
    }
    pub fn method_not_allowed(m: impl Into<String>) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "Sabre\\DAV\\Exception\\MethodNotAllowed",
            m,
        )
    }
    pub fn with_condition(mut self, c: &'static str) -> Self {
        self.condition = Some(c);
        self
    }

    pub fn with_condition_xml(mut self, xml: String) -> Self {
        self.condition_xml = Some(xml);
        self
    }

    pub fn into_response(self) -> Resp {
        let mut cond = self
            .condition
            .map(|c| format!("\n  <d:{c}/>"))
            .unwrap_or_default();
        if let Some(x) = &self.condition_xml {
            cond.push_str("\n  ");
            cond.push_str(x);
        }
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<d:error xmlns:d=\"DAV:\" xmlns:s=\"http://sabredav.org/ns\">{cond}\n  <s:exception>{}</s:exception>\n  <s:message>{}</s:message>\n</d:error>\n",
            self.exception,
            super::xml::escape(&self.message)
        );
        let mut r = response::with(self.status, "application/xml; charset=utf-8", body);
        if self.status == StatusCode::UNAUTHORIZED {
            response::set_header(
                &mut r,
                http::header::WWW_AUTHENTICATE,
                "Basic realm=\"Hearth\", charset=\"UTF-8\"",
            );
        }
        r
    }
}

impl DavError {
    /// A service's refusal, as WebDAV tells it: forbidden (403) or not there at all (404).
    pub fn denied(d: Denial) -> Self {
        match d {
            Denial::Forbidden(m) => DavError::forbidden(m),
            Denial::Hidden(m) => DavError::not_found(m),
        }
    }
}

impl DavError {
    /// Any service's error, as WebDAV tells it: the category gives the status, the Sabre
    /// exception and, for a quota, RFC 4331's precondition; the service gives the words.
    /// Internal errors are logged and answered without their details.
    pub fn service(e: &(impl Categorized + ?Sized)) -> Self {
        let m = e.public_message();
        match e.category() {
            Category::BadRequest => DavError::bad_request(m),
            Category::Unauthenticated => DavError::new(
                StatusCode::UNAUTHORIZED,
                "Sabre\\DAV\\Exception\\NotAuthenticated",
                m,
            ),
            Category::Forbidden => DavError::forbidden(m),
            Category::NotFound => DavError::not_found(m),
            Category::AlreadyExists => DavError::method_not_allowed(m),
            Category::Conflict => DavError::conflict(m),
            Category::PreconditionFailed => DavError::precondition(m),
            Category::TooLarge => DavError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "OCA\\DAV\\Connector\\Sabre\\Exception\\EntityTooLarge",
                m,
            ),
            Category::Quota => DavError::new(
                StatusCode::INSUFFICIENT_STORAGE,
                "Sabre\\DAV\\Exception\\InsufficientStorage",
                m,
            )
            .with_condition("quota-not-exceeded"),
            Category::Locked => DavError::locked(),
            Category::Throttled => DavError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "OCA\\DAV\\Connector\\Sabre\\Exception\\TooManyRequests",
                m,
            ),
            Category::Internal => {
                tracing::error!(error = %e, "DAV request failed");
                DavError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Sabre\\DAV\\Exception",
                    "Internal error; the details are in the server log",
                )
            }
        }
    }
}

impl From<FilesError> for DavError {
    fn from(e: FilesError) -> Self {
        match e {
            // Nextcloud's own exception for a name it refuses.
            FilesError::BadName(_) => DavError::new(
                StatusCode::BAD_REQUEST,
                "OCA\\DAV\\Connector\\Sabre\\Exception\\InvalidPath",
                e.public_message(),
            ),
            _ => DavError::service(&e),
        }
    }
}

pub type DavResult<T = Resp> = Result<T, DavError>;
