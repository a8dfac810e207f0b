//! Nextcloud's OCS APIs: capabilities, the current user, provisioning (users and groups) and
//! app passwords. Parses parameters, calls `accounts`, renders the OCS envelope.

mod capabilities;
mod envelope;
mod provisioning;

use http::HeaderMap;
use serde_json::{Value, json};

use crate::accounts::{AuthMethod, User};
use crate::error::{Categorized, Category};
use crate::http::router::{Endpoint, OcsVersion};
use crate::http::{Ctx, Resp};
pub use envelope::{escape as escape_xml, to_xml};

pub fn capabilities_version() -> (u32, u32, u32, u32) {
    capabilities::NC_VERSION
}

/// JSON when `format=json` or the client accepts JSON; XML otherwise (Android parses XML).
pub fn wants_json(headers: &HeaderMap, query: &str) -> bool {
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        if k == "format" {
            return v == "json";
        }
    }
    headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/json"))
}

pub fn unauthorized(v: OcsVersion, json: bool) -> Resp {
    envelope::fail(v, json, 997, "Current user is not logged in")
}

/// Any service's error as an OCS failure, (statuscode, message): the category gives the
/// code (Nextcloud's: 998 not found, 997 not signed in, 996 server error, 102 already exists
/// as the provisioning API answers it), the service the words.
fn failure(e: &(impl Categorized + ?Sized)) -> (u16, String) {
    let code = match e.category() {
        Category::NotFound => 998,
        Category::Unauthenticated => return (997, "Current user is not logged in".into()),
        Category::Forbidden => 403,
        Category::AlreadyExists => 102,
        Category::BadRequest => 400,
        Category::Conflict => 409,
        Category::PreconditionFailed => 412,
        Category::TooLarge => 413,
        Category::Locked => 423,
        Category::Throttled => 429,
        Category::Quota => 507,
        Category::Internal => {
            tracing::error!(error = %e, "OCS request failed");
            return (996, "Internal error".into());
        }
    };
    (code, e.public_message().into_owned())
}

pub struct Out {
    pub v: OcsVersion,
    pub json: bool,
}

impl Out {
    pub fn ok(&self, data: Value) -> Resp {
        envelope::ok(self.v, self.json, data)
    }
    pub fn fail(&self, code: u16, message: &str) -> Resp {
        envelope::fail(self.v, self.json, code, message)
    }
    pub fn err(&self, e: &(impl Categorized + ?Sized)) -> Resp {
        let (code, msg) = failure(e);
        // v2 speaks HTTP: an existing-resource conflict is a 400 there, as in Nextcloud.
        let code = if self.v == OcsVersion::V2 && code == 102 {
            400
        } else {
            code
        };
        self.fail(code, &msg)
    }
    pub fn result<E: Categorized>(&self, r: Result<Value, E>) -> Resp {
        match r {
            Ok(v) => self.ok(v),
            Err(e) => self.err(&e),
        }
    }
}

pub async fn handle(mut ctx: Ctx, endpoint: Endpoint) -> Resp {
    let out = Out {
        v: endpoint.ocs_version().unwrap_or(OcsVersion::V2),
        json: wants_json(&ctx.headers, &ctx.query),
    };
    use Endpoint::*;
    match endpoint {
        OcsCapabilities(_) => out.ok(capabilities::document(&ctx)),
        OcsCurrentUser(_) => {
            let uid = ctx.actor.principal().map(|p| p.uid.clone()).unwrap_or_default();
            out.result(ctx.app.accounts.user(&uid).map(|u| user_json(&ctx, &u)))
        }
        OcsGetAppPassword(_) => get_app_password(&ctx, &out),
        OcsNotifications(_, id) => notifications(&ctx, &out, id.as_deref()),
        OcsNotificationsDelete(_, id) => dismiss_notifications(&ctx, &out, id.as_deref()),
        OcsDeleteAppPassword(_) => delete_app_password(&ctx, &out),
        OcsNotFound(_) => out.fail(998, "Invalid query, please check the syntax. API specifications are here: http://www.freedesktop.org/wiki/Specifications/open-collaboration-services."),
        other => {
            let params = match ctx.params().await {
                Ok(p) => p,
                Err(e) => return crate::http::response::plain_error(e.status(), &e.to_string(), out.json),
            };
            provisioning::handle(&ctx, &out, other, &params).await
        }
    }
}

/// The user document of `/cloud/user` and `/cloud/users/{uid}` (field list and types as the
/// Android library and nc-py-api read them; see the protocol notes §4.5).
pub fn user_json(ctx: &Ctx, u: &User) -> Value {
    let quota = match u.quota {
        Some(total) => {
            json!({"free": total, "used": 0, "total": total, "relative": 0.0, "quota": total})
        }
        None => json!({"free": -3, "used": 0, "total": -3, "relative": 0.0, "quota": -3}),
    };
    json!({
        "enabled": u.enabled,
        "storageLocation": ctx.app.data_dir.join("files").join(&u.uid).display().to_string(),
        "id": u.uid,
        "lastLogin": u.last_login_ms,
        "backend": "Database",
        "subadmin": [],
        "quota": quota,
        "manager": "",
        "email": u.email,
        "additional_mail": [],
        "displayname": u.display_name,
        "display-name": u.display_name,
        "phone": "",
        "address": "",
        "website": "",
        "twitter": "",
        "fediverse": "",
        "organisation": "",
        "role": "",
        "headline": "",
        "biography": "",
        "profile_enabled": "1",
        "groups": u.groups,
        "language": "en",
        "locale": "",
        "notify_email": null,
        "backendCapabilities": {"setDisplayName": true, "setPassword": true},
    })
}

fn get_app_password(ctx: &Ctx, out: &Out) -> Resp {
    let Some(p) = ctx.actor.principal() else {
        return unauthorized(out.v, out.json);
    };
    if p.via != AuthMethod::Password {
        // An app password cannot mint more app passwords (as in Nextcloud).
        return out.fail(403, "You are already using an app password");
    }
    let name = ctx
        .header(http::header::USER_AGENT)
        .unwrap_or("unknown client")
        .to_owned();
    match ctx.app.accounts.create_app_password(&p.uid, &name) {
        Ok((_, secret)) => out.ok(json!({ "apppassword": secret })),
        Err(e) => out.err(&e),
    }
}

fn delete_app_password(ctx: &Ctx, out: &Out) -> Resp {
    let Some(p) = ctx.actor.principal() else {
        return unauthorized(out.v, out.json);
    };
    match p.via {
        AuthMethod::AppPassword(id) => match ctx.app.accounts.revoke_app_password(&p.uid, id) {
            Ok(()) => out.ok(json!([])),
            Err(e) => out.err(&e),
        },
        _ => out.fail(403, "Only an app password can delete itself"),
    }
}

fn notification_json(uid: &str, n: &crate::notify::Notification) -> Value {
    json!({
        "notification_id": n.id,
        "app": n.app,
        "user": uid,
        "datetime": crate::dav::props::iso_date(n.created),
        "object_type": n.object_type,
        "object_id": n.object_id,
        "subject": n.subject,
        "message": n.message,
        "link": "",
        "subjectRich": "",
        "subjectRichParameters": [],
        "messageRich": "",
        "messageRichParameters": [],
        "icon": "",
        "shouldNotify": true,
        "actions": [],
    })
}

fn notifications(ctx: &Ctx, out: &Out, id: Option<&str>) -> Resp {
    let Some(p) = ctx.actor.principal() else {
        return unauthorized(out.v, out.json);
    };
    let list = match ctx.app.notify.list(&p.uid) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "notifications unreadable");
            return out.fail(996, "Notifications could not be read");
        }
    };
    match id {
        None => out.ok(Value::Array(
            list.iter().map(|n| notification_json(&p.uid, n)).collect(),
        )),
        Some(id) => match list.iter().find(|n| n.id.to_string() == id) {
            Some(n) => out.ok(notification_json(&p.uid, n)),
            None => out.fail(404, "Notification not found"),
        },
    }
}

fn dismiss_notifications(ctx: &Ctx, out: &Out, id: Option<&str>) -> Resp {
    let Some(p) = ctx.actor.principal() else {
        return unauthorized(out.v, out.json);
    };
    let r = match id {
        None => ctx.app.notify.dismiss_all(&p.uid),
        Some(id) => match id.parse::<u64>() {
            Ok(n) => ctx.app.notify.dismiss(&p.uid, n),
            Err(_) => return out.fail(404, "Notification not found"),
        },
    };
    match r {
        Ok(()) => out.ok(json!([])),
        Err(crate::notify::NotifyError::NotFound) => out.fail(404, "Notification not found"),
        Err(e) => {
            tracing::error!(error = %e, "notification dismissal failed");
            out.fail(996, "Notifications could not be changed")
        }
    }
}
