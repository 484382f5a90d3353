//! Values that must never leak: card numbers, CVVs, bank account numbers, passwords and session
//! tokens. `Debug` and `Display` show only what may be shown, and the bytes are zeroized on drop,
//! so a stray `{:?}` in a log or a panic message cannot reveal them.

use serde::{Deserialize, Serialize};
use std::fmt;
use zeroize::{Zeroize, ZeroizeOnDrop};

macro_rules! secret_string {
    ($(#[$meta:meta])* $name:ident, |$value:ident| $mask:expr) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn new(value: impl Into<String>) -> Self {
                $name(value.into())
            }

            /// The secret itself, for the one place that needs it (the processor call, a hash).
            pub fn expose(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let $value = self.0.as_str();
                write!(f, "{}({})", stringify!($name), $mask)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let $value = self.0.as_str();
                write!(f, "{}", $mask)
            }
        }
    };
}

secret_string!(
    /// A primary account number as typed. Shown as first six and last four at most.
    Pan,
    |v| mask_pan(v)
);
secret_string!(
    /// A card verification value. Never shown, never stored.
    Cvv,
    |_v| "•••"
);
secret_string!(
    /// A bank account number. Shown as its last four.
    AccountNumber,
    |v| format!("••••{}", last_four(v))
);
secret_string!(
    /// A password as typed. Never shown, never stored (only its argon2id hash is).
    Password,
    |_v| "••••••••"
);
secret_string!(
    /// A session token. Stored only as a hash.
    SessionToken,
    |_v| "••••••••"
);

impl Pan {
    /// The digits only: spaces and hyphens a person types between groups are dropped.
    pub fn digits(&self) -> String {
        self.0.chars().filter(|c| !matches!(c, ' ' | '-')).collect()
    }
}

/// First six and last four of a card number, the rest masked (PCI DSS 3.4.1).
pub fn mask_pan(value: &str) -> String {
    let digits: Vec<char> = value.chars().filter(|c| c.is_ascii_digit()).collect();
    if digits.len() < 12 {
        return "•".repeat(digits.len());
    }
    let mut masked = String::with_capacity(digits.len() * 3);
    masked.extend(&digits[..6]);
    masked.extend(std::iter::repeat_n('•', digits.len() - 10));
    masked.extend(&digits[digits.len() - 4..]);
    masked
}

/// The last four characters of an account or card number, or all of it when shorter.
pub fn last_four(value: &str) -> String {
    let chars: Vec<char> = value
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    chars[chars.len().saturating_sub(4)..].iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_secret() {
        let pan = Pan::new("4242 4242 4242 4242");
        assert_eq!(pan.to_string(), "424242••••••4242");
        assert_eq!(format!("{pan:?}"), "Pan(424242••••••4242)");
        let cvv = Cvv::new("123");
        assert!(!format!("{cvv:?} {cvv}").contains("123"));
        let password = Password::new("agent1-demo-pass");
        assert!(!format!("{password:?} {password}").contains("demo"));
        let account = AccountNumber::new("000123456789");
        assert_eq!(account.to_string(), "••••6789");
        assert!(!format!("{account:?}").contains("000123"));
    }

    #[test]
    fn digits_drop_group_separators() {
        assert_eq!(Pan::new("4242-4242 4242 4242").digits(), "4242424242424242");
    }

    #[test]
    fn the_wire_carries_the_value_itself() {
        let json = serde_json::to_string(&Cvv::new("123")).unwrap();
        assert_eq!(json, "\"123\"");
    }
}
