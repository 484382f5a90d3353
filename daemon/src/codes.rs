//! Confirmation codes issued from numbers. The store hands out numbers in blocks, each block
//! once (`Store::reserve_code_numbers`), and a code is a keyed permutation of its number: a
//! Feistel network over the code's 40 bits. Without the key, codes tell nothing of each other
//! or of the order they were issued in; with it, a code gives back its number. So the store
//! keeps confirmations by number, an index that only ever appends, where an index of random
//! codes took a page of its own for nearly every payment, and each checkpoint wrote those pages
//! back at random places in the file while commits waited on the same disk.

use crate::store::{Store, StoreError};
use cip_common::confirmation::{confirmation_code, value};
use std::ops::Range;
use std::sync::Mutex;

/// Numbers the store hands out at a time: a minute's worth at a busy daemon's pace, so the
/// payment that finds a block spent and waits for the next is rare (and the numbers a stop leaves
/// unused, at most a block, are few of the 2^40).
pub const BLOCK: u64 = 65_536;
/// Every number is below this: a code holds 40 bits.
pub const NUMBERS: u64 = 1 << 40;
const HALF_BITS: u32 = 20;
const HALF: u64 = (1 << HALF_BITS) - 1;
/// Rounds of the network: well past the four that make a keyed Feistel network a pseudorandom
/// permutation, as the halves are small.
const ROUNDS: u8 = 10;

/// The key of the permutation. It is derived from the fingerprint key, which every daemon on a
/// store must share (the store refuses another), so every daemon issues and reads codes alike.
#[derive(Clone)]
pub struct CodeKey([u8; 32]);

impl CodeKey {
    pub fn from_fingerprint_key(key: &[u8; 32]) -> CodeKey {
        CodeKey(blake3::derive_key(
            "cip confirmation codes from numbers",
            key,
        ))
    }

    /// The code issued for `number`.
    pub fn code(&self, number: u64) -> String {
        assert!(
            number < NUMBERS,
            "confirmation number {number} has more than 40 bits"
        );
        let (mut left, mut right) = (number >> HALF_BITS, number & HALF);
        for round in 0..ROUNDS {
            (left, right) = (right, left ^ self.round(round, right));
        }
        confirmation_code((left << HALF_BITS) | right)
    }

    /// The number of `code` (as `normalize` gives it back): the one it was issued for, or for a
    /// code issued before codes came from numbers, the one the store gave it since
    /// (`Store::number_confirmations`).
    pub fn number(&self, code: &str) -> Option<u64> {
        let value = value(code)?;
        let (mut left, mut right) = (value >> HALF_BITS, value & HALF);
        for round in (0..ROUNDS).rev() {
            (left, right) = (right ^ self.round(round, left), left);
        }
        Some((left << HALF_BITS) | right)
    }

    fn round(&self, round: u8, half: u64) -> u64 {
        let mut input = [round; 4];
        input[1..].copy_from_slice(&half.to_le_bytes()[..3]);
        let hash = blake3::keyed_hash(&self.0, &input);
        let word = u64::from_le_bytes(hash.as_bytes()[..8].try_into().expect("8 bytes"));
        word & HALF
    }
}

/// A daemon's issue of codes: numbers from the block the store last handed it, in order.
pub struct Codes {
    key: CodeKey,
    block: Mutex<Range<u64>>,
    /// Held while a new block is asked for, so payments that find the block spent together
    /// wait for one new block instead of each asking for one.
    refill: tokio::sync::Mutex<()>,
}

impl Codes {
    pub fn new(key: CodeKey) -> Codes {
        Codes {
            key,
            block: Mutex::new(0..0),
            refill: tokio::sync::Mutex::new(()),
        }
    }

    pub fn key(&self) -> &CodeKey {
        &self.key
    }

    /// A number no code was issued for, and its code. When the block is spent, the store hands
    /// out another.
    pub async fn next(&self, store: &Store) -> Result<(u64, String), StoreError> {
        if let Some(issued) = self.next_in_block() {
            return Ok(issued);
        }
        let _refill = self.refill.lock().await;
        if let Some(issued) = self.next_in_block() {
            return Ok(issued);
        }
        let first = store.reserve_code_numbers(BLOCK).await?;
        *self.block.lock().expect("codes' block") = first + 1..first + BLOCK;
        Ok((first, self.key.code(first)))
    }

    fn next_in_block(&self) -> Option<(u64, String)> {
        let number = self.block.lock().expect("codes' block").next()?;
        Some((number, self.key.code(number)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cip_common::confirmation::normalize;
    use std::collections::HashSet;

    #[test]
    fn a_code_gives_back_the_number_it_was_issued_for() {
        let key = CodeKey::from_fingerprint_key(&[7; 32]);
        for number in (0..2_000).chain([NUMBERS - 1, 0x12_3456_789A, 1 << 39]) {
            let code = key.code(number);
            assert_eq!(key.number(&code), Some(number), "{code}");
            let typed = code.to_lowercase().replace('-', " ");
            assert_eq!(key.number(&normalize(&typed).expect("valid")), Some(number));
        }
    }

    #[test]
    fn codes_of_numbers_in_order_look_nothing_like_an_order() {
        let key = CodeKey::from_fingerprint_key(&[7; 32]);
        let codes: Vec<String> = (0..10_000).map(|n| key.code(n)).collect();
        assert_eq!(codes.iter().collect::<HashSet<_>>().len(), codes.len());
        // Neighbours share no leading symbols beyond chance: about 1 in 32 share the first.
        let alike = codes
            .windows(2)
            .filter(|pair| pair[0][..1] == pair[1][..1])
            .count();
        assert!(
            alike < 600,
            "{alike} of 9,999 neighbours share their first symbol"
        );
        let firsts: HashSet<&str> = codes.iter().map(|c| &c[..1]).collect();
        assert_eq!(firsts.len(), 32, "every first symbol is used");
    }

    /// Payments that find the block spent at once share the one new block: none asks for
    /// another, and no number is issued twice.
    #[tokio::test(flavor = "multi_thread")]
    async fn payments_at_once_share_one_new_block() {
        let dir = tempfile::tempdir().expect("a temporary dir");
        let limits = crate::store::StoreLimits {
            write_queue: 64,
            max_batch: 64,
            readers: 1,
        };
        let store = Store::open(&dir.path().join("cip.db"), limits).expect("a store");
        let codes = std::sync::Arc::new(Codes::new(CodeKey::from_fingerprint_key(&[7; 32])));
        let issued = futures::future::join_all((0..64).map(|_| {
            let (codes, store) = (std::sync::Arc::clone(&codes), store.clone());
            tokio::spawn(async move { codes.next(&store).await.expect("a code") })
        }))
        .await;
        let numbers: HashSet<u64> = issued.into_iter().map(|i| i.expect("ran").0).collect();
        assert_eq!(numbers, (0..64).collect::<HashSet<u64>>());
        let handed_out = store.reserve_code_numbers(0).await.expect("the count");
        assert_eq!(handed_out, BLOCK, "one block for all 64");
    }

    #[test]
    fn another_key_issues_other_codes() {
        let (one, other) = (
            CodeKey::from_fingerprint_key(&[7; 32]),
            CodeKey::from_fingerprint_key(&[8; 32]),
        );
        let same = (0..1_000)
            .filter(|n| one.code(*n) == other.code(*n))
            .count();
        assert_eq!(same, 0);
        assert_ne!(other.number(&one.code(5)), Some(5));
    }
}
