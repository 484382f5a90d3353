//! The supervisor's views: the live feed with its filter and detail pane, the payments table,
//! the queue with its unsettled payments to open and resolve, and the actions (void, resolve,
//! unlock), each behind a confirmation prompt.

use super::refund::RefundDraft;
use super::{App, Command, Msg};
use crate::feed::Filter;
use cip_common::confirmation::normalize;
use cip_common::error::ApiError;
use cip_common::event::{Event, EventDetail, EventKind};
use cip_common::form::ApplicationSpec;
use cip_common::payment::{Payment, SearchPage, SearchQuery, SearchSort, normalize_payment_id};
use cip_common::session::Role;
use cip_common::stats::{QueueItem, Stats};
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

/// The selected payment, every stored field and the timeline of its events, with its
/// application's spec for the fields' labels and its receipt.
#[derive(Clone, Debug)]
pub struct Detail {
    pub payment: Payment,
    pub timeline: Vec<Event>,
    pub spec: ApplicationSpec,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PromptFor {
    FeedFilter,
    PaymentSearch,
    /// The user id to unlock, typed by a supervisor.
    UnlockUser,
    /// A step of a supervisor's refund.
    Refund(RefundDraft),
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
    pub action: Action,
}

/// What a confirmed question does.
#[derive(Debug)]
pub enum Action {
    /// Ask the daemon (void, resolve, unlock).
    Call(Command),
    /// Throw away the payment form as typed and start a new one.
    ClearForm,
    SignOut,
}

#[derive(Debug, Default)]
pub struct PaymentsTable {
    pub query: SearchQuery,
    /// What was typed for the query, shown in the title.
    pub query_text: String,
    /// The results of `query`; none while its search is on its way, so the last query's
    /// results are never shown (or acted on) under this one's title.
    pub page: Option<SearchPage>,
    pub selected: usize,
}

impl App {
    pub(super) fn token(&self) -> Option<cip_common::secret::SessionToken> {
        self.session.as_ref().map(|s| s.token.clone())
    }

    pub(super) fn is_supervisor(&self) -> bool {
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
                // A resolved payment leaves the queue's unsettled list now, not at the next refresh.
                if self.view == View::Queue
                    && self.detail.is_none()
                    && let Some(token) = self.token()
                {
                    self.stats_asked = Some(self.now);
                    return vec![Command::LoadStats { token }];
                }
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
        self.payments.page = None;
        self.payments.query.page_size = PAGE_SIZE;
        vec![Command::Search {
            token,
            query: self.payments.query.clone(),
        }]
    }

    pub(super) fn view_key(&mut self, key: KeyEvent) -> Vec<Command> {
        if let Some(confirm) = self.confirm.take() {
            return match key.code {
                KeyCode::Char('y') | KeyCode::Char('Y') => self.confirmed(confirm.action),
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
            View::Queue => self.queue_key(key),
            View::NewPayment => Vec::new(),
        }
    }

    /// The unsettled payment the queue shows selected: the one chosen, or else the oldest.
    pub fn queue_selection(&self) -> Option<&QueueItem> {
        let unsettled = &self.stats.as_ref()?.unsettled;
        self.queue_selected
            .as_ref()
            .and_then(|id| unsettled.iter().find(|p| &p.payment_id == id))
            .or(unsettled.first())
    }

    fn queue_key(&mut self, key: KeyEvent) -> Vec<Command> {
        let delta = match key.code {
            KeyCode::Up | KeyCode::Char('k') => -1,
            KeyCode::Down | KeyCode::Char('j') => 1,
            KeyCode::Char('u') => {
                self.open_unlock_prompt();
                return Vec::new();
            }
            KeyCode::Enter | KeyCode::Char('r') => {
                let Some(item) = self.queue_selection() else {
                    self.notice = Some("No payment is unsettled: nothing to open".into());
                    return Vec::new();
                };
                let (payment_id, status) = (item.payment_id.clone(), item.status);
                if key.code == KeyCode::Char('r') {
                    self.confirm_resolve(payment_id, status);
                    return Vec::new();
                }
                return self
                    .token()
                    .map(|token| Command::LoadDetail { token, payment_id })
                    .into_iter()
                    .collect();
            }
            _ => return Vec::new(),
        };
        let Some(stats) = self.stats.as_ref() else {
            return Vec::new();
        };
        let unsettled = &stats.unsettled;
        let at = self.queue_selection().and_then(|item| {
            unsettled
                .iter()
                .position(|p| p.payment_id == item.payment_id)
        });
        if let Some(at) = at {
            let next = at.saturating_add_signed(delta).min(unsettled.len() - 1);
            self.queue_selected = Some(unsettled[next].payment_id.clone());
        }
        Vec::new()
    }

    /// Asks before settling an in-doubt payment by asking the processor.
    pub(super) fn confirm_resolve(&mut self, payment_id: String, status: PaymentStatus) {
        if !self.is_supervisor() {
            self.notice = Some("Only a supervisor can resolve payments".into());
        } else if status != PaymentStatus::InDoubt {
            self.notice = Some(format!(
                "Only an in-doubt payment can be resolved; {payment_id} is {status}"
            ));
        } else if let Some(token) = self.token() {
            self.confirm = Some(Confirm {
                question: format!("Ask the processor about {payment_id} now and settle it? (y/n)"),
                action: Action::Call(Command::Resolve { token, payment_id }),
            });
        }
    }

    fn confirmed(&mut self, action: Action) -> Vec<Command> {
        match action {
            Action::Call(command) => vec![command],
            Action::ClearForm => {
                self.new_payment();
                Vec::new()
            }
            Action::SignOut => self.sign_out(),
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
                match prompt.purpose.clone() {
                    PromptFor::FeedFilter => match Filter::parse(&line) {
                        Ok(filter) => {
                            self.feed.set_filter(filter);
                            self.prompt = None;
                        }
                        Err(e) => prompt.error = Some(e),
                    },
                    PromptFor::UnlockUser if line.is_empty() => {
                        prompt.error =
                            Some("Type the user id to unlock, as they sign in; Esc cancels".into());
                    }
                    PromptFor::UnlockUser => {
                        self.prompt = None;
                        self.confirm_unlock_of(line);
                    }
                    PromptFor::Refund(draft) => {
                        if let Err(e) = self.refund_step(draft, &line)
                            && let Some(prompt) = self.prompt.as_mut()
                        {
                            prompt.error = Some(e);
                        }
                    }
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

    pub(super) fn open_prompt(&mut self, purpose: PromptFor, current: String) {
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

    /// `u` in the feed: the user of a selected lockout or failed sign-in, else any user typed.
    fn confirm_unlock(&mut self) -> Vec<Command> {
        match self.feed.selected_event() {
            Some(Event {
                kind: EventKind::Lockout | EventKind::SignInFailed,
                detail: EventDetail::Security { user, .. },
                ..
            }) => {
                let user = user.clone();
                self.confirm_unlock_of(user);
            }
            _ => self.open_unlock_prompt(),
        }
        Vec::new()
    }

    fn open_unlock_prompt(&mut self) {
        if self.is_supervisor() {
            self.open_prompt(PromptFor::UnlockUser, String::new());
        } else {
            self.notice = Some("Only a supervisor can unlock users".into());
        }
    }

    fn confirm_unlock_of(&mut self, user: String) {
        if !self.is_supervisor() {
            self.notice = Some("Only a supervisor can unlock users".into());
        } else if let Some(token) = self.token() {
            self.confirm = Some(Confirm {
                question: format!("Unlock user {user}? It can sign in again at once. (y/n)"),
                action: Action::Call(Command::Unlock { token, user }),
            });
        }
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
            KeyCode::Char('s') => {
                return vec![Command::SaveReceipt {
                    file_name: crate::receipt::file_name(payment),
                    text: crate::receipt::text(payment, &detail.spec),
                }];
            }
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
                        action: Action::Call(Command::Void {
                            token,
                            payment_id: payment.id.clone(),
                        }),
                    });
                }
            }
            KeyCode::Char('r') => {
                let payment = payment.clone();
                self.refund_or_resolve(&payment);
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
    if !filter.agents.is_empty() {
        words.push(format!("agent:{}", filter.agents.join(",")));
    }
    if !filter.modes.is_empty() {
        let modes: Vec<&str> = filter.modes.iter().map(|m| m.code()).collect();
        words.push(format!("mode:{}", modes.join(",")));
    }
    words.extend(filter.text.iter().cloned());
    words.join(" ")
}

/// Parses a search as an agent types it: a confirmation code as the customer reads it (`3hgd
/// zb35 a`) or a payment id alone, or fields such as `status:declined app:DMV-RENEWAL
/// code:7MRE-S8EE-G id:pay_… last4:4242 name:ada lovelace`; plain words are the payer's name.
pub fn search_query(line: &str) -> Result<SearchQuery, String> {
    let mut query = SearchQuery::default();
    if let Some(code) = normalize(line) {
        query.confirmation_code = Some(code);
        return Ok(query);
    }
    if let Some(id) = normalize_payment_id(line) {
        query.payment_id = Some(id);
        return Ok(query);
    }
    let mut name = Vec::new();
    let mut words = line.split_whitespace().peekable();
    while let Some(word) = words.next() {
        let Some((field, value)) = word.split_once(':') else {
            name.push(word);
            continue;
        };
        match field {
            "status" => {
                query.status = Some(PaymentStatus::from_code(&value.to_ascii_lowercase()).ok_or_else(|| {
                    format!("status {value:?}: use approved, declined, failed, in_doubt, processing or voided")
                })?);
            }
            "app" => query.application = Some(value.to_ascii_uppercase()),
            "code" => {
                // A code read aloud comes in groups: take the next words until it is whole.
                let mut code = value.to_owned();
                while code.chars().filter(char::is_ascii_alphanumeric).count() < CODE_SYMBOLS
                    && let Some(next) = words.next_if(|w| !w.contains(':'))
                {
                    code.push(' ');
                    code.push_str(next);
                }
                query.confirmation_code = Some(normalize(&code).ok_or_else(|| {
                    format!("{code:?} is not a confirmation code: it has 9 letters and digits, like 3HGD-ZB35-A")
                })?);
            }
            "id" => {
                query.payment_id = Some(normalize_payment_id(value).ok_or_else(|| {
                    format!("{value:?} is not a payment id: it looks like pay_ and 17 letters and digits")
                })?);
            }
            "last4" => query.last_four = Some(value.to_owned()),
            "name" => name.push(value),
            other => {
                return Err(format!(
                    "{other:?} is not a search field: use status:, app:, code:, id:, last4:, name:"
                ));
            }
        }
    }
    if !name.is_empty() {
        query.payer_name = Some(name.join(" "));
    }
    Ok(query)
}

/// Letters and digits in a confirmation code, the check symbol included.
const CODE_SYMBOLS: usize = 9;

impl Msg {
    /// Whether the message only feeds the live feed (drawn at most at the frame rate).
    pub fn is_feed(&self) -> bool {
        matches!(self, Msg::Events(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::Command;
    use crate::testing::{detail, payment};
    use crate::testing::{key, on_feed, stats, typed};
    use cip_common::confirmation::confirmation_code;
    use cip_common::stats::QueueItem;

    /// A supervisor on the queue, with one payment in doubt and one still processing.
    fn on_queue() -> App {
        let mut app = on_feed();
        let asked = app.update(key(KeyCode::F(5)));
        assert!(matches!(asked.as_slice(), [Command::LoadStats { .. }]));
        let mut figures = stats();
        let in_doubt = figures.unsettled[0].clone();
        figures.unsettled.push(QueueItem {
            payment_id: "pay_0000000000PROC".into(),
            status: PaymentStatus::Processing,
            code: None,
            ..in_doubt
        });
        app.update(Msg::Stats(Ok(figures)));
        app
    }

    fn selected(app: &App) -> &str {
        &app.queue_selection().expect("a selection").payment_id
    }

    #[test]
    fn the_queue_selects_an_unsettled_payment_opens_it_and_resolves_it_after_asking() {
        let mut app = on_queue();
        assert_eq!(selected(&app), "pay_00000000000IN", "the oldest first");
        app.update(key(KeyCode::Down));
        assert_eq!(selected(&app), "pay_0000000000PROC");
        app.update(key(KeyCode::Down));
        assert_eq!(
            selected(&app),
            "pay_0000000000PROC",
            "the last stays selected"
        );
        // A processing payment is not resolved: it is still being answered.
        assert!(app.update(key(KeyCode::Char('r'))).is_empty());
        assert!(app.confirm.is_none());
        assert!(
            app.notice
                .as_deref()
                .is_some_and(|n| n.contains("pay_0000000000PROC is processing")),
            "{:?}",
            app.notice
        );
        app.update(key(KeyCode::Up));
        let opened = app.update(key(KeyCode::Enter));
        assert!(
            matches!(opened.as_slice(), [Command::LoadDetail { payment_id, .. }] if payment_id == "pay_00000000000IN"),
            "{opened:?}"
        );
        // `r` asks first; only `y` resolves, and the queue is asked for again once it is done.
        assert!(app.update(key(KeyCode::Char('r'))).is_empty());
        assert!(
            app.confirm
                .as_ref()
                .is_some_and(|c| c.question.contains("pay_00000000000IN"))
        );
        let resolved = app.update(key(KeyCode::Char('y')));
        assert!(
            matches!(resolved.as_slice(), [Command::Resolve { payment_id, .. }] if payment_id == "pay_00000000000IN"),
            "{resolved:?}"
        );
        let refreshed = app.update(Msg::ActionDone(Ok(
            "pay_00000000000IN resolved: approved".into()
        )));
        assert!(matches!(refreshed.as_slice(), [Command::LoadStats { .. }]));
        // The selection stays on its payment when a refresh changes the list.
        app.update(key(KeyCode::Down));
        let mut figures = stats();
        figures.unsettled.clear();
        figures.unsettled.push(QueueItem {
            payment_id: "pay_0000000000PROC".into(),
            status: PaymentStatus::Processing,
            code: None,
            ..stats().unsettled[0].clone()
        });
        app.update(Msg::Stats(Ok(figures)));
        assert_eq!(selected(&app), "pay_0000000000PROC");
    }

    #[test]
    fn u_unlocks_any_user_typed_after_asking_and_says_plainly_why_not() {
        for start in [View::Queue, View::Feed] {
            let mut app = on_queue();
            app.update(key(KeyCode::F(3)));
            if start == View::Queue {
                app.update(key(KeyCode::F(5)));
            } else {
                // A payment row is selected: no user to take from it, so one is asked for.
                app.update(key(KeyCode::Up));
                app.update(key(KeyCode::Up));
                assert!(
                    app.feed
                        .selected_event()
                        .is_some_and(|e| e.payment_id().is_some())
                );
            }
            assert!(app.update(key(KeyCode::Char('u'))).is_empty());
            assert_eq!(
                app.prompt.as_ref().map(|p| p.purpose.clone()),
                Some(PromptFor::UnlockUser),
                "{start:?}"
            );
            app.update(key(KeyCode::Enter));
            assert!(
                app.prompt
                    .as_ref()
                    .and_then(|p| p.error.as_deref())
                    .is_some_and(|e| e.contains("Type the user id")),
                "an empty id is refused"
            );
            typed(&mut app, "agent1");
            assert!(app.update(key(KeyCode::Enter)).is_empty());
            assert!(app.prompt.is_none());
            assert!(
                app.confirm
                    .as_ref()
                    .is_some_and(|c| c.question.contains("Unlock user agent1?"))
            );
            let unlock = app.update(key(KeyCode::Char('y')));
            assert!(
                matches!(unlock.as_slice(), [Command::Unlock { user, .. }] if user == "agent1"),
                "{unlock:?}"
            );
        }
        let mut app = on_queue();
        app.update(Msg::ActionDone(Err(ApiError::NotFound {
            what: "user".into(),
            id: "nobody".into(),
        })));
        assert_eq!(
            app.notice.as_deref(),
            Some("Refused: no user matches \"nobody\"")
        );
    }

    #[test]
    fn a_receipt_is_printed_again_from_the_payments_detail() {
        let mut app = on_feed();
        app.update(detail(payment(PaymentStatus::Approved), Vec::new()));
        let commands = app.update(key(KeyCode::Char('s')));
        let [Command::SaveReceipt { file_name, text }] = commands.as_slice() else {
            panic!("{commands:?}")
        };
        assert_eq!(file_name, "receipt-7MRES8EEG.txt");
        assert!(
            text.starts_with("Vehicle registration renewal (DMV-RENEWAL)")
                && text.contains("Plate number:"),
            "{text}"
        );
    }

    #[test]
    fn a_code_or_a_payment_id_is_found_as_an_agent_types_it() {
        let code = confirmation_code(0x0D_1C_AF_E5_35);
        let plain = code.replace('-', "").to_lowercase();
        let spoken = format!("{} {} {}", &plain[..4], &plain[4..8], &plain[8..]);
        // As it was met: typed plainly, it matched nothing (each group was taken as a name).
        let query = search_query(&spoken).unwrap();
        assert_eq!(query.confirmation_code.as_deref(), Some(code.as_str()));
        assert_eq!(query.payer_name, None);
        let query = search_query(&format!("code:{spoken} status:approved")).unwrap();
        assert_eq!(query.confirmation_code.as_deref(), Some(code.as_str()));
        assert!(query.status.is_some());
        // The payment id the in-doubt screen shows, typed as read.
        let query = search_query("PAY_01kb2r3m4n5q8w7xy").unwrap();
        assert_eq!(query.payment_id.as_deref(), Some("pay_01KB2R3M4N5Q8W7XY"));
        let query = search_query("id:pay_01KB2R3M4N5Q8W7XY last4:4242").unwrap();
        assert_eq!(query.payment_id.as_deref(), Some("pay_01KB2R3M4N5Q8W7XY"));
        assert_eq!(query.last_four.as_deref(), Some("4242"));
        // A whole name, and mistakes said plainly.
        assert_eq!(
            search_query("ada lovelace").unwrap().payer_name.as_deref(),
            Some("ada lovelace")
        );
        let wrong = search_query("code:3HGD-ZB35").unwrap_err();
        assert!(wrong.contains("9 letters and digits"), "{wrong}");
        assert!(
            search_query("id:pay_123")
                .unwrap_err()
                .contains("payment id")
        );
    }
}
