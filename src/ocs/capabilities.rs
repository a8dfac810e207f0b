//! The capabilities document. It lists only what this build really serves, and grows as
//! features land: clients switch behaviour on these keys (protocol notes §3).

use serde_json::{Value, json};

use crate::http::Ctx;

/// The Nextcloud version we answer as: new enough that current apps do not call the server
/// outdated (Android warns below 26), old enough not to promise newer APIs.
pub const NC_VERSION: (u32, u32, u32, u32) = (30, 0, 5, 1);

pub fn version_string() -> String {
    let (a, b, c, _) = NC_VERSION;
    format!("{a}.{b}.{c}")
}

pub fn document(ctx: &Ctx) -> Value {
    let (major, minor, micro, _) = NC_VERSION;
    let name = ctx
        .app
        .accounts
        .box_name()
        .unwrap_or_else(|_| "hearth".into());
    let base = ctx.base_url();
    let mut dav = json!({"chunking": "1.0"});
    if bulk_upload_safe(ctx.header(http::header::USER_AGENT)) {
        dav["bulkupload"] = json!("1.0");
    }
    json!({
        "version": {
            "major": major,
            "minor": minor,
            "micro": micro,
            "string": version_string(),
            "edition": "",
            "extendedSupport": false,
        },
        "capabilities": {
            "core": {
                "pollinterval": 60,
                "webdav-root": "remote.php/webdav",
                "reference-api": false,
                "mod-rewrite-working": false,
            },
            // Chunking v1 ("NG") and v2 share one engine (dav/uploads.rs); bulk upload is
            // dav/bulk.rs.
            "dav": dav,
            // The OCS notifications API (notify/): calendar reminders and, later, shares.
            "notifications": {
                "ocs-endpoints": ["list", "get", "delete", "delete-all"],
                "push": [],
                "admin-notifications": [],
            },
            "files": {
                "bigfilechunking": true,
                "blacklisted_files": [".htaccess"],
                "forbidden_filenames": [".htaccess"],
                "forbidden_filename_basenames": [],
                "forbidden_filename_characters": [],
                "forbidden_filename_extensions": [],
                "undelete": false,
                "versioning": false,
                "chunked_upload": {"max_size": 5_368_709_120_u64, "max_parallel_count": 5},
            },
            "checksums": {
                "supportedTypes": ["SHA1"],
                "preferredUploadType": "SHA1",
            },
            "theming": {
                "name": format!("Hearth ({name})"),
                "url": base,
                "slogan": "A family's own cloud",
                "color": "#b5452b",
                "color-text": "#ffffff",
                "color-element": "#b5452b",
                "color-element-bright": "#b5452b",
                "color-element-dark": "#b5452b",
                "logo": format!("{base}/core/img/logo/logo.svg"),
                "background": "#b5452b",
                "background-plain": true,
                "background-default": true,
            },
        },
    })
}

/// Desktop clients before 3.9 send a bulk request containing an empty file without its body
/// and then wait forever (nextcloud/desktop PR #5871, "fix bulk upload of empty files"); Debian
/// 12 ships 3.7.3. Bulk upload is offered to desktop 3.9 and later only; everyone else uses
/// plain PUT, which is just as correct.
fn bulk_upload_safe(user_agent: Option<&str>) -> bool {
    let Some(ua) = user_agent else { return false };
    let Some(rest) = ua.split("mirall/").nth(1) else {
        return false;
    };
    let mut parts = rest
        .split(|c: char| !c.is_ascii_digit())
        .filter(|p| !p.is_empty());
    let major: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let minor: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    (major, minor) >= (3, 9)
}

#[cfg(test)]
mod tests {
    #[test]
    fn bulk_upload_only_for_fixed_desktops() {
        use super::bulk_upload_safe as ok;
        assert!(!ok(None));
        assert!(!ok(Some(
            "Mozilla/5.0 (Linux) mirall/3.7.3 (Nextcloud, debian-6.1) QtNetwork/5.15.8"
        )));
        assert!(ok(Some("Mozilla/5.0 (Linux) mirall/3.9.0 (Nextcloud)")));
        assert!(ok(Some(
            "Mozilla/5.0 (Windows) mirall/3.14.1git (Nextcloud)"
        )));
        assert!(!ok(Some("Mozilla/5.0 (Android) Nextcloud-android/3.30.0")));
    }
}
