//! An application's payment form: its own fields, the methods it takes, its amount limits and
//! currency. The daemon keeps it; consoles and the hosted page render it.

use crate::money::{Currency, Money};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MethodKind {
    Card,
    Ach,
}

impl MethodKind {
    pub fn code(self) -> &'static str {
        match self {
            MethodKind::Card => "card",
            MethodKind::Ach => "ach",
        }
    }
}

/// One application-defined field (a plate number, a tax year).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldSpec {
    pub name: String,
    pub label: String,
    #[serde(default = "yes")]
    pub required: bool,
    pub max_len: usize,
    /// A regular expression the whole value must match.
    #[serde(default)]
    pub pattern: Option<String>,
    /// What a valid value looks like, in words, for the error message ("1 to 8 letters or digits").
    pub hint: String,
    /// The value is a year from this one to the current year.
    #[serde(default)]
    pub year_from: Option<i32>,
    /// The value is upper-cased before it is checked and stored: `abc123` is kept as `ABC123`.
    #[serde(default)]
    pub upper_case: bool,
    /// A personal identifier (a taxpayer id): receipts show only its last four.
    #[serde(default)]
    pub masked: bool,
}

impl FieldSpec {
    /// The value as a receipt shows it: a masked identifier keeps only its last four.
    pub fn shown(&self, value: &str) -> String {
        if !self.masked {
            return value.to_owned();
        }
        let count = value.chars().count();
        let kept = count.saturating_sub(4);
        "*".repeat(kept) + &value.chars().skip(kept).collect::<String>()
    }

    /// The value as it is checked, stored and fingerprinted; borrowed when typing it needs no
    /// change (most payments), so the hot path allocates only for a value to mend.
    pub fn normalized<'a>(&self, value: &'a str) -> Cow<'a, str> {
        let value = value.trim();
        if self.upper_case && value.chars().any(char::is_lowercase) {
            Cow::Owned(value.to_uppercase())
        } else {
            Cow::Borrowed(value)
        }
    }
}

/// Whether a payment must carry a value, or takes it when given.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Need {
    Required,
    #[default]
    Optional,
}

fn yes() -> bool {
    true
}

/// What an application accepts: shown as the form, enforced by validation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplicationSpec {
    /// The application id agents and agencies type: `DMV-RENEWAL`.
    pub id: String,
    pub name: String,
    pub currency: Currency,
    pub min_amount_minor: i64,
    pub max_amount_minor: i64,
    pub methods: Vec<MethodKind>,
    #[serde(default)]
    pub fields: Vec<FieldSpec>,
    /// Whether the payer's email address must be given; when given it is always checked.
    #[serde(default)]
    pub payer_email: Need,
    /// Where CIP's payment pages may send a customer back to (partial mode): a hand-off's
    /// `return_url` must start with one of these.
    #[serde(default)]
    pub return_urls: Vec<String>,
    /// Where CIP posts a signed notification when a hand-off is paid (partial mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
    /// The agency's IANA time zone: its reports' days and daily run are in local time.
    #[serde(default = "utc")]
    pub time_zone: String,
    /// When the day's batch report goes to the agency's outbox (`HH:MM`, local time); without
    /// it, batches run only on demand (`cipd report run`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_daily_at: Option<String>,
}

fn utc() -> String {
    "UTC".to_owned()
}

/// An https:// address with a plain host (plain http:// only for this machine's loopback).
fn secure_address(url: &str) -> bool {
    let (https, rest) = match (url.strip_prefix("https://"), url.strip_prefix("http://")) {
        (Some(rest), _) => (true, rest),
        (None, Some(rest)) => (false, rest),
        (None, None) => return false,
    };
    let host = &rest[..rest.find(['/', ':', '?', '#']).unwrap_or(rest.len())];
    let plain = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    plain && (https || host == "localhost" || host == "127.0.0.1")
}

impl ApplicationSpec {
    pub fn min_amount(&self) -> Money {
        Money::new(self.min_amount_minor, self.currency)
    }

    pub fn max_amount(&self) -> Money {
        Money::new(self.max_amount_minor, self.currency)
    }

    /// The application's time zone (UTC if its name is unknown, which `problems` refuses).
    pub fn zone(&self) -> jiff::tz::TimeZone {
        crate::calendar::zone(&self.time_zone).unwrap_or(jiff::tz::TimeZone::UTC)
    }

    /// Problems with the spec itself (an administrator's mistake), each in words.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Err(e) = crate::calendar::zone(&self.time_zone) {
            problems.push(format!("time_zone: {e}"));
        }
        if let Some(Err(e)) = self
            .report_daily_at
            .as_deref()
            .map(crate::calendar::parse_daily_at)
        {
            problems.push(format!("report_daily_at: {e}"));
        }
        for url in &self.return_urls {
            if !secure_address(url) || !url.ends_with('/') {
                problems.push(format!(
                    "return URL {url:?} must be an https:// address ending in /, like https://agency.example/"
                ));
            }
        }
        if let Some(url) = self
            .callback_url
            .as_ref()
            .filter(|url| !secure_address(url))
        {
            problems.push(format!(
                "callback URL {url:?} must be an https:// address, like https://agency.example/cip"
            ));
        }
        if self.id.is_empty()
            || self.id.len() > 32
            || !self
                .id
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-')
        {
            problems.push(format!(
                "application id {:?} must be 1 to 32 capital letters, digits or hyphens",
                self.id
            ));
        }
        if self.min_amount_minor <= 0 || self.min_amount_minor > self.max_amount_minor {
            problems.push("amount limits must satisfy 0 < minimum <= maximum".to_owned());
        }
        if self.methods.is_empty() {
            problems.push("at least one payment method (card or ach) is needed".to_owned());
        }
        for field in &self.fields {
            if let Some(pattern) = &field.pattern
                && let Err(e) = regex::Regex::new(pattern)
            {
                problems.push(format!(
                    "field {}: pattern does not compile: {e}",
                    field.name
                ));
            }
            if field.max_len == 0 {
                problems.push(format!("field {}: max_len must be at least 1", field.name));
            }
        }
        problems
    }
}

/// An applications file: what `cipd app add` reads and `cipd app show` writes, and the demo's.
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ApplicationsFile {
    pub application: Vec<ApplicationSpec>,
}

/// The demo's applications, as `assets/demo/applications.toml` writes them.
const DEMO_APPLICATIONS: &str = include_str!("../../assets/demo/applications.toml");

/// The demo's applications: those `cipd init --demo` and `cip --demo` load, and the ones tests
/// and benchmarks fill in.
pub fn demo_applications() -> Result<Vec<ApplicationSpec>, toml::de::Error> {
    toml::from_str::<ApplicationsFile>(DEMO_APPLICATIONS).map(|file| file.application)
}

#[cfg(test)]
mod tests {
    use super::secure_address;

    #[test]
    fn only_a_plain_https_host_or_this_machine_is_an_address_to_send_people_to() {
        for good in [
            "https://agency.example/",
            "https://pay.agency.example:8443/done/",
            "http://localhost:9000/cip",
            "http://127.0.0.1/cip",
        ] {
            assert!(secure_address(good), "{good}");
        }
        for bad in [
            "http://agency.example/",
            "https://agency.example@evil.example/",
            "https://agency.example\\evil.example/",
            "http://localhost.evil.example/",
            "https:///path",
            "ftp://agency.example/",
        ] {
            assert!(!secure_address(bad), "{bad}");
        }
    }
}
