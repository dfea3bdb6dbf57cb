//! Rate-limit answers (GitHub's `x-ratelimit-*` headers, a long `Retry-After`): an error that
//! says when to try again and to set a token, rather than retries that spend the limit further.

use std::time::Duration;

use super::Source;
use crate::error::{Code, OpError};
use crate::settings::ToolchainSettings;

/// A 403 or 429 that says a rate limit is spent (`x-ratelimit-remaining: 0`, or a
/// `Retry-After` on a 403 or longer than op waits): an error saying when to try again, since
/// retrying sooner only spends more of the limit. A shorter 429 is retried as usual.
pub(super) fn rate_limited(
    response: &reqwest::Response,
    settings: &ToolchainSettings,
    label: &str,
    source: &Source,
) -> Option<anyhow::Error> {
    let status = response.status();
    let forbidden = status == reqwest::StatusCode::FORBIDDEN;
    if !forbidden && status != reqwest::StatusCode::TOO_MANY_REQUESTS {
        return None;
    }
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::trim)
    };
    let now = crate::toolchain::timestamp::now();
    let retry_after = header("retry-after").and_then(|value| value.parse::<i64>().ok());
    let spent = header("x-ratelimit-remaining") == Some("0");
    let reset = header("x-ratelimit-reset")
        .and_then(|value| value.parse::<i64>().ok())
        .filter(|_| spent);
    let wait = match (retry_after, reset) {
        (Some(seconds), _) => seconds.max(0),
        (None, Some(at)) => (at - now).max(0),
        (None, None) if spent => 0,
        (None, None) => return None,
    };
    if !forbidden
        && !spent
        && u64::try_from(wait).unwrap_or(0) <= super::http::MAX_RETRY_AFTER.as_secs()
    {
        return None;
    }
    let when = crate::toolchain::timestamp::format_rfc3339(now + wait);
    let after = if wait > 0 {
        format!(
            "try again after {when} (in {})",
            crate::toolchain::timestamp::human(Duration::from_secs(wait.unsigned_abs()))
        )
    } else {
        "try again later".to_string()
    };
    let hint = if settings.github_token.is_some() {
        format!("{after}: the token's limit is spent too")
    } else {
        format!(
            "{after}, or set GITHUB_TOKEN (or OP_GITHUB_TOKEN): GitHub allows far more requests with a token (it is sent to GitHub hosts only, over HTTPS)"
        )
    };
    Some(
        OpError::new(
            Code::Download,
            format!(
                "{label}: {} answered HTTP {status}: rate limit exceeded",
                source.describe()
            ),
        )
        .with_hint(hint)
        .into(),
    )
}
