//! Server-chosen identifiers. SCH-4: a `delay_id` is a 64-bit sequence number (unique for the life
//! of the server) joined to 64 random bits (unpredictable), written as 32 lowercase hex digits, so
//! it can never be `scheduled` or `finalised` (the lookup paths that share its URL segment).

use crate::sync::{AtomicU64, Ordering};
use rand::Rng;
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DelayId(pub u128);

impl DelayId {
    /// Any other string is no delay id of ours: the caller answers 404 (MGT-7).
    pub fn parse(s: &str) -> Option<DelayId> {
        if s.len() != 32 || !s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return None;
        }
        u128::from_str_radix(s, 16).ok().map(DelayId)
    }
}

impl fmt::Display for DelayId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

/// Issues ids; the counter makes them unique, the random half unpredictable.
#[derive(Default)]
pub struct IdSource {
    next: AtomicU64,
}

impl IdSource {
    /// Ids of the `boot`-th start of a data directory: each start counts from its own 2^40, so
    /// no id is issued twice across restarts (SCH-4).
    pub fn for_boot(boot: u64) -> IdSource {
        IdSource { next: AtomicU64::new(boot << 40) }
    }

    pub fn delay_id(&self) -> DelayId {
        let seq = self.next.fetch_add(1, Ordering::Relaxed);
        DelayId(((seq as u128) << 64) | rand::rng().random::<u64>() as u128)
    }

    pub fn event_id(&self) -> String {
        let seq = self.next.fetch_add(1, Ordering::Relaxed);
        format!("${seq:x}{}", random_alnum(20))
    }

    pub fn room_id(&self, server_name: &str) -> String {
        format!("!{}:{server_name}", random_alnum(18))
    }

    pub fn token(&self) -> String {
        format!("syt_{}", random_alnum(32))
    }

    pub fn device_id(&self) -> String {
        random_alnum(10).to_uppercase()
    }

    pub fn opaque(&self) -> String {
        let seq = self.next.fetch_add(1, Ordering::Relaxed);
        format!("{seq:x}{}", random_alnum(8))
    }
}

fn random_alnum(n: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut rng = rand::rng();
    (0..n).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // covers: SCH-4
    // Would catch: repeated or unparsable delay ids, or the reserved `scheduled`/`finalised`.
    #[test]
    fn delay_ids_are_unique_and_round_trip() {
        let ids = IdSource::default();
        let a = ids.delay_id();
        let b = ids.delay_id();
        assert_ne!(a, b);
        assert_eq!(DelayId::parse(&a.to_string()), Some(a));
        assert_eq!(a.to_string().len(), 32);
        for bad in ["scheduled", "finalised", "", "ABCDEF00000000000000000000000000", &format!("{a}0")] {
            assert_eq!(DelayId::parse(bad), None, "{bad}");
        }
    }
}
