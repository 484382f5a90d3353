//! Confirmation codes: 8 Crockford base32 symbols (40 bits that look random: the daemon issues
//! each as a keyed permutation of a number) and a check symbol from the same 32, shown as
//! `XXXX-XXXX-C` so an agent can read every symbol over the phone and a typo is caught.
//!
//! The check is a weighted sum in GF(32) (Damm's construction on the quasigroup x∘y = 2x ⊕ y):
//! the symbols fold as `v = 2·v ⊕ s`, and the check symbol brings the fold to 0. Changing one
//! symbol by δ changes the fold by 2^k·δ ≠ 0, and swapping neighbours x ≠ y changes it by
//! 2^k·3·(x ⊕ y) ≠ 0, so every single-symbol error and every swap of adjacent symbols (the check
//! symbol included) is caught.

const SYMBOLS: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// The check symbols of codes issued before the check moved into the 32: Crockford's mod-37,
/// whose values 32 to 36 are `*~$=U`. Those codes stay valid for lookups.
const MOD37_CHECK_SYMBOLS: &[u8; 37] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ*~$=U";
/// x^5 + x^2 + 1, a primitive polynomial: GF(32) as 5-bit values.
const GF32_MODULUS: u8 = 0b10_0101;

/// The low `5 * symbols` bits of `value` in Crockford base32, most significant first.
pub fn crockford(value: u64, symbols: u32) -> String {
    (0..symbols)
        .rev()
        .map(|i| char::from(SYMBOLS[((value >> (i * 5)) & 31) as usize]))
        .collect()
}

/// `2·v` in GF(32).
fn double(v: u8) -> u8 {
    let shifted = v << 1;
    if shifted & 32 == 0 {
        shifted
    } else {
        shifted ^ GF32_MODULUS
    }
}

/// The fold of 5-bit symbol values; a whole code (data and check) folds to 0.
fn fold(values: impl IntoIterator<Item = u8>) -> u8 {
    values.into_iter().fold(0, |v, s| double(v) ^ s)
}

/// The 8 data symbols' values, most significant first.
fn symbol_values(value: u64) -> impl Iterator<Item = u8> {
    (0..8u32)
        .rev()
        .map(move |i| ((value >> (i * 5)) & 31) as u8)
}

fn check_symbol(value: u64) -> u8 {
    SYMBOLS[usize::from(double(fold(symbol_values(value))))]
}

fn shape(value: u64, check: u8) -> String {
    let symbols = crockford(value, 8);
    let mut code = String::with_capacity(11);
    code.push_str(&symbols[..4]);
    code.push('-');
    code.push_str(&symbols[4..]);
    code.push('-');
    code.push(char::from(check));
    code
}

/// The confirmation code of a 40-bit value (the low 40 bits of `random`).
pub fn confirmation_code(value: u64) -> String {
    let value = value & ((1 << 40) - 1);
    shape(value, check_symbol(value))
}

/// The canonical form of a code a person typed (any case, `I`/`L` for 1, `O` for 0, any hyphens
/// and spaces), or `None` when it is not a valid code (wrong length or a failed check symbol).
///
/// A code issued with the older mod-37 check is accepted too, and given back as it was issued:
/// it must still find its payment. So a typo in a new code passes here about once in 37, as a
/// code of the older kind, and then finds no payment (40 random bits make a match with another
/// payment's code unlikely beyond reason); the check itself (`check_symbol`) catches it always.
pub fn normalize(typed: &str) -> Option<String> {
    let (value, check) = symbols_typed(typed)?;
    let current = check == check_symbol(value);
    let issued_before = MOD37_CHECK_SYMBOLS.get((value % 37) as usize) == Some(&check);
    (current || issued_before).then(|| shape(value, check))
}

/// The 40-bit value a code (as [`normalize`] gives it back) was made from.
pub fn value(code: &str) -> Option<u64> {
    symbols_typed(code).map(|(value, _)| value)
}

/// The data symbols' value and the check symbol of a typed code, read as a person types it.
fn symbols_typed(typed: &str) -> Option<(u64, u8)> {
    let mut value: u64 = 0;
    let mut symbols = 0;
    let mut check = None;
    for c in typed.chars().filter(|c| !matches!(c, '-' | ' ')) {
        let c = match c.to_ascii_uppercase() {
            'I' | 'L' => '1',
            'O' => '0',
            other => other,
        };
        if symbols == 8 {
            check = u8::try_from(c).ok();
            symbols += 1;
            continue;
        }
        if symbols > 8 {
            return None;
        }
        let digit = SYMBOLS.iter().position(|s| char::from(*s) == c)?;
        value = (value << 5) | digit as u64;
        symbols += 1;
    }
    Some((value, check?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Codes of many kinds of randomness: all zeros, all ones, and a spread between.
    fn sample_values() -> impl Iterator<Item = u64> {
        [0u64, 1, (1 << 40) - 1, 0x12_3456_789A]
            .into_iter()
            .chain((0..500u64).map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 24))
    }

    #[test]
    fn every_symbol_is_a_letter_or_digit_that_reads_aloud() {
        for value in sample_values() {
            let code = confirmation_code(value);
            assert_eq!(code.len(), 11);
            assert_eq!((&code[4..5], &code[9..10]), ("-", "-"));
            for c in code.chars().filter(|c| *c != '-') {
                assert!(SYMBOLS.contains(&(c as u8)), "{c:?} in {code}");
            }
        }
        // Every one of the 32 appears as a check symbol: the check uses the whole alphabet.
        let checks: std::collections::HashSet<char> = sample_values()
            .map(|v| confirmation_code(v).chars().last().expect("a check"))
            .collect();
        assert_eq!(checks.len(), 32);
    }

    /// Whether a typed code passes the check codes are issued with now.
    fn passes(typed: &str) -> bool {
        symbols_typed(typed).is_some_and(|(value, check)| check == check_symbol(value))
    }

    #[test]
    fn every_single_symbol_error_and_every_adjacent_swap_is_caught() {
        let symbols: Vec<char> = SYMBOLS.iter().map(|s| char::from(*s)).collect();
        for value in sample_values() {
            let code = confirmation_code(value);
            let plain: Vec<char> = code.chars().filter(|c| *c != '-').collect();
            for at in 0..plain.len() {
                for other in symbols.iter().filter(|s| **s != plain[at]) {
                    let mut typo = plain.clone();
                    typo[at] = *other;
                    let typed: String = typo.iter().collect();
                    assert!(!passes(&typed), "{typed} passed for {code}");
                }
            }
            for at in 0..plain.len() - 1 {
                if plain[at] == plain[at + 1] {
                    continue;
                }
                let mut swapped = plain.clone();
                swapped.swap(at, at + 1);
                let typed: String = swapped.iter().collect();
                assert!(!passes(&typed), "{typed} passed for {code}");
            }
        }
    }

    #[test]
    fn a_typed_code_is_normalized_as_a_person_types_it() {
        for value in sample_values() {
            let code = confirmation_code(value);
            assert_eq!(normalize(&code).as_deref(), Some(code.as_str()));
            let plain = code.replace('-', "").to_lowercase();
            let spoken = format!("{} {} {}", &plain[..4], &plain[4..8], &plain[8..]);
            assert_eq!(normalize(&spoken), Some(code.clone()), "{spoken}");
            let misread = code.replace('0', "o").replace('1', "l");
            assert_eq!(normalize(&misread), Some(code.clone()), "{misread}");
        }
        assert_eq!(normalize("ABCD"), None);
        let code = confirmation_code(0x12_3456_789A);
        assert_eq!(normalize(&format!("{code}X")), None);
    }

    #[test]
    fn codes_issued_with_the_mod_37_check_still_find_their_payments() {
        // Issued before: the data symbols and a mod-37 check, `*~$=U` among them.
        let mut seen_extra = std::collections::HashSet::new();
        for value in sample_values() {
            let check = MOD37_CHECK_SYMBOLS[(value % 37) as usize];
            let issued = shape(value, check);
            assert_eq!(normalize(&issued).as_deref(), Some(issued.as_str()));
            assert_eq!(
                normalize(&issued.to_lowercase().replace('-', " ")).as_deref(),
                Some(issued.as_str())
            );
            if !SYMBOLS.contains(&check) {
                seen_extra.insert(check);
            }
        }
        assert_eq!(seen_extra.len(), 5, "codes ending in * ~ $ = U were tried");
    }

    #[test]
    fn distinct_randomness_gives_distinct_codes() {
        let codes: std::collections::HashSet<String> = (0..10_000u64)
            .map(|i| confirmation_code(i.wrapping_mul(0x9E37_79B9_7F4A_7C15)))
            .collect();
        assert_eq!(codes.len(), 10_000);
    }
}
