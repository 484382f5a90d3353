//! The console's state and `update`: a key or a daemon's answer in, the new state and the
//! commands for the client task out. No I/O, no clock, no terminal: tests drive it directly.

use crate::form::PaymentForm;
use cip_common::error::ApiError;
use cip_common::form::ApplicationSpec;
use cip_common::payment::{Payment, PaymentRequest};
use cip_common::secret::{Password, SessionToken};
use cip_common::session::SessionInfo;
use cip_common::status::PaymentStatus;
use ratatui::crossterm::event::{Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use std::time::{Duration, Instant};
use tui_input::Input;
use tui_input::backend::crossterm::to_input_request;

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
    Payment(Payment),
    Refused(ApiError),
    /// The connection or the deadline failed: the outcome is not known yet.
    Lost,
}

#[derive(Debug)]
pub enum Msg {
    Key(KeyEvent),
    /// Time passed; sent while something on screen shows it.
    Tick { now: Instant },
    Resized,
    Connection(Connection),
    LoggedIn(Result<SessionInfo, ApiError>),
    FormLoaded(Result<ApplicationSpec, ApiError>),
    Submitted { key: String, answer: Answer },
    ReceiptSaved(Result<String, String>),
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
}

#[derive(Debug)]
pub struct App {
    pub screen: Screen,
    pub connection: Connection,
    /// Where the daemon is, for the status bar and messages.
    pub daemon: String,
    pub login: LoginForm,
    pub demo: Vec<DemoLogin>,
    pub session: Option<SessionInfo>,
    pub form: Option<PaymentForm>,
    pub pending: Option<Pending>,
    pub outcome: Option<Payment>,
    pub help: bool,
    pub notice: Option<String>,
    pub now: Instant,
    pub today: time::Date,
    /// Unique per console run; idempotency keys are `<nonce>-<n>`.
    key_nonce: String,
    keys_made: u64,
    pub quit: bool,
}

impl App {
    pub fn new(daemon: String, demo: Vec<DemoLogin>, key_nonce: String, now: Instant, today: time::Date) -> App {
        App {
            screen: Screen::Login,
            connection: Connection::Connecting,
            daemon,
            login: LoginForm::default(),
            demo,
            session: None,
            form: None,
            pending: None,
            outcome: None,
            help: false,
            notice: None,
            now,
            today,
            key_nonce,
            keys_made: 0,
            quit: false,
        }
    }

    /// Whether a text field has the keyboard (then `?` is typed, not help).
    pub fn text_focused(&self) -> bool {
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
        self.pending
            .as_ref()
            .map_or(Duration::ZERO, |p| self.now.saturating_duration_since(p.started))
    }

    pub fn update(&mut self, msg: Msg) -> Vec<Command> {
        match msg {
            Msg::Key(key) if key.kind != KeyEventKind::Release => self.key(key),
            Msg::Key(_) | Msg::Resized => Vec::new(),
            Msg::Tick { now } => {
                self.now = now;
                Vec::new()
            }
            Msg::Connection(state) => self.connection_changed(state),
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
            self.quit = true;
            return vec![Command::Quit];
        }
        if key.code == KeyCode::F(1) || (key.code == KeyCode::Char('?') && !self.text_focused()) {
            self.help = !self.help;
            return Vec::new();
        }
        if self.help {
            if key.code == KeyCode::Esc {
                self.help = false;
            }
            return Vec::new();
        }
        if key.code == KeyCode::F(10) && self.session.is_some() && self.screen != Screen::Processing {
            return self.sign_out();
        }
        self.notice = None;
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
                if let Some(request) = to_input_request(&Event::Key(key)) {
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
                if let Some(request) = to_input_request(&Event::Key(key)) {
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
        self.form = None;
        self.outcome = None;
        self.pending = None;
        self.login = LoginForm::default();
        self.login.error = Some("Signed out".into());
        self.screen = Screen::Login;
        commands
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
                self.session = Some(session);
                let kept = self.form.as_ref().is_some_and(|f| f.spec.id == application);
                if !kept {
                    self.form = None;
                    self.pending = None;
                }
                if self.pending.is_some() {
                    return self.resend();
                }
                self.screen = Screen::Form;
                if kept {
                    Vec::new()
                } else {
                    vec![Command::LoadForm { token, application }]
                }
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
                Err(problem) => self.notice = Some(format!("This application's form is broken: {problem}")),
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
        self.login.error = Some("Your session ended: sign in again. Your unsent payment is kept.".into());
        self.login.focus = 2;
    }

    fn submitted(&mut self, key: &str, answer: Answer) -> Vec<Command> {
        if self.pending.as_ref().is_none_or(|p| p.key != key) {
            return Vec::new();
        }
        match answer {
            Answer::Payment(payment) => {
                self.pending = None;
                if payment.status != PaymentStatus::Declined
                    && let Some(form) = self.form.as_mut()
                {
                    form.clear_secrets();
                }
                self.outcome = Some(payment);
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
            Answer::Refused(error) => {
                self.pending = None;
                self.notice = Some(error.to_string());
                self.screen = Screen::Summary;
                Vec::new()
            }
            Answer::Lost => {
                if let Some(pending) = self.pending.as_mut() {
                    pending.waiting = true;
                }
                if self.connection == Connection::Connected {
                    self.resend()
                } else {
                    Vec::new()
                }
            }
        }
    }

    /// Whether `Tick`s are needed for the screen to stay true (the elapsed time).
    pub fn wants_ticks(&self) -> bool {
        self.screen == Screen::Processing
    }

}
