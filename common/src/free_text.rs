//! Card numbers where they do not belong: every value outside the card and account fields
//! (payer data, the application's fields, idempotency keys, hand-off data) is refused when it
//! holds what looks like a card number, so none reaches the database, a log, a CSV, an event or
//! a webhook by way of free text.
//!
//! The rule: a *run* is a sequence of digits in which each two neighbours stand side by side or
//! apart by exactly one character that is neither a letter nor a digit (a space, hyphen, dot,
//! slash, …), so `4242 4242 4242 4242`, `4242-4242-4242-4242` and `4.2.4.2…` are one run each,
//! while a letter or two separators in a row end it. A run of 13 to 19 digits that passes the
//! Luhn check looks like a card number. Longer or shorter runs, and runs failing Luhn, do not
//! (they are references, phone numbers, dates), so one in ten random 13–19 digit references
//! is refused: the price of never storing a real card number typed in the wrong box.
//! Full-width and Arabic-Indic digits count as digits, so a number typed in them is caught too.

use crate::fields::FieldErrors;

/// What a person sees next to a field holding what looks like a card number.
pub const CARD_NUMBER_IN_TEXT: &str =
    "this looks like a card number: card numbers go only in the card field";

/// Fewest and most digits of a card number (ISO/IEC 7812 PANs run from 13 to 19 digits).
const MIN_DIGITS: usize = 13;
const MAX_DIGITS: usize = 19;

/// The first digit of each decimal digit block counted: ASCII, Arabic-Indic, extended
/// Arabic-Indic, Devanagari and full-width.
const ZEROS: [char; 5] = ['0', '\u{0660}', '\u{06F0}', '\u{0966}', '\u{FF10}'];

fn digit(c: char) -> Option<u32> {
    ZEROS.iter().find_map(|&zero| {
        let value = (c as u32).wrapping_sub(zero as u32);
        (value < 10).then_some(value)
    })
}

/// A run of digits read so far: its length and its two Luhn sums, one for each parity of the
/// length still to come (the check doubles every second digit counted from the right, which is
/// known only at the run's end), so nothing is kept but three numbers.
#[derive(Default)]
struct Run {
    digits: usize,
    /// The sum if the run's length turns out even (digits at even places from the left doubled).
    sum_if_even: u32,
    /// The sum if the run's length turns out odd (digits at odd places from the left doubled).
    sum_if_odd: u32,
}

impl Run {
    fn push(&mut self, d: u32) {
        let doubled = if d * 2 > 9 { d * 2 - 9 } else { d * 2 };
        if self.digits.is_multiple_of(2) {
            self.sum_if_even += doubled;
            self.sum_if_odd += d;
        } else {
            self.sum_if_even += d;
            self.sum_if_odd += doubled;
        }
        // Past the longest card number the sums no longer matter; the count saturates.
        self.digits = self.digits.saturating_add(1);
    }

    fn is_card_number(&self) -> bool {
        let sum = if self.digits.is_multiple_of(2) {
            self.sum_if_even
        } else {
            self.sum_if_odd
        };
        (MIN_DIGITS..=MAX_DIGITS).contains(&self.digits) && sum.is_multiple_of(10)
    }
}

/// Whether `text` holds a run of 13 to 19 digits (see the module's rule) that passes Luhn.
/// Reads `text` once and allocates nothing.
pub fn looks_like_card_number(text: &str) -> bool {
    let mut run = Run::default();
    // Separators read since the run's last digit.
    let mut gap = 0usize;
    for c in text.chars() {
        if let Some(d) = digit(c) {
            if gap > 1 {
                if run.is_card_number() {
                    return true;
                }
                run = Run::default();
            }
            gap = 0;
            run.push(d);
        } else if c.is_alphanumeric() {
            if run.is_card_number() {
                return true;
            }
            run = Run::default();
            gap = 0;
        } else {
            gap = gap.saturating_add(1);
        }
    }
    run.is_card_number()
}

/// Names `field` in `errors` when `value` looks like a card number, and says whether it did,
/// so a caller can skip its other checks of that field (the card number is the one to fix).
pub fn refuse_card_number(errors: &mut FieldErrors, field: &str, value: &str) -> bool {
    let found = looks_like_card_number(value);
    if found {
        errors.add(field, CARD_NUMBER_IN_TEXT);
    }
    found
}

/// [`refuse_card_number`] for each `(field, value)`: the one check of free text that is not a
/// payment request's (hand-off data, keys).
pub fn refuse_card_numbers<'a>(
    errors: &mut FieldErrors,
    values: impl IntoIterator<Item = (&'a str, &'a str)>,
) {
    for (field, value) in values {
        refuse_card_number(errors, field, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_numbers_in_any_usual_spacing_are_found() {
        for text in [
            "4242424242424242",
            "4242 4242 4242 4242",
            "4242-4242-4242-4242",
            "4242.4242.4242.4242",
            "4242/4242/4242/4242",
            "4 2 4 2 4 2 4 2 4 2 4 2 4 2 4 2",
            "3782 822463 10005",
            "ref 4242424242424242 thanks",
            "ref:4242-4242-4242-4242.",
            "(4242 4242 4242 4242)",
            "４２４２４２４２４２４２４２４２",
        ] {
            assert!(looks_like_card_number(text), "{text:?} not found");
        }
    }

    #[test]
    fn thirteen_and_nineteen_digit_runs_are_found() {
        // 13 digits: the old Visa length; 19: the longest PAN. Both pass Luhn.
        assert!(looks_like_card_number("4222222222222"));
        assert!(looks_like_card_number("4222 2222 22222"));
        assert!(looks_like_card_number("4000000000000000006"));
        assert!(looks_like_card_number("4000-0000-0000-0000-006"));
    }

    #[test]
    fn runs_too_short_too_long_or_failing_luhn_pass() {
        for text in [
            "",
            "Ada Lovelace",
            "ada@example.com",
            "94107-1234",
            // 12 digits that pass Luhn.
            "424242424242",
            "4242 4242 4242",
            // 20 digits that pass Luhn.
            "42424242424242424242",
            "4242 4242 4242 4242 4242",
            // 16 digits failing Luhn.
            "4242424242424241",
            "ref 4242 4242 4242 4241 thanks",
            // Two card-length groups apart by a letter, or by two separators.
            "4242424242x4242424242",
            "4242 4242  4242 4242",
            "call 555-1234, 555-9876",
            "2026-11-29 10:45:00",
            "pay_01JDX8Z3Q4K7M9P2R5T8",
        ] {
            assert!(!looks_like_card_number(text), "{text:?} found");
        }
    }

    #[test]
    fn a_card_number_after_a_longer_run_is_still_found() {
        assert!(looks_like_card_number(
            "000000000000000000000  4242424242424242"
        ));
        assert!(looks_like_card_number("4242424242424242 and 1234"));
        assert!(looks_like_card_number("12x4242424242424242"));
    }

    #[test]
    fn the_field_is_named_with_what_to_do() {
        let mut errors = FieldErrors::default();
        assert!(!refuse_card_number(&mut errors, "payer.name", "Ada"));
        assert!(refuse_card_number(
            &mut errors,
            "payer.name",
            "4242 4242 4242 4242"
        ));
        refuse_card_numbers(
            &mut errors,
            [("return_url", "https://x/4242-4242-4242-4242"), ("a", "b")],
        );
        assert_eq!(errors.get("payer.name"), Some(CARD_NUMBER_IN_TEXT));
        assert_eq!(errors.get("return_url"), Some(CARD_NUMBER_IN_TEXT));
        assert_eq!(errors.0.len(), 2);
    }
}
