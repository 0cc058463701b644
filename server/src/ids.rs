//! Ids of records: accounts, orders, flash sales, shows, polls, questions,
//! giveaways and point grants all take theirs from here.

use rand::Rng;

/// Random positive ids below 2^53: they fit BIGINT everywhere and survive a
/// trip through JavaScript's numbers (the host console). Typed: the caller
/// names the id it makes (`OrderId`, `SaleId`, … or a bare `i64`).
pub fn new_id<Id: From<i64>>() -> Id {
    Id::from(rand::rng().random_range(1..(1i64 << 53)))
}
