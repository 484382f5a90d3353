//! The payments list: filters in a bookmarkable GET URL, results sorted, counted and paged, and
//! the same filter as a CSV download, byte for byte what `cipd report export` writes for it.

use super::{Staff, page, refused, staff};
use crate::http::HttpState;
use crate::http::html::{Input, error_summary, escape};
use crate::http::reports::streamed_csv;
use crate::lookup::{LIST_CAP, Listed};
use crate::report::Runner;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use cip_common::calendar;
use cip_common::fields::FieldErrors;
use cip_common::form::ApplicationSpec;
use cip_common::money::{Money, in_thousands};
use cip_common::payment::{Mode, Payment, SearchSort};
use cip_common::report::ReportFilter;
use cip_common::status::PaymentStatus;
use std::collections::HashMap;
use std::fmt::Write;
use std::net::SocketAddr;
use std::sync::Arc;

/// Payments on a page.
const PAGE_SIZE: u32 = 50;

/// The filters' names in the URL, in the order the form shows them, with what each is called on
/// the page (for "loosen a filter").
const FILTERS: [(&str, &str); 14] = [
    ("from", "From date"),
    ("from_time", "From time"),
    ("to", "To date"),
    ("to_time", "To time"),
    ("status", "Status"),
    ("mode", "Mode"),
    ("code", "Confirmation code"),
    ("payment", "Payment id"),
    ("last_four", "Card or account last four"),
    ("payer", "Payer name or email"),
    ("min_amount", "Smallest amount"),
    ("max_amount", "Largest amount"),
    ("batch", "Batch"),
    ("sort", "Sort"),
];

/// The status groups a person searches by: a payment's status, or "refunded" (some of it given
/// back), with their labels.
const STATUS_GROUPS: [(&str, &str); 7] = [
    ("processing", "In progress"),
    ("approved", "Approved"),
    ("declined", "Declined"),
    ("failed", "Failed"),
    ("in_doubt", "In doubt"),
    ("voided", "Voided"),
    ("refunded", "Refunded"),
];

/// The filters as asked (blank ones left out), and what they make.
struct Asked {
    values: HashMap<String, String>,
    filter: ReportFilter,
    sort: SearchSort,
    /// From 0.
    page: u32,
    errors: FieldErrors,
}

impl Asked {
    fn value(&self, name: &str) -> &str {
        self.values.get(name).map_or("", String::as_str)
    }

    /// This list's URL with `changes` made (an empty value drops the filter).
    fn url(&self, path: &str, changes: &[(&str, &str)]) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (name, _) in FILTERS {
            let value = changes
                .iter()
                .find(|(n, _)| *n == name)
                .map_or(self.value(name), |(_, v)| v);
            if !value.is_empty() {
                query.append_pair(name, value);
            }
        }
        if let Some((_, page)) = changes.iter().find(|(n, v)| *n == "page" && !v.is_empty()) {
            query.append_pair("page", page);
        }
        let query = query.finish();
        if query.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{query}")
        }
    }
}

/// Reads the filters of `query` for `spec`'s application; each one that cannot be read gets an
/// error naming what to write.
fn asked(spec: &ApplicationSpec, query: HashMap<String, String>) -> Asked {
    let values: HashMap<String, String> = query
        .into_iter()
        .map(|(k, v)| (k, v.trim().to_owned()))
        .filter(|(_, v)| !v.is_empty())
        .collect();
    let mut errors = FieldErrors::default();
    let get = |name: &str| values.get(name).map(String::as_str);
    let mut read = |name: &str, parse: &dyn Fn(&str) -> Result<(), String>| {
        if let Some(text) = get(name)
            && let Err(e) = parse(text)
        {
            errors.add(name, e);
        }
    };
    let mut filter = ReportFilter {
        application: spec.id.clone(),
        ..ReportFilter::default()
    };
    let day = |text: &str| calendar::parse_day(text);
    let time = |text: &str| calendar::parse_daily_at(text);
    read("from", &|t| day(t).map(drop));
    read("from_time", &|t| time(t).map(drop));
    read("to", &|t| day(t).map(drop));
    read("to_time", &|t| time(t).map(drop));
    let groups = |t: &str| {
        STATUS_GROUPS
            .iter()
            .any(|(code, _)| *code == t)
            .then_some(())
            .ok_or_else(|| "Choose a status from the list".to_owned())
    };
    read("status", &groups);
    read("mode", &|t| {
        Mode::from_code(t)
            .map(drop)
            .ok_or_else(|| "Choose gateway, partial or full".to_owned())
    });
    read("last_four", &|t| {
        (t.len() == 4 && t.bytes().all(|b| b.is_ascii_digit()))
            .then_some(())
            .ok_or_else(|| {
                "Enter the last four digits of the card or account, like 4242".to_owned()
            })
    });
    let amount = |t: &str| {
        Money::parse(t, spec.currency)
            .map(|m| m.minor)
            .map_err(|e| format!("Enter an amount like 25.00: {e}"))
    };
    read("min_amount", &|t| amount(t).map(drop));
    read("max_amount", &|t| amount(t).map(drop));
    read("sort", &|t| {
        SearchSort::from_code(t)
            .map(drop)
            .ok_or_else(|| "Choose an order from the list".to_owned())
    });
    read("page", &|t| {
        t.parse::<u32>()
            .ok()
            .filter(|p| *p >= 1)
            .map(drop)
            .ok_or_else(|| "A page is a number from 1".to_owned())
    });
    filter.from = get("from").and_then(|t| day(t).ok());
    filter.from_at = get("from_time").and_then(|t| time(t).ok());
    filter.to = get("to").and_then(|t| day(t).ok());
    filter.to_at = get("to_time").and_then(|t| time(t).ok());
    if filter.from.is_none() && filter.from_at.is_some() {
        errors.add("from", "Enter the date the time is on");
    }
    if filter.to.is_none() && filter.to_at.is_some() {
        errors.add("to", "Enter the date the time is on");
    }
    match get("status") {
        Some("refunded") => filter.refunded = true,
        Some(code) => filter.status = PaymentStatus::from_code(code),
        None => {}
    }
    filter.mode = get("mode").and_then(Mode::from_code);
    filter.confirmation_code = get("code").map(str::to_owned);
    filter.payment_id = get("payment").map(str::to_owned);
    filter.last_four = get("last_four").map(str::to_owned);
    filter.payer = get("payer").map(str::to_owned);
    filter.min_amount_minor = get("min_amount").and_then(|t| amount(t).ok());
    filter.max_amount_minor = get("max_amount").and_then(|t| amount(t).ok());
    filter.batch = get("batch").map(str::to_owned);
    if let (Some(min), Some(max)) = (filter.min_amount_minor, filter.max_amount_minor)
        && min > max
    {
        errors.add(
            "max_amount",
            "The largest amount is below the smallest: swap them",
        );
    }
    if let (Some(from), Some(to)) = (filter.from, filter.to)
        && (to, filter.to_at) < (from, filter.from_at)
    {
        errors.add("to", "The end comes before the start: swap them");
    }
    Asked {
        sort: get("sort")
            .and_then(SearchSort::from_code)
            .unwrap_or_default(),
        page: get("page")
            .and_then(|t| t.parse::<u32>().ok())
            .map_or(0, |p| p.saturating_sub(1)),
        values,
        filter,
        errors,
    }
}

/// The signed-in staff member, their application's form, and the filters `query` asks for; or
/// the page to answer with instead: the sign-in, or the filters with what to fix in them.
async fn filtered(
    state: &HttpState,
    headers: &HeaderMap,
    query: HashMap<String, String>,
) -> Result<(Staff, ApplicationSpec, Asked), Response> {
    let staff = staff(state, headers)
        .await
        .map_err(IntoResponse::into_response)?;
    let spec = match state.shared.engine.form(&staff.caller.application).await {
        Ok(form) => form.spec.clone(),
        Err(e) => return Err(refused(&e).into_response()),
    };
    let asked = asked(&spec, query);
    if !asked.errors.is_empty() {
        let mut body = String::new();
        error_summary(&asked.errors, &mut body);
        filters_form(&asked, &spec, &mut body);
        return Err(page(
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(&staff),
            "Payments",
            &body,
        ));
    }
    Ok((staff, spec, asked))
}

pub async fn show(
    State(state): State<Arc<HttpState>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let (staff, spec, asked) = match filtered(&state, &headers, query).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let mut body = String::new();
    filters_form(&asked, &spec, &mut body);
    let listed = state
        .shared
        .lookup
        .list(
            &staff.caller,
            &spec,
            &asked.filter,
            asked.sort,
            asked.page,
            PAGE_SIZE,
        )
        .await;
    match listed {
        Ok(listed) => results(&asked, &spec, &listed, &mut body),
        Err(e) => return refused(&e).into_response(),
    }
    page(StatusCode::OK, Some(&staff), "Payments", &body)
}

/// The filters, as a GET form whose URL can be bookmarked.
fn filters_form(asked: &Asked, spec: &ApplicationSpec, body: &mut String) {
    let _ = write!(
        body,
        "<form method=\"get\" action=\"/staff/payments\" class=\"filters\" novalidate>\
         <p class=\"hint\">Times are in {} ({}'s time zone).</p>",
        escape(&spec.time_zone),
        escape(&spec.id)
    );
    let errors = &asked.errors;
    let input = |label, name, attributes, hint, body: &mut String| {
        Input {
            label,
            name,
            value: asked.value(name),
            attributes,
            hint,
        }
        .render(errors, body);
    };
    body.push_str("<fieldset><legend>When</legend><div class=\"row\">");
    // Typed as written, not picked: a date picker reads and writes the browser's locale.
    let (day, at) = (
        "inputmode=\"numeric\" autocomplete=\"off\"",
        "inputmode=\"numeric\" autocomplete=\"off\" maxlength=\"5\"",
    );
    input("From date", "from", day, "YYYY-MM-DD", body);
    input("From time", "from_time", at, "HH:MM", body);
    input("To date", "to", day, "YYYY-MM-DD, included", body);
    input("To time", "to_time", at, "HH:MM, included", body);
    body.push_str("</div></fieldset><fieldset><legend>Which payments</legend><div class=\"row\">");
    select(
        "Status",
        "status",
        &STATUS_GROUPS,
        "Any status",
        asked,
        body,
    );
    let modes = [
        ("gateway", "Gateway (agency website)"),
        ("partial", "Partial (CIP's payment page)"),
        ("full", "Full (service desk)"),
    ];
    select("Mode", "mode", &modes, "Any mode", asked, body);
    input(
        "Confirmation code",
        "code",
        "spellcheck=\"false\" autocomplete=\"off\"",
        "Any case, spaces or hyphens",
        body,
    );
    input(
        "Payment id",
        "payment",
        "spellcheck=\"false\" autocomplete=\"off\"",
        "pay_…",
        body,
    );
    input(
        "Card or account last four",
        "last_four",
        "inputmode=\"numeric\" maxlength=\"4\" autocomplete=\"off\"",
        "",
        body,
    );
    input(
        "Payer name or email",
        "payer",
        "autocomplete=\"off\"",
        "Part of it, any case",
        body,
    );
    let currency = spec.currency.code();
    let (min_label, max_label) = (
        format!("Smallest amount ({currency})"),
        format!("Largest amount ({currency})"),
    );
    input(&min_label, "min_amount", "inputmode=\"decimal\"", "", body);
    input(&max_label, "max_amount", "inputmode=\"decimal\"", "", body);
    input(
        "Batch",
        "batch",
        "spellcheck=\"false\" autocomplete=\"off\"",
        "bat_…: what that report took to the agency",
        body,
    );
    let sorts: Vec<(&str, &str)> = SearchSort::ALL
        .iter()
        .map(|s| (s.code(), s.label()))
        .collect();
    body.push_str("</div></fieldset><div class=\"row actions\">");
    select("Sort", "sort", &sorts, "", asked, body);
    body.push_str(
        "<button type=\"submit\">Search</button>\
         <a href=\"/staff/payments\">Clear the filters</a></div></form>",
    );
}

/// A labelled choice of `options` (code, label); `any` (when not empty) is the blank choice.
fn select(
    label: &str,
    name: &str,
    options: &[(&str, &str)],
    any: &str,
    asked: &Asked,
    body: &mut String,
) {
    let chosen = asked.value(name);
    let error = asked.errors.get(name);
    let _ = write!(
        body,
        "<div class=\"field{}\"><label for=\"{name}\">{}</label>",
        if error.is_some() { " invalid" } else { "" },
        escape(label)
    );
    if let Some(error) = error {
        let _ = write!(
            body,
            "<p class=\"error\" id=\"{name}-error\">{}</p><select id=\"{name}\" name=\"{name}\" aria-describedby=\"{name}-error\">",
            escape(error)
        );
    } else {
        let _ = write!(body, "<select id=\"{name}\" name=\"{name}\">");
    }
    if !any.is_empty() {
        let _ = write!(body, "<option value=\"\">{}</option>", escape(any));
    }
    for (code, text) in options {
        let _ = write!(
            body,
            "<option value=\"{code}\"{}>{}</option>",
            if *code == chosen { " selected" } else { "" },
            escape(text)
        );
    }
    body.push_str("</select></div>");
}

/// The count, the table of this page, the pager and the download; or what to loosen.
fn results(asked: &Asked, spec: &ApplicationSpec, listed: &Listed, body: &mut String) {
    body.push_str("<section aria-labelledby=\"results\">");
    let zone = spec.zone();
    if listed.payments.is_empty() && asked.page > 0 {
        let _ = write!(
            body,
            "<h2 id=\"results\">No payments on page {}</h2><p>The list is shorter than that now: \
             <a href=\"{}\">go to its first page</a>.</p></section>",
            asked.page + 1,
            escape(&asked.url("/staff/payments", &[]))
        );
        return;
    }
    if listed.payments.is_empty() {
        body.push_str("<h2 id=\"results\">No payments match</h2>");
        let active: Vec<_> = FILTERS
            .iter()
            .filter(|(name, _)| *name != "sort" && !asked.value(name).is_empty())
            .collect();
        if active.is_empty() {
            let _ = write!(body, "<p>{} has no payments yet.</p>", escape(&spec.name));
        } else {
            body.push_str("<p>Loosen a filter to find more:</p><ul>");
            for (name, label) in active {
                let _ = write!(
                    body,
                    "<li><a href=\"{}\">Remove {} ({})</a></li>",
                    escape(&asked.url("/staff/payments", &[(name, "")])),
                    escape(label),
                    escape(asked.value(name))
                );
            }
            body.push_str("</ul>");
        }
        body.push_str("</section>");
        return;
    }
    let counted = if listed.matching > LIST_CAP {
        format!(
            "More than {} payments match: narrow the search.",
            in_thousands(LIST_CAP)
        )
    } else if listed.matching == 1 {
        "1 payment matches.".to_owned()
    } else {
        format!("{} payments match.", in_thousands(listed.matching))
    };
    let first = u64::from(asked.page) * u64::from(PAGE_SIZE);
    let _ = write!(
        body,
        "<h2 id=\"results\">Results</h2><p class=\"count\" role=\"status\">{counted} \
         Showing {} to {}, {}.</p>\
         <p><a class=\"button secondary\" href=\"{}\" download>Download these payments as CSV</a></p>",
        first + 1,
        first + listed.payments.len() as u64,
        asked.sort.label(),
        escape(&asked.url("/staff/payments.csv", &[("sort", ""), ("page", "")])),
    );
    body.push_str(
        "<div class=\"table\" role=\"region\" aria-labelledby=\"results\" tabindex=\"0\"><table>\
         <thead><tr><th scope=\"col\">Payment</th><th scope=\"col\">Created</th>\
         <th scope=\"col\">Confirmation code</th><th scope=\"col\">Payer</th>\
         <th scope=\"col\" class=\"number\">Amount</th><th scope=\"col\">Status</th>\
         <th scope=\"col\">Paid with</th><th scope=\"col\">Mode</th></tr></thead><tbody>",
    );
    for payment in &listed.payments {
        row(payment, &zone, body);
    }
    body.push_str("</tbody></table></div>");
    pager(asked, listed, body);
    body.push_str("</section>");
}

fn row(p: &Payment, zone: &jiff::tz::TimeZone, body: &mut String) {
    let status = match p.refund_state().code() {
        "none" => p.status.to_string(),
        state => format!("{}, {state} refund", p.status),
    };
    let _ = write!(
        body,
        "<tr><th scope=\"row\"><a href=\"/staff/payments/{id}\">{id}</a></th><td>{}</td>\
         <td>{}</td><td>{}</td><td class=\"number\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        escape(&calendar::local_minute(zone, p.created_ms)),
        escape(p.confirmation_code.as_deref().unwrap_or("—")),
        escape(&p.payer.name),
        escape(&p.amount.to_string()),
        escape(&status),
        escape(&p.method.to_string()),
        p.mode.code(),
        id = escape(&p.id),
    );
}

fn pager(asked: &Asked, listed: &Listed, body: &mut String) {
    let pages = listed.matching.min(LIST_CAP).div_ceil(u64::from(PAGE_SIZE));
    let page = asked.page + 1;
    body.push_str("<nav class=\"pager\" aria-label=\"Pages of results\">");
    if page > 1 {
        let _ = write!(
            body,
            "<a href=\"{}\" rel=\"prev\">Previous page</a>",
            escape(&asked.url("/staff/payments", &[("page", &(page - 1).to_string())]))
        );
    }
    let _ = write!(
        body,
        "<span>Page {page}{}</span>",
        if listed.matching > LIST_CAP {
            String::new()
        } else {
            format!(" of {}", pages.max(1))
        }
    );
    if listed.more {
        let _ = write!(
            body,
            "<a href=\"{}\" rel=\"next\">Next page</a>",
            escape(&asked.url("/staff/payments", &[("page", &(page + 1).to_string())]))
        );
    }
    body.push_str("</nav>");
}

/// The filtered list as CSV: what `cipd report export` writes for the same filter, streamed and
/// audited as the staff member's.
pub async fn csv(
    State(state): State<Arc<HttpState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let (staff, spec, asked) = match filtered(&state, &headers, query).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    if let Err(e) = staff
        .caller
        .require(&crate::lookup::READERS, "export payments")
    {
        return refused(&e).into_response();
    }
    let runner = Runner {
        actor: staff.caller.user.clone(),
        origin: format!("web {peer}"),
    };
    let file_name = format!("payments-{}.csv", spec.id);
    streamed_csv(
        state.shared.reports.clone(),
        spec,
        asked.filter,
        runner,
        &file_name,
    )
}
