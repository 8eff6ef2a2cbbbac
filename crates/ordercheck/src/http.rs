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
/// error: Connection refused (os error 111)"), or a plain "timed out after 60s". Only a
/// failed connect proves the store never got the request.
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
        let chain = parts.join(": ");
        if e.is_connect() {
            format!("cannot connect to the store (is it running, and reachable at this address?): {chain}")
        } else {
            chain
        }
    };
    OrderCheckError::Transport {
        step,
        message,
        maybe_delivered: !e.is_connect() && !e.is_builder(),
    }
}

/// For the step that turns the cart into an order: an error after which the store may have
/// taken the order becomes [`OrderCheckError::OutcomeUnknown`] (with the test order's e-mail
/// to look it up by). That is a lost connection, a timeout or a cut-off body (the request may
/// have been processed), and 500/502/504 (the engine crashed, or a proxy gave up waiting,
/// possibly after the order was written).
pub(crate) fn placing(email: &str) -> impl FnOnce(OrderCheckError) -> OrderCheckError + '_ {
    move |e| match e {
        OrderCheckError::Transport {
            maybe_delivered: true,
            ..
        }
        | OrderCheckError::Status {
            status: 500 | 502 | 504,
            ..
        } => OrderCheckError::OutcomeUnknown {
            email: email.to_owned(),
            cause: Box::new(e),
        },
        other => other,
    }
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
            .map(|m| plain_text(m, MAX_MESSAGE))
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
                        Some(s) => format!("{k}: {}", plain_text(s, MAX_MESSAGE)),
                        None => format!("{k}: {v}"),
                    })
                    .collect();
                message = format!("{message} ({})", details.join("; "));
            }
            return message;
        }
    }
    let text = snippet(bytes);
    if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("no error message")
            .to_owned()
    } else {
        text
    }
}

fn error_code(json: &Value) -> Option<String> {
    ["code", "type"]
        .iter()
        .find_map(|k| json.get(*k).and_then(Value::as_str))
        .map(str::to_owned)
}

/// Longest text taken from an error page or a non-JSON body.
const MAX_PAGE_TEXT: usize = 200;
/// Longest engine message taken from a JSON error body.
const MAX_MESSAGE: usize = 300;

/// A non-JSON body as one short line of text for messages. HTML (a proxy's 502 page, PHP's
/// fatal error output, WordPress's "critical error" page) is reduced to its `<title>` and
/// first meaningful text, without markup or entities.
pub(crate) fn snippet(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    if looks_like_html(&text) {
        html_text(&text)
    } else {
        cap(&collapse(&text), MAX_PAGE_TEXT)
    }
}

/// A JSON value as one short line, for "unexpected response" details.
pub(crate) fn json_snippet(v: &Value) -> String {
    cap(&v.to_string(), MAX_PAGE_TEXT)
}

fn looks_like_html(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    [
        "<html",
        "<!doctype",
        "<head",
        "<body",
        "<title",
        "<p>",
        "<br",
        "<b>",
        "<div",
        "<h1",
    ]
    .iter()
    .any(|t| lower.contains(t))
}

/// Text of an HTML page: "title: first text of the body" (the body's leading text dropped
/// when it repeats the title), capped.
fn html_text(html: &str) -> String {
    let lower = html.to_ascii_lowercase();
    let title = lower.find("<title").and_then(|start| {
        let open_end = start + lower[start..].find('>')? + 1;
        let close = open_end + lower[open_end..].find("</title")?;
        Some((start, open_end, close))
    });
    let (title_text, rest) = match title {
        Some((start, open_end, close)) => {
            let after = close + lower[close..].find('>').map_or(0, |i| i + 1);
            let mut rest = String::with_capacity(html.len());
            rest.push_str(&html[..start]);
            rest.push(' ');
            rest.push_str(&html[after..]);
            (chunks(&html[open_end..close]).join(" "), rest)
        }
        None => (String::new(), html.to_owned()),
    };
    let title_lower = title_text.to_lowercase();
    let body: Vec<String> = chunks(&rest)
        .into_iter()
        .skip_while(|c| !title_lower.is_empty() && title_lower.contains(&c.to_lowercase()))
        .collect();
    let body = body.join(" ");
    let text = match (title_text.is_empty(), body.is_empty()) {
        (true, _) => body,
        (false, true) => title_text,
        (false, false) => format!("{title_text}: {body}"),
    };
    cap(&text, MAX_PAGE_TEXT)
}

/// Markup-free text (tags stripped, entities decoded, whitespace collapsed), capped at `max`
/// characters. For engine messages that may carry HTML (WordPress puts `<p>` and `<a>` in
/// some REST error messages).
pub(crate) fn plain_text(s: &str, max: usize) -> String {
    if !s.contains('<') && !s.contains('&') {
        return cap(&collapse(s), max);
    }
    cap(&chunks(s).join(" "), max)
}

/// The text between an HTML fragment's block-level tags, each chunk decoded and collapsed;
/// script, style and comments dropped; inline tags (`<b>`, `<a>`, …) keep their text joined.
fn chunks(html: &str) -> Vec<String> {
    const INLINE: &[&str] = &[
        "a", "abbr", "b", "code", "em", "font", "i", "small", "span", "strong", "sub", "sup", "tt",
        "u",
    ];
    const SKIP: &[&str] = &["script", "style"];
    let lower = html.to_ascii_lowercase();
    let mut out = Vec::new();
    let mut current = String::new();
    let mut i = 0;
    let flush = |current: &mut String, out: &mut Vec<String>| {
        let text = collapse(&decode_entities(current));
        if !text.is_empty() {
            out.push(text);
        }
        current.clear();
    };
    while i < html.len() {
        let rest = &html[i..];
        if !rest.starts_with('<') {
            let next = rest.find('<').unwrap_or(rest.len());
            current.push_str(&rest[..next]);
            i += next;
            continue;
        }
        if lower[i..].starts_with("<!--") {
            i += lower[i..].find("-->").map_or(rest.len(), |e| e + 3);
            continue;
        }
        let Some(end) = rest.find('>') else {
            // A lone '<' that opens no tag: keep it as text.
            current.push('<');
            i += 1;
            continue;
        };
        let name: String = lower[i + 1..i + end]
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        if name.is_empty() && !rest[1..].starts_with(['!', '?', '/']) {
            current.push('<');
            i += 1;
            continue;
        }
        i += end + 1;
        if SKIP.contains(&name.as_str()) && !rest[1..].starts_with('/') {
            let close = format!("</{name}");
            i += lower[i..].find(&close).unwrap_or(lower.len() - i);
            continue;
        }
        if !INLINE.contains(&name.as_str()) {
            flush(&mut current, &mut out);
        }
    }
    flush(&mut current, &mut out);
    out
}

fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// At most `max` characters, with "…" when cut (on a word boundary when one is near).
fn cap(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let cut: String = s.chars().take(max).collect();
    let cut = match cut.rfind(' ') {
        Some(space) if cut[..space].chars().count() > max * 3 / 4 => &cut[..space],
        _ => cut.as_str(),
    };
    format!("{}…", cut.trim_end())
}

/// HTML entities as text: the named ones error pages and WordPress (`esc_html`) use, and
/// every numeric one (`&#8217;`, `&#x2019;`). Unknown names are left as they are.
fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let decoded = rest[1..]
            .find(';')
            .filter(|&semi| semi > 0 && semi <= 10)
            .and_then(|semi| entity(&rest[1..=semi]).map(|c| (c, semi + 2)));
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn entity(name: &str) -> Option<char> {
    if let Some(num) = name.strip_prefix('#') {
        let code = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => num.parse().ok()?,
        };
        return char::from_u32(code);
    }
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => ' ',
        "ndash" => '\u{2013}',
        "mdash" => '\u{2014}',
        "hellip" => '\u{2026}',
        "lsquo" => '\u{2018}',
        "rsquo" => '\u{2019}',
        "ldquo" => '\u{201C}',
        "rdquo" => '\u{201D}',
        "laquo" => '\u{00AB}',
        "raquo" => '\u{00BB}',
        "lsaquo" => '\u{2039}',
        "rsaquo" => '\u{203A}',
        "middot" => '\u{00B7}',
        "bull" => '\u{2022}',
        "copy" => '\u{00A9}',
        "reg" => '\u{00AE}',
        "trade" => '\u{2122}',
        "euro" => '\u{20AC}',
        _ => return None,
    })
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
            json_snippet(body)
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
            "Maintenance: Back soon"
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
        assert_eq!(s.chars().count(), 201);
        assert!(s.ends_with('…'));
        assert_eq!(snippet(b"a\n\n  b"), "a b");
        let words = "word ".repeat(100);
        let s = snippet(words.as_bytes());
        assert!(s.ends_with("word…"), "{s}");
        assert!(s.chars().count() <= 201);
    }

    /// Real error pages, as proxies, PHP and WordPress send them: no markup, no entities,
    /// one line, the title and the first meaningful text, at most ~200 characters.
    #[test]
    fn html_error_pages_become_short_plain_text() {
        let nginx = b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.27.4</center>\r\n</body>\r\n</html>\r\n";
        assert_eq!(
            error_message(StatusCode::BAD_GATEWAY, None, nginx),
            "502 Bad Gateway: nginx/1.27.4"
        );

        let apache = br#"<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">
<html><head>
<title>502 Proxy Error</title>
</head><body>
<h1>Proxy Error</h1>
<p>The proxy server received an invalid
response from an upstream server.<br />
The proxy server could not handle the request <em><a href="/wp-json/wc/store/v1/checkout">POST&nbsp;/wp-json/wc/store/v1/checkout</a></em>.<p>
Reason: <strong>Error reading from remote server</strong></p></p>
<hr>
<address>Apache/2.4.62 (Debian) Server at shop.example.com Port 80</address>
</body></html>"#;
        let text = error_message(StatusCode::BAD_GATEWAY, None, apache);
        assert!(
            text.starts_with("502 Proxy Error: The proxy server received an invalid response from an upstream server. The proxy server could not handle the request POST /wp-json/wc/store/v1/checkout. Reason: Error reading from"),
            "{text}"
        );
        assert!(text.chars().count() <= 201, "{text}");

        // WordPress's wp_die() page for a fatal error in a plugin or theme.
        let wordpress = br#"<!DOCTYPE html>
<html lang="en-US">
<head>
	<meta http-equiv="Content-Type" content="text/html; charset=utf-8" />
	<meta name="viewport" content="width=device-width">
	<meta name='robots' content='max-image-preview:large, noindex, follow' />
	<title>WordPress &rsaquo; Error</title>
	<style type="text/css">
		html { background: #f1f1f1; }
		body { background: #fff; border: 1px solid #ccd0d4; color: #444; }
	</style>
</head>
<body id="error-page">
	<div class="wp-die-message"><p>There has been a critical error on this website.</p><p><a href="https://wordpress.org/documentation/article/faq-troubleshooting/">Learn more about troubleshooting WordPress.</a></p></div></body>
</html>"#;
        assert_eq!(
            error_message(StatusCode::INTERNAL_SERVER_ERROR, None, wordpress),
            "WordPress \u{203A} Error: There has been a critical error on this website. Learn more about troubleshooting WordPress."
        );

        // The same error through the REST API: JSON, with HTML inside the message.
        let rest = json!({"code": "internal_server_error",
            "message": "<p>There has been a critical error on this website.</p><p><a href=\"https://wordpress.org/documentation/article/faq-troubleshooting/\">Learn more about troubleshooting WordPress.</a></p>",
            "data": {"status": 500}, "additional_errors": []});
        assert_eq!(
            error_message(StatusCode::INTERNAL_SERVER_ERROR, Some(&rest), b""),
            "There has been a critical error on this website. Learn more about troubleshooting WordPress."
        );

        // PHP's own fatal error output (display_errors on), no <title>.
        let php = b"<br />\n<b>Fatal error</b>:  Uncaught Error: Call to undefined function wc_get_foo() in /var/www/html/wp-content/plugins/shop-extras/shop-extras.php:42\nStack trace:\n#0 /var/www/html/wp-includes/class-wp-hook.php(324): shop_extras_init('')\n#1 {main}\n  thrown in <b>/var/www/html/wp-content/plugins/shop-extras/shop-extras.php</b> on line <b>42</b><br />\n";
        let text = error_message(StatusCode::INTERNAL_SERVER_ERROR, None, php);
        assert!(
            text.starts_with("Fatal error: Uncaught Error: Call to undefined function wc_get_foo() in /var/www/html/wp-content/plugins/shop-extras/shop-extras.php:42 Stack trace:"),
            "{text}"
        );
        assert!(text.chars().count() <= 201, "{text}");
        assert!(
            !text.contains('<') && !text.contains("&gt;") && !text.contains('\n'),
            "{text}"
        );

        // Scripts, comments and a huge page: only the text, capped.
        let big = format!(
            "<html><head><title>Site down &amp; out</title><script>var x = '<b>no</b>';</script></head><body><!-- cache: miss --><p>{}</p></body></html>",
            "Please try again later. ".repeat(40)
        );
        let text = error_message(StatusCode::SERVICE_UNAVAILABLE, None, big.as_bytes());
        assert!(
            text.starts_with("Site down & out: Please try again later."),
            "{text}"
        );
        assert!(!text.contains("var x") && !text.contains("cache"), "{text}");
        assert!(text.chars().count() <= 201, "{text}");
    }

    #[test]
    fn entities_are_decoded_named_and_numeric() {
        assert_eq!(
            decode_entities("You cannot add &quot;Beanie&quot; &#8211; it&#039;s out of stock &#x2014; sorry &amp; &unknown; & x"),
            "You cannot add \"Beanie\" \u{2013} it's out of stock \u{2014} sorry & &unknown; & x"
        );
        assert_eq!(plain_text("a &lt;b&gt; c", 300), "a <b> c");
        assert_eq!(plain_text("x < y and y > z", 300), "x < y and y > z");
    }

    /// Only errors after which the store may have the order become "unknown outcome".
    #[test]
    fn the_final_step_knows_when_an_order_may_exist() {
        let email = "order-check+1@storefleet.example.com";
        let lost = OrderCheckError::Transport {
            step: "checkout",
            message: "connection closed before message completed".into(),
            maybe_delivered: true,
        };
        let e = placing(email)(lost);
        assert!(e.order_may_exist());
        assert_eq!(
            e.to_string(),
            "checkout failed: connection closed before message completed; it is UNKNOWN whether an order was placed (one may exist: look in the store's orders for one from order-check+1@storefleet.example.com)"
        );
        assert_eq!(e.step(), Some("checkout"));
        let refused = OrderCheckError::Transport {
            step: "checkout",
            message: "tcp connect error: Connection refused".into(),
            maybe_delivered: false,
        };
        assert!(!placing(email)(refused).order_may_exist());
        for status in [500, 502, 504] {
            let e = placing(email)(OrderCheckError::Status {
                step: "complete_cart",
                status,
                message: "x".into(),
                code: None,
            });
            assert!(e.order_may_exist(), "{status}");
            assert_eq!(e.http_status(), Some(status));
        }
        for status in [400, 401, 404, 409, 503] {
            let e = placing(email)(OrderCheckError::Status {
                step: "complete_cart",
                status,
                message: "x".into(),
                code: None,
            });
            assert!(!e.order_may_exist(), "{status}");
        }
    }
}
