//! The summary before sending: amount, fee, total, payer, the application's fields and the masked
//! card or account.

use crate::app::App;
use crate::theme::Theme;
use cip_common::card::brand_of;
use cip_common::payment::PaymentMethod;
use cip_common::secret::mask_pan;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::Paragraph;

pub fn render(frame: &mut Frame, area: Rect, app: &App, theme: Theme) {
    let Some(form) = app.form.as_ref() else {
        return;
    };
    let Ok(request) = form.request() else { return };
    let amount = cip_common::money::Money::new(request.amount_minor, request.currency);
    let row = |label: &str, value: String| Line::from(format!(" {label:<22}{value}"));
    let mut lines = vec![
        Line::from(""),
        row(
            "Application",
            format!("{} · {}", form.spec.id, form.spec.name),
        ),
        row("Amount", amount.to_string()),
        row(
            "Fee",
            format!(
                "none ({})",
                cip_common::money::Money::new(0, request.currency)
            ),
        ),
        Line::styled(format!(" {:<22}{amount}", "Total"), theme.title()),
        Line::from(""),
        row(
            "Payer",
            match request.payer.email.as_str() {
                "" => format!("{} {}", request.payer.name, request.payer.postal_code),
                email => format!(
                    "{} <{email}> {}",
                    request.payer.name, request.payer.postal_code
                ),
            },
        ),
    ];
    for spec in &form.spec.fields {
        if let Some(value) = request.fields.get(&spec.name) {
            lines.push(row(&crate::form::capitalized(&spec.label), value.clone()));
        }
    }
    match &request.method {
        PaymentMethod::Card(card) => {
            let digits = card.number.digits();
            let brand = brand_of(&digits).map_or("Card", |b| b.name());
            lines.push(row("Card", format!("{brand} {}", mask_pan(&digits))));
            lines.push(row(
                "Expires",
                format!("{:02}/{:02}", card.exp_month, card.exp_year % 100),
            ));
            lines.push(row("Name on card", card.name.clone()));
        }
        PaymentMethod::Ach(ach) => {
            lines.push(row(
                "Bank account",
                format!(
                    "{} {} {}",
                    ach.account_type, ach.routing_number, ach.account_number
                ),
            ));
            lines.push(row("Account holder", ach.holder_name.clone()));
        }
    }
    lines.push(Line::from(""));
    lines.push(Line::styled(
        " Enter: send the payment   Esc: back to the form",
        theme.dim(),
    ));
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(ratatui::widgets::Wrap { trim: false })
            .block(theme.panel("Check with the customer, then send")),
        area,
    );
}
