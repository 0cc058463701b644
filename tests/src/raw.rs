//! HTTP as it goes over the wire, for the tests of the API itself: any
//! content type, and the answer's status, `Retry-After` and body as they
//! came (the body need not be JSON).

use crate::TestServer;
use serde_json::Value;
use std::time::Duration;
use vitrine_shared::api::ProductView;

pub const JSON: &str = "application/json";

pub struct Reply {
    pub status: u16,
    pub retry_after: Option<String>,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// The `ApiError`'s code.
    pub fn code(&self) -> String {
        self.json()["code"].as_str().unwrap_or_default().to_owned()
    }

    /// The `ApiError`'s code, once its message is checked to say something.
    pub fn explained_code(&self) -> String {
        assert!(!self.message().is_empty(), "no message: {}", self.body);
        self.code()
    }

    pub fn message(&self) -> String {
        self.json()["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub fn product(&self) -> ProductView {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not a product ({e}): {}", self.body))
    }
}

/// One request; `body` is its content type and text.
pub fn request(
    server: &TestServer,
    method: &str,
    path: &str,
    body: Option<(&str, &str)>,
    bearer: Option<&str>,
) -> Reply {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let url = format!("{}{path}", server.url());
    let mut builder = ureq::http::Request::builder().method(method).uri(&url);
    if let Some(token) = bearer {
        builder = builder.header("Authorization", format!("Bearer {token}"));
    }
    let (content_type, text) = body.unwrap_or(("", ""));
    if !content_type.is_empty() {
        builder = builder.header("Content-Type", content_type);
    }
    let request = builder.body(text.to_owned()).unwrap();
    let mut response = agent.run(request).expect("HTTP exchange");
    Reply {
        status: response.status().as_u16(),
        retry_after: response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap_or_default().to_owned()),
        body: response.body_mut().read_to_string().unwrap_or_default(),
    }
}
