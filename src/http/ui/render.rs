//! The status page's templates: `templates/*.hbs` at the repository root, compiled into the
//! binary and registered once. Every value is written with `{{ }}`, which HTML-escapes it.

use std::sync::OnceLock;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, HttpResponseBuilder};
use handlebars::Handlebars;
use serde::Serialize;

/// The templates, by name, as they are in `templates/`.
pub const TEMPLATES: [(&str, &str); 3] = [
    ("login", include_str!("../../../templates/login.hbs")),
    ("status", include_str!("../../../templates/status.hbs")),
    ("message", include_str!("../../../templates/message.hbs")),
];
/// The partials the templates include.
pub const PARTIALS: [(&str, &str); 1] = [("style", include_str!("../../../templates/style.hbs"))];

/// What the page's answers send besides the page: no script runs, no other site frames the
/// page or receives its forms, nothing is cached.
const SECURITY_HEADERS: [(&str, &str); 5] = [
    (
        "Content-Security-Policy",
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; \
         form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    ("X-Frame-Options", "DENY"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("Cache-Control", "no-store"),
];

fn registry() -> &'static Result<Handlebars<'static>, String> {
    static REGISTRY: OnceLock<Result<Handlebars<'static>, String>> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let mut hb = Handlebars::new();
        for (name, text) in PARTIALS {
            hb.register_partial(name, text)
                .map_err(|e| format!("templates/{name}.hbs: {e}"))?;
        }
        for (name, text) in TEMPLATES {
            hb.register_template_string(name, text)
                .map_err(|e| format!("templates/{name}.hbs: {e}"))?;
        }
        Ok(hb)
    })
}

/// A response builder with the page's headers.
pub fn builder(status: StatusCode) -> HttpResponseBuilder {
    let mut b = HttpResponse::build(status);
    for header in SECURITY_HEADERS {
        b.insert_header(header);
    }
    b
}

/// Renders a template into an HTML answer; a template that fails is a 500 (and logged).
pub fn page<T: Serialize>(mut resp: HttpResponseBuilder, template: &str, data: &T) -> HttpResponse {
    let rendered = registry()
        .as_ref()
        .map_err(String::clone)
        .and_then(|hb| hb.render(template, data).map_err(|e| e.to_string()));
    match rendered {
        Ok(html) => resp.content_type("text/html; charset=utf-8").body(html),
        Err(e) => {
            tracing::error!(template, error = %e, "the status page could not be rendered");
            let mut b = builder(StatusCode::INTERNAL_SERVER_ERROR);
            b.content_type("text/plain; charset=utf-8")
                .body("The page could not be rendered; the server log says why.")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_templates_register_and_write_data_escaped() {
        assert!(registry().is_ok(), "{:?}", registry().as_ref().err());
        for (name, text) in TEMPLATES.iter().chain(PARTIALS.iter()) {
            // `{{{ }}}` writes a value unescaped: no template may use it.
            assert!(!text.contains("{{{"), "templates/{name}.hbs uses {{{{{{");
            assert!(!text.contains("{{&"), "templates/{name}.hbs uses {{{{&");
        }
    }
}
