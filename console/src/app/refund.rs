//! A supervisor's refund from a payment's detail, asked one line at a time: the amount (the
//! whole refundable amount unless changed), the reason, a note; then a summary to confirm.

use super::views::{Action, Confirm, PromptFor};
use super::{App, Command};
use cip_common::money::Money;
use cip_common::payment::Payment;
use cip_common::refund::{RefundReason, RefundRequest};
use cip_common::status::PaymentStatus;

/// What has been asked so far of a refund being keyed in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefundDraft {
    pub payment_id: String,
    /// What the payment may still give back, as the detail showed it: the daemon refuses the
    /// refund if that has changed since.
    pub refundable: Money,
    pub amount: Option<Money>,
    pub reason: Option<RefundReason>,
}

impl RefundDraft {
    /// The question of the step this draft is at.
    pub fn label(&self) -> String {
        match (self.amount, self.reason) {
            (None, _) => format!(
                " Amount to refund, at most {} (Enter takes it; Esc cancels)",
                self.refundable
            ),
            (Some(_), None) => {
                " Reason: d duplicate, r requested by the customer, f fraudulent, o other".into()
            }
            (Some(_), Some(_)) => " A note for the agency's finance office (optional)".into(),
        }
    }

    pub fn marker(&self) -> &'static str {
        match (self.amount, self.reason) {
            (None, _) => " Refund: ",
            (Some(_), None) => " Reason: ",
            (Some(_), Some(_)) => " Note: ",
        }
    }
}

/// The reason a typed letter or code names.
fn reason_of(typed: &str) -> Option<RefundReason> {
    let typed = typed.to_lowercase();
    RefundReason::ALL
        .into_iter()
        .find(|r| r.code() == typed || (typed.len() == 1 && r.code().starts_with(&typed)))
}

impl App {
    /// `r` on a payment's detail: resolve it when in doubt, else a supervisor's refund.
    pub(super) fn refund_or_resolve(&mut self, payment: &Payment) {
        if payment.status == PaymentStatus::InDoubt {
            self.confirm_resolve(payment.id.clone(), payment.status);
        } else if !self.is_supervisor() {
            self.notice = Some("Only a supervisor can refund payments".into());
        } else if payment.status != PaymentStatus::Approved {
            self.notice = Some(format!(
                "Only an approved payment can be refunded; this one is {}",
                payment.status
            ));
        } else if payment.refundable().minor == 0 {
            self.notice = Some(format!(
                "Nothing more of {} can be refunded: {} refunded, the rest waiting on the processor",
                payment.id,
                payment.refunded()
            ));
        } else {
            let refundable = payment.refundable();
            self.open_prompt(
                PromptFor::Refund(RefundDraft {
                    payment_id: payment.id.clone(),
                    refundable,
                    amount: None,
                    reason: None,
                }),
                refundable.amount_text(),
            );
        }
    }

    /// The line typed at a refund's step: the next step, or the summary to confirm.
    pub(super) fn refund_step(&mut self, mut draft: RefundDraft, line: &str) -> Result<(), String> {
        match (draft.amount, draft.reason) {
            (None, _) => {
                let currency = draft.refundable.currency;
                let amount = Money::parse(line, currency)
                    .ok()
                    .filter(|a| a.minor > 0)
                    .ok_or_else(|| {
                        format!(
                            "Type an amount above zero, like {}",
                            draft.refundable.amount_text()
                        )
                    })?;
                if amount.minor > draft.refundable.minor {
                    return Err(format!(
                        "At most {} can still be refunded: type that or less",
                        draft.refundable
                    ));
                }
                draft.amount = Some(amount);
                self.open_prompt(PromptFor::Refund(draft), String::new());
            }
            (Some(_), None) => {
                draft.reason = Some(reason_of(line).ok_or(
                    "Type d, r, f or o: duplicate, requested by the customer, fraudulent, other",
                )?);
                self.open_prompt(PromptFor::Refund(draft), String::new());
            }
            (Some(amount), Some(reason)) => {
                let request = RefundRequest {
                    amount_minor: amount.minor,
                    reason,
                    note: line.to_owned(),
                    expected_refundable_minor: Some(draft.refundable.minor),
                };
                request.check().map_err(|e| match e {
                    cip_common::error::ApiError::Fields(errors) => errors
                        .get("note")
                        .map(|m| format!("Note: {m}"))
                        .unwrap_or_else(|| errors.to_string()),
                    other => other.to_string(),
                })?;
                let Some(token) = self.token() else {
                    return Ok(());
                };
                let left = Money::new(draft.refundable.minor - amount.minor, amount.currency);
                self.prompt = None;
                self.confirm = Some(Confirm {
                    question: format!(
                        "Refund {amount} of {} ({}) to the card or account it was paid with? {left} stays refundable. (y/n)",
                        draft.payment_id,
                        reason.label()
                    ),
                    action: Action::Call(Command::Refund {
                        token,
                        payment_id: draft.payment_id,
                        key: self.new_idempotency_key(),
                        request,
                    }),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::app::{Command, Msg, PromptFor};
    use crate::testing::{detail, key, on_feed, payment, typed};
    use cip_common::refund::RefundReason;
    use cip_common::status::PaymentStatus;
    use ratatui::crossterm::event::KeyCode;

    fn enter(app: &mut crate::app::App, line: &str) -> Vec<Command> {
        let field = app.prompt.as_ref().expect("a prompt").input.value().len();
        for _ in 0..field {
            app.update(key(KeyCode::Backspace));
        }
        typed(app, line);
        app.update(key(KeyCode::Enter))
    }

    fn error(app: &crate::app::App) -> String {
        app.prompt
            .as_ref()
            .and_then(|p| p.error.clone())
            .unwrap_or_default()
    }

    #[test]
    fn a_supervisor_keys_a_refund_step_by_step_and_confirms_its_summary() {
        let mut app = on_feed();
        let mut paid = payment(PaymentStatus::Approved);
        paid.refunds.refunded_minor = 500;
        app.update(detail(paid, Vec::new()));
        assert!(app.update(key(KeyCode::Char('r'))).is_empty());
        assert_eq!(
            app.prompt.as_ref().map(|p| p.input.value().to_owned()),
            Some("20.00".to_owned()),
            "the whole refundable amount, unless changed"
        );
        enter(&mut app, "20.01");
        assert!(error(&app).contains("At most 20.00 USD"), "{}", error(&app));
        enter(&mut app, "0");
        assert!(error(&app).contains("above zero"), "{}", error(&app));
        enter(&mut app, "12.50");
        enter(&mut app, "x");
        assert!(error(&app).contains("d, r, f or o"), "{}", error(&app));
        enter(&mut app, "r");
        enter(&mut app, "4242 4242 4242 4242");
        assert!(error(&app).contains("card number"), "{}", error(&app));
        assert!(enter(&mut app, "customer moved away").is_empty());
        let question = &app.confirm.as_ref().expect("asks first").question;
        assert!(
            question
                .contains("Refund 12.50 USD of pay_01KB2R3M4N5Q8W7XY (requested by the customer)")
                && question.contains("7.50 USD stays refundable"),
            "{question}"
        );
        let sent = app.update(key(KeyCode::Char('y')));
        let [Command::Refund { request, key, .. }] = sent.as_slice() else {
            panic!("{sent:?}");
        };
        assert_eq!(request.amount_minor, 1_250);
        assert_eq!(request.reason, RefundReason::RequestedByCustomer);
        assert_eq!(request.expected_refundable_minor, Some(2_000));
        assert!(!key.is_empty());
        // Once answered, the detail is read again to show what is left.
        let reload = app.update(Msg::ActionDone(Ok("refunded".into())));
        assert!(
            matches!(reload.as_slice(), [Command::LoadDetail { .. }]),
            "{reload:?}"
        );
    }

    #[test]
    fn esc_drops_a_refund_and_only_an_approved_payment_is_refunded() {
        let mut app = on_feed();
        app.update(detail(payment(PaymentStatus::Approved), Vec::new()));
        app.update(key(KeyCode::Char('r')));
        assert!(matches!(
            app.prompt.as_ref().map(|p| &p.purpose),
            Some(PromptFor::Refund(_))
        ));
        app.update(key(KeyCode::Esc));
        assert!(app.prompt.is_none() && app.confirm.is_none());
        let mut app = on_feed();
        app.update(detail(payment(PaymentStatus::Declined), Vec::new()));
        app.update(key(KeyCode::Char('r')));
        assert!(app.prompt.is_none());
        assert!(
            app.notice
                .as_deref()
                .is_some_and(|n| n.contains("this one is declined"))
        );
    }
}
