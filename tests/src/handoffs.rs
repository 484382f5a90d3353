//! Partial mode as an agency and its customer meet it: a hand-off's body, the customer's browser
//! driven by hand through the hosted page, and an agency's callback endpoint that hears the
//! notifications.

use crate::Daemon;
use crate::http::Agency;
use serde_json::{Value, json};

pub const RETURN_URL: &str = "https://agency.example/renewals/done";

pub fn handoff_body() -> Value {
    json!({
        "amount_minor": 4_200,
        "currency": "USD",
        "fields": {"plate_number": "ABC123", "renewal_notice_number": "1234567890"},
        "payer": {"name": "Ada Lovelace", "email": "ada@example.com"},
        "return_url": RETURN_URL,
    })
}

pub fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .map(|i| i + marker.len())
        .unwrap_or_else(|| panic!("{name} in {html}"));
    html[start..].split('"').next().expect("a value").to_owned()
}

/// A customer's browser driven by hand (no script to run on the pages anyway): the link, the
/// sign-in, and the payment form's post.
pub struct Customer {
    pub browser: reqwest::Client,
    pub base: String,
    pub cookie: String,
    pub form: String,
}

impl Customer {
    pub async fn sign_in(base: &str, pay_url: &str, user: &str, password: &str) -> Customer {
        let browser = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a client");
        let opened = browser.post(pay_url).send().await.expect("answers");
        let cookie = opened.headers()["set-cookie"]
            .to_str()
            .expect("ascii")
            .split(';')
            .next()
            .expect("a cookie")
            .to_owned();
        let mut customer = Customer {
            browser,
            base: base.to_owned(),
            cookie,
            form: String::new(),
        };
        let sign_in = customer.page().await;
        let signed = customer
            .browser
            .post(format!("{base}/pay/sign-in"))
            .header("cookie", &customer.cookie)
            .form(&[
                ("csrf", hidden(&sign_in, "csrf")),
                ("user", user.to_owned()),
                ("password", password.to_owned()),
            ])
            .send()
            .await
            .expect("answers");
        assert_eq!(signed.status(), 303);
        customer.form = customer.page().await;
        customer
    }

    pub async fn page(&self) -> String {
        self.browser
            .get(format!("{}/pay", self.base))
            .header("cookie", &self.cookie)
            .send()
            .await
            .expect("answers")
            .text()
            .await
            .expect("a page")
    }

    /// The form on screen, filled in with card `number`, ready to send.
    pub fn pay(&self, number: &str) -> reqwest::RequestBuilder {
        self.browser
            .post(format!("{}/pay", self.base))
            .header("cookie", &self.cookie)
            .form(&[
                ("csrf", hidden(&self.form, "csrf")),
                ("key", hidden(&self.form, "key")),
                ("method", "card".to_owned()),
                ("payer.name", "Ada Lovelace".to_owned()),
                ("payer.email", "ada@example.com".to_owned()),
                ("payer.postal_code", "94107".to_owned()),
                ("card.number", number.to_owned()),
                ("card.exp_month", "12".to_owned()),
                ("card.exp_year", crate::exp_year().to_string()),
                ("card.cvv", "123".to_owned()),
                ("card.name", "Ada Lovelace".to_owned()),
                ("card.postal_code", "94107".to_owned()),
            ])
    }
}

/// A callback endpoint that refuses the first two notifications and takes the next, keeping each
/// request's signature header and body.
pub async fn agency_callback() -> (u16, Received) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let port = listener.local_addr().expect("an address").port();
    let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let kept = std::sync::Arc::clone(&received);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut request = Vec::new();
            let mut buffer = [0u8; 4096];
            loop {
                let n = stream.read(&mut buffer).await.unwrap_or(0);
                request.extend_from_slice(&buffer[..n]);
                let text = String::from_utf8_lossy(&request).to_string();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let length = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if body.len() >= length || n == 0 {
                        let signature = head
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .starts_with("x-cip-signature:")
                                    .then(|| l[16..].trim().to_owned())
                            })
                            .unwrap_or_default();
                        let refused = {
                            let mut all = kept.lock().expect("not poisoned");
                            all.push((signature, body.to_owned()));
                            all.len() <= 2
                        };
                        let status = if refused {
                            "500 Internal Server Error"
                        } else {
                            "200 OK"
                        };
                        let _ = stream
                            .write_all(format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").as_bytes())
                            .await;
                        break;
                    }
                }
                if n == 0 {
                    break;
                }
            }
        }
    });
    (port, received)
}

pub type Received = std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>>;

/// Adds the application DMV-NOTIFY, whose callback URL is the [`agency_callback`] on `port`, with
/// its api, agent and supervisor users.
pub fn add_notifying_application(daemon: &Daemon, port: u16) {
    let spec = format!(
        "[[application]]\nid = \"DMV-NOTIFY\"\nname = \"Renewals with notifications\"\ncurrency = \"USD\"\n\
         min_amount_minor = 100\nmax_amount_minor = 200000\nmethods = [\"card\"]\n\
         return_urls = [\"https://agency.example/\"]\ncallback_url = \"http://127.0.0.1:{port}/cip\"\n"
    );
    daemon.add_application(&spec);
    for (user, role) in [
        ("notify-api", "api"),
        ("notify-agent", "agent"),
        ("notify-super", "supervisor"),
    ] {
        daemon.add_user(user, role, "DMV-NOTIFY");
    }
}

/// DMV-NOTIFY's agency, at the daemon's HTTP address (which a restart may change).
pub async fn notify_agency(daemon: &Daemon) -> Agency {
    let mut agency = Agency::new(daemon, "DMV-NOTIFY").await;
    agency.user = "notify-api".into();
    agency.password = "notify-api-pass-2026".into();
    agency
}

/// DMV-NOTIFY's supervisor, signed in over tarpc.
pub async fn notify_supervisor(
    daemon: &Daemon,
) -> (
    cip_common::service::CipClient,
    cip_common::secret::SessionToken,
) {
    let rpc = daemon.client().await;
    let token = rpc
        .login(
            crate::ctx(),
            "DMV-NOTIFY".into(),
            "notify-super".into(),
            cip_common::secret::Password::new("notify-super-pass-2026"),
        )
        .await
        .expect("rpc")
        .expect("signed in")
        .token;
    (rpc, token)
}

/// Registers a hand-off of DMV-NOTIFY, and its agent pays it on its page with `card`; its id.
pub async fn pay_notify_handoff(agency: &Agency, card: &str) -> String {
    let mut body = handoff_body();
    body["fields"] = json!({});
    let (status, created) = agency.send("/v1/handoffs", &body).await;
    assert_eq!(status, 201, "{created}");
    let customer = Customer::sign_in(
        &agency.base,
        created["pay_url"].as_str().expect("a link"),
        "notify-agent",
        "notify-agent-pass-2026",
    )
    .await;
    let paid = customer.pay(card).send().await.expect("answers");
    assert_eq!(paid.status(), 303, "{:?}", paid.text().await);
    created["id"].as_str().expect("an id").to_owned()
}

/// The key `application`'s notices are signed with, as `cipd app show` prints it.
pub fn callback_key(daemon: &Daemon, application: &str) -> Vec<u8> {
    let shown = daemon.cipd(&["app", "show", application], None);
    let shown = String::from_utf8_lossy(&shown.stdout).to_string();
    let hex = shown
        .lines()
        .find_map(|l| l.strip_prefix("# with the key (hex) "))
        .unwrap_or_else(|| panic!("app show prints the signing key: {shown}"))
        .trim()
        .to_owned();
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect()
}

/// Checks a notice's `X-CIP-Signature` (`t=<ms>,v1=<hex>`): HMAC-SHA256 with `key` over
/// `<ms>.<body>`, computed here on its own.
pub fn assert_signed(key: &[u8], signature: &str, body: &str) {
    use hmac::{Hmac, Mac};
    let (t, v1) = signature
        .strip_prefix("t=")
        .and_then(|rest| rest.split_once(",v1="))
        .unwrap_or_else(|| panic!("a signature header: {signature:?}"));
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).expect("a key");
    mac.update(format!("{t}.{body}").as_bytes());
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        v1, expected,
        "the notice verifies with the key app show printed"
    );
}

/// Waits up to 10 s for the callback to have received `count` notifications.
pub async fn arrived(received: &Received, count: usize) {
    for _ in 0..400 {
        if received.lock().expect("not poisoned").len() >= count {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
}

/// Pays a hand-off of DMV-NOTIFY on `daemon` and waits until its agency has been told: the
/// [`agency_callback`] refuses twice and takes the third notification, and the hand-off is marked
/// notified. The hand-off's id.
pub async fn paid_and_notified(daemon: &Daemon, received: &Received) -> String {
    let id = pay_notify_handoff(&notify_agency(daemon).await, "4242 4242 4242 4242").await;
    daemon.sent(&crate::card_request("4242424242424242", 4_200));
    arrived(received, 3).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while daemon.sql(&format!(
        "SELECT notified_ms FROM handoffs WHERE id = '{id}'"
    )) == [[""]]
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the hand-off was never notified"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    id
}
