//! The hosted pages' HTML: a layout, escaping, and form inputs with their errors beside them.
//! No script anywhere; styles come from `/pay/style.css`.

use cip_common::fields::{FieldErrors, path};
use std::fmt::Write;

pub const STYLE: &str = include_str!("../../../assets/pay.css");

/// `text` safe inside HTML text and double-quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A label or a message as the start of a sentence: its first letter a capital.
pub fn capitalized(label: &str) -> String {
    let mut chars = label.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// A whole page: `body` is HTML already.
pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · CIP</title><link rel=\"stylesheet\" href=\"/pay/style.css\"></head>\
         <body><main><p class=\"brand\">CIP · secure payment</p><h1>{title}</h1>{body}</main>\
         </body></html>\n",
        title = escape(title)
    )
}

/// Every error of a refused form, first on the page, each linked to its input: an error for a
/// field the page has no input for is still seen.
pub fn error_summary(errors: &FieldErrors, out: &mut String) {
    if errors.is_empty() {
        return;
    }
    out.push_str("<div class=\"error-summary\" role=\"alert\"><h2>There is a problem</h2><ul>");
    for error in &errors.0 {
        // The two expiry boxes share one error; it links to the first.
        let id = match error.field.as_str() {
            path::CARD_EXPIRY => path::CARD_EXP_MONTH.replace('.', "-"),
            field => field.replace('.', "-"),
        };
        let _ = write!(
            out,
            "<li><a href=\"#{}\">{}</a></li>",
            escape(&id),
            escape(&error.message)
        );
    }
    out.push_str("</ul></div>");
}

/// One labelled input. `attributes` is HTML already (`autocomplete="cc-number"`).
pub struct Input<'a> {
    pub label: &'a str,
    pub name: &'a str,
    pub value: &'a str,
    pub attributes: &'a str,
    pub hint: &'a str,
}

impl Input<'_> {
    /// The input, with its error from `errors` (by the same dotted name) beside it.
    pub fn render(&self, errors: &FieldErrors, out: &mut String) {
        self.render_as(self.name, errors, out);
    }

    /// The input, showing the error filed under `error_name` (one error for two inputs).
    pub fn render_as(&self, error_name: &str, errors: &FieldErrors, out: &mut String) {
        let id = self.name.replace('.', "-");
        let error = errors.get(error_name);
        let _ = write!(
            out,
            "<div class=\"field{}\"><label for=\"{id}\">{}</label>",
            if error.is_some() { " invalid" } else { "" },
            escape(self.label)
        );
        // The hint, then the error, between the label and the input, both read with it.
        let mut described = Vec::new();
        if !self.hint.is_empty() {
            let _ = write!(
                out,
                "<p class=\"hint\" id=\"{id}-hint\">{}</p>",
                escape(self.hint)
            );
            described.push(format!("{id}-hint"));
        }
        if let Some(error) = error {
            let _ = write!(
                out,
                "<p class=\"error\" id=\"{id}-error\">{}</p>",
                escape(error)
            );
            described.push(format!("{id}-error"));
        }
        let _ = write!(
            out,
            "<input id=\"{id}\" name=\"{}\" value=\"{}\" {}{}{}></div>",
            escape(self.name),
            escape(self.value),
            self.attributes,
            if error.is_some() {
                " aria-invalid=\"true\""
            } else {
                ""
            },
            if described.is_empty() {
                String::new()
            } else {
                format!(" aria-describedby=\"{}\"", described.join(" "))
            }
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_cannot_become_markup() {
        assert_eq!(
            escape("<script>alert(\"x\")</script> & 'y'"),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
    }
}
