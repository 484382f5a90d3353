//! The console's state and `update`: a key or a daemon's answer in, the new state and the
//! commands for the client task out. No I/O, no clock, no terminal: tests drive it directly.
//! This file holds sign-in and the payment flow; `views` the feed, payments, queue and reports.

mod refund;
mod reports;
mod scroll;
mod views;

pub use scroll::Scroll;

pub use reports::{ReportField, ReportsView};
pub use views::{Action, Confirm, Detail, PaymentsTable, Prompt, PromptFor, View};

use crate::feed::Feed;
use crate::form::PaymentForm;
use cip_common::error::ApiError;
use cip_common::event::Event;
use cip_common::form::ApplicationSpec;
use cip_common::money::Money;
use cip_common::payment::{Payment, PaymentRequest, SearchPage, SearchQuery};
use cip_common::refund::RefundRequest;
use cip_common::report::{Reconciliation, ReportFilter};
use cip_common::secret::{Password, SessionToken};
use cip_common::session::SessionInfo;
use cip_common::stats::Stats;
use cip_common::status::PaymentStatus;
use ratatui::crossterm::event::{
    Event as TermEvent, KeyCode, KeyEvent, KeyEventKind, KeyModifiers,
};
use std::time::{Duration, Instant};
use tui_input::Input;
use tui_input::backend::crossterm::to_input_request;

/// How long a payment whose answer was lost waits before it is sent again (same key).
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// While an agent types, the daemon hears of it at most this often, and at most every third of
/// the session's idle limit, so a session never ends mid-form.
const KEEP_ALIVE_EVERY: Duration = Duration::from_secs(60);

/// The smallest terminal the console works in: below it the screen says so and keys do nothing.
pub const MIN_WIDTH: u16 = 80;
pub const MIN_HEIGHT: u16 = 24;

/// Shown when Ctrl-C is pressed with a payment on its way; a second Ctrl-C quits.
const QUIT_WHILE_SENDING: &str = "A payment is on its way: its outcome shows here. Ctrl-C again quits anyway (find it later in F4).";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Screen {
    Login,
    Form,
    Summary,
    Processing,
    Outcome,
}

impl Screen {
    /// Screens where a key acts at once (send, sign in, leave an outcome): a key read before
    /// such a screen was drawn was typed ahead for another screen, and does nothing here.
    fn guards_type_ahead(self) -> bool {
        matches!(self, Screen::Login | Screen::Summary | Screen::Outcome)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Connection {
    Connecting,
    Connected,
    Lost,
}

/// What came back for a submit.
#[derive(Clone, Debug)]
pub enum Answer {
    Payment(Box<Payment>),
    Refused(ApiError),
    /// The connection or the deadline failed: the outcome is not known yet.
    Lost,
}

#[derive(Debug)]
pub enum Msg {
    /// A key, and when the terminal-input thread read it: a key read before the screen it lands
    /// on was drawn was meant for an earlier screen.
    Key {
        key: KeyEvent,
        at: Instant,
    },
    /// Text pasted into the terminal (bracketed paste): typed into the focused field, never a key
    /// that acts.
    Paste {
        text: String,
        at: Instant,
    },
    /// Time passed; sent while something on screen shows it.
    Tick {
        now: Instant,
    },
    /// The terminal changed size: the next frame shows it.
    Resized,
    Connection(Connection),
    /// The daemon cannot be used as this console is set up (a certificate one side does not
    /// trust): retrying cannot mend it, so the console ends and says why.
    CannotConnect(String),
    LoggedIn(Result<SessionInfo, ApiError>),
    FormLoaded(Result<ApplicationSpec, ApiError>),
    Submitted {
        key: String,
        answer: Answer,
    },
    ReceiptSaved(Result<String, String>),
    /// Newly committed events from the feed's long poll.
    Events(Vec<Event>),
    /// Older events asked for with `LoadOlder`.
    OlderEvents {
        events: Vec<Event>,
        asked: u32,
    },
    FeedStopped(ApiError),
    Detail(Result<Box<Detail>, ApiError>),
    Stats(Result<Stats, ApiError>),
    Searched(Result<SearchPage, ApiError>),
    /// A supervisor action finished: what it did, or why not.
    ActionDone(Result<String, ApiError>),
    /// Rows of the export written so far.
    ExportProgress(u64),
    /// The export's file and its row count.
    Exported(Result<(String, u64), ApiError>),
    Reconciled(Result<Reconciliation, ApiError>),
    /// The payment on the outcome screen as it stands now.
    OutcomeLoaded(Result<Box<Payment>, ApiError>),
}

/// Work for the client task (or, for receipts, the shell).
#[derive(Debug)]
pub enum Command {
    Login {
        application: String,
        user: String,
        password: Password,
    },
    LoadForm {
        token: SessionToken,
        application: String,
    },
    Submit {
        token: SessionToken,
        key: String,
        request: Box<PaymentRequest>,
    },
    Logout {
        token: SessionToken,
    },
    SaveReceipt {
        file_name: String,
        text: String,
    },
    /// Follow the feed from `after` (replacing any feed already followed).
    Follow {
        token: SessionToken,
        after: u64,
    },
    StopFollowing,
    LoadOlder {
        token: SessionToken,
        before: u64,
        max: u32,
    },
    LoadDetail {
        token: SessionToken,
        payment_id: String,
    },
    LoadStats {
        token: SessionToken,
    },
    /// Export the payments `filter` takes, part by part, into `file_name` beside the console.
    Export {
        token: SessionToken,
        filter: Box<ReportFilter>,
        file_name: String,
    },
    Reconcile {
        token: SessionToken,
        application: String,
        day: Option<jiff::civil::Date>,
    },
    Search {
        token: SessionToken,
        query: SearchQuery,
    },
    Void {
        token: SessionToken,
        payment_id: String,
    },
    Resolve {
        token: SessionToken,
        payment_id: String,
    },
    Refund {
        token: SessionToken,
        payment_id: String,
        key: String,
        request: RefundRequest,
    },
    Unlock {
        token: SessionToken,
        user: String,
    },
    /// Tell the daemon the agent is still at work (typing counts as activity): the session's idle
    /// clock starts again.
    KeepAlive {
        token: SessionToken,
    },
    /// Fetch the payment on the outcome screen again: the feed says it moved.
    LoadOutcome {
        token: SessionToken,
        payment_id: String,
    },
    Quit,
}

/// Demo credentials shown on the sign-in screen when the console started its own daemon.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DemoLogin {
    pub user: String,
    pub role: String,
    pub password: String,
}

#[derive(Debug, Default)]
pub struct LoginForm {
    pub application: Input,
    pub user: Input,
    pub password: Input,
    /// 0 application, 1 user, 2 password.
    pub focus: usize,
    pub error: Option<String>,
    pub busy: bool,
}

/// A payment sent whose outcome is not known yet; its key is reused until it is.
#[derive(Clone, Debug)]
pub struct Pending {
    pub key: String,
    pub request: PaymentRequest,
    pub started: Instant,
    pub attempts: u32,
    /// The answer was lost; the payment is sent again, same key, once the daemon answers.
    pub waiting: bool,
    /// When to send it again if the daemon is still there.
    pub retry_at: Option<Instant>,
}

#[derive(Debug)]
pub struct App {
    /// Changed only through `go`.
    pub screen: Screen,
    /// When `screen` was first drawn where the agent could see it; `None` until then.
    shown_at: Option<Instant>,
    /// The terminal's size: below `MIN_WIDTH`×`MIN_HEIGHT` the form is hidden and keys do nothing.
    pub size: (u16, u16),
    /// When the daemon last heard that the agent is typing.
    kept_alive_at: Option<Instant>,
    pub connection: Connection,
    /// Where the daemon is, for the status bar and messages.
    pub daemon: String,
    pub login: LoginForm,
    pub demo: Vec<DemoLogin>,
    /// The private demo's agency API and payment pages, shown on the sign-in screen.
    pub demo_http: Option<String>,
    pub session: Option<SessionInfo>,
    pub form: Option<PaymentForm>,
    pub pending: Option<Pending>,
    pub outcome: Option<Payment>,
    pub help: bool,
    /// The help's scroll, or the open payment detail's.
    pub scroll: Scroll,
    pub notice: Option<String>,
    pub view: View,
    pub feed: Feed,
    /// The highest seq the feed has seen: a new follow resumes after it.
    pub feed_seq: u64,
    pub detail: Option<Detail>,
    pub stats: Option<Stats>,
    stats_asked: Option<Instant>,
    /// The unsettled payment selected in the queue, by id: it stays put as the list refreshes.
    pub queue_selected: Option<String>,
    pub payments: PaymentsTable,
    pub reports: ReportsView,
    pub prompt: Option<Prompt>,
    pub confirm: Option<Confirm>,
    /// Who the views' data belongs to: (user, application) of the last sign-in.
    signed_in_as: Option<(String, String)>,
    pub now: Instant,
    pub today: jiff::civil::Date,
    /// Unique per console run; idempotency keys are `<nonce>-<n>`.
    key_nonce: String,
    keys_made: u64,
    pub quit: bool,
    /// Why the console ended by itself, to print once the terminal is restored.
    pub cannot_connect: Option<String>,
}

impl App {
    pub fn new(
        daemon: String,
        demo: Vec<DemoLogin>,
        key_nonce: String,
        feed_buffer: usize,
        now: Instant,
        today: jiff::civil::Date,
    ) -> App {
        App {
            screen: Screen::Login,
            shown_at: None,
            size: (MIN_WIDTH, MIN_HEIGHT),
            kept_alive_at: None,
            connection: Connection::Connecting,
            daemon,
            login: LoginForm::default(),
            demo,
            demo_http: None,
            session: None,
            form: None,
            pending: None,
            outcome: None,
            help: false,
            scroll: Scroll::default(),
            notice: None,
            view: View::NewPayment,
            feed: Feed::new(feed_buffer),
            feed_seq: 0,
            detail: None,
            stats: None,
            stats_asked: None,
            queue_selected: None,
            payments: PaymentsTable::default(),
            reports: ReportsView::default(),
            prompt: None,
            confirm: None,
            signed_in_as: None,
            now,
            today,
            key_nonce,
            keys_made: 0,
            quit: false,
            cannot_connect: None,
        }
    }

    /// Whether a text field has the keyboard (then `?` is typed, not help).
    pub fn text_focused(&self) -> bool {
        if self.prompt.is_some() {
            return true;
        }
        if self.session.is_some() && self.view != View::NewPayment {
            return self.view == View::Reports && self.detail.is_none();
        }
        match self.screen {
            Screen::Login => true,
            Screen::Form => self
                .form
                .as_ref()
                .and_then(PaymentForm::focused)
                .is_some_and(|f| !f.kind.is_choice()),
            _ => false,
        }
    }

    /// Moves to `screen`; keys typed ahead of its first frame do not act on it.
    fn go(&mut self, screen: Screen) {
        if self.screen != screen {
            self.screen = screen;
            self.shown_at = None;
        }
    }

    /// Whether the terminal is too small to show the console.
    pub fn too_small(&self) -> bool {
        self.size.0 < MIN_WIDTH || self.size.1 < MIN_HEIGHT
    }

    /// Whether the payment flow's screen is what the terminal shows (not a view, the help, or
    /// the "too small" notice).
    fn screen_visible(&self) -> bool {
        !self.too_small() && !self.help && (self.session.is_none() || self.view == View::NewPayment)
    }

    /// A frame `size` wide and high was drawn at `at`: from now on the screen it showed has been
    /// seen, and keys act on it, even when the terminal's resize event comes later or never.
    pub fn drawn(&mut self, at: Instant, size: (u16, u16)) {
        self.size = size;
        if self.screen_visible() && self.shown_at.is_none() {
            self.shown_at = Some(at);
        }
    }

    /// Time on the processing screen.
    pub fn elapsed(&self) -> Duration {
        self.pending.as_ref().map_or(Duration::ZERO, |p| {
            self.now.saturating_duration_since(p.started)
        })
    }

    pub fn update(&mut self, msg: Msg) -> Vec<Command> {
        match msg {
            Msg::Key { key, at } if key.kind != KeyEventKind::Release => {
                self.now = self.now.max(at);
                self.key(key, at)
            }
            Msg::Key { .. } => Vec::new(),
            Msg::Paste { text, at } => self.paste(&text, at),
            Msg::Resized => Vec::new(),
            Msg::Tick { now } => {
                self.now = now;
                let mut commands = self.retry_due();
                commands.extend(self.stats_due());
                commands
            }
            Msg::Events(events) => {
                let moved = self.outcome_moved(&events);
                self.feed_arrived(events);
                moved.into_iter().collect()
            }
            Msg::OlderEvents { events, asked } => {
                self.feed.prepend(events, asked);
                Vec::new()
            }
            Msg::FeedStopped(error) => self.feed_stopped(error),
            Msg::Detail(result) => self.detail_loaded(result),
            Msg::Stats(result) => self.stats_loaded(result),
            Msg::Searched(result) => self.searched(result),
            Msg::ActionDone(result) => self.action_done(result),
            Msg::ExportProgress(rows) => {
                self.export_progress(rows);
                Vec::new()
            }
            Msg::Exported(result) => {
                self.exported(result);
                Vec::new()
            }
            Msg::Reconciled(result) => {
                self.reconciled(result);
                Vec::new()
            }
            Msg::OutcomeLoaded(result) => {
                self.outcome_loaded(result);
                Vec::new()
            }
            Msg::Connection(state) => self.connection_changed(state),
            Msg::CannotConnect(reason) => {
                // The console ends: a payment on its way must not be forgotten with it, or it
                // would be taken again under a new key.
                self.cannot_connect = Some(match &self.pending {
                    Some(pending) => format!(
                        "{reason}\nA payment of {} was on its way under idempotency key {}, and its outcome is not known here: find it in the payments view (F4) of a console that connects before taking it again.",
                        Money::new(pending.request.amount_minor, pending.request.currency),
                        pending.key
                    ),
                    None => reason,
                });
                self.quit = true;
                Vec::new()
            }
            Msg::LoggedIn(result) => self.logged_in(result),
            Msg::FormLoaded(result) => self.form_loaded(result),
            Msg::Submitted { key, answer } => self.submitted(&key, answer),
            Msg::ReceiptSaved(result) => {
                self.notice = Some(match result {
                    Ok(path) => format!("Receipt saved to {path}"),
                    Err(e) => format!("Receipt not saved: {e}"),
                });
                Vec::new()
            }
        }
    }

    fn key(&mut self, key: KeyEvent, at: Instant) -> Vec<Command> {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl && key.code == KeyCode::Char('c') {
            let warned = self.notice.as_deref() == Some(QUIT_WHILE_SENDING);
            if self.pending.is_some() && !warned {
                self.notice = Some(QUIT_WHILE_SENDING.to_owned());
                return Vec::new();
            }
            self.quit = true;
            return vec![Command::Quit];
        }
        // The "too small" notice hides everything: a key there cannot be meant for what is hidden.
        if self.too_small() {
            return Vec::new();
        }
        if key.code == KeyCode::F(1) || (key.code == KeyCode::Char('?') && !self.text_focused()) {
            self.help = !self.help;
            self.scroll.reset();
            return Vec::new();
        }
        if self.help {
            if key.code == KeyCode::Esc {
                self.help = false;
                self.scroll.reset();
            }
            self.scroll.key(&key);
            return Vec::new();
        }
        let mut commands: Vec<Command> = self.keep_alive(at).into_iter().collect();
        commands.extend(self.act(key, at));
        commands
    }

    /// What a key does once it reaches the console's views and screens.
    fn act(&mut self, key: KeyEvent, at: Instant) -> Vec<Command> {
        if key.code == KeyCode::F(10) && self.session.is_some() && self.screen != Screen::Processing
        {
            return self.ask_to_sign_out();
        }
        self.notice = None;
        if self.session.is_some() {
            if let Some(view) = View::for_key(&key) {
                if view == View::NewPayment && self.view != View::NewPayment {
                    // The payment screen comes back into sight: it is seen anew.
                    self.shown_at = None;
                }
                return self.switch_view(view);
            }
            if self.view != View::NewPayment || self.prompt.is_some() || self.confirm.is_some() {
                return self.view_key(key);
            }
        }
        if self.screen.guards_type_ahead() && self.shown_at.is_none_or(|shown| at < shown) {
            return Vec::new();
        }
        match self.screen {
            Screen::Login => self.login_key(key),
            Screen::Form => self.form_key(key),
            Screen::Summary => self.summary_key(key),
            Screen::Processing => Vec::new(),
            Screen::Outcome => self.outcome_key(key),
        }
    }

    /// A command telling the daemon the agent is at work, when it has not heard so lately.
    fn keep_alive(&mut self, at: Instant) -> Option<Command> {
        let session = self.session.as_ref()?;
        let every = KEEP_ALIVE_EVERY.min(Duration::from_millis(
            session.idle_timeout_ms.unsigned_abs() / 3,
        ));
        if self
            .kept_alive_at
            .is_some_and(|last| at.saturating_duration_since(last) < every)
        {
            return None;
        }
        let token = session.token.clone();
        self.kept_alive_at = Some(at);
        Some(Command::KeepAlive { token })
    }

    /// Pasted text is typed into the focused field, character by character; a line break in it
    /// is dropped, never taken as Enter.
    fn paste(&mut self, text: &str, at: Instant) -> Vec<Command> {
        if self.too_small() || self.help || !self.text_focused() {
            return Vec::new();
        }
        text.chars()
            .filter(|c| !c.is_control())
            .flat_map(|c| self.key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE), at))
            .collect()
    }

    fn login_key(&mut self, key: KeyEvent) -> Vec<Command> {
        let login = &mut self.login;
        if login.busy {
            return Vec::new();
        }
        match key.code {
            KeyCode::Tab | KeyCode::Down => login.focus = (login.focus + 1) % 3,
            KeyCode::BackTab | KeyCode::Up => login.focus = (login.focus + 2) % 3,
            KeyCode::Enter => {
                let filled = [&login.application, &login.user, &login.password]
                    .iter()
                    .all(|i| !i.value().trim().is_empty());
                if !filled {
                    login.focus = (login.focus + 1) % 3;
                    if login.focus == 0 {
                        login.error = Some("Enter the application id, user id and password".into());
                    }
                    return Vec::new();
                }
                login.busy = true;
                login.error = None;
                return vec![Command::Login {
                    application: login.application.value().trim().to_ascii_uppercase(),
                    user: login.user.value().trim().to_owned(),
                    password: Password::new(login.password.value()),
                }];
            }
            _ => {
                let input = match login.focus {
                    0 => &mut login.application,
                    1 => &mut login.user,
                    _ => &mut login.password,
                };
                if let Some(request) = to_input_request(&TermEvent::Key(key)) {
                    input.handle(request);
                }
            }
        }
        Vec::new()
    }

    fn form_key(&mut self, key: KeyEvent) -> Vec<Command> {
        let Some(form) = self.form.as_mut() else {
            return Vec::new();
        };
        match key.code {
            KeyCode::Tab | KeyCode::Down => form.next(),
            KeyCode::BackTab | KeyCode::Up => form.previous(),
            // Enter moves on one field; only from the last does it reach the summary, so keys
            // typed ahead never skip fields to land on "send".
            KeyCode::Enter if form.is_last() => {
                if form.check_all() {
                    self.go(Screen::Summary);
                }
            }
            KeyCode::Enter => form.next(),
            KeyCode::Esc if form.is_filled() => {
                self.confirm = Some(Confirm {
                    question:
                        "Clear this form and start a new payment? Everything typed is lost. (y/n)"
                            .into(),
                    action: Action::ClearForm,
                });
            }
            KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
                form.type_char(c);
            }
            _ => {
                if let Some(request) = to_input_request(&TermEvent::Key(key)) {
                    form.edit(request);
                }
            }
        }
        Vec::new()
    }

    fn summary_key(&mut self, key: KeyEvent) -> Vec<Command> {
        match key.code {
            KeyCode::Esc => {
                self.go(Screen::Form);
                Vec::new()
            }
            KeyCode::Enter => self.send(),
            _ => Vec::new(),
        }
    }

    /// A key no request of this console has used.
    fn new_idempotency_key(&mut self) -> String {
        self.keys_made += 1;
        format!("{}-{}", self.key_nonce, self.keys_made)
    }

    /// Sends the form's payment under a new idempotency key.
    fn send(&mut self) -> Vec<Command> {
        let (Some(form), Some(session)) = (self.form.as_ref(), self.session.as_ref()) else {
            return Vec::new();
        };
        let Ok(request) = form.request() else {
            self.go(Screen::Form);
            return Vec::new();
        };
        let token = session.token.clone();
        let key = self.new_idempotency_key();
        self.pending = Some(Pending {
            key: key.clone(),
            request: request.clone(),
            started: self.now,
            attempts: 1,
            waiting: false,
            retry_at: None,
        });
        self.go(Screen::Processing);
        vec![Command::Submit {
            token,
            key,
            request: Box::new(request),
        }]
    }

    /// Sends the pending payment again under its own key.
    fn resend(&mut self) -> Vec<Command> {
        let (Some(pending), Some(session)) = (self.pending.as_mut(), self.session.as_ref()) else {
            return Vec::new();
        };
        pending.waiting = false;
        pending.retry_at = None;
        pending.attempts += 1;
        let submit = Command::Submit {
            token: session.token.clone(),
            key: pending.key.clone(),
            request: Box::new(pending.request.clone()),
        };
        self.go(Screen::Processing);
        vec![submit]
    }

    fn outcome_key(&mut self, key: KeyEvent) -> Vec<Command> {
        let declined = self
            .outcome
            .as_ref()
            .is_some_and(|p| matches!(p.status, PaymentStatus::Declined | PaymentStatus::Failed));
        match key.code {
            KeyCode::Char('n') | KeyCode::Char('N') => {
                self.new_payment();
                Vec::new()
            }
            KeyCode::Char('s') | KeyCode::Char('S') => {
                let (Some(payment), Some(form)) = (self.outcome.as_ref(), self.form.as_ref())
                else {
                    return Vec::new();
                };
                vec![Command::SaveReceipt {
                    file_name: crate::receipt::file_name(payment),
                    text: crate::receipt::text(payment, &form.spec),
                }]
            }
            KeyCode::Enter | KeyCode::Esc | KeyCode::Char('e') if declined => {
                // The refused card or account is not sent again by mistake: its number, expiry
                // and security code are asked for anew; everything else stays.
                if let Some(form) = self.form.as_mut() {
                    form.correct_method();
                }
                self.go(Screen::Form);
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    pub(super) fn new_payment(&mut self) {
        if let Some(form) = self.form.as_ref() {
            self.form = PaymentForm::new(form.spec.clone(), self.today).ok();
        }
        self.outcome = None;
        self.go(Screen::Form);
    }

    /// F10: signs out, after asking when it would discard a payment being keyed.
    fn ask_to_sign_out(&mut self) -> Vec<Command> {
        let keyed = matches!(self.screen, Screen::Form | Screen::Summary)
            && self.form.as_ref().is_some_and(PaymentForm::is_filled);
        if !keyed {
            return self.sign_out();
        }
        self.confirm = Some(Confirm {
            question: "Sign out? The payment being keyed is discarded. (y/n)".into(),
            action: Action::SignOut,
        });
        Vec::new()
    }

    pub(super) fn sign_out(&mut self) -> Vec<Command> {
        let commands = self
            .session
            .take()
            .map(|s| Command::Logout { token: s.token })
            .into_iter()
            .collect();
        let mut commands: Vec<Command> = commands;
        commands.push(Command::StopFollowing);
        self.form = None;
        self.outcome = None;
        self.pending = None;
        self.forget_views();
        self.signed_in_as = None;
        self.login = LoginForm::default();
        self.login.error = Some("Signed out".into());
        self.kept_alive_at = None;
        self.go(Screen::Login);
        commands
    }

    /// Clears everything the views hold of a sign-in: feed, searches, figures, details.
    fn forget_views(&mut self) {
        self.view = View::NewPayment;
        self.feed = Feed::new(self.feed.capacity());
        self.feed_seq = 0;
        self.payments = PaymentsTable::default();
        self.reports = ReportsView::default();
        self.stats = None;
        self.detail = None;
        self.prompt = None;
        self.confirm = None;
    }

    fn connection_changed(&mut self, state: Connection) -> Vec<Command> {
        self.connection = state;
        if state == Connection::Connected && self.pending.as_ref().is_some_and(|p| p.waiting) {
            return self.resend();
        }
        Vec::new()
    }

    fn logged_in(&mut self, result: Result<SessionInfo, ApiError>) -> Vec<Command> {
        self.login.busy = false;
        match result {
            Ok(session) => {
                self.login.password = Input::default();
                self.login.error = None;
                let application = session.application.clone();
                let token = session.token.clone();
                let supervisor = session.role == cip_common::session::Role::Supervisor;
                // Someone else, or another application: nothing of the last sign-in shows.
                let who = (session.user.clone(), application.clone());
                if self.signed_in_as.as_ref() != Some(&who) {
                    self.forget_views();
                    self.reports = ReportsView::for_application(&application);
                    self.signed_in_as = Some(who);
                }
                let follow = Command::Follow {
                    token: token.clone(),
                    after: self.feed_seq,
                };
                self.session = Some(session);
                if supervisor && self.view == View::NewPayment && self.form.is_none() {
                    self.view = View::Feed;
                }
                let kept = self.form.as_ref().is_some_and(|f| f.spec.id == application);
                if !kept {
                    self.form = None;
                    self.pending = None;
                }
                self.kept_alive_at = Some(self.now);
                let mut commands = vec![follow];
                if self.pending.is_some() {
                    commands.extend(self.resend());
                    return commands;
                }
                self.go(Screen::Form);
                if !kept {
                    commands.push(Command::LoadForm { token, application });
                }
                commands
            }
            Err(error) => {
                self.login.error = Some(error.to_string());
                self.login.password = Input::default();
                self.login.focus = 2;
                Vec::new()
            }
        }
    }

    fn form_loaded(&mut self, result: Result<ApplicationSpec, ApiError>) -> Vec<Command> {
        match result {
            Ok(spec) => match PaymentForm::new(spec, self.today) {
                Ok(form) => self.form = Some(form),
                Err(problem) => {
                    self.notice = Some(format!("This application's form is broken: {problem}"))
                }
            },
            Err(ApiError::SessionExpired) => self.session_ended(),
            Err(e) => self.notice = Some(e.to_string()),
        }
        Vec::new()
    }

    fn session_ended(&mut self) {
        self.session = None;
        self.go(Screen::Login);
        self.login.busy = false;
        self.login.error =
            Some("Your session ended: sign in again. Your unsent payment is kept.".into());
        self.login.focus = 2;
    }

    fn submitted(&mut self, key: &str, answer: Answer) -> Vec<Command> {
        if self.pending.as_ref().is_none_or(|p| p.key != key) {
            return Vec::new();
        }
        match answer {
            // Still processing (a replay whose first attempt has no outcome yet): ask again.
            Answer::Payment(payment) if payment.status == PaymentStatus::Processing => {
                self.answer_lost()
            }
            Answer::Payment(payment) => {
                self.pending = None;
                if payment.status != PaymentStatus::Declined
                    && let Some(form) = self.form.as_mut()
                {
                    form.clear_secrets();
                }
                self.outcome = Some(*payment);
                self.go(Screen::Outcome);
                Vec::new()
            }
            Answer::Refused(ApiError::SessionExpired) => {
                // Refused before anything was stored: sent again, same key, after sign-in.
                self.session_ended();
                Vec::new()
            }
            Answer::Refused(ApiError::Fields(errors)) => {
                self.pending = None;
                if let Some(form) = self.form.as_mut() {
                    form.errors = errors;
                    form.show_all_errors = true;
                }
                self.go(Screen::Form);
                Vec::new()
            }
            Answer::Refused(
                error @ (ApiError::BadCredentials
                | ApiError::Locked { .. }
                | ApiError::Forbidden { .. }
                | ApiError::IdempotencyConflict { .. }
                | ApiError::Stale { .. }
                | ApiError::NotFound { .. }
                | ApiError::InvalidRequest { .. }),
            ) => {
                self.pending = None;
                self.notice = Some(error.to_string());
                self.go(Screen::Summary);
                Vec::new()
            }
            Answer::Lost | Answer::Refused(ApiError::Unavailable { .. }) => self.answer_lost(),
        }
    }

    /// The outcome is not known: the payment is sent again under its own key, at once when the
    /// daemon answers, or as soon as it does again. It is never sent under a new key.
    fn answer_lost(&mut self) -> Vec<Command> {
        let now = self.now;
        if let Some(pending) = self.pending.as_mut() {
            pending.waiting = true;
            // Connected, the daemon was slow or busy: give it a moment. Disconnected, the
            // reconnection sends it.
            pending.retry_at = Some(now + RETRY_AFTER);
        }
        Vec::new()
    }

    /// Sends a waiting payment again once its moment has come.
    fn retry_due(&mut self) -> Vec<Command> {
        let due = self
            .pending
            .as_ref()
            .is_some_and(|p| p.waiting && p.retry_at.is_some_and(|at| at <= self.now));
        if due && self.connection == Connection::Connected {
            self.resend()
        } else {
            Vec::new()
        }
    }

    /// An in-doubt outcome on screen is followed: when the feed shows its payment settled, the
    /// payment is fetched again so the agent sees the outcome without searching for it.
    fn outcome_moved(&self, events: &[Event]) -> Option<Command> {
        let outcome = self
            .outcome
            .as_ref()
            .filter(|p| p.status == PaymentStatus::InDoubt)?;
        let settled = events.iter().any(|e| match &e.detail {
            cip_common::event::EventDetail::Payment {
                payment_id, status, ..
            } => *payment_id == outcome.id && *status != PaymentStatus::InDoubt,
            _ => false,
        });
        if !settled {
            return None;
        }
        Some(Command::LoadOutcome {
            token: self.token()?,
            payment_id: outcome.id.clone(),
        })
    }

    fn outcome_loaded(&mut self, result: Result<Box<Payment>, ApiError>) {
        match result {
            Ok(payment) if self.outcome.as_ref().is_some_and(|o| o.id == payment.id) => {
                self.outcome = Some(*payment);
            }
            Ok(_) => {}
            Err(ApiError::SessionExpired) => self.session_ended(),
            Err(e) => self.notice = Some(format!("The payment's outcome could not be read: {e}")),
        }
    }

    /// Whether `Tick`s are needed: the elapsed time while processing, the queue's refresh.
    pub fn wants_ticks(&self) -> bool {
        self.screen == Screen::Processing || (self.view == View::Queue && self.session.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{
        fill, key, new_app, on_form, on_outcome, on_summary, payment, seen, session, spec, typed,
    };

    fn submitted_key(commands: &[Command]) -> String {
        let keys: Vec<&String> = commands
            .iter()
            .filter_map(|c| match c {
                Command::Submit { key, .. } => Some(key),
                _ => None,
            })
            .collect();
        match keys.as_slice() {
            [key] => (*key).clone(),
            _ => panic!("expected one submit, got {commands:?}"),
        }
    }

    #[test]
    fn sign_in_asks_for_every_part_then_sends_them() {
        let mut app = new_app(false);
        // Enter on an incomplete sign-in goes on to the next field.
        assert!(app.update(key(KeyCode::Enter)).is_empty());
        assert_eq!(app.login.focus, 1);
        app.update(key(KeyCode::BackTab));
        typed(&mut app, "dmv-renewal");
        app.update(key(KeyCode::Tab));
        typed(&mut app, "agent1");
        app.update(key(KeyCode::Tab));
        typed(&mut app, "agent1-demo-pass");
        let commands = app.update(key(KeyCode::Enter));
        let [
            Command::Login {
                application,
                user,
                password,
            },
        ] = commands.as_slice()
        else {
            panic!("{commands:?}");
        };
        assert_eq!(
            (application.as_str(), user.as_str()),
            ("DMV-RENEWAL", "agent1")
        );
        assert_eq!(password.expose(), "agent1-demo-pass");
        assert!(app.login.busy);
        app.update(Msg::LoggedIn(Err(ApiError::BadCredentials)));
        assert!(
            app.login
                .error
                .as_deref()
                .unwrap()
                .contains("application id, user id or password")
        );
        assert_eq!(
            app.login.password.value(),
            "",
            "a refused password is cleared"
        );
        assert_eq!(app.screen, Screen::Login);
    }

    #[test]
    fn signing_in_loads_the_applications_form() {
        let mut app = new_app(false);
        let commands = app.update(Msg::LoggedIn(Ok(session("DMV-RENEWAL"))));
        assert!(
            matches!(commands.as_slice(), [Command::Follow { after: 0, .. }, Command::LoadForm { application, .. }] if application == "DMV-RENEWAL"),
            "{commands:?}"
        );
        assert_eq!(app.screen, Screen::Form);
        app.update(Msg::FormLoaded(Ok(spec("DMV-RENEWAL"))));
        let labels: Vec<String> = app
            .form
            .as_ref()
            .unwrap()
            .visible()
            .iter()
            .map(|f| f.label.clone())
            .collect();
        assert!(
            labels.contains(&"Plate number".to_owned())
                && labels.contains(&"Card number".to_owned()),
            "{labels:?}"
        );
        assert!(
            !labels.contains(&"Pay by".to_owned()),
            "DMV-RENEWAL takes cards only"
        );
    }

    #[test]
    fn errors_show_once_a_field_is_left_and_the_form_stops_at_the_first() {
        let mut app = on_form();
        typed(&mut app, "Ada");
        assert_eq!(app.form.as_ref().unwrap().error("payer.email"), None);
        app.update(key(KeyCode::Tab));
        typed(&mut app, "not-an-email");
        assert_eq!(
            app.form.as_ref().unwrap().error("payer.email"),
            None,
            "not while typing the first time"
        );
        app.update(key(KeyCode::Tab));
        assert!(
            app.form
                .as_ref()
                .unwrap()
                .error("payer.email")
                .unwrap()
                .contains("@")
        );
        // Enter on the last field checks everything and goes back to the first bad one.
        for _ in 0..20 {
            app.update(key(KeyCode::Tab));
            if app.form.as_ref().unwrap().is_last() {
                break;
            }
        }
        app.update(key(KeyCode::Enter));
        assert_eq!(app.screen, Screen::Form);
        let form = app.form.as_ref().unwrap();
        assert_eq!(form.focused().unwrap().path, "payer.email");
        assert!(form.error("card.number").is_some());
    }

    #[test]
    fn card_fields_take_digits_only_and_show_the_brand() {
        let mut app = on_form();
        for _ in 0..6 {
            app.update(key(KeyCode::Tab));
        }
        typed(&mut app, "3782 8224abc6310005");
        let form = app.form.as_ref().unwrap();
        let field = form.focused().unwrap();
        assert_eq!(field.value(), "378282246310005");
        assert_eq!(form.display(field, true), "3782 822463 10005");
        assert_eq!(form.display(field, false), "378282•••••0005");
        assert_eq!(form.brand(), Some("American Express"));
    }

    #[test]
    fn a_complete_form_goes_to_the_summary_and_sends_once_with_a_key() {
        let mut app = on_summary();
        assert_eq!(app.screen, Screen::Summary);
        assert!(app.update(key(KeyCode::Esc)).is_empty());
        assert_eq!(app.screen, Screen::Form);
        app.update(key(KeyCode::Enter));
        assert_eq!(app.screen, Screen::Summary);
        assert!(
            app.update(key(KeyCode::Enter)).is_empty(),
            "a key typed ahead of the summary's first frame does not send"
        );
        seen(&mut app);
        let first = submitted_key(&app.update(key(KeyCode::Enter)));
        assert_eq!(app.screen, Screen::Processing);
        assert!(
            app.update(key(KeyCode::Enter)).is_empty(),
            "no second submit while processing"
        );
        assert!(first.starts_with("cip-TEST-"));
    }

    #[test]
    fn a_console_that_cannot_reconnect_names_the_payment_it_was_sending() {
        let mut app = on_summary();
        let key_sent = submitted_key(&app.update(key(KeyCode::Enter)));
        app.update(Msg::Connection(Connection::Lost));
        app.update(Msg::CannotConnect(
            "the daemon's certificate is not trusted".into(),
        ));
        assert!(app.quit);
        let said = app.cannot_connect.expect("the reason is kept for the exit");
        assert!(
            said.starts_with("the daemon's certificate is not trusted"),
            "{said}"
        );
        assert!(said.contains(&key_sent), "{said}");
        assert!(said.contains("before taking it again"), "{said}");
    }

    #[test]
    fn a_lost_answer_is_sent_again_with_the_same_key_once_connected() {
        let mut app = on_summary();
        let key_sent = submitted_key(&app.update(key(KeyCode::Enter)));
        app.update(Msg::Connection(Connection::Lost));
        assert!(
            app.update(Msg::Submitted {
                key: key_sent.clone(),
                answer: Answer::Lost
            })
            .is_empty()
        );
        assert!(app.pending.as_ref().unwrap().waiting);
        let again = submitted_key(&app.update(Msg::Connection(Connection::Connected)));
        assert_eq!(again, key_sent);
        // Lost while still connected (a deadline, a busy daemon): sent again a moment later.
        assert!(
            app.update(Msg::Submitted {
                key: key_sent.clone(),
                answer: Answer::Lost
            })
            .is_empty()
        );
        let busy = ApiError::Unavailable {
            reason: "busy".into(),
        };
        assert!(
            app.update(Msg::Submitted {
                key: key_sent.clone(),
                answer: Answer::Refused(busy)
            })
            .is_empty()
        );
        let later = app.now + Duration::from_millis(1_100);
        let third = submitted_key(&app.update(Msg::Tick { now: later }));
        assert_eq!(third, key_sent);
        assert_eq!(app.screen, Screen::Processing);
        // Quitting with a payment on its way asks twice.
        assert!(
            app.update(crate::testing::with_modifiers(
                KeyCode::Char('c'),
                KeyModifiers::CONTROL
            ))
            .is_empty()
        );
        assert!(!app.quit);
        assert!(matches!(
            app.update(crate::testing::with_modifiers(
                KeyCode::Char('c'),
                KeyModifiers::CONTROL
            ))
            .as_slice(),
            [Command::Quit]
        ));
        assert_eq!(app.pending.as_ref().unwrap().attempts, 3);
        // An answer to some other key changes nothing.
        app.update(Msg::Submitted {
            key: "other".into(),
            answer: Answer::Payment(Box::new(payment(PaymentStatus::Approved))),
        });
        assert_eq!(app.screen, Screen::Processing);
    }

    #[test]
    fn an_ended_session_goes_back_to_sign_in_and_keeps_the_unsent_payment() {
        let mut app = on_summary();
        let key_sent = submitted_key(&app.update(key(KeyCode::Enter)));
        app.update(Msg::Submitted {
            key: key_sent.clone(),
            answer: Answer::Refused(ApiError::SessionExpired),
        });
        assert_eq!(app.screen, Screen::Login);
        assert!(
            app.login
                .error
                .as_deref()
                .unwrap()
                .contains("session ended")
        );
        let resent = submitted_key(&app.update(Msg::LoggedIn(Ok(session("DMV-RENEWAL")))));
        assert_eq!(resent, key_sent);
        assert_eq!(app.form.as_ref().unwrap().spec.id, "DMV-RENEWAL");
    }

    #[test]
    fn a_decline_keeps_the_form_for_correcting_and_an_approval_clears_the_card() {
        let mut app = on_outcome(PaymentStatus::Declined);
        assert_eq!(app.screen, Screen::Outcome);
        app.update(key(KeyCode::Enter));
        assert_eq!(app.screen, Screen::Form);
        let form = app.form.as_ref().unwrap();
        assert_eq!(form.focused().unwrap().path, "card.number");
        let errors = form.request().unwrap_err();
        for path in ["card.number", "card.expiry", "card.cvv"] {
            assert!(errors.get(path).is_some(), "{path} is asked for again");
        }
        for path in ["payer.name", "amount", "fields.plate_number", "card.name"] {
            assert!(errors.get(path).is_none(), "{path} is kept");
        }
        // As it was met: a new card number, then Enter. It goes on to the expiry, not out.
        typed(&mut app, "5555555555554444");
        assert!(app.update(key(KeyCode::Enter)).is_empty());
        assert_eq!(app.screen, Screen::Form);
        assert_eq!(
            app.form.as_ref().unwrap().focused().unwrap().path,
            "card.expiry"
        );
        typed(&mut app, "0130");
        app.update(key(KeyCode::Tab));
        typed(&mut app, "321");
        for _ in 0..3 {
            app.update(key(KeyCode::Enter));
        }
        assert_eq!(app.screen, Screen::Summary);
        seen(&mut app);
        let next = submitted_key(&app.update(key(KeyCode::Enter)));
        assert_eq!(next, "cip-TEST-2", "a corrected payment is a new payment");
        let Some(Pending { request, .. }) = app.pending.as_ref() else {
            panic!("sent")
        };
        let cip_common::payment::PaymentMethod::Card(card) = &request.method else {
            panic!("a card payment")
        };
        assert_eq!((card.exp_month, card.exp_year), (1, 2030));
        assert_eq!(card.cvv.expose(), "321");

        let mut app = on_outcome(PaymentStatus::Approved);
        let form = app.form.as_ref().unwrap();
        assert!(
            form.request().unwrap_err().get("card.number").is_some(),
            "the card number is gone"
        );
        app.update(key(KeyCode::Char('n')));
        assert_eq!(app.screen, Screen::Form);
        assert!(
            app.form
                .as_ref()
                .unwrap()
                .visible()
                .iter()
                .all(|f| f.value().is_empty())
        );
    }

    #[test]
    fn field_errors_from_the_daemon_show_beside_their_fields() {
        let mut app = on_summary();
        let key_sent = submitted_key(&app.update(key(KeyCode::Enter)));
        let mut errors = cip_common::FieldErrors::default();
        errors.add(
            "fields.plate_number",
            "the plate number must be 1 to 8 letters or digits",
        );
        app.update(Msg::Submitted {
            key: key_sent,
            answer: Answer::Refused(ApiError::Fields(errors)),
        });
        assert_eq!(app.screen, Screen::Form);
        assert!(
            app.form
                .as_ref()
                .unwrap()
                .error("fields.plate_number")
                .is_some()
        );
    }

    #[test]
    fn receipts_are_saved_from_the_outcome_and_help_opens_where_no_field_types() {
        let mut app = on_outcome(PaymentStatus::Approved);
        let commands = app.update(key(KeyCode::Char('s')));
        let [Command::SaveReceipt { file_name, text }] = commands.as_slice() else {
            panic!("{commands:?}")
        };
        assert_eq!(file_name, "receipt-7MRES8EEG.txt");
        assert!(
            text.contains("7MRE-S8EE-G")
                && text.contains("Vehicle registration renewal")
                && !text.contains(&"4242".repeat(4))
        );
        app.update(key(KeyCode::Char('?')));
        assert!(app.help);
        app.update(key(KeyCode::Esc));
        assert!(!app.help);
        let mut app = on_form();
        typed(&mut app, "?");
        assert!(!app.help, "? is typed into a text field");
        assert_eq!(app.form.as_ref().unwrap().focused().unwrap().value(), "?");
        app.update(key(KeyCode::F(1)));
        assert!(app.help);
    }

    #[test]
    fn ach_is_offered_where_the_application_takes_it() {
        let mut app = new_app(false);
        app.update(Msg::LoggedIn(Ok(session("TAX-PAYMENT"))));
        app.update(Msg::FormLoaded(Ok(spec("TAX-PAYMENT"))));
        for _ in 0..6 {
            app.update(key(KeyCode::Tab));
        }
        assert_eq!(
            app.form.as_ref().unwrap().focused().unwrap().label,
            "Pay by"
        );
        assert!(!app.text_focused());
        app.update(key(KeyCode::Char(' ')));
        let labels: Vec<String> = app
            .form
            .as_ref()
            .unwrap()
            .visible()
            .iter()
            .map(|f| f.label.clone())
            .collect();
        assert!(
            labels.contains(&"Routing number".to_owned())
                && !labels.contains(&"Card number".to_owned())
        );
    }

    #[test]
    fn the_next_user_sees_nothing_of_the_last() {
        let mut app = crate::testing::on_feed();
        assert!(app.feed.len() > 0);
        app.update(key(KeyCode::F(10)));
        assert_eq!(app.feed.len(), 0);
        // A late batch of the signed-out supervisor's feed is dropped.
        app.update(Msg::Events(vec![crate::testing::payment_event(
            99,
            cip_common::event::EventKind::PaymentApproved,
            "PARK-RESERVE",
            "Ada",
        )]));
        assert_eq!(app.feed.len(), 0);
        let commands = app.update(Msg::LoggedIn(Ok(session("DMV-RENEWAL"))));
        assert!(
            commands
                .iter()
                .any(|c| matches!(c, Command::Follow { after: 0, .. }))
        );
        assert_eq!(app.feed.len(), 0);
        // The same user signing in again after an ended session keeps its feed, without repeats.
        app.update(Msg::Events(vec![crate::testing::payment_event(
            5,
            cip_common::event::EventKind::PaymentReceived,
            "DMV-RENEWAL",
            "Ada",
        )]));
        app.update(Msg::Submitted {
            key: "none".into(),
            answer: Answer::Lost,
        });
        app.session = None;
        let commands = app.update(Msg::LoggedIn(Ok(session("DMV-RENEWAL"))));
        assert!(
            commands
                .iter()
                .any(|c| matches!(c, Command::Follow { after: 5, .. }))
        );
        app.update(Msg::Events(vec![crate::testing::payment_event(
            5,
            cip_common::event::EventKind::PaymentReceived,
            "DMV-RENEWAL",
            "Ada",
        )]));
        assert_eq!(app.feed.len(), 1);
    }

    fn key_at(code: KeyCode, at: Instant) -> Msg {
        Msg::Key {
            key: KeyEvent::new(code, KeyModifiers::NONE),
            at,
        }
    }

    fn focused_path(app: &App) -> String {
        app.form.as_ref().unwrap().focused().unwrap().path.clone()
    }

    #[test]
    fn enter_on_a_checked_form_moves_one_field_and_never_past_the_summary() {
        let mut app = on_form();
        let card = "4242".repeat(4);
        let mut values = crate::testing::DMV_VALUES;
        values[1] = "ada@example";
        values[6] = &card;
        crate::testing::fill_values(&mut app, values);
        // Checked once with an error: the form goes back to it and shows every error.
        app.update(key(KeyCode::Enter));
        assert_eq!(app.screen, Screen::Form);
        assert_eq!(focused_path(&app), "payer.email");
        typed(&mut app, ".com");
        assert!(app.form.as_ref().unwrap().request().is_ok());
        // As it was met, Enter here jumped to the summary; now it moves one field on, and so
        // does every Enter until the last field.
        assert!(app.update(key(KeyCode::Enter)).is_empty());
        assert_eq!(app.screen, Screen::Form);
        assert_eq!(focused_path(&app), "payer.postal_code");
        while !app.form.as_ref().unwrap().is_last() {
            app.update(key(KeyCode::Enter));
            assert_eq!(app.screen, Screen::Form);
        }
        app.update(key(KeyCode::Enter));
        assert_eq!(app.screen, Screen::Summary);
    }

    #[test]
    fn keys_typed_ahead_never_send_and_sending_takes_a_key_on_the_seen_summary() {
        let mut app = on_form();
        fill(&mut app, &"4242".repeat(4));
        // Enter to the summary and a second Enter typed ahead, both read before it was drawn.
        let read = Instant::now();
        app.update(key_at(KeyCode::Enter, read));
        assert_eq!(app.screen, Screen::Summary);
        assert!(app.update(key_at(KeyCode::Enter, read)).is_empty());
        app.drawn(read + Duration::from_millis(5), (MIN_WIDTH, MIN_HEIGHT));
        assert!(
            app.update(key_at(KeyCode::Enter, read + Duration::from_millis(1)))
                .is_empty(),
            "read before the summary's frame: not meant for it"
        );
        submitted_key(&app.update(key_at(KeyCode::Enter, read + Duration::from_millis(200))));
    }

    #[test]
    fn keys_do_nothing_while_the_terminal_is_too_small() {
        let mut app = on_summary();
        app.drawn(Instant::now(), (79, 24));
        assert!(app.too_small());
        assert!(app.update(key(KeyCode::Enter)).is_empty());
        assert!(app.update(key(KeyCode::Esc)).is_empty());
        assert_eq!(app.screen, Screen::Summary);
        app.drawn(Instant::now(), (80, 24));
        submitted_key(&app.update(key(KeyCode::Enter)));
    }

    #[test]
    fn a_pasted_line_break_is_never_an_enter() {
        let mut app = on_form();
        fill(&mut app, "");
        while focused_path(&app) != "card.number" {
            app.update(key(KeyCode::BackTab));
        }
        let commands = app.update(Msg::Paste {
            text: "4242 4242 4242 4242\r\n".into(),
            at: Instant::now(),
        });
        assert!(commands.is_empty());
        assert_eq!(app.screen, Screen::Form);
        assert_eq!(focused_path(&app), "card.number");
        assert_eq!(
            app.form.as_ref().unwrap().focused().unwrap().value(),
            "4242".repeat(4)
        );
    }

    #[test]
    fn the_processing_clock_starts_when_enter_is_pressed() {
        let mut app = on_summary();
        // No tick since the app started: its clock is stale, as it was met.
        let pressed = app.now + Duration::from_secs(8);
        submitted_key(&app.update(key_at(KeyCode::Enter, pressed)));
        app.update(Msg::Tick {
            now: pressed + Duration::from_millis(300),
        });
        assert_eq!(app.elapsed(), Duration::from_millis(300));
    }

    #[test]
    fn typing_keeps_the_session_alive_and_a_session_ended_mid_form_takes_no_typed_ahead_digits() {
        let mut app = on_form();
        let start = app.now;
        let keep_alives = |commands: Vec<Command>| {
            commands
                .iter()
                .filter(|c| matches!(c, Command::KeepAlive { .. }))
                .count()
        };
        assert_eq!(
            keep_alives(app.update(key_at(KeyCode::Char('A'), start))),
            0
        );
        let later = start + Duration::from_secs(61);
        assert_eq!(
            keep_alives(app.update(key_at(KeyCode::Char('d'), later))),
            1
        );
        assert_eq!(
            keep_alives(app.update(key_at(KeyCode::Char('a'), later + Duration::from_secs(1)))),
            0,
            "at most once a minute"
        );
        // The session ends anyway (the daemon restarted): digits typed before the sign-in
        // screen is drawn do not go into its password.
        app.update(Msg::FormLoaded(Err(ApiError::SessionExpired)));
        assert_eq!(app.screen, Screen::Login);
        typed(&mut app, "4242");
        assert_eq!(app.login.password.value(), "");
        seen(&mut app);
        typed(&mut app, "x");
        assert_eq!(app.login.password.value(), "x");
    }

    #[test]
    fn a_form_is_cleared_or_signed_out_of_only_when_the_agent_says_yes() {
        let mut app = on_form();
        // An empty form: Esc does nothing, F10 signs out at once.
        app.update(key(KeyCode::Esc));
        assert!(app.confirm.is_none());
        typed(&mut app, "Ada");
        app.update(key(KeyCode::Esc));
        assert!(
            app.confirm
                .as_ref()
                .unwrap()
                .question
                .contains("Clear this form")
        );
        app.update(key(KeyCode::Char('n')));
        assert_eq!(app.form.as_ref().unwrap().focused().unwrap().value(), "Ada");
        app.update(key(KeyCode::Esc));
        app.update(key(KeyCode::Char('y')));
        assert!(!app.form.as_ref().unwrap().is_filled());
        assert_eq!(app.screen, Screen::Form);

        typed(&mut app, "Ada");
        assert!(app.update(key(KeyCode::F(10))).is_empty());
        assert!(
            app.session.is_some(),
            "a filled form is not dropped unasked"
        );
        assert!(app.confirm.as_ref().unwrap().question.contains("discarded"));
        app.update(key(KeyCode::Esc));
        assert!(app.session.is_some());
        app.update(key(KeyCode::F(10)));
        let commands = app.update(key(KeyCode::Char('y')));
        assert!(commands.iter().any(|c| matches!(c, Command::Logout { .. })));
        assert_eq!(app.screen, Screen::Login);

        let mut app = on_form();
        let commands = app.update(key(KeyCode::F(10)));
        assert!(commands.iter().any(|c| matches!(c, Command::Logout { .. })));
    }

    #[test]
    fn the_card_holder_and_postal_code_start_as_the_payers() {
        let mut app = on_form();
        typed(&mut app, "Ada Lovelace");
        app.update(key(KeyCode::Tab));
        app.update(key(KeyCode::Tab));
        typed(&mut app, "94107");
        while focused_path(&app) != "card.name" {
            app.update(key(KeyCode::Tab));
        }
        let form = app.form.as_ref().unwrap();
        assert_eq!(form.focused().unwrap().value(), "Ada Lovelace");
        assert!(form.is_suggested("card.name"));
        app.update(key(KeyCode::Tab));
        assert_eq!(
            app.form.as_ref().unwrap().focused().unwrap().value(),
            "94107"
        );
        // Typing replaces an offered value; Backspace clears it.
        typed(&mut app, "10001");
        assert_eq!(
            app.form.as_ref().unwrap().focused().unwrap().value(),
            "10001"
        );
        app.update(key(KeyCode::BackTab));
        assert_eq!(
            app.form.as_ref().unwrap().focused().unwrap().value(),
            "Ada Lovelace",
            "Tab kept it"
        );
        assert!(!app.form.as_ref().unwrap().is_suggested("card.name"));
    }

    #[test]
    fn an_in_doubt_outcome_follows_its_payment_to_the_end() {
        let mut app = on_outcome(PaymentStatus::InDoubt);
        let id = app.outcome.as_ref().unwrap().id.clone();
        let mut other = crate::testing::payment_event(
            40,
            cip_common::event::EventKind::PaymentApproved,
            "DMV-RENEWAL",
            "Grace Hopper",
        );
        assert!(app.update(Msg::Events(vec![other.clone()])).is_empty());
        if let cip_common::event::EventDetail::Payment { payment_id, .. } = &mut other.detail {
            payment_id.clone_from(&id);
        }
        other.kind = cip_common::event::EventKind::PaymentResolved;
        let commands = app.update(Msg::Events(vec![other]));
        assert!(
            matches!(commands.as_slice(), [Command::LoadOutcome { payment_id, .. }] if *payment_id == id),
            "{commands:?}"
        );
        app.update(Msg::OutcomeLoaded(Ok(Box::new(payment(
            PaymentStatus::Approved,
        )))));
        let outcome = app.outcome.as_ref().unwrap();
        assert_eq!(outcome.status, PaymentStatus::Approved);
        assert_eq!(outcome.confirmation_code.as_deref(), Some("7MRE-S8EE-G"));
        assert_eq!(app.screen, Screen::Outcome);
    }

    #[test]
    fn fill_reaches_the_last_field() {
        let mut app = on_form();
        fill(&mut app, &"4242".repeat(4));
        assert!(app.form.as_ref().unwrap().is_last());
    }
}
