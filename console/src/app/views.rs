//! The supervisor's views: the live feed with its filter and detail pane, the payments table,
//! the queue, and the actions (void, resolve, unlock), each behind a confirmation prompt.

use super::{App, Command, Msg};
use crate::feed::Filter;
use cip_common::error::ApiError;
use cip_common::event::{Event, EventDetail, EventKind};
use cip_common::payment::{Payment, SearchPage, SearchQuery, SearchSort};
use cip_common::session::Role;
use cip_common::stats::Stats;
use cip_common::status::PaymentStatus;
use ratatui::crossterm::event::{Event as TermEvent, KeyCode, KeyEvent, KeyModifiers};
use std::time::Duration;
use tui_input::Input;
use tui_input::backend::crossterm::to_input_request;

/// Older events asked for at a time.
const OLDER_BATCH: u32 = 500;
/// Rows of a payments page.
pub const PAGE_SIZE: u32 = 50;
/// How often the queue asks for fresh figures.
const STATS_EVERY: Duration = Duration::from_secs(2);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    NewPayment,
    Feed,
    Payments,
    Queue,
    Reports,
}

impl View {
    pub const ALL: [View; 5] = [
        View::NewPayment,
        View::Feed,
        View::Payments,
        View::Queue,
        View::Reports,
    ];

    /// F2 to F6, or Alt+2 to Alt+6 where a terminal eats F-keys.
    pub fn for_key(key: &KeyEvent) -> Option<View> {
        let n = match key.code {
            KeyCode::F(n @ 2..=6) => n,
            KeyCode::Char(c @ '2'..='6') if key.modifiers.contains(KeyModifiers::ALT) => {
                c as u8 - b'0'
            }
            _ => return None,
        };
        View::ALL.get(usize::from(n) - 2).copied()
    }

    pub fn key_name(self) -> &'static str {
        match self {
            View::NewPayment => "F2",
            View::Feed => "F3",
            View::Payments => "F4",
            View::Queue => "F5",
            View::Reports => "F6",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            View::NewPayment => "New payment",
            View::Feed => "Feed",
            View::Payments => "Payments",
            View::Queue => "Queue",
            View::Reports => "Reports",
        }
    }
}

/// The selected payment, every stored field and the timeline of its events.
#[derive(Clone, Debug)]
pub struct Detail {
    pub payment: Payment,
    pub timeline: Vec<Event>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PromptFor {
    FeedFilter,
    PaymentSearch,
}

/// A one-line input at the foot of a view.
#[derive(Debug)]
pub struct Prompt {
    pub purpose: PromptFor,
    pub input: Input,
    pub error: Option<String>,
}

/// A question before an action: `y` does it, anything else does not.
#[derive(Debug)]
pub struct Confirm {
    pub question: String,
    pub action: Command,
}

#[derive(Debug, Default)]
pub struct PaymentsTable {
    pub query: SearchQuery,
    /// What was typed for the query, shown in the title.
    pub query_text: String,
    pub page: Option<SearchPage>,
    pub selected: usize,
    pub loading: bool,
}

impl App {
    pub(super) fn token(&self) -> Option<cip_common::secret::SessionToken> {
        self.session.as_ref().map(|s| s.token.clone())
    }

    fn is_supervisor(&self) -> bool {
        self.session
            .as_ref()
            .is_some_and(|s| s.role == Role::Supervisor)
    }

    pub(super) fn switch_view(&mut self, view: View) -> Vec<Command> {
        self.detail = None;
        self.prompt = None;
        self.confirm = None;
        if matches!(view, View::Queue | View::Reports) && !self.is_supervisor() {
            self.notice = Some(match view {
                View::Queue => "The queue is for supervisors".into(),
                _ => "Reports are for supervisors".into(),
            });
            return Vec::new();
        }
        self.view = view;
        match view {
            View::Queue => {
                self.stats_asked = Some(self.now);
                self.token()
                    .map(|token| Command::LoadStats { token })
                    .into_iter()
                    .collect()
            }
            View::Payments if self.payments.page.is_none() => self.search(),
            _ => Vec::new(),
        }
    }

    pub(super) fn stats_due(&mut self) -> Vec<Command> {
        if self.view != View::Queue || !self.is_supervisor() {
            return Vec::new();
        }
        if self
            .stats_asked
            .is_some_and(|at| self.now.saturating_duration_since(at) < STATS_EVERY)
        {
            return Vec::new();
        }
        self.stats_asked = Some(self.now);
        self.token()
            .map(|token| Command::LoadStats { token })
            .into_iter()
            .collect()
    }

    pub(super) fn feed_arrived(&mut self, mut events: Vec<Event>) {
        if self.session.is_none() {
            return;
        }
        // A follower of an earlier sign-in may still deliver what the new one fetches again.
        let seen = self.feed_seq;
        events.retain(|e| e.seq > seen);
        if let Some(last) = events.last() {
            self.feed_seq = last.seq;
        }
        self.feed.push(events);
    }

    pub(super) fn feed_stopped(&mut self, error: ApiError) -> Vec<Command> {
        if error == ApiError::SessionExpired {
            self.session_ended();
        } else {
            self.notice = Some(format!("The feed stopped: {error}"));
        }
        Vec::new()
    }

    pub(super) fn detail_loaded(&mut self, result: Result<Box<Detail>, ApiError>) -> Vec<Command> {
        match result {
            Ok(detail) => {
                self.detail = Some(*detail);
                self.scroll.reset();
            }
            Err(ApiError::SessionExpired) => self.session_ended(),
            Err(e) => self.notice = Some(e.to_string()),
        }
        Vec::new()
    }

    pub(super) fn stats_loaded(&mut self, result: Result<Stats, ApiError>) -> Vec<Command> {
        match result {
            Ok(stats) => self.stats = Some(stats),
            Err(ApiError::SessionExpired) => self.session_ended(),
            Err(e) => self.notice = Some(e.to_string()),
        }
        Vec::new()
    }

    pub(super) fn searched(&mut self, result: Result<SearchPage, ApiError>) -> Vec<Command> {
        self.payments.loading = false;
        match result {
            Ok(page) => {
                self.payments.selected = 0;
                self.payments.page = Some(page);
            }
            Err(ApiError::SessionExpired) => self.session_ended(),
            Err(e) => self.notice = Some(e.to_string()),
        }
        Vec::new()
    }

    pub(super) fn action_done(&mut self, result: Result<String, ApiError>) -> Vec<Command> {
        match result {
            Ok(done) => {
                self.notice = Some(done);
                // Show the payment as it is now.
                if let (Some(detail), Some(token)) = (&self.detail, self.token()) {
                    return vec![Command::LoadDetail {
                        token,
                        payment_id: detail.payment.id.clone(),
                    }];
                }
            }
            Err(ApiError::SessionExpired) => self.session_ended(),
            Err(e) => self.notice = Some(format!("Refused: {e}")),
        }
        Vec::new()
    }

    fn search(&mut self) -> Vec<Command> {
        let Some(token) = self.token() else {
            return Vec::new();
        };
        self.payments.loading = true;
        self.payments.query.page_size = PAGE_SIZE;
        vec![Command::Search {
            token,
            query: self.payments.query.clone(),
        }]
    }

    pub(super) fn view_key(&mut self, key: KeyEvent) -> Vec<Command> {
        if let Some(confirm) = self.confirm.take() {
            return match key.code {
                KeyCode::Char('y') | KeyCode::Char('Y') => vec![confirm.action],
                _ => {
                    self.notice = Some("Nothing was done".into());
                    Vec::new()
                }
            };
        }
        if self.prompt.is_some() {
            return self.prompt_key(key);
        }
        if self.detail.is_some() {
            return self.detail_key(key);
        }
        match self.view {
            View::Feed => self.feed_key(key),
            View::Payments => self.payments_key(key),
            View::Reports => self.reports_key(key),
            _ => Vec::new(),
        }
    }

    fn prompt_key(&mut self, key: KeyEvent) -> Vec<Command> {
        let Some(prompt) = self.prompt.as_mut() else {
            return Vec::new();
        };
        match key.code {
            KeyCode::Esc => self.prompt = None,
            KeyCode::Enter => {
                let line = prompt.input.value().trim().to_owned();
                match prompt.purpose {
                    PromptFor::FeedFilter => match Filter::parse(&line) {
                        Ok(filter) => {
                            self.feed.set_filter(filter);
                            self.prompt = None;
                        }
                        Err(e) => prompt.error = Some(e),
                    },
                    PromptFor::PaymentSearch => match search_query(&line) {
                        Ok(mut query) => {
                            query.sort = self.payments.query.sort;
                            self.payments.query = query;
                            self.payments.query_text = line;
                            self.prompt = None;
                            return self.search();
                        }
                        Err(e) => prompt.error = Some(e),
                    },
                }
            }
            _ => {
                if let Some(request) = to_input_request(&TermEvent::Key(key)) {
                    prompt.input.handle(request);
                    prompt.error = None;
                }
            }
        }
        Vec::new()
    }

    fn open_prompt(&mut self, purpose: PromptFor, current: String) {
        self.prompt = Some(Prompt {
            purpose,
            input: Input::new(current),
            error: None,
        });
    }

    fn feed_key(&mut self, key: KeyEvent) -> Vec<Command> {
        match key.code {
            KeyCode::Char('f') => self.feed.toggle_pause(),
            KeyCode::Char('/') => {
                let current = filter_text(&self.feed.filter);
                self.open_prompt(PromptFor::FeedFilter, current);
            }
            KeyCode::Up | KeyCode::Char('k') => self.feed.move_selection(-1),
            KeyCode::Down | KeyCode::Char('j') => self.feed.move_selection(1),
            KeyCode::PageUp => {
                let at_top = self.feed.selected == Some(0);
                self.feed.move_selection(-20);
                if at_top && self.feed.len() >= self.feed.capacity() {
                    self.notice = Some(format!(
                        "The feed keeps {} events and is full: find older payments with F4",
                        self.feed.capacity()
                    ));
                    return Vec::new();
                }
                if at_top
                    && !self.feed.oldest_reached
                    && let (Some(before), Some(token)) = (self.feed.first_seq(), self.token())
                {
                    return vec![Command::LoadOlder {
                        token,
                        before,
                        max: OLDER_BATCH,
                    }];
                }
            }
            KeyCode::PageDown => self.feed.move_selection(20),
            KeyCode::End | KeyCode::Char('G') => self.feed.follow(),
            KeyCode::Enter => return self.open_selected_event(),
            KeyCode::Char('u') => return self.confirm_unlock(),
            _ => {}
        }
        Vec::new()
    }

    fn open_selected_event(&mut self) -> Vec<Command> {
        let Some(event) = self.feed.selected_event() else {
            return Vec::new();
        };
        let Some(payment_id) = event.payment_id().map(str::to_owned) else {
            self.notice =
                Some("A security event has no payment to show; u unlocks its user".into());
            return Vec::new();
        };
        self.token()
            .map(|token| Command::LoadDetail { token, payment_id })
            .into_iter()
            .collect()
    }

    fn confirm_unlock(&mut self) -> Vec<Command> {
        if !self.is_supervisor() {
            self.notice = Some("Only a supervisor can unlock users".into());
            return Vec::new();
        }
        let user = match self.feed.selected_event() {
            Some(Event {
                kind: EventKind::Lockout | EventKind::SignInFailed,
                detail: EventDetail::Security { user, .. },
                ..
            }) => user.clone(),
            _ => {
                self.notice = Some("Select a lockout or failed sign-in to unlock its user".into());
                return Vec::new();
            }
        };
        if let Some(token) = self.token() {
            self.confirm = Some(Confirm {
                question: format!("Unlock user {user}? It can sign in again at once. (y/n)"),
                action: Command::Unlock { token, user },
            });
        }
        Vec::new()
    }

    fn detail_key(&mut self, key: KeyEvent) -> Vec<Command> {
        if self.scroll.key(&key) {
            return Vec::new();
        }
        let Some(detail) = self.detail.as_ref() else {
            return Vec::new();
        };
        let payment = &detail.payment;
        match key.code {
            KeyCode::Esc | KeyCode::Enter => self.detail = None,
            KeyCode::Char('v') => {
                if !self.is_supervisor() {
                    self.notice = Some("Only a supervisor can void payments".into());
                } else if payment.status != PaymentStatus::Approved {
                    self.notice = Some(format!(
                        "Only an approved payment can be voided; this one is {}",
                        payment.status
                    ));
                } else if let Some(token) = self.token() {
                    self.confirm = Some(Confirm {
                        question: format!(
                            "Void {} of {}? The customer is not charged. (y/n)",
                            payment.id, payment.amount
                        ),
                        action: Command::Void {
                            token,
                            payment_id: payment.id.clone(),
                        },
                    });
                }
            }
            KeyCode::Char('r') => {
                if !self.is_supervisor() {
                    self.notice = Some("Only a supervisor can resolve payments".into());
                } else if payment.status != PaymentStatus::InDoubt {
                    self.notice = Some(format!(
                        "Only an in-doubt payment can be resolved; this one is {}",
                        payment.status
                    ));
                } else if let Some(token) = self.token() {
                    self.confirm = Some(Confirm {
                        question: format!(
                            "Ask the processor about {} now and settle it? (y/n)",
                            payment.id
                        ),
                        action: Command::Resolve {
                            token,
                            payment_id: payment.id.clone(),
                        },
                    });
                }
            }
            _ => {}
        }
        Vec::new()
    }

    fn payments_key(&mut self, key: KeyEvent) -> Vec<Command> {
        let rows = self.payments.page.as_ref().map_or(0, |p| p.payments.len());
        match key.code {
            KeyCode::Up | KeyCode::Char('k') => {
                self.payments.selected = self.payments.selected.saturating_sub(1)
            }
            KeyCode::Down | KeyCode::Char('j') => {
                self.payments.selected = (self.payments.selected + 1).min(rows.saturating_sub(1));
            }
            KeyCode::Char('/') => {
                let current = self.payments.query_text.clone();
                self.open_prompt(PromptFor::PaymentSearch, current);
            }
            KeyCode::Char('s') => {
                let sorts = SearchSort::ALL;
                let at = sorts
                    .iter()
                    .position(|s| *s == self.payments.query.sort)
                    .unwrap_or(0);
                self.payments.query.sort = sorts[(at + 1) % sorts.len()];
                self.payments.query.page = 0;
                return self.search();
            }
            KeyCode::PageDown | KeyCode::Right
                if self.payments.page.as_ref().is_some_and(|p| p.more) =>
            {
                self.payments.query.page += 1;
                return self.search();
            }
            KeyCode::PageUp | KeyCode::Left if self.payments.query.page > 0 => {
                self.payments.query.page -= 1;
                return self.search();
            }
            KeyCode::Char('r') => return self.search(),
            KeyCode::Enter => {
                let selected = self
                    .payments
                    .page
                    .as_ref()
                    .and_then(|p| p.payments.get(self.payments.selected))
                    .map(|p| p.id.clone());
                if let (Some(payment_id), Some(token)) = (selected, self.token()) {
                    return vec![Command::LoadDetail { token, payment_id }];
                }
            }
            _ => {}
        }
        Vec::new()
    }
}

/// The filter as it would be typed, for editing it again.
fn filter_text(filter: &Filter) -> String {
    let mut words = Vec::new();
    if !filter.applications.is_empty() {
        words.push(format!("app:{}", filter.applications.join(",")));
    }
    if !filter.statuses.is_empty() {
        words.push(format!(
            "status:{}",
            filter
                .statuses
                .iter()
                .map(|s| s.code())
                .collect::<Vec<_>>()
                .join(",")
        ));
    }
    if !filter.kinds.is_empty() {
        let kinds: Vec<&str> = filter.kinds.iter().map(|k| k.code()).collect();
        words.push(format!("kind:{}", kinds.join(",")));
    }
    words.extend(filter.text.iter().cloned());
    words.join(" ")
}

/// Parses `status:declined app:DMV-RENEWAL code:7MRE-S8EE-G last4:4242 name:lovelace`.
pub fn search_query(line: &str) -> Result<SearchQuery, String> {
    let mut query = SearchQuery::default();
    for word in line.split_whitespace() {
        let Some((field, value)) = word.split_once(':') else {
            query.payer_name = Some(word.to_owned());
            continue;
        };
        match field {
            "status" => {
                query.status = Some(PaymentStatus::from_code(&value.to_ascii_lowercase()).ok_or_else(|| {
                    format!("status {value:?}: use approved, declined, failed, in_doubt, processing or voided")
                })?);
            }
            "app" => query.application = Some(value.to_ascii_uppercase()),
            "code" => query.confirmation_code = Some(value.to_owned()),
            "last4" => query.last_four = Some(value.to_owned()),
            "name" => query.payer_name = Some(value.to_owned()),
            other => {
                return Err(format!(
                    "{other:?} is not a search field: use status:, app:, code:, last4:, name:"
                ));
            }
        }
    }
    Ok(query)
}

impl Msg {
    /// Whether the message only feeds the live feed (drawn at most at the frame rate).
    pub fn is_feed(&self) -> bool {
        matches!(self, Msg::Events(_))
    }
}
