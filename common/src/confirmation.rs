//! Confirmation codes: 8 Crockford base32 symbols (40 random bits) and a mod-37 check symbol,
//! shown as `XXXX-XXXX-C` so an agent can read it over the phone and a typo is caught.

const SYMBOLS: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Crockford's check symbols: the 32 above and `*~$=U` for the values 32 to 36.
const CHECK_SYMBOLS: &[u8; 37] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ*~$=U";

/// The low `5 * symbols` bits of `value` in Crockford base32, most significant first.
pub fn crockford(value: u64, symbols: u32) -> String {
    (0..symbols)
        .rev()
        .map(|i| char::from(SYMBOLS[((value >> (i * 5)) & 31) as usize]))
        .collect()
}

/// A confirmation code from 40 bits of randomness.
pub fn confirmation_code(random: u64) -> String {
    let value = random & ((1 << 40) - 1);
    let symbols = crockford(value, 8);
    let mut code = String::with_capacity(11);
    code.push_str(&symbols[..4]);
    code.push('-');
    code.push_str(&symbols[4..]);
    code.push('-');
    code.push(char::from(CHECK_SYMBOLS[(value % 37) as usize]));
    code
}

/// The canonical form of a code a person typed (case, `I`/`L` for 1, `O` for 0, any hyphens and
/// spaces), or `None` when it is not a valid code (wrong length or a failed check symbol).
pub fn normalize(typed: &str) -> Option<String> {
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
            check = CHECK_SYMBOLS.iter().position(|s| char::from(*s) == c);
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
    (check? == (value % 37) as usize).then(|| confirmation_code(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_have_a_readable_shape() {
        let code = confirmation_code(0x12_3456_789A);
        assert_eq!(code.len(), 11);
        assert_eq!(&code[4..5], "-");
        assert_eq!(&code[9..10], "-");
        assert!(
            code.chars()
                .all(|c| c == '-' || CHECK_SYMBOLS.contains(&(c as u8)))
        );
        for ambiguous in ['I', 'L', 'O', 'U'] {
            assert!(!code[..9].contains(ambiguous));
        }
    }

    #[test]
    fn a_typed_code_is_normalized_and_checked() {
        for random in [0u64, 1, 0xFF_FFFF_FFFF, 0x12_3456_789A, 987_654_321] {
            let code = confirmation_code(random);
            assert_eq!(normalize(&code).as_deref(), Some(code.as_str()));
            assert_eq!(
                normalize(&code.to_lowercase().replace('-', " ")),
                Some(code.clone())
            );
        }
        let code = confirmation_code(0x12_3456_789A);
        let mut typo = code.clone().into_bytes();
        typo[0] = if typo[0] == b'2' { b'3' } else { b'2' };
        assert_eq!(normalize(std::str::from_utf8(&typo).unwrap()), None);
        assert_eq!(normalize("ABCD"), None);
        assert_eq!(normalize(&format!("{code}X")), None);
    }

    #[test]
    fn distinct_randomness_gives_distinct_codes() {
        let codes: std::collections::HashSet<String> = (0..10_000u64)
            .map(|i| confirmation_code(i.wrapping_mul(0x9E37_79B9_7F4A_7C15)))
            .collect();
        assert_eq!(codes.len(), 10_000);
    }
}
