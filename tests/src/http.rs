//! The agency's side of HTTP: a real client against the daemon's real listener.

use crate::Daemon;
use serde_json::Value;
use std::time::Duration;

/// [`crate::TEST_CONFIG`] with HTTP on a free loopback port.
pub const HTTP_CONFIG: &str = concat!(
    crate::test_config!(),
    "
[http]
listen = \"127.0.0.1:0\"
"
);

/// [`HTTP_CONFIG`] with the metrics listener on a free loopback port too.
pub const METRICS_CONFIG: &str = concat!(
    crate::test_config!(),
    "
[http]
listen = \"127.0.0.1:0\"

[metrics]
listen = \"127.0.0.1:0\"
"
);

impl Daemon {
    /// The base URL the daemon printed when it started serving HTTP.
    pub async fn http_url(&self) -> String {
        self.said_url("cipd HTTP on ").await
    }

    /// Where the daemon said Prometheus scrapes it: `http://ADDR:PORT/metrics`.
    pub async fn metrics_url(&self) -> String {
        self.said_url("cipd metrics on ").await
    }

    /// The URL after `said` in the daemon's log, in plain lines or JSON ones.
    async fn said_url(&self, said: &str) -> String {
        for _ in 0..400 {
            if let Some(url) = self.log().lines().rev().find_map(|l| {
                l.split_once(said)
                    .and_then(|(_, rest)| rest.split(['"', ' ']).next())
                    .map(|url| url.trim().to_owned())
            }) {
                return url;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("cipd did not say {said:?}: {}", self.log());
    }
}

pub use cip_daemon::http::request_json as payment_body;

/// An agency's HTTP client signed with one application and user.
pub struct Agency {
    pub client: reqwest::Client,
    pub base: String,
    pub application: String,
    pub user: String,
    pub password: String,
}

impl Agency {
    /// `api1` of the demo data, for `application`.
    pub async fn new(daemon: &Daemon, application: &str) -> Agency {
        Agency {
            client: reqwest::Client::new(),
            base: daemon.http_url().await,
            application: application.to_owned(),
            user: "api1".to_owned(),
            password: "api1-demo-pass".to_owned(),
        }
    }

    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.client
            .post(format!("{}{path}", self.base))
            .basic_auth(&self.user, Some(&self.password))
            .header("X-CIP-Application", &self.application)
    }

    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.client
            .get(format!("{}{path}", self.base))
            .basic_auth(&self.user, Some(&self.password))
            .header("X-CIP-Application", &self.application)
    }

    /// `GET path`: the status code and the JSON answer.
    pub async fn read(&self, path: &str) -> (u16, Value) {
        answer(
            self.get(path)
                .send()
                .await
                .expect("the daemon answers HTTP"),
        )
        .await
    }

    /// `POST path` with a JSON body: the status code and the JSON answer.
    pub async fn send(&self, path: &str, body: &Value) -> (u16, Value) {
        answer(
            self.post(path)
                .json(body)
                .send()
                .await
                .expect("the daemon answers HTTP"),
        )
        .await
    }

    /// `POST /v1/payments` with `key`: the status code and the JSON answer.
    pub async fn pay(&self, key: &str, body: &Value) -> (u16, Value) {
        let response = self
            .post("/v1/payments")
            .header("Idempotency-Key", key)
            .json(body)
            .send()
            .await
            .expect("the daemon answers HTTP");
        answer(response).await
    }
}

/// Status code and JSON body of a response.
pub async fn answer(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.expect("a body");
    let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, json)
}
