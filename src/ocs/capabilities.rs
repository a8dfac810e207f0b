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
            "dav": {
                "chunking": "1.0",
                "bulkupload": "1.0",
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
