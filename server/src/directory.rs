//! The room directory: which rooms exist, their capacity, who is in them
//! and who holds a seat. Shared by the HTTP tier (which hands out seats at
//! join) and the room ECS (which fills and frees them).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use vitrine_shared::{AccountId, RoomId};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomSummary {
    pub id: RoomId,
    pub name: String,
    pub occupancy: usize,
    pub capacity: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeatRefusal {
    UnknownRoom,
    Full { capacity: usize },
}

#[derive(Debug)]
struct RoomEntry {
    name: String,
    capacity: usize,
    members: HashSet<AccountId>,
    /// Seats promised by a join whose connect token has not expired yet.
    held: HashMap<AccountId, Instant>,
}

impl RoomEntry {
    fn taken(&mut self, now: Instant, except: AccountId) -> usize {
        self.held.retain(|_, until| *until > now);
        let held = self
            .held
            .keys()
            .filter(|a| **a != except && !self.members.contains(a))
            .count();
        let members = self.members.iter().filter(|a| **a != except).count();
        members + held
    }
}

#[derive(Debug, Default)]
pub struct RoomDirectory {
    rooms: Mutex<BTreeMap<RoomId, RoomEntry>>,
}

impl RoomDirectory {
    pub fn new(rooms: impl IntoIterator<Item = (RoomId, String, usize)>) -> Self {
        let rooms = rooms
            .into_iter()
            .map(|(id, name, capacity)| {
                (
                    id,
                    RoomEntry {
                        name,
                        capacity,
                        members: HashSet::new(),
                        held: HashMap::new(),
                    },
                )
            })
            .collect();
        RoomDirectory {
            rooms: Mutex::new(rooms),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<RoomId, RoomEntry>> {
        // A panic elsewhere must not take the directory down with it.
        self.rooms
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn list(&self) -> Vec<RoomSummary> {
        self.lock()
            .iter()
            .map(|(id, r)| RoomSummary {
                id: id.clone(),
                name: r.name.clone(),
                occupancy: r.members.len(),
                capacity: r.capacity,
            })
            .collect()
    }

    pub fn get(&self, id: &RoomId) -> Option<RoomSummary> {
        self.list().into_iter().find(|r| &r.id == id)
    }

    /// Holds a seat for `account` for `ttl` (the connect token's lifetime).
    /// An account already in the room, or already holding a seat, may rejoin.
    pub fn hold_seat(
        &self,
        room: &RoomId,
        account: AccountId,
        ttl: Duration,
    ) -> Result<(), SeatRefusal> {
        let now = Instant::now();
        let mut rooms = self.lock();
        let entry = rooms.get_mut(room).ok_or(SeatRefusal::UnknownRoom)?;
        if entry.taken(now, account) >= entry.capacity {
            return Err(SeatRefusal::Full {
                capacity: entry.capacity,
            });
        }
        entry.held.insert(account, now + ttl);
        Ok(())
    }

    /// Called by the room when a client connects. Refuses when the room is
    /// full, which can only happen to a client that skipped `hold_seat`.
    pub fn enter(&self, room: &RoomId, account: AccountId) -> Result<(), SeatRefusal> {
        let now = Instant::now();
        let mut rooms = self.lock();
        let entry = rooms.get_mut(room).ok_or(SeatRefusal::UnknownRoom)?;
        let has_hold = entry.held.remove(&account).is_some_and(|until| until > now);
        if !has_hold && entry.taken(now, account) >= entry.capacity {
            return Err(SeatRefusal::Full {
                capacity: entry.capacity,
            });
        }
        entry.members.insert(account);
        Ok(())
    }

    pub fn leave(&self, room: &RoomId, account: AccountId) {
        if let Some(entry) = self.lock().get_mut(room) {
            entry.members.remove(&account);
        }
    }

    /// Every member of every room, once per room they are in.
    pub fn members(&self) -> Vec<AccountId> {
        let rooms = self.rooms.lock().unwrap_or_else(|p| p.into_inner());
        rooms
            .values()
            .flat_map(|r| r.members.iter().copied())
            .collect()
    }

    pub fn total_members(&self) -> usize {
        self.lock().values().map(|r| r.members.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(capacity: usize) -> (RoomDirectory, RoomId) {
        let id = RoomId::new("r").unwrap();
        (RoomDirectory::new([(id.clone(), "R".into(), capacity)]), id)
    }

    #[test]
    fn holds_count_against_capacity_until_they_expire() {
        let (dir, room) = dir(2);
        let ttl = Duration::from_secs(30);
        dir.hold_seat(&room, AccountId(1), ttl).unwrap();
        dir.hold_seat(&room, AccountId(2), ttl).unwrap();
        assert_eq!(
            dir.hold_seat(&room, AccountId(3), ttl),
            Err(SeatRefusal::Full { capacity: 2 })
        );
        // Joining again with the same account is not a second seat.
        dir.hold_seat(&room, AccountId(1), ttl).unwrap();
        dir.enter(&room, AccountId(1)).unwrap();
        assert_eq!(dir.get(&room).unwrap().occupancy, 1);
        dir.leave(&room, AccountId(1));
        dir.hold_seat(&room, AccountId(3), Duration::ZERO).unwrap();
        // A zero-lifetime hold has already lapsed.
        dir.hold_seat(&room, AccountId(4), ttl).unwrap();
        assert_eq!(
            dir.hold_seat(&room, AccountId(9), ttl),
            Err(SeatRefusal::Full { capacity: 2 })
        );
        assert_eq!(
            dir.hold_seat(&RoomId::new("nope").unwrap(), AccountId(1), ttl),
            Err(SeatRefusal::UnknownRoom)
        );
    }

    #[test]
    fn enter_without_a_hold_respects_capacity() {
        let (dir, room) = dir(1);
        dir.enter(&room, AccountId(1)).unwrap();
        assert_eq!(
            dir.enter(&room, AccountId(2)),
            Err(SeatRefusal::Full { capacity: 1 })
        );
        assert_eq!(dir.total_members(), 1);
    }
}
