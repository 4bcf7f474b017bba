//! The dashboard's files (`host-harness/dashboard/`), embedded in the binary: the server needs
//! nothing beside it and the page fetches nothing from the internet.
//!
//! The page itself holds no data: it asks for a bearer token once (kept for the tab, in
//! `sessionStorage`) and reads everything through the same API as any other caller, so the
//! token's rules decide what it can see and do. The files are public; a strict content
//! security policy lets the page load only its own scripts and talk only to this server.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// One embedded file.
pub struct Asset {
    /// The path it is served at.
    pub path: &'static str,
    /// Its media type.
    pub content_type: &'static str,
    /// Its bytes.
    pub body: &'static [u8],
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";

/// Every file the dashboard serves. uPlot (MIT) is vendored unchanged from its npm release;
/// `tests/browser/package.json` pins that release and the browser test checks the copy.
pub const ASSETS: &[Asset] = &[
    Asset {
        path: "/",
        content_type: HTML,
        body: include_bytes!("../../../dashboard/index.html"),
    },
    Asset {
        path: "/dashboard/app.js",
        content_type: JS,
        body: include_bytes!("../../../dashboard/app.js"),
    },
    Asset {
        path: "/dashboard/app.css",
        content_type: CSS,
        body: include_bytes!("../../../dashboard/app.css"),
    },
    Asset {
        path: "/dashboard/vendor/uPlot.iife.min.js",
        content_type: JS,
        body: include_bytes!("../../../dashboard/vendor/uPlot.iife.min.js"),
    },
    Asset {
        path: "/dashboard/vendor/uPlot.min.css",
        content_type: CSS,
        body: include_bytes!("../../../dashboard/vendor/uPlot.min.css"),
    },
    Asset {
        path: "/dashboard/vendor/uPlot.LICENSE",
        content_type: TEXT,
        body: include_bytes!("../../../dashboard/vendor/uPlot.LICENSE"),
    },
];

/// The content security policy of every dashboard file: its own scripts, styles and API only;
/// no framing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The embedded file served at `path` (`/index.html` is `/`), if any.
pub fn find(path: &str) -> Option<&'static Asset> {
    let path = if path == "/index.html" { "/" } else { path };
    ASSETS.iter().find(|asset| asset.path == path)
}

/// `asset` as a response: its media type, the security policy, and revalidation on every
/// load (the files change with the binary).
pub fn respond(asset: &Asset) -> Response {
    let mut response = (StatusCode::OK, asset.body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_the_page_names_is_embedded() {
        let page =
            std::str::from_utf8(find("/").map(|a| a.body).unwrap_or_default()).unwrap_or_default();
        for reference in page
            .split('"')
            .filter(|part| part.starts_with("/dashboard/"))
        {
            assert!(find(reference).is_some(), "{reference} is not embedded");
        }
        assert!(find("/index.html").is_some());
        assert!(find("/dashboard/../Cargo.toml").is_none());
    }
}
