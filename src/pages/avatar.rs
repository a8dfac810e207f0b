//! `/index.php/avatar/{uid}/{size}`: the uploaded picture, or a generated initial on a colour
//! derived from the uid. PNG is written by hand (stored deflate blocks) with a 5×7 bitmap
//! font: a few hundred bytes of code instead of an image and font stack on a 1 GB box.

use http::{StatusCode, header};
use tokio::io::AsyncReadExt;

use crate::blobs::BlobStore;
use crate::http::{Ctx, Resp, response};

pub async fn handle(ctx: &Ctx, uid: &str, size: u32) -> Resp {
    let size = size.clamp(16, 512);
    let user = ctx.app.accounts.user(uid).ok();
    if let Some(blob) = user.as_ref().and_then(|u| u.avatar_blob.clone())
        && let Ok((mut r, len)) = ctx.app.blobs.open(&blob, 0).await
    {
        // Avatars are capped at upload time; reading one whole is bounded.
        let mut buf = Vec::with_capacity(usize::try_from(len.min(2 << 20)).unwrap_or(0));
        if r.read_to_end(&mut buf).await.is_ok() {
            let ctype =
                crate::accounts::avatar_image_type(&buf).unwrap_or("application/octet-stream");
            let mut resp = response::with(StatusCode::OK, ctype, buf);
            response::set_header(
                &mut resp,
                header::HeaderName::from_static("x-nc-iscustomavatar"),
                "1",
            );
            response::set_header(&mut resp, header::CACHE_CONTROL, "max-age=600");
            return resp;
        }
    }
    let name = user.as_ref().map_or(uid, |u| u.display_name.as_str());
    let initial = name
        .chars()
        .find(|c| c.is_alphanumeric())
        .map_or('?', |c| c.to_ascii_uppercase());
    let png = initials_png(initial, colour(uid), size);
    let mut resp = response::with(StatusCode::OK, "image/png", png);
    response::set_header(
        &mut resp,
        header::HeaderName::from_static("x-nc-iscustomavatar"),
        "0",
    );
    response::set_header(&mut resp, header::CACHE_CONTROL, "max-age=600");
    resp
}

/// `POST /index.php/avatar/`: the picture as multipart field `files[]` (what Nextcloud's web
/// settings send) or as the raw request body with an image content type.
pub async fn upload(mut ctx: Ctx) -> Resp {
    let Some(uid) = ctx.actor.principal().map(|p| p.uid.clone()) else {
        return response::plain_error(StatusCode::UNAUTHORIZED, "Please log in.", true);
    };
    let ctype = ctx.header(header::CONTENT_TYPE).unwrap_or("").to_owned();
    let body = match ctx.small_body().await {
        Ok(b) => b,
        Err(e) => return response::plain_error(e.status(), &e.to_string(), true),
    };
    let image: &[u8] = if ctype
        .to_ascii_lowercase()
        .starts_with("multipart/form-data")
    {
        match multipart_file(&ctype, &body) {
            Some(f) => f,
            None => {
                return bad(
                    "No picture was found in the upload (expected a file field named files[]).",
                );
            }
        }
    } else {
        &body
    };
    match ctx.app.accounts.set_avatar(&ctx.actor, &uid, image).await {
        Ok(()) => response::json(StatusCode::OK, &serde_json::json!({"status": "success"})),
        Err(crate::accounts::AccountsError::InvalidInput(m)) => bad(&m),
        Err(e) => {
            tracing::error!(error = %e, "avatar upload failed");
            response::plain_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The picture could not be saved.",
                true,
            )
        }
    }
}

fn bad(message: &str) -> Resp {
    response::json(
        StatusCode::BAD_REQUEST,
        &serde_json::json!({"data": {"message": message}}),
    )
}

pub async fn delete(ctx: &Ctx) -> Resp {
    let Some(uid) = ctx.actor.principal().map(|p| p.uid.clone()) else {
        return response::plain_error(StatusCode::UNAUTHORIZED, "Please log in.", true);
    };
    match ctx.app.accounts.delete_avatar(&ctx.actor, &uid).await {
        Ok(()) => response::json(StatusCode::OK, &serde_json::json!({})),
        Err(e) => {
            tracing::error!(error = %e, "avatar delete failed");
            response::plain_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The picture could not be removed.",
                true,
            )
        }
    }
}

/// The content of the first file part of a (bounded, already read) multipart body.
fn multipart_file<'a>(ctype: &str, body: &'a [u8]) -> Option<&'a [u8]> {
    let boundary = ctype
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))?
        .trim_matches('"');
    if boundary.is_empty() || boundary.len() > 200 {
        return None;
    }
    let delim = format!("--{boundary}");
    let mut rest = body;
    loop {
        let at = find(rest, delim.as_bytes())?;
        rest = &rest[at + delim.len()..];
        if rest.starts_with(b"--") {
            return None;
        }
        let head_end = find(rest, b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(&rest[..head_end]).to_ascii_lowercase();
        let content = &rest[head_end + 4..];
        let end = find(content, format!("\r\n{delim}").as_bytes())?;
        if head.contains("filename=") {
            return Some(&content[..end]);
        }
        rest = &content[end..];
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

fn colour(uid: &str) -> [u8; 3] {
    const PALETTE: [[u8; 3]; 8] = [
        [0xb5, 0x45, 0x2b],
        [0x2b, 0x6c, 0xb5],
        [0x3a, 0x8f, 0x5c],
        [0x8e, 0x44, 0xad],
        [0xc0, 0x7b, 0x18],
        [0x1f, 0x8a, 0x8a],
        [0xa3, 0x3b, 0x6e],
        [0x55, 0x62, 0x70],
    ];
    let h = uid
        .bytes()
        .fold(5381u32, |h, b| h.wrapping_mul(33) ^ u32::from(b));
    PALETTE[(h % 8) as usize]
}

/// 5×7 glyphs, one byte per row, low five bits used (bit 4 = leftmost column).
fn glyph(c: char) -> [u8; 7] {
    match c {
        'A' => [14, 17, 17, 31, 17, 17, 17],
        'B' => [30, 17, 17, 30, 17, 17, 30],
        'C' => [14, 17, 16, 16, 16, 17, 14],
        'D' => [30, 17, 17, 17, 17, 17, 30],
        'E' => [31, 16, 16, 30, 16, 16, 31],
        'F' => [31, 16, 16, 30, 16, 16, 16],
        'G' => [14, 17, 16, 23, 17, 17, 15],
        'H' => [17, 17, 17, 31, 17, 17, 17],
        'I' => [14, 4, 4, 4, 4, 4, 14],
        'J' => [7, 2, 2, 2, 2, 18, 12],
        'K' => [17, 18, 20, 24, 20, 18, 17],
        'L' => [16, 16, 16, 16, 16, 16, 31],
        'M' => [17, 27, 21, 21, 17, 17, 17],
        'N' => [17, 17, 25, 21, 19, 17, 17],
        'O' => [14, 17, 17, 17, 17, 17, 14],
        'P' => [30, 17, 17, 30, 16, 16, 16],
        'Q' => [14, 17, 17, 17, 21, 18, 13],
        'R' => [30, 17, 17, 30, 20, 18, 17],
        'S' => [15, 16, 16, 14, 1, 1, 30],
        'T' => [31, 4, 4, 4, 4, 4, 4],
        'U' => [17, 17, 17, 17, 17, 17, 14],
        'V' => [17, 17, 17, 17, 17, 10, 4],
        'W' => [17, 17, 17, 21, 21, 21, 10],
        'X' => [17, 17, 10, 4, 10, 17, 17],
        'Y' => [17, 17, 10, 4, 4, 4, 4],
        'Z' => [31, 1, 2, 4, 8, 16, 31],
        '0' => [14, 17, 19, 21, 25, 17, 14],
        '1' => [4, 12, 4, 4, 4, 4, 14],
        '2' => [14, 17, 1, 2, 4, 8, 31],
        '3' => [31, 2, 4, 2, 1, 17, 14],
        '4' => [2, 6, 10, 18, 31, 2, 2],
        '5' => [31, 16, 30, 1, 1, 17, 14],
        '6' => [6, 8, 16, 30, 17, 17, 14],
        '7' => [31, 1, 2, 4, 8, 8, 8],
        '8' => [14, 17, 17, 14, 17, 17, 14],
        '9' => [14, 17, 17, 15, 1, 2, 12],
        _ => [14, 17, 1, 2, 4, 0, 4],
    }
}

pub fn initials_png(c: char, bg: [u8; 3], size: u32) -> Vec<u8> {
    let g = glyph(c);
    let s = size as usize;
    // The glyph fills about half the tile, centred.
    let cell = (s / 2 / 7).max(1);
    let (gw, gh) = (5 * cell, 7 * cell);
    let (x0, y0) = ((s - gw) / 2, (s - gh) / 2);
    let mut raw = Vec::with_capacity(s * (1 + 3 * s));
    for y in 0..s {
        raw.push(0); // filter: none
        for x in 0..s {
            let ink = x >= x0 && x < x0 + gw && y >= y0 && y < y0 + gh && {
                let (gx, gy) = ((x - x0) / cell, (y - y0) / cell);
                g[gy] & (1 << (4 - gx)) != 0
            };
            raw.extend_from_slice(if ink { &[255, 255, 255] } else { &bg });
        }
    }
    encode_png(size, size, &raw)
}

fn encode_png(w: u32, h: u32, raw: &[u8]) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB
    chunk(&mut out, b"IHDR", &ihdr);
    // zlib stream of stored (uncompressed) deflate blocks.
    let mut z = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = raw.chunks(65_535).collect();
    for (i, b) in blocks.iter().enumerate() {
        z.push(u8::from(i + 1 == blocks.len()));
        let len = u16::try_from(b.len()).unwrap_or(u16::MAX);
        z.extend_from_slice(&len.to_le_bytes());
        z.extend_from_slice(&(!len).to_le_bytes());
        z.extend_from_slice(b);
    }
    z.extend_from_slice(&adler32(raw).to_be_bytes());
    chunk(&mut out, b"IDAT", &z);
    chunk(&mut out, b"IEND", &[]);
    out
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&u32::try_from(data.len()).unwrap_or(0).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

fn crc32(data: &[u8]) -> u32 {
    let mut c = 0xffff_ffffu32;
    for &b in data {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 != 0 {
                0xedb8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
    }
    !c
}

fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &x in data {
        a = (a + u32::from(x)) % 65_521;
        b = (b + a) % 65_521;
    }
    (b << 16) | a
}

#[cfg(test)]
mod tests {
    #[test]
    fn crc_matches_known_value() {
        assert_eq!(super::crc32(b"IEND"), 0xae42_6082);
    }
}
