//! The reports view (supervisors): a filter to export payments as CSV into a file beside the
//! console, and a day's reconciliation of an application.

use super::{App, Command};
use cip_common::calendar;
use cip_common::error::ApiError;
use cip_common::payment::Mode;
use cip_common::report::{Reconciliation, ReportFilter};
use cip_common::status::PaymentStatus;
use ratatui::crossterm::event::{Event as TermEvent, KeyCode, KeyEvent, KeyModifiers};
use tui_input::Input;
use tui_input::backend::crossterm::to_input_request;

/// The filter's fields, in screen order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportField {
    Application,
    From,
    To,
    Status,
    Mode,
}

impl ReportField {
    pub const ALL: [ReportField; 5] = [
        ReportField::Application,
        ReportField::From,
        ReportField::To,
        ReportField::Status,
        ReportField::Mode,
    ];

    pub fn label(self) -> &'static str {
        match self {
            ReportField::Application => "Application",
            ReportField::From => "From day",
            ReportField::To => "To day",
            ReportField::Status => "Status",
            ReportField::Mode => "Mode",
        }
    }

    pub fn hint(self) -> &'static str {
        match self {
            ReportField::Application => "one of your applications",
            ReportField::From => "YYYY-MM-DD",
            ReportField::To => "YYYY-MM-DD, included",
            ReportField::Status => "approved, declined, failed, in_doubt or voided",
            ReportField::Mode => "gateway, partial or full",
        }
    }
}

/// An export on its way to a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exporting {
    pub file_name: String,
    pub rows: u64,
}

#[derive(Debug, Default)]
pub struct ReportsView {
    pub inputs: [Input; 5],
    pub errors: [Option<String>; 5],
    pub focus: usize,
    pub exporting: Option<Exporting>,
    /// The last export's file and row count.
    pub exported: Option<(String, u64)>,
    pub reconciliation: Option<Reconciliation>,
    pub reconciling: bool,
}

impl ReportsView {
    pub fn for_application(application: &str) -> ReportsView {
        let mut view = ReportsView::default();
        view.inputs[0] = Input::new(application.to_owned());
        view
    }

    fn text(&self, field: ReportField) -> &str {
        self.inputs[field as usize].value().trim()
    }

    /// The filter typed in, or each field's error set beside it.
    fn filter(&mut self) -> Option<ReportFilter> {
        self.errors = Default::default();
        let application = self.text(ReportField::Application).to_owned();
        let optional = |text: &str| (!text.is_empty()).then(|| text.to_owned());
        let from = optional(self.text(ReportField::From)).map(|t| calendar::parse_day(&t));
        let to = optional(self.text(ReportField::To)).map(|t| calendar::parse_day(&t));
        let status = optional(self.text(ReportField::Status)).map(|t| {
            PaymentStatus::from_code(&t).ok_or_else(|| {
                format!("{t:?} is not a status: approved, declined, failed, in_doubt, voided or processing")
            })
        });
        let mode = optional(self.text(ReportField::Mode)).map(|t| {
            Mode::from_code(&t)
                .ok_or_else(|| format!("{t:?} is not a mode: gateway, partial or full"))
        });
        if application.is_empty() {
            self.errors[ReportField::Application as usize] =
                Some("type the application id, like DMV-RENEWAL".into());
        }
        let mut check = |field: ReportField, error: Option<&String>| {
            if let Some(e) = error {
                self.errors[field as usize] = Some(e.clone());
            }
        };
        check(
            ReportField::From,
            from.as_ref().and_then(|r| r.as_ref().err()),
        );
        check(ReportField::To, to.as_ref().and_then(|r| r.as_ref().err()));
        check(
            ReportField::Status,
            status.as_ref().and_then(|r| r.as_ref().err()),
        );
        check(
            ReportField::Mode,
            mode.as_ref().and_then(|r| r.as_ref().err()),
        );
        if let (Some(Ok(from)), Some(Ok(to))) = (&from, &to)
            && to < from
        {
            self.errors[ReportField::To as usize] =
                Some("the last day comes before the first: swap them".into());
        }
        if self.errors.iter().any(Option::is_some) {
            self.focus = self.errors.iter().position(Option::is_some).unwrap_or(0);
            return None;
        }
        Some(ReportFilter {
            application,
            from: from.and_then(Result::ok),
            to: to.and_then(Result::ok),
            status: status.and_then(Result::ok),
            mode: mode.and_then(Result::ok),
            ..ReportFilter::default()
        })
    }
}

/// `payments-<APPLICATION>-<first day or "all">-<last day or "now">.csv`.
fn file_name(filter: &ReportFilter) -> String {
    let day =
        |d: Option<jiff::civil::Date>, none: &str| d.map_or(none.to_owned(), |d| d.to_string());
    format!(
        "payments-{}-{}-{}.csv",
        filter.application,
        day(filter.from, "all"),
        day(filter.to, "now")
    )
}

impl App {
    pub(super) fn reports_key(&mut self, key: KeyEvent) -> Vec<Command> {
        let Some(token) = self.token() else {
            return Vec::new();
        };
        let reports = &mut self.reports;
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Tab | KeyCode::Down => reports.focus = (reports.focus + 1) % 5,
            KeyCode::BackTab | KeyCode::Up => reports.focus = (reports.focus + 4) % 5,
            KeyCode::Enter if reports.exporting.is_some() => {
                self.notice = Some("An export is on its way: wait for it to finish".into());
            }
            KeyCode::Enter => {
                if let Some(filter) = reports.filter() {
                    let file_name = file_name(&filter);
                    reports.exporting = Some(Exporting {
                        file_name: file_name.clone(),
                        rows: 0,
                    });
                    return vec![Command::Export {
                        token,
                        filter: Box::new(filter),
                        file_name,
                    }];
                }
            }
            KeyCode::Char('r') if ctrl => {
                if let Some(filter) = reports.filter() {
                    reports.reconciling = true;
                    return vec![Command::Reconcile {
                        token,
                        application: filter.application,
                        day: filter.from,
                    }];
                }
            }
            _ => {
                if let Some(request) = to_input_request(&TermEvent::Key(key)) {
                    reports.inputs[reports.focus].handle(request);
                    reports.errors[reports.focus] = None;
                }
            }
        }
        Vec::new()
    }

    pub(super) fn export_progress(&mut self, rows: u64) {
        if let Some(exporting) = self.reports.exporting.as_mut() {
            exporting.rows = rows;
        }
    }

    pub(super) fn exported(&mut self, result: Result<(String, u64), ApiError>) {
        self.reports.exporting = None;
        match result {
            Ok(done) => self.reports.exported = Some(done),
            Err(ApiError::SessionExpired) => self.session_ended(),
            Err(e) => self.notice = Some(format!("The export stopped: {e}")),
        }
    }

    pub(super) fn reconciled(&mut self, result: Result<Reconciliation, ApiError>) {
        self.reports.reconciling = false;
        match result {
            Ok(reconciliation) => self.reports.reconciliation = Some(reconciliation),
            Err(ApiError::SessionExpired) => self.session_ended(),
            Err(e) => self.notice = Some(format!("No reconciliation: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::Msg;
    use crate::testing::{key, on_feed, typed};

    fn on_reports() -> App {
        let mut app = on_feed();
        app.update(key(KeyCode::F(6)));
        app
    }

    #[test]
    fn a_wrong_field_is_named_and_nothing_is_asked() {
        let mut app = on_reports();
        assert_eq!(app.reports.inputs[0].value(), "DMV-RENEWAL");
        app.update(key(KeyCode::Tab));
        typed(&mut app, "2026-11-31");
        app.update(key(KeyCode::Tab));
        app.update(key(KeyCode::Tab));
        typed(&mut app, "paid");
        assert!(app.update(key(KeyCode::Enter)).is_empty());
        let errors = &app.reports.errors;
        assert!(errors[1].as_ref().is_some_and(|e| e.contains("YYYY-MM-DD")));
        assert!(
            errors[3]
                .as_ref()
                .is_some_and(|e| e.contains("not a status"))
        );
        assert_eq!(app.reports.focus, 1, "the first wrong field has the cursor");
    }

    #[test]
    fn enter_exports_the_filter_and_ctrl_r_reconciles_its_first_day() {
        let mut app = on_reports();
        app.update(key(KeyCode::Tab));
        typed(&mut app, "2026-11-01");
        app.update(key(KeyCode::Tab));
        typed(&mut app, "2026-11-29");
        app.update(key(KeyCode::Tab));
        typed(&mut app, "approved");
        let commands = app.update(key(KeyCode::Enter));
        let [
            Command::Export {
                filter, file_name, ..
            },
        ] = commands.as_slice()
        else {
            panic!("{commands:?}");
        };
        assert_eq!(file_name, "payments-DMV-RENEWAL-2026-11-01-2026-11-29.csv");
        assert_eq!(filter.status, Some(PaymentStatus::Approved));
        // One export at a time.
        assert!(app.update(key(KeyCode::Enter)).is_empty());
        app.update(Msg::ExportProgress(500));
        assert_eq!(app.reports.exporting.as_ref().map(|e| e.rows), Some(500));
        app.update(Msg::Exported(Ok(("/tmp/x.csv".into(), 812))));
        assert_eq!(app.reports.exported, Some(("/tmp/x.csv".into(), 812)));

        let ctrl_r = crate::testing::with_modifiers(KeyCode::Char('r'), KeyModifiers::CONTROL);
        let commands = app.update(ctrl_r);
        let [
            Command::Reconcile {
                application, day, ..
            },
        ] = commands.as_slice()
        else {
            panic!("{commands:?}");
        };
        assert_eq!(application, "DMV-RENEWAL");
        assert_eq!(day.map(|d| d.to_string()).as_deref(), Some("2026-11-01"));
    }

    #[test]
    fn agents_have_no_reports() {
        let mut app = crate::testing::on_form();
        app.update(key(KeyCode::F(6)));
        assert_eq!(app.notice.as_deref(), Some("Reports are for supervisors"));
    }
}
