//! The page and its assets, compiled into the binary.

use http_upgrade::{HttpRequest, Response};

const FILES: [(&str, &str, &str); 3] = [
    (
        "/test.html",
        "text/html; charset=utf-8",
        include_str!("static/test.html"),
    ),
    (
        "/test.js",
        "text/javascript; charset=utf-8",
        include_str!("static/test.js"),
    ),
    (
        "/test.css",
        "text/css; charset=utf-8",
        include_str!("static/test.css"),
    ),
];

/// The response to a plain HTTP request.
pub(crate) fn respond(req: &HttpRequest) -> Response {
    if req.method != "GET" && req.method != "HEAD" {
        return Response::new(405).header("Allow", "GET, HEAD");
    }
    let path = req.target.split('?').next().unwrap_or("/");
    let path = if path == "/" { "/test.html" } else { path };
    if path == "/favicon.ico" {
        // No icon: say so without an error in the browser's console.
        return Response::new(204);
    }
    match FILES.iter().find(|(p, _, _)| *p == path) {
        Some((_, mime, body)) => Response::new(200)
            .header("Content-Type", *mime)
            .header("Cache-Control", "no-cache")
            .body(*body),
        None => Response::new(404)
            .header("Content-Type", "text/plain; charset=utf-8")
            .body("not found\n"),
    }
}
