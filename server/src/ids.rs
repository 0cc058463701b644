//! Ids of records: accounts, orders, flash sales, shows, polls, questions,
//! giveaways and point grants all take theirs from here.

use rand::Rng;

/// Random positive ids below 2^53: they fit BIGINT everywhere and survive a
/// trip through JavaScript's numbers (the host console).
pub fn new_id() -> i64 {
    rand::rng().random_range(1..(1i64 << 53))
}
