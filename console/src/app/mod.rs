//! The console's state and `update`: a key or a daemon's answer in, the new state and the
//! commands for the client task out. No I/O, no clock, no terminal: tests drive it directly.
//! This file holds sign-in and the payment flow; `views` the feed, payments, queue and reports.

mod reports;
mod scroll;
mod views;

pub use scroll::Scroll;

pub use reports::{ReportField, ReportsView};
pub use views::{Confirm, Detail, PaymentsTable, Prompt, PromptFor, View};

use crate::feed::Feed;
use crate::form::PaymentForm;
use cip_common::error::ApiError;
use cip_common::event::Event;
use cip_common::form::ApplicationSpec;
use cip_common::money::Money;
use cip_common::payment::{Payment, PaymentRequest, SearchPage, SearchQuery};
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
    Key(KeyEvent),
    /// Time passed; sent while something on screen shows it.
    Tick {
        now: Instant,
    },
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
        filter: ReportFilter,
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
    Unlock {
        token: SessionToken,
        user: String,
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
    pub screen: Screen,
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
    pub payments: PaymentsTable,
    pub reports: ReportsView,
    pub prompt: Option<Prompt>,
    pub confirm: Option<Confirm>,
    /// Who the views' data belongs to: (user, application) of the last sign-in.
    signed_in_as: Option<(String, String)>,
    pub now: Instant,
    pub today: time::Date,
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
        today: time::Date,
    ) -> App {
        App {
            screen: Screen::Login,
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

    /// Time on the processing screen.
    pub fn elapsed(&self) -> Duration {
        self.pending.as_ref().map_or(Duration::ZERO, |p| {
            self.now.saturating_duration_since(p.started)
        })
    }

    pub fn update(&mut self, msg: Msg) -> Vec<Command> {
        match msg {
            Msg::Key(key) if key.kind != KeyEventKind::Release => self.key(key),
            Msg::Key(_) | Msg::Resized => Vec::new(),
            Msg::Tick { now } => {
                self.now = now;
                let mut commands = self.retry_due();
                commands.extend(self.stats_due());
                commands
            }
            Msg::Events(events) => {
                self.feed_arrived(events);
                Vec::new()
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

    fn key(&mut self, key: KeyEvent) -> Vec<Command> {
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
        if key.code == KeyCode::F(10) && self.session.is_some() && self.screen != Screen::Processing
        {
            return self.sign_out();
        }
        self.notice = None;
        if self.session.is_some() {
            if let Some(view) = View::for_key(&key) {
                return self.switch_view(view);
            }
            if self.view != View::NewPayment || self.prompt.is_some() || self.confirm.is_some() {
                return self.view_key(key);
            }
        }
        match self.screen {
            Screen::Login => self.login_key(key),
            Screen::Form => self.form_key(key),
            Screen::Summary => self.summary_key(key),
            Screen::Processing => Vec::new(),
            Screen::Outcome => self.outcome_key(key),
        }
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
            KeyCode::Enter => {
                if form.is_last() || form.show_all_errors {
                    if form.check_all() {
                        self.screen = Screen::Summary;
                    }
                } else {
                    form.next();
                }
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
                self.screen = Screen::Form;
                Vec::new()
            }
            KeyCode::Enter => self.send(),
            _ => Vec::new(),
        }
    }

    /// Sends the form's payment under a new idempotency key.
    fn send(&mut self) -> Vec<Command> {
        let (Some(form), Some(session)) = (self.form.as_ref(), self.session.as_ref()) else {
            return Vec::new();
        };
        let Ok(request) = form.request() else {
            self.screen = Screen::Form;
            return Vec::new();
        };
        self.keys_made += 1;
        let key = format!("{}-{}", self.key_nonce, self.keys_made);
        self.pending = Some(Pending {
            key: key.clone(),
            request: request.clone(),
            started: self.now,
            attempts: 1,
            waiting: false,
            retry_at: None,
        });
        self.screen = Screen::Processing;
        vec![Command::Submit {
            token: session.token.clone(),
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
        self.screen = Screen::Processing;
        vec![Command::Submit {
            token: session.token.clone(),
            key: pending.key.clone(),
            request: Box::new(pending.request.clone()),
        }]
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
                let Some(payment) = self.outcome.as_ref() else {
                    return Vec::new();
                };
                vec![Command::SaveReceipt {
                    file_name: crate::receipt::file_name(payment),
                    text: crate::receipt::text(payment),
                }]
            }
            KeyCode::Enter | KeyCode::Esc | KeyCode::Char('e') if declined => {
                self.screen = Screen::Form;
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    fn new_payment(&mut self) {
        if let Some(form) = self.form.as_ref() {
            self.form = PaymentForm::new(form.spec.clone(), self.today).ok();
        }
        self.outcome = None;
        self.screen = Screen::Form;
    }

    fn sign_out(&mut self) -> Vec<Command> {
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
        self.screen = Screen::Login;
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
                let mut commands = vec![follow];
                if self.pending.is_some() {
                    commands.extend(self.resend());
                    return commands;
                }
                self.screen = Screen::Form;
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
        self.screen = Screen::Login;
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
                self.screen = Screen::Outcome;
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
                self.screen = Screen::Form;
                Vec::new()
            }
            Answer::Refused(
                error @ (ApiError::BadCredentials
                | ApiError::Locked { .. }
                | ApiError::Forbidden { .. }
                | ApiError::IdempotencyConflict { .. }
                | ApiError::NotFound { .. }
                | ApiError::InvalidRequest { .. }),
            ) => {
                self.pending = None;
                self.notice = Some(error.to_string());
                self.screen = Screen::Summary;
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

    /// Whether `Tick`s are needed: the elapsed time while processing, the queue's refresh.
    pub fn wants_ticks(&self) -> bool {
        self.screen == Screen::Processing || (self.view == View::Queue && self.session.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{
        fill, key, new_app, on_form, on_outcome, on_summary, payment, session, spec, typed,
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
            app.update(Msg::Key(KeyEvent::new(
                KeyCode::Char('c'),
                KeyModifiers::CONTROL
            )))
            .is_empty()
        );
        assert!(!app.quit);
        assert!(matches!(
            app.update(Msg::Key(KeyEvent::new(
                KeyCode::Char('c'),
                KeyModifiers::CONTROL
            )))
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
        assert!(
            app.form.as_ref().unwrap().request().is_ok(),
            "every value kept"
        );
        let next = submitted_key(&{
            app.update(key(KeyCode::Enter));
            app.update(key(KeyCode::Enter))
        });
        assert_eq!(next, "cip-TEST-2", "a corrected payment is a new payment");

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
            text.contains("Confirmation code: 7MRE-S8EE-G") && !text.contains(&"4242".repeat(4))
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

    #[test]
    fn fill_reaches_the_last_field() {
        let mut app = on_form();
        fill(&mut app, &"4242".repeat(4));
        assert!(app.form.as_ref().unwrap().is_last());
    }
}
