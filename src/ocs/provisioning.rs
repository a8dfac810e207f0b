//! The provisioning API admins and tools use: `/cloud/users` and `/cloud/groups`.
//! Parameters come from query string, form body or JSON (merged by `Ctx::params`).

use serde_json::{Value, json};

use super::{Out, user_json};
use crate::accounts::access::sees_private_details;
use crate::accounts::{AccountsError, NewUser, UserField, parse_quota};
use crate::http::request::Params;
use crate::http::router::Endpoint;
use crate::http::{Ctx, Resp};

fn paging(p: &Params) -> (String, usize, Option<usize>) {
    let search = p.get("search").unwrap_or("").to_owned();
    let offset = p.get("offset").and_then(|o| o.parse().ok()).unwrap_or(0);
    let limit = p
        .get("limit")
        .and_then(|l| l.parse::<i64>().ok())
        .filter(|l| *l > 0)
        .map(|l| usize::try_from(l).unwrap_or(usize::MAX));
    (search, offset, limit)
}

pub async fn handle(ctx: &Ctx, out: &Out, endpoint: Endpoint, p: &Params) -> Resp {
    let acc = &ctx.app.accounts;
    let actor = &ctx.actor;
    use Endpoint::*;
    match endpoint {
        OcsGetUsers(_) => {
            let (search, offset, limit) = paging(p);
            if let Err(e) = actor.require_admin() {
                return out.err(&e);
            }
            out.result(
                acc.list_users(actor, &search, offset, limit)
                    .map(|us| json!({"users": us.into_iter().map(|u| u.uid).collect::<Vec<_>>()})),
            )
        }
        OcsAddUser(_) => {
            let Some(uid) = p.get("userid").map(str::to_owned) else {
                return out.fail(101, "userid is required");
            };
            let quota = match p.get("quota").map(parse_quota).transpose() {
                Ok(q) => q.flatten(),
                Err(e) => return out.err(&e),
            };
            let new = NewUser {
                uid: uid.clone(),
                display_name: p
                    .get("displayName")
                    .or(p.get("displayname"))
                    .map(str::to_owned),
                email: p.get("email").filter(|e| !e.is_empty()).map(str::to_owned),
                quota,
                groups: p.list("groups"),
            };
            let password = p
                .get("password")
                .filter(|s| !s.is_empty())
                .map(str::to_owned);
            out.result(
                acc.create_user(actor, new, password)
                    .await
                    .map(|u| json!({"id": u.uid})),
            )
        }
        OcsGetUser(_, uid) => {
            if actor.principal().is_none() {
                return out.err(&AccountsError::NotAdmin);
            }
            if !sees_private_details(actor, &uid) {
                // Others see the public part only (what the share dialog and avatars need).
                return out.result(acc.user(&uid).map(|u| json!({"id": u.uid, "displayname": u.display_name, "display-name": u.display_name})));
            }
            out.result(acc.user(&uid).map(|u| user_json(ctx, &u)))
        }
        OcsEditUser(_, uid) => {
            let (Some(key), Some(value)) = (p.get("key"), p.get("value")) else {
                return out.fail(101, "key and value are required");
            };
            let Some(field) = UserField::parse(key) else {
                return out.fail(103, &format!("{key:?} cannot be edited"));
            };
            out.result(
                acc.edit_user(actor, &uid, field, value)
                    .await
                    .map(|()| json!([])),
            )
        }
        OcsDeleteUser(_, uid) => out.result(acc.delete_user(actor, &uid).map(|()| json!([]))),
        OcsEnableUser(_, uid, on) => {
            out.result(acc.set_enabled(actor, &uid, on).map(|()| json!([])))
        }
        OcsGetUsersGroups(_, uid) => {
            if !sees_private_details(actor, &uid) {
                return out.err(&AccountsError::NotAdmin);
            }
            out.result(acc.user(&uid).map(|u| json!({"groups": u.groups})))
        }
        OcsAddToGroup(_, uid) | OcsRemoveFromGroup(_, uid) => {
            let Some(gid) = p.get("groupid") else {
                return out.fail(101, "groupid is required");
            };
            let add = ctx.method == http::Method::POST;
            out.result(
                acc.set_membership(actor, &uid, gid, add)
                    .map(|()| json!([])),
            )
        }
        OcsGetUserSubAdminGroups(_, uid) => {
            // Hearth has no sub-admins: families have admins and members.
            out.result(acc.user(&uid).map(|_| json!([])))
        }
        OcsGetGroups(_) => {
            let (search, offset, limit) = paging(p);
            if let Err(e) = actor.require_admin() {
                return out.err(&e);
            }
            out.result(
                acc.groups(&search, offset, limit)
                    .map(|gs| json!({"groups": gs.into_iter().map(|g| g.gid).collect::<Vec<_>>()})),
            )
        }
        OcsGetGroupsDetails(_) => {
            let (search, offset, limit) = paging(p);
            if let Err(e) = actor.require_admin() {
                return out.err(&e);
            }
            let r = acc.groups(&search, offset, limit).and_then(|gs| {
                let mut list = Vec::new();
                for g in gs {
                    let n = acc.group_members(&g.gid)?.len();
                    list.push(json!({"id": g.gid, "displayname": g.display_name, "usercount": n, "disabled": 0, "canAdd": true, "canRemove": g.gid != crate::accounts::ADMIN_GROUP}));
                }
                Ok(json!({"groups": list}))
            });
            out.result(r)
        }
        OcsAddGroup(_) => {
            let Some(gid) = p.get("groupid") else {
                return out.fail(101, "groupid is required");
            };
            out.result(
                acc.create_group(actor, gid, p.get("displayname"))
                    .map(|_| json!([])),
            )
        }
        OcsGetGroupUsers(_, gid) => {
            if let Err(e) = actor.require_admin() {
                return out.err(&e);
            }
            out.result(acc.group_members(&gid).map(|us| json!({"users": us})))
        }
        OcsUpdateGroup(_, gid) => {
            if p.get("key") != Some("displayname") {
                return out.fail(101, "only key=displayname can be changed");
            }
            let value = p.get("value").unwrap_or("");
            out.result(acc.rename_group(actor, &gid, value).map(|()| json!([])))
        }
        OcsDeleteGroup(_, gid) => out.result(acc.delete_group(actor, &gid).map(|()| json!([]))),
        OcsGetSubAdminsOfGroup(_, gid) => {
            if let Err(e) = actor.require_admin() {
                return out.err(&e);
            }
            out.result(acc.group(&gid).map(|_| Value::Array(vec![])))
        }
        _ => out.fail(998, "Not found"),
    }
}
