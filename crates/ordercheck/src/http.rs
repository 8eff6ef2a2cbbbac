//! One request of the check: send, read, and turn every failure into a precise error.

use crate::{OrderCheckError, STEP_TIMEOUT};
use reqwest::header::HeaderMap;
use reqwest::{RequestBuilder, StatusCode, Url};
use serde_json::Value;

/// A successful (2xx) answer with a JSON body.
pub(crate) struct Reply {
    pub headers: HeaderMap,
    pub body: Value,
}

/// The store's origin, validated, without a trailing slash.
pub(crate) fn base_url(raw: &str) -> Result<String, OrderCheckError> {
    let trimmed = raw.trim().trim_end_matches('/');
    let url = Url::parse(trimmed)
        .map_err(|e| OrderCheckError::InvalidTarget(format!("base URL {raw:?}: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(OrderCheckError::InvalidTarget(format!(
            "base URL {raw:?}: want http(s)://host[:port][/path]"
        )));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(OrderCheckError::InvalidTarget(format!(
            "base URL {raw:?}: no query or fragment, please"
        )));
    }
    Ok(trimmed.to_owned())
}

/// Send `req`, read the whole body, and return it as JSON when the status is 2xx.
pub(crate) async fn call(
    step: &'static str,
    req: RequestBuilder,
) -> Result<Reply, OrderCheckError> {
    let resp = req
        .header(reqwest::header::ACCEPT, "application/json")
        .timeout(STEP_TIMEOUT)
        .send()
        .await
        .map_err(|e| transport(step, &e))?;
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.bytes().await.map_err(|e| transport(step, &e))?;
    let json: Option<Value> = serde_json::from_slice(&bytes).ok();
    if !status.is_success() {
        return Err(OrderCheckError::Status {
            step,
            status: status.as_u16(),
            message: error_message(status, json.as_ref(), &bytes),
            code: json.as_ref().and_then(error_code),
        });
    }
    match json {
        Some(body) => Ok(Reply { headers, body }),
        None => Err(OrderCheckError::Unexpected {
            step,
            detail: format!(
                "HTTP {} with a body that is not JSON: {}",
                status.as_u16(),
                snippet(&bytes)
            ),
        }),
    }
}

/// `reqwest::Error`'s own text plus its causes ("error sending request … : tcp connect
/// error: Connection refused (os error 111)"), or a plain "timed out after 60s".
pub(crate) fn transport(step: &'static str, e: &reqwest::Error) -> OrderCheckError {
    let message = if e.is_timeout() {
        format!(
            "timed out after {}s ({})",
            STEP_TIMEOUT.as_secs(),
            e.url().map(Url::as_str).unwrap_or("?")
        )
    } else {
        let mut parts = vec![e.to_string()];
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            let text = s.to_string();
            if !parts.iter().any(|p| p.contains(&text)) {
                parts.push(text);
            }
            source = s.source();
        }
        parts.join(": ")
    };
    OrderCheckError::Transport { step, message }
}

/// The engine's own message. WooCommerce (WP REST) and Medusa both put it in `message`;
/// WordPress adds per-parameter reasons under `data.params` for `rest_invalid_param`.
fn error_message(status: StatusCode, json: Option<&Value>, bytes: &[u8]) -> String {
    if let Some(json) = json {
        let message = json
            .get("message")
            .and_then(Value::as_str)
            .or_else(|| json.get("error").and_then(Value::as_str))
            .or_else(|| {
                json.get("error")
                    .and_then(|e| e.get("message"))
                    .and_then(Value::as_str)
            })
            .map(|m| decode_entities(m.trim()))
            .filter(|m| !m.is_empty());
        if let Some(mut message) = message {
            if let Some(params) = json
                .get("data")
                .and_then(|d| d.get("params"))
                .and_then(Value::as_object)
                .filter(|p| !p.is_empty())
            {
                let details: Vec<String> = params
                    .iter()
                    .map(|(k, v)| match v.as_str() {
                        Some(s) => format!("{k}: {}", decode_entities(s)),
                        None => format!("{k}: {v}"),
                    })
                    .collect();
                message = format!("{message} ({})", details.join("; "));
            }
            return message;
        }
    }
    let text = html_title(bytes).unwrap_or_else(|| snippet(bytes));
    if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("no error message")
            .to_owned()
    } else {
        text
    }
}

/// The `<title>` of an HTML error page (proxies and web servers send those).
fn html_title(bytes: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(bytes);
    let lower = text.to_ascii_lowercase();
    let start = lower.find("<title>")? + "<title>".len();
    let end = start + lower[start..].find("</title>")?;
    let title = snippet(text[start..end].as_bytes());
    (!title.is_empty()).then_some(title)
}

fn error_code(json: &Value) -> Option<String> {
    ["code", "type"]
        .iter()
        .find_map(|k| json.get(*k).and_then(Value::as_str))
        .map(str::to_owned)
}

/// The start of a non-JSON body as one line of text (HTML tags dropped), for messages.
pub(crate) fn snippet(bytes: &[u8]) -> String {
    const MAX: usize = 300;
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::new();
    let mut in_tag = false;
    for c in text.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            _ if in_tag => {}
            c => out.push(c),
        }
    }
    let collapsed = out.split_whitespace().collect::<Vec<_>>().join(" ");
    if collapsed.chars().count() > MAX {
        let cut: String = collapsed.chars().take(MAX).collect();
        format!("{cut}…")
    } else {
        collapsed
    }
}

/// WordPress escapes messages for HTML (`esc_html`); show them as text.
fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    s.replace("&quot;", "\"")
        .replace("&#039;", "'")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#8217;", "\u{2019}")
        .replace("&ndash;", "\u{2013}")
        .replace("&mdash;", "\u{2014}")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&")
}

/// A required string field of a JSON answer, or an "unexpected response" naming the path.
pub(crate) fn str_at<'a>(
    step: &'static str,
    body: &'a Value,
    pointer: &str,
) -> Result<&'a str, OrderCheckError> {
    body.pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| missing(step, pointer, body))
}

pub(crate) fn missing(step: &'static str, pointer: &str, body: &Value) -> OrderCheckError {
    OrderCheckError::Unexpected {
        step,
        detail: format!(
            "no {} in {}",
            pointer.trim_start_matches('/').replace('/', "."),
            snippet(body.to_string().as_bytes())
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn base_urls_are_validated_and_trimmed() {
        assert_eq!(
            base_url("http://127.0.0.1:9000/").unwrap(),
            "http://127.0.0.1:9000"
        );
        assert_eq!(
            base_url(" https://shop.example.com/blog// ").unwrap(),
            "https://shop.example.com/blog"
        );
        assert!(base_url("shop.example.com").is_err());
        assert!(base_url("ftp://shop.example.com").is_err());
        assert!(base_url("http://shop.example.com/?x=1").is_err());
    }

    #[test]
    fn messages_come_from_the_engines_json_body() {
        let woo = json!({"code": "woocommerce_rest_checkout_payment_method_disabled",
            "message": "The cod payment gateway is not available.", "data": {"status": 400}});
        assert_eq!(
            error_message(StatusCode::BAD_REQUEST, Some(&woo), b""),
            "The cod payment gateway is not available."
        );
        assert_eq!(
            error_code(&woo).as_deref(),
            Some("woocommerce_rest_checkout_payment_method_disabled")
        );
        let params = json!({"code": "rest_invalid_param", "message": "Invalid parameter(s): payment_method",
            "data": {"status": 400, "params": {"payment_method": "payment_method is not one of cod, bacs."}}});
        assert_eq!(
            error_message(StatusCode::BAD_REQUEST, Some(&params), b""),
            "Invalid parameter(s): payment_method (payment_method: payment_method is not one of cod, bacs.)"
        );
        let medusa = json!({"type": "invalid_data", "message": "Cart does not exist"});
        assert_eq!(
            error_message(StatusCode::NOT_FOUND, Some(&medusa), b""),
            "Cart does not exist"
        );
        assert_eq!(error_code(&medusa).as_deref(), Some("invalid_data"));
        assert_eq!(
            error_message(
                StatusCode::BAD_GATEWAY,
                None,
                b"<html><body><h1>502 Bad Gateway</h1></body></html>"
            ),
            "502 Bad Gateway"
        );
        assert_eq!(
            error_message(
                StatusCode::SERVICE_UNAVAILABLE,
                None,
                b"<HTML><HEAD><TITLE>Maintenance</TITLE></HEAD><BODY>Back soon</BODY></HTML>"
            ),
            "Maintenance"
        );
        assert_eq!(
            error_message(StatusCode::BAD_GATEWAY, None, b""),
            "Bad Gateway"
        );
        let escaped = json!({"message": "Cash on delivery is not available for this order&mdash;please choose &quot;another&quot;"});
        assert_eq!(
            error_message(StatusCode::BAD_REQUEST, Some(&escaped), b""),
            "Cash on delivery is not available for this order\u{2014}please choose \"another\""
        );
    }

    #[test]
    fn snippets_are_short_single_lines() {
        let long = "x".repeat(1000);
        let s = snippet(long.as_bytes());
        assert_eq!(s.chars().count(), 301);
        assert_eq!(snippet(b"a\n\n  b"), "a b");
    }
}
