//! ACH rules: the ABA routing number's 3-7-1 checksum and the account number's shape.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccountType {
    Checking,
    Savings,
}

impl AccountType {
    pub fn code(self) -> &'static str {
        match self {
            AccountType::Checking => "checking",
            AccountType::Savings => "savings",
        }
    }

    pub fn from_code(code: &str) -> Option<AccountType> {
        match code {
            "checking" => Some(AccountType::Checking),
            "savings" => Some(AccountType::Savings),
            _ => None,
        }
    }
}

impl fmt::Display for AccountType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Why a routing number was refused, or `None` when it is a valid ABA number.
pub fn routing_number_error(routing: &str) -> Option<&'static str> {
    if routing.is_empty() {
        return Some("enter the 9-digit routing number");
    }
    if routing.len() != 9 || !routing.bytes().all(|b| b.is_ascii_digit()) {
        return Some("the routing number is 9 digits: re-enter it");
    }
    let d: Vec<u32> = routing.bytes().map(|b| u32::from(b - b'0')).collect();
    let sum = 3 * (d[0] + d[3] + d[6]) + 7 * (d[1] + d[4] + d[7]) + (d[2] + d[5] + d[8]);
    if !sum.is_multiple_of(10) {
        return Some("the routing number fails the ABA checksum: re-enter it");
    }
    None
}

/// Why an account number was refused, or `None` when it has 4 to 17 letters or digits.
pub fn account_number_error(account: &str) -> Option<&'static str> {
    if account.is_empty() {
        return Some("enter the account number");
    }
    if !(4..=17).contains(&account.len()) || !account.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Some("the account number is 4 to 17 letters or digits: re-enter it");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aba_checksum() {
        assert_eq!(routing_number_error("110000000"), None);
        assert_eq!(routing_number_error("021000021"), None);
        assert_eq!(routing_number_error("011000015"), None);
        assert!(
            routing_number_error("123456789")
                .unwrap()
                .contains("checksum")
        );
        assert!(
            routing_number_error("11000000")
                .unwrap()
                .contains("9 digits")
        );
        assert!(routing_number_error("11000000a").is_some());
        assert!(routing_number_error("").is_some());
    }

    #[test]
    fn account_numbers_are_4_to_17_alphanumerics() {
        assert_eq!(account_number_error("000123456789"), None);
        assert_eq!(account_number_error("AB12"), None);
        assert_eq!(account_number_error("12345678901234567"), None);
        assert!(account_number_error("123").is_some());
        assert!(account_number_error("123456789012345678").is_some());
        assert!(account_number_error("1234-5678").is_some());
    }
}
