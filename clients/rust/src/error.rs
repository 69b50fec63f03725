//! What a call can fail with: the API's own error (its HTTP status and stable code), or
//! the way to it.

use aos_core::ErrorCode;
use std::time::Duration;

/// A failed call.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// AOS answered with an error: `{"error": {"code", "message"}}` and a 4xx or 5xx.
    #[error("{status} {code}{}: {message}", node.as_ref().map(|n| format!(" (node {n})")).unwrap_or_default())]
    Api {
        /// The HTTP status.
        status: u16,
        /// The stable error code (`ErrorCode::Unknown` for a code this client does not
        /// know; the message then starts with it).
        code: ErrorCode,
        /// What went wrong and what to fix.
        message: String,
        /// The workflow node the error is about, when it is about one.
        node: Option<String>,
        /// How long to wait before asking again (`Retry-After` of a 429 or 503).
        retry_after: Option<Duration>,
    },
    /// AOS could not be reached, or the connection broke.
    #[error("cannot reach AOS at {url} (is `aos dev` running?): {source}")]
    Transport {
        /// The base URL.
        url: String,
        /// The cause.
        #[source]
        source: reqwest::Error,
    },
    /// AOS answered something this client cannot read (a proxy's page, a newer server).
    #[error("AOS answered {status} with a body this client cannot read: {detail}")]
    Decode {
        /// The HTTP status.
        status: u16,
        /// What did not fit.
        detail: String,
    },
    /// A value given to the client cannot be sent (a base URL or key with a bad byte).
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    /// The stable code of an API error (`None` for a transport or decoding failure).
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Error::Api { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// The HTTP status of an API error or an unreadable answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } | Error::Decode { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Builds the error of a non-success answer from its status, `Retry-After` and body.
    pub(crate) fn from_answer(status: u16, retry_after: Option<Duration>, body: &[u8]) -> Self {
        #[derive(serde::Deserialize)]
        struct Envelope {
            error: Detail,
        }
        #[derive(serde::Deserialize)]
        struct Detail {
            code: String,
            message: String,
            #[serde(default)]
            node: Option<String>,
        }
        match serde_json::from_slice::<Envelope>(body) {
            Ok(Envelope { error }) => {
                let (code, message) = match serde_json::from_value(serde_json::Value::String(error.code.clone())) {
                    Ok(code) => (code, error.message),
                    Err(_) => (ErrorCode::Unknown, format!("{}: {}", error.code, error.message)),
                };
                Error::Api { status, code, message, node: error.node, retry_after }
            }
            Err(e) => Error::Decode {
                status,
                detail: format!("{e}; the body starts {:?}", String::from_utf8_lossy(&body[..body.len().min(120)])),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_body_becomes_its_code_and_message() {
        let body = br#"{"error": {"code": "ERR_NOT_FOUND", "message": "no such run"}}"#;
        let e = Error::from_answer(404, None, body);
        assert_eq!(e.code(), Some(ErrorCode::NotFound));
        assert_eq!(e.status(), Some(404));
        assert_eq!(e.to_string(), "404 ERR_NOT_FOUND: no such run");
        let newer = Error::from_answer(409, None, br#"{"error": {"code": "ERR_FROM_THE_FUTURE", "message": "m"}}"#);
        assert_eq!(newer.code(), Some(ErrorCode::Unknown));
        assert!(newer.to_string().contains("ERR_FROM_THE_FUTURE: m"), "{newer}");
        let html = Error::from_answer(502, None, b"<html>bad gateway</html>");
        assert!(matches!(html, Error::Decode { status: 502, .. }), "{html}");
    }
}
