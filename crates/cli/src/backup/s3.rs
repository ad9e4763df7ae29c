//! Repositories on S3-compatible object storage: `s3://BUCKET/PREFIX`.
//!
//! Configuration, as the AWS tools read it (object_store's `AmazonS3Builder::from_env`), with
//! the flags taking precedence:
//!
//! ```text
//! --endpoint URL   AWS_ENDPOINT_URL (AWS_ENDPOINT_URL_S3 wins over it)   default: AWS itself
//! --region NAME    AWS_REGION, else AWS_DEFAULT_REGION                   default: us-east-1
//!                  AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN (or a web
//!                  identity / container / instance role, as the AWS SDKs find them)
//!                  AWS_ALLOW_HTTP=true   needed for a plain http:// endpoint (a test server)
//! ```
//!
//! Requests that fail for a passing reason (connection refused or reset, timeouts, 5xx, 429,
//! SlowDown) are retried by object_store with exponential backoff, bounded: `RETRIES` tries
//! within `RETRY_WINDOW`. Errors that retrying cannot fix (no such bucket, credentials
//! refused, an endpoint that never answers) are explained with the variable or flag to fix.

use std::error::Error as _;
use std::time::Duration;

use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey};
use object_store::client::{HttpError, HttpErrorKind};
use object_store::prefix::PrefixStore;
use object_store::{BackoffConfig, ClientConfigKey, RetryConfig};

use super::RepoArg;
use crate::Failure;

/// Retries of one request (after the first try), and the window they must fit in.
pub const RETRIES: usize = 6;
pub const RETRY_WINDOW: Duration = Duration::from_secs(60);

/// Where a repository is.
#[derive(Debug, PartialEq)]
pub enum Location {
    Local(std::path::PathBuf),
    S3 { bucket: String, prefix: String },
}

/// `s3://bucket/some/prefix` or a local path; other URL schemes are refused (rather than
/// taken for a directory named `gs:`).
pub fn parse_location(s: &str) -> Result<Location, Failure> {
    if let Some(rest) = s.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let valid = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
        if !valid {
            return Err(Failure(format!(
                "'{s}': '{bucket}' is not an S3 bucket name (3 to 63 of a-z 0-9 . -); the form is s3://BUCKET/PREFIX"
            )));
        }
        let prefix = prefix.trim_matches('/');
        if prefix
            .split('/')
            .any(|p| p.is_empty() || p == "." || p == "..")
            && !prefix.is_empty()
        {
            return Err(Failure(format!(
                "'{s}': the prefix '{prefix}' has an empty, . or .. part"
            )));
        }
        return Ok(Location::S3 {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
        });
    }
    if let Some((scheme, _)) = s.split_once("://") {
        return Err(Failure(format!(
            "'{s}': {scheme}:// repositories are not supported; give a local directory or s3://BUCKET/PREFIX"
        )));
    }
    if s.is_empty() {
        return Err(Failure("--repo is empty".into()));
    }
    Ok(Location::Local(s.into()))
}

/// The settings an S3 repository was opened with, for messages.
pub struct Target {
    pub url: String,
    pub bucket: String,
    /// The endpoint, and which setting gave it.
    pub endpoint: String,
    pub endpoint_from: &'static str,
    pub region: String,
}

fn retry_config() -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig {
            // Decorrelated jitter: each wait is random between 250 ms and 3x the previous one,
            // at most 10 s: about 7 s in all for 6 retries, 30 s at worst.
            init_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(10),
            base: 3.0,
        },
        max_retries: RETRIES,
        retry_timeout: RETRY_WINDOW,
    }
}

/// Builds the client (no request is made yet).
pub fn build(
    arg: &RepoArg,
    bucket: &str,
    prefix: &str,
) -> Result<(PrefixStore<AmazonS3>, Target), Failure> {
    let mut b = AmazonS3Builder::from_env().with_bucket_name(bucket);
    let mut endpoint_from = "AWS_ENDPOINT_URL";
    if std::env::var_os("AWS_ENDPOINT_URL_S3").is_some() {
        endpoint_from = "AWS_ENDPOINT_URL_S3";
    }
    if let Some(e) = &arg.endpoint {
        // The flag wins over both variables.
        b = b
            .with_endpoint(e)
            .with_config(AmazonS3ConfigKey::S3Endpoint, e);
        endpoint_from = "--endpoint";
    }
    if let Some(r) = &arg.region {
        b = b.with_region(r);
    }
    b = b
        .with_retry(retry_config())
        .with_config(AmazonS3ConfigKey::Client(ClientConfigKey::Timeout), "120s");
    let region = b
        .get_config_value(&AmazonS3ConfigKey::Region)
        .unwrap_or_else(|| "us-east-1".into());
    let endpoint = b
        .get_config_value(&AmazonS3ConfigKey::S3Endpoint)
        .or_else(|| b.get_config_value(&AmazonS3ConfigKey::Endpoint));
    let (endpoint, endpoint_from) = match endpoint {
        Some(e) => (e, endpoint_from),
        None => (format!("https://s3.{region}.amazonaws.com"), "the default"),
    };
    let allow_http = b
        .get_config_value(&AmazonS3ConfigKey::Client(ClientConfigKey::AllowHttp))
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if endpoint.starts_with("http://") && !allow_http {
        return Err(Failure(format!(
            "the endpoint {endpoint} (from {endpoint_from}) is plain HTTP: set AWS_ALLOW_HTTP=true to allow it (for a test server; use https:// otherwise)"
        )));
    }
    let url = if prefix.is_empty() {
        format!("s3://{bucket}")
    } else {
        format!("s3://{bucket}/{prefix}")
    };
    let s3 = b.build().map_err(|e| {
        Failure(format!(
            "can't set up {url}: {e} (see --endpoint, --region, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)"
        ))
    })?;
    let target = Target {
        url,
        bucket: bucket.to_string(),
        endpoint,
        endpoint_from,
        region,
    };
    Ok((PrefixStore::new(s3, prefix), target))
}

/// What an S3 error means for the user, and the setting that fixes it (None: no advice
/// beyond the error itself).
pub fn hint(t: &Target, e: &object_store::Error) -> Option<String> {
    let mut text = e.to_string();
    let mut src = e.source();
    let mut http_kind = None;
    while let Some(s) = src {
        if let Some(h) = s.downcast_ref::<HttpError>() {
            http_kind = Some(h.kind());
        }
        text.push_str(&format!(" | {s}"));
        src = s.source();
    }
    let code = s3_code(&text);
    // Without keys in the environment, credentials come from the instance or container
    // metadata service; failing to reach it means there were none to find.
    let metadata = [
        "169.254.169.254",
        "169.254.170.2",
        "Error fetching credentials",
    ];
    if metadata.iter().any(|m| text.contains(m)) {
        return Some(
            "no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary ones), or run where an instance or container role provides them (the metadata service did not answer)".into(),
        );
    }
    if code.as_deref() == Some("NoSuchBucket") {
        return Some(format!(
            "the bucket '{}' does not exist at {} (from {}): create it, or fix the bucket in --repo / the endpoint",
            t.bucket, t.endpoint, t.endpoint_from
        ));
    }
    let denied = matches!(
        e,
        object_store::Error::PermissionDenied { .. } | object_store::Error::Unauthenticated { .. }
    );
    let cred_codes = [
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "AccessDenied",
        "ExpiredToken",
        "InvalidToken",
    ];
    if denied || code.as_deref().is_some_and(|c| cred_codes.contains(&c)) {
        return Some(format!(
            "{} refused the credentials ({}): check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN (and that they may read and write {})",
            t.endpoint,
            code.as_deref().unwrap_or("access denied"),
            t.url
        ));
    }
    if matches!(
        code.as_deref(),
        Some("AuthorizationHeaderMalformed" | "PermanentRedirect")
    ) || text.contains("incorrectly configured region")
    {
        return Some(format!(
            "the bucket is not in region {}: set --region or AWS_REGION to the bucket's region",
            t.region
        ));
    }
    let busy = [
        "SlowDown",
        "InternalError",
        "ServiceUnavailable",
        "RequestTimeout",
    ];
    if code.as_deref().is_some_and(|c| busy.contains(&c)) || text.contains("non-2xx status code: 5")
    {
        return Some(format!(
            "{} kept failing ({}) through {RETRIES} retries: an outage or throttling on its side; try again later",
            t.endpoint,
            code.as_deref().unwrap_or("server error")
        ));
    }
    if matches!(
        http_kind,
        Some(HttpErrorKind::Connect | HttpErrorKind::Timeout | HttpErrorKind::Request)
    ) {
        return Some(format!(
            "can't reach the S3 endpoint {} (from {}) after {RETRIES} retries: is it up, and is the address right? (--endpoint or AWS_ENDPOINT_URL)",
            t.endpoint, t.endpoint_from
        ));
    }
    None
}

/// The `<Code>` of an S3 error body.
fn s3_code(text: &str) -> Option<String> {
    let start = text.find("<Code>")? + "<Code>".len();
    let len = text[start..].find("</Code>")?;
    Some(text[start..start + len].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations() {
        assert_eq!(
            parse_location("s3://my-bucket/a/b/").ok(),
            Some(Location::S3 {
                bucket: "my-bucket".into(),
                prefix: "a/b".into()
            })
        );
        assert_eq!(
            parse_location("s3://bkt").ok(),
            Some(Location::S3 {
                bucket: "bkt".into(),
                prefix: String::new()
            })
        );
        assert_eq!(
            parse_location("/var/backups/amber").ok(),
            Some(Location::Local("/var/backups/amber".into()))
        );
        assert!(parse_location("s3://").is_err());
        assert!(parse_location("s3://Upper/x").is_err());
        assert!(parse_location("s3://bkt/a//b").is_err());
        assert!(parse_location("s3://bkt/a/../b").is_err());
        assert!(parse_location("gs://bkt/x").is_err());
        assert!(parse_location("").is_err());
    }

    fn target() -> Target {
        Target {
            url: "s3://bkt/p".into(),
            bucket: "bkt".into(),
            endpoint: "http://127.0.0.1:9".into(),
            endpoint_from: "--endpoint",
            region: "us-east-1".into(),
        }
    }

    fn generic(body: &str) -> object_store::Error {
        object_store::Error::Generic {
            store: "S3",
            source: body.to_string().into(),
        }
    }

    #[test]
    fn hints() {
        let t = target();
        let h = |e| hint(&t, &e).unwrap_or_default();
        assert!(h(generic("404: <Error><Code>NoSuchBucket</Code></Error>"))
            .contains("the bucket 'bkt' does not exist at http://127.0.0.1:9 (from --endpoint)"));
        let denied = object_store::Error::PermissionDenied {
            path: "catalog".into(),
            source: "403: <Code>SignatureDoesNotMatch</Code>".into(),
        };
        assert!(h(denied).contains("refused the credentials (SignatureDoesNotMatch)"));
        assert!(h(generic("<Code>InvalidAccessKeyId</Code>")).contains("AWS_ACCESS_KEY_ID"));
        assert!(h(generic("<Code>AuthorizationHeaderMalformed</Code>")).contains("--region"));
        assert!(h(generic("after 6 retries - <Code>SlowDown</Code>"))
            .contains("kept failing (SlowDown)"));
        assert!(h(generic(
            "Error performing PUT http://169.254.169.254/latest/api/token - 403 Forbidden"
        ))
        .contains("no credentials: set AWS_ACCESS_KEY_ID"));
        assert_eq!(hint(&t, &generic("<Code>NoSuchKey</Code>")), None);
    }

    #[test]
    fn error_codes() {
        assert_eq!(
            s3_code("404: <Error><Code>NoSuchBucket</Code><Message>x</Message>").as_deref(),
            Some("NoSuchBucket")
        );
        assert_eq!(s3_code("connection refused"), None);
    }
}
