//! What a file or folder may be called.

use unicode_normalization::UnicodeNormalization;

use super::FilesError;

/// Longest name in bytes (as on ext4 and in Nextcloud).
pub const MAX_NAME_BYTES: usize = 255;

/// Names Nextcloud refuses on every system; clients are told about them in capabilities.
pub const FORBIDDEN_NAMES: [&str; 1] = [".htaccess"];

/// Checks one path segment and returns it in NFC (macOS sends NFD; one file must not appear
/// twice under two spellings).
pub fn validate(name: &str) -> Result<String, FilesError> {
    // ASCII is already NFC: most names skip the normaliser (about 1 % of a small GET's CPU).
    let nfc: String = if name.is_ascii() {
        name.to_owned()
    } else {
        name.nfc().collect()
    };
    let bad = |why: &str| Err(FilesError::BadName(format!("{name:?} {why}")));
    if nfc.is_empty() {
        return bad("is empty");
    }
    if nfc == "." || nfc == ".." {
        return bad("is reserved");
    }
    if nfc.contains(['/', '\\', '\0']) {
        return bad("contains a slash, backslash or NUL");
    }
    if nfc.chars().any(char::is_control) {
        return bad("contains control characters");
    }
    if nfc.len() > MAX_NAME_BYTES {
        return bad("is longer than 255 bytes");
    }
    if FORBIDDEN_NAMES.iter().any(|f| f.eq_ignore_ascii_case(&nfc)) {
        return bad("is a reserved name");
    }
    if nfc.trim() != nfc && nfc.trim().is_empty() {
        return bad("is only spaces");
    }
    Ok(nfc)
}

/// Splits a user path ("/a/b/c", any number of slashes) into validated segments.
pub fn split(path: &str) -> Result<Vec<String>, FilesError> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(validate)
        .collect()
}

/// A MIME type from the file extension (what Nextcloud's mimetype map does, abridged).
pub fn content_type(name: &str) -> &'static str {
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "txt" | "log" | "cfg" | "conf" | "ini" => "text/plain",
        "md" | "markdown" => "text/markdown",
        "html" | "htm" => "text/html",
        "css" => "text/css",
        "csv" => "text/csv",
        "ics" => "text/calendar",
        "vcf" => "text/vcard",
        "xml" => "application/xml",
        "json" => "application/json",
        "js" => "application/javascript",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        "gz" => "application/gzip",
        "tar" => "application/x-tar",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "heic" => "image/heic",
        "svg" => "image/svg+xml",
        "mp3" => "audio/mpeg",
        "ogg" | "oga" => "audio/ogg",
        "flac" => "audio/flac",
        "wav" => "audio/wav",
        "mp4" | "m4v" => "video/mp4",
        "mov" => "video/quicktime",
        "webm" => "video/webm",
        "mkv" => "video/x-matroska",
        "doc" => "application/msword",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "pptx" => "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "odt" => "application/vnd.oasis.opendocument.text",
        "ods" => "application/vnd.oasis.opendocument.spreadsheet",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(validate("e\u{301}t\u{e9}").unwrap(), "\u{e9}t\u{e9}");
        for ok in ["a b", "#1 %20?", "🔥.txt", "...", ".hidden"] {
            assert!(validate(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "a\\b",
            ".htaccess",
            "a\u{7}b",
            &"x".repeat(256),
        ] {
            assert!(validate(bad).is_err(), "{bad:?}");
        }
        assert_eq!(split("//a///b/").unwrap(), vec!["a", "b"]);
    }
}
