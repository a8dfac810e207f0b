//! Request → [`Endpoint`]: a pure function of method and path, with no I/O and no body.
//! Paths are served with and without the `/index.php` front-controller prefix, as Nextcloud does.

use http::Method;

use crate::accounts::access::Requirement;

/// OCS API version, from `/ocs/v1.php` or `/ocs/v2.php`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OcsVersion {
    V1,
    V2,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Status,
    WellKnownDav,
    Home,
    // OCS (names follow Nextcloud's controller actions)
    OcsCapabilities(OcsVersion),
    OcsCurrentUser(OcsVersion),
    OcsGetUsers(OcsVersion),
    OcsAddUser(OcsVersion),
    OcsGetUser(OcsVersion, String),
    OcsEditUser(OcsVersion, String),
    OcsDeleteUser(OcsVersion, String),
    OcsEnableUser(OcsVersion, String, bool),
    OcsGetUsersGroups(OcsVersion, String),
    OcsAddToGroup(OcsVersion, String),
    OcsRemoveFromGroup(OcsVersion, String),
    OcsGetUserSubAdminGroups(OcsVersion, String),
    OcsGetGroups(OcsVersion),
    OcsGetGroupsDetails(OcsVersion),
    OcsAddGroup(OcsVersion),
    OcsGetGroupUsers(OcsVersion, String),
    OcsUpdateGroup(OcsVersion, String),
    OcsDeleteGroup(OcsVersion, String),
    OcsGetSubAdminsOfGroup(OcsVersion, String),
    OcsGetAppPassword(OcsVersion),
    /// `apps/notifications/api/v2/notifications[/{id}]`: list, get, dismiss, dismiss all.
    OcsNotifications(OcsVersion, Option<String>),
    OcsNotificationsDelete(OcsVersion, Option<String>),
    OcsDeleteAppPassword(OcsVersion),
    OcsNotFound(OcsVersion),
    // Login and the browser pages
    LoginPage,
    LoginSubmit,
    Logout,
    LoginFlowV2Start,
    LoginFlowV2Poll,
    LoginFlowV2Open(String),
    LoginFlowV2Page,
    LoginFlowV2Grant,
    LoginFlowLegacyPage,
    LoginFlowLegacyGrant,
    Avatar {
        uid: String,
        size: u32,
    },
    Logo,
    SystemPage,
    Health,
    SetupPage,
    SetupPost(String),
    /// The local CA certificate, for devices to trust (public).
    CaCert,
    /// The iOS/macOS profile: the CA, plus the caller's DAV accounts when signed in.
    MobileConfig,
    /// A new administrator password with the recovery code (GET: form, POST: set).
    Recover,
    /// A one-time invite link: the invited person chooses their password.
    Invite(String),
    Dav(crate::dav::Target),
    /// OPTIONS on a DAV path: answered without authentication (Windows, Office probe it).
    DavOptions(crate::dav::Target),
    AvatarUpload,
    SystemUpdate,
    SystemCertificate,
    AvatarDelete,
    AppPasswordRevoke(u64),
    NotFound,
    /// The path exists but not with this method; carries the allowed methods.
    MethodNotAllowed(&'static str),
}

impl Endpoint {
    /// What whoever asks must be: the single declaration of who may call what, checked once
    /// in `http::server::dispatch` before any handler runs. What a user may do to a given
    /// resource is the services' decision (`accounts::access`).
    pub fn requires(&self) -> Requirement {
        use Endpoint::*;
        if let Dav(t) = self
            && matches!(t.tree, crate::dav::Tree::PublicCalendar(_))
        {
            return Requirement::Public;
        }
        if matches!(self, SystemPage | SystemUpdate | SystemCertificate) {
            return Requirement::Admin;
        }
        let public = matches!(
            self,
            Status
                | DavOptions(_)
                | WellKnownDav
                | Home
                | OcsCapabilities(_)
                | OcsNotFound(_)
                | LoginPage
                | LoginSubmit
                | Logout
                | LoginFlowV2Start
                | LoginFlowV2Poll
                | LoginFlowV2Open(_)
                | LoginFlowV2Page
                | LoginFlowV2Grant
                | LoginFlowLegacyPage
                | LoginFlowLegacyGrant
                | Logo
                | Health
                | SetupPage
                | SetupPost(_)
                | CaCert
                | MobileConfig
                | Recover
                | Invite(_)
                | NotFound
                | MethodNotAllowed(_)
        );
        if public {
            Requirement::Public
        } else {
            Requirement::User
        }
    }

    /// Whether a signed-in user is needed (a user or an administrator).
    pub fn needs_user(&self) -> bool {
        self.requires() != Requirement::Public
    }

    /// Cookie-session requests to these must carry `OCS-APIRequest: true` or the session's
    /// `requesttoken` header (pages with forms check their own token instead).
    pub fn csrf_by_header(&self) -> bool {
        self.ocs_version().is_some()
            || matches!(
                self,
                Endpoint::AvatarUpload | Endpoint::AvatarDelete | Endpoint::SystemUpdate
            )
    }

    pub fn ocs_version(&self) -> Option<OcsVersion> {
        use Endpoint::*;
        match self {
            OcsCapabilities(v)
            | OcsCurrentUser(v)
            | OcsGetUsers(v)
            | OcsAddUser(v)
            | OcsGetUser(v, _)
            | OcsEditUser(v, _)
            | OcsDeleteUser(v, _)
            | OcsEnableUser(v, _, _)
            | OcsGetUsersGroups(v, _)
            | OcsAddToGroup(v, _)
            | OcsRemoveFromGroup(v, _)
            | OcsGetUserSubAdminGroups(v, _)
            | OcsGetGroups(v)
            | OcsGetGroupsDetails(v)
            | OcsAddGroup(v)
            | OcsGetGroupUsers(v, _)
            | OcsUpdateGroup(v, _)
            | OcsDeleteGroup(v, _)
            | OcsGetSubAdminsOfGroup(v, _)
            | OcsGetAppPassword(v)
            | OcsNotifications(v, _)
            | OcsNotificationsDelete(v, _)
            | OcsDeleteAppPassword(v)
            | OcsNotFound(v) => Some(*v),
            _ => None,
        }
    }
}

/// `path` is already percent-decoded and known to be UTF-8.
pub fn route(method: &Method, path: &str) -> Endpoint {
    if let Some(t) = crate::dav::parse_target(path) {
        return if *method == Method::OPTIONS {
            Endpoint::DavOptions(t)
        } else {
            Endpoint::Dav(t)
        };
    }
    let path = path
        .strip_prefix("/index.php")
        .filter(|p| p.is_empty() || p.starts_with('/'))
        .map_or(path, |p| if p.is_empty() { "/" } else { p });
    let trimmed = if path.len() > 1 {
        path.trim_end_matches('/')
    } else {
        path
    };
    let segs: Vec<&str> = trimmed.split('/').skip(1).collect();
    let m = method;
    match segs.as_slice() {
        [""] => only(m, &[Method::GET, Method::HEAD], Endpoint::Home),
        ["status.php"] => only(m, &[Method::GET, Method::HEAD], Endpoint::Status),
        [".well-known", "caldav" | "carddav"] => Endpoint::WellKnownDav,
        ["ocs", ver, rest @ ..] => {
            let v = match *ver {
                "v1.php" => OcsVersion::V1,
                "v2.php" => OcsVersion::V2,
                _ => return Endpoint::NotFound,
            };
            route_ocs(m, v, rest)
        }
        ["login"] => match *m {
            Method::GET | Method::HEAD => Endpoint::LoginPage,
            Method::POST => Endpoint::LoginSubmit,
            _ => Endpoint::MethodNotAllowed("GET, HEAD, POST"),
        },
        ["logout"] => Endpoint::Logout,
        ["avatar"] => match *m {
            Method::POST => Endpoint::AvatarUpload,
            Method::DELETE => Endpoint::AvatarDelete,
            _ => Endpoint::MethodNotAllowed("POST, DELETE"),
        },
        ["settings", "apppasswords", id, "revoke"] => match id.parse::<u64>() {
            Ok(id) => only(m, &[Method::POST], Endpoint::AppPasswordRevoke(id)),
            Err(_) => Endpoint::NotFound,
        },
        ["setup"] => only(m, &[Method::GET, Method::HEAD], Endpoint::SetupPage),
        ["setup", action] => only(
            m,
            &[Method::POST],
            Endpoint::SetupPost((*action).to_owned()),
        ),
        ["settings", "system"] => only(m, &[Method::GET, Method::HEAD], Endpoint::SystemPage),
        ["settings", "system", "update"] => only(m, &[Method::POST], Endpoint::SystemUpdate),
        ["settings", "system", "certificate"] => {
            only(m, &[Method::POST], Endpoint::SystemCertificate)
        }
        ["health"] => only(m, &[Method::GET, Method::HEAD], Endpoint::Health),
        ["hearth-ca.crt"] => only(m, &[Method::GET, Method::HEAD], Endpoint::CaCert),
        ["hearth.mobileconfig"] => only(m, &[Method::GET, Method::HEAD], Endpoint::MobileConfig),
        ["recover"] => only(
            m,
            &[Method::GET, Method::HEAD, Method::POST],
            Endpoint::Recover,
        ),
        ["invite", token] => only(
            m,
            &[Method::GET, Method::HEAD, Method::POST],
            Endpoint::Invite((*token).to_owned()),
        ),
        ["core", "img", "logo", "logo.svg"] => {
            only(m, &[Method::GET, Method::HEAD], Endpoint::Logo)
        }
        ["login", "v2"] => only(m, &[Method::POST], Endpoint::LoginFlowV2Start),
        ["login", "v2", "poll"] => only(m, &[Method::POST], Endpoint::LoginFlowV2Poll),
        ["login", "v2", "flow"] => only(m, &[Method::GET, Method::HEAD], Endpoint::LoginFlowV2Page),
        ["login", "v2", "flow", token] => only(
            m,
            &[Method::GET, Method::HEAD],
            Endpoint::LoginFlowV2Open((*token).to_owned()),
        ),
        ["login", "v2", "grant"] => only(m, &[Method::POST], Endpoint::LoginFlowV2Grant),
        ["login", "flow"] => match *m {
            Method::GET | Method::HEAD => Endpoint::LoginFlowLegacyPage,
            Method::POST => Endpoint::LoginFlowLegacyGrant,
            _ => Endpoint::MethodNotAllowed("GET, HEAD, POST"),
        },
        ["avatar", uid, size, rest @ ..] if rest.is_empty() || rest == ["dark"] => {
            match size.parse::<u32>() {
                Ok(size) => only(
                    m,
                    &[Method::GET, Method::HEAD],
                    Endpoint::Avatar {
                        uid: (*uid).to_owned(),
                        size,
                    },
                ),
                Err(_) => Endpoint::NotFound,
            }
        }
        _ => Endpoint::NotFound,
    }
}

fn only(m: &Method, allowed: &[Method], e: Endpoint) -> Endpoint {
    if allowed.contains(m) {
        e
    } else {
        let allow = match allowed {
            [Method::POST] => "POST",
            _ if allowed.contains(&Method::POST) => "GET, HEAD, POST",
            _ => "GET, HEAD",
        };
        Endpoint::MethodNotAllowed(allow)
    }
}

fn route_ocs(m: &Method, v: OcsVersion, rest: &[&str]) -> Endpoint {
    use Endpoint::*;
    let s = |x: &str| x.to_owned();
    let get = Method::GET;
    let post = Method::POST;
    let put = Method::PUT;
    let del = Method::DELETE;
    match (m.clone(), rest) {
        (_, ["cloud", "capabilities"]) if *m == get || *m == Method::HEAD => OcsCapabilities(v),
        (x, ["cloud", "user"]) if x == get => OcsCurrentUser(v),
        (x, ["cloud", "users"]) if x == get => OcsGetUsers(v),
        (x, ["cloud", "users"]) if x == post => OcsAddUser(v),
        (x, ["cloud", "users", uid]) if x == get => OcsGetUser(v, s(uid)),
        (x, ["cloud", "users", uid]) if x == put => OcsEditUser(v, s(uid)),
        (x, ["cloud", "users", uid]) if x == del => OcsDeleteUser(v, s(uid)),
        (x, ["cloud", "users", uid, "enable"]) if x == put => OcsEnableUser(v, s(uid), true),
        (x, ["cloud", "users", uid, "disable"]) if x == put => OcsEnableUser(v, s(uid), false),
        (x, ["cloud", "users", uid, "groups"]) if x == get => OcsGetUsersGroups(v, s(uid)),
        (x, ["cloud", "users", uid, "groups"]) if x == post => OcsAddToGroup(v, s(uid)),
        (x, ["cloud", "users", uid, "groups"]) if x == del => OcsRemoveFromGroup(v, s(uid)),
        (x, ["cloud", "users", uid, "subadmins"]) if x == get => {
            OcsGetUserSubAdminGroups(v, s(uid))
        }
        (x, ["cloud", "groups"]) if x == get => OcsGetGroups(v),
        (x, ["cloud", "groups"]) if x == post => OcsAddGroup(v),
        (x, ["cloud", "groups", "details"]) if x == get => OcsGetGroupsDetails(v),
        (x, ["cloud", "groups", gid] | ["cloud", "groups", gid, "users"]) if x == get => {
            OcsGetGroupUsers(v, s(gid))
        }
        (x, ["cloud", "groups", gid]) if x == put => OcsUpdateGroup(v, s(gid)),
        (x, ["cloud", "groups", gid]) if x == del => OcsDeleteGroup(v, s(gid)),
        (x, ["cloud", "groups", gid, "subadmins"]) if x == get => OcsGetSubAdminsOfGroup(v, s(gid)),
        (x, ["core", "getapppassword"]) if x == get => OcsGetAppPassword(v),
        (x, ["core", "apppassword"]) if x == del => OcsDeleteAppPassword(v),
        (x, ["apps", "notifications", "api", "v2", "notifications"]) if x == get => {
            OcsNotifications(v, None)
        }
        (x, ["apps", "notifications", "api", "v2", "notifications", id]) if x == get => {
            OcsNotifications(v, Some(s(id)))
        }
        (x, ["apps", "notifications", "api", "v2", "notifications"]) if x == del => {
            OcsNotificationsDelete(v, None)
        }
        (x, ["apps", "notifications", "api", "v2", "notifications", id]) if x == del => {
            OcsNotificationsDelete(v, Some(s(id)))
        }
        _ => OcsNotFound(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let cases: &[(&str, &str, Endpoint)] = &[
            ("GET", "/status.php", Endpoint::Status),
            ("GET", "/index.php/status.php", Endpoint::Status),
            ("PROPFIND", "/.well-known/caldav", Endpoint::WellKnownDav),
            (
                "GET",
                "/ocs/v1.php/cloud/capabilities",
                Endpoint::OcsCapabilities(OcsVersion::V1),
            ),
            (
                "GET",
                "/ocs/v2.php/cloud/user",
                Endpoint::OcsCurrentUser(OcsVersion::V2),
            ),
            (
                "PUT",
                "/ocs/v1.php/cloud/users/bob/disable",
                Endpoint::OcsEnableUser(OcsVersion::V1, "bob".into(), false),
            ),
            (
                "DELETE",
                "/ocs/v2.php/core/apppassword",
                Endpoint::OcsDeleteAppPassword(OcsVersion::V2),
            ),
            ("POST", "/index.php/login/v2", Endpoint::LoginFlowV2Start),
            ("POST", "/login/v2/poll", Endpoint::LoginFlowV2Poll),
            (
                "GET",
                "/index.php/login/v2/flow/abc",
                Endpoint::LoginFlowV2Open("abc".into()),
            ),
            (
                "GET",
                "/index.php/avatar/alice/64",
                Endpoint::Avatar {
                    uid: "alice".into(),
                    size: 64,
                },
            ),
            (
                "GET",
                "/index.php/avatar/alice/64/dark",
                Endpoint::Avatar {
                    uid: "alice".into(),
                    size: 64,
                },
            ),
            ("GET", "/ocs/v3.php/cloud/user", Endpoint::NotFound),
            (
                "GET",
                "/ocs/v2.php/nope",
                Endpoint::OcsNotFound(OcsVersion::V2),
            ),
            (
                "POST",
                "/status.php",
                Endpoint::MethodNotAllowed("GET, HEAD"),
            ),
            ("GET", "/index.phpx", Endpoint::NotFound),
        ];
        for (m, p, want) in cases {
            let m = Method::from_bytes(m.as_bytes()).unwrap();
            assert_eq!(&route(&m, p), want, "{m} {p}");
        }
    }
}
