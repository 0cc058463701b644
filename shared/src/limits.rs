//! Limits the server enforces where the check itself needs the server (the
//! clock, stock, the database), named here once so that the server's checks,
//! its error messages, the room refusals, the OpenAPI schemas and clients all
//! read the same number. A limit whose check is pure sits beside its check
//! instead: names and chat in [`crate::validated`], poses in [`crate::pose`],
//! messages and room rules in [`crate::protocol`].

/// Flash sales, carts, checkout, returns and coupons.
pub mod commerce {
    use std::ops::RangeInclusive;

    /// Units one claim, cart line or purchase may take.
    pub const MAX_CLAIM_QUANTITY: i64 = 100;
    /// Lines one cart may hold.
    pub const MAX_CART_LINES: usize = 50;
    /// Countdown before a flash sale opens, in seconds.
    pub const COUNTDOWN_SECS: RangeInclusive<u64> = 10..=300;
    /// How long a flash sale runs once open, in seconds (1 to 20 minutes).
    pub const DURATION_SECS: RangeInclusive<u64> = 60..=1200;
    /// The reason a return needs, in characters (at least one).
    pub const MAX_RETURN_REASON_CHARS: usize = 500;
    /// A percentage coupon takes 1 to this many percent off.
    pub const MAX_PERCENT_OFF: i64 = 100;
    /// The largest fixed amount off, and the largest minimum order, in minor
    /// units.
    pub const MAX_AMOUNT_OFF_MINOR: i64 = 100_000_000;
    /// Redemptions one coupon may be capped at.
    pub const MAX_COUPON_REDEMPTIONS: i64 = 1_000_000;
    /// Redemptions of one coupon per buyer.
    pub const MAX_COUPON_PER_BUYER: i64 = 100;
    /// The longest a coupon may be valid, from `starts_at_ms` to
    /// `ends_at_ms`: a leap year.
    pub const MAX_COUPON_WINDOW_MS: i64 = 366 * 24 * 3600 * 1000;
    /// The longest `Idempotency-Key` a claim or checkout accepts, in visible
    /// ASCII characters.
    pub const MAX_IDEMPOTENCY_KEY: usize = 255;
}

/// Products as hosts create and edit them (and as `catalog.toml` seeds them).
/// Group deals (team purchase): what a host may set.
pub mod group_deals {
    use std::ops::RangeInclusive;

    /// Members a team needs to complete.
    pub const TEAM_SIZE: RangeInclusive<i64> = 2..=5;
    /// The longest window a deal may run: Pinduoduo's 24 hours.
    pub const MAX_WINDOW_MS: i64 = 24 * 3600 * 1000;
    /// The shortest window, so a deal cannot close before anyone sees it.
    pub const MIN_WINDOW_MS: i64 = 60 * 1000;
    /// Units one deal may sell in all.
    pub const MAX_STOCK_CAP: i64 = 100_000;
    /// Teams forming at once on one deal: each holds units and an
    /// authorization, so one deal's open teams are bounded.
    pub const MAX_OPEN_TEAMS: usize = 200;
    /// Teams a room's news of a deal lists (those closest to full); the
    /// news counts the others.
    pub const MAX_TEAMS_SHOWN: usize = 10;
}

pub mod catalog {
    pub const MAX_NAME_CHARS: usize = 80;
    pub const MAX_DESCRIPTION_CHARS: usize = 2000;
    /// Options of one variant, such as `size`, and each key's and value's
    /// length in characters.
    pub const MAX_OPTIONS: usize = 4;
    pub const MAX_OPTION_CHARS: usize = 32;
    /// Units of one variant; a flash sale offers at most this many too.
    pub const MAX_STOCK: i64 = 1_000_000;
    pub const MAX_PRODUCTS: usize = 10_000;
}

/// Shows, polls, questions and giveaways.
pub mod engagement {
    use std::ops::RangeInclusive;

    /// A show's title, in characters.
    pub const MAX_SHOW_TITLE_CHARS: usize = 80;
    /// Products in a show's lineup.
    pub const MAX_LINEUP: usize = 50;
    /// Products the host features at once.
    pub const MAX_FEATURED: usize = 3;
    /// A poll's question and each option, in characters.
    pub const MAX_POLL_QUESTION_CHARS: usize = 200;
    pub const MAX_POLL_OPTION_CHARS: usize = 80;
    /// How many options a poll offers.
    pub const POLL_OPTIONS: RangeInclusive<usize> = 2..=6;
    /// How long a poll stays open, in seconds.
    pub const POLL_DURATION_SECS: RangeInclusive<u64> = 10..=600;
    /// Unanswered questions one shopper may have in the queue.
    pub const MAX_OPEN_QUESTIONS_PER_SHOPPER: usize = 5;
    /// A giveaway's prize, in characters.
    pub const MAX_PRIZE_CHARS: usize = 200;
    /// How long a giveaway takes entries, in seconds.
    pub const GIVEAWAY_CLOSES_IN_SECS: RangeInclusive<u64> = 10..=86_400;
    /// The longest presence a giveaway may ask of its entrants, in minutes.
    pub const MAX_PRESENT_MINUTES: u32 = 600;
}

/// Staff accounts' sign-in.
pub mod accounts {
    use std::ops::RangeInclusive;

    /// A username's length, in characters of `a-z`, `0-9`, `.`, `_`, `-`.
    pub const USERNAME_CHARS: RangeInclusive<usize> = 3..=32;
    /// The characters a username may use, as the API document states them.
    pub const USERNAME_PATTERN: &str = "^[a-z0-9._-]+$";
    /// A password's length in characters (as JSON Schema counts them, so
    /// the API document can state it); anything else is up to the person.
    pub const PASSWORD_CHARS: RangeInclusive<usize> = 12..=256;
    /// The password sign-in takes: any an account may have. Accounts made
    /// before passwords were counted in characters were checked as 12 to
    /// 256 bytes, so theirs may be shorter in characters (six 3-byte
    /// characters); they must still be able to sign in.
    pub const SIGN_IN_PASSWORD_CHARS: RangeInclusive<usize> = 1..=*PASSWORD_CHARS.end();
}

/// Password sign-in's defences (issue 21).
pub mod sign_in {
    use std::time::Duration;

    /// Sign-ins that may wait for an Argon2 slot, per slot (the slots are
    /// one per core); past that the answer is 503 `busy`.
    pub const HASH_QUEUE_PER_PERMIT: usize = 8;
    /// Failures of one username within [`LOCK_WINDOW`] that lock it ...
    pub const LOCK_AFTER_FAILURES: u32 = 5;
    pub const LOCK_WINDOW: Duration = Duration::from_secs(15 * 60);
    /// ... for this long, whatever password comes meanwhile.
    pub const LOCK_FOR: Duration = Duration::from_secs(15 * 60);
    /// Usernames whose failures are remembered at once; past it the least
    /// recently tried is forgotten.
    pub const MAX_TRACKED_NAMES: usize = 100_000;
    /// What a 503 `busy` asks the client to wait.
    pub const BUSY_RETRY_AFTER: Duration = Duration::from_secs(1);
}

/// The console's live feed (issue 21).
pub mod console {
    use std::time::Duration;

    /// How long a feed ticket may wait before it opens its stream.
    pub const TICKET_TTL: Duration = Duration::from_secs(30);
    /// Tickets issued and not yet used, at most; past it the oldest go.
    pub const MAX_OPEN_TICKETS: usize = 10_000;
    /// How often an open feed checks its session and role again.
    pub const FEED_RECHECK: Duration = Duration::from_secs(2);
}

/// Mutes, removals, the moderation log and the keyword filter.
pub mod moderation {
    use std::time::Duration;

    /// Shortest and longest mute.
    pub const MIN_MUTE: Duration = Duration::from_secs(1);
    pub const MAX_MUTE: Duration = Duration::from_secs(24 * 60 * 60);
    /// Longest reason given for a mute, kick or ban, in characters.
    pub const MAX_REASON_CHARS: usize = 200;
    /// Most log entries in one page.
    pub const MAX_LOG_PAGE: usize = 500;
    /// Most terms in the keyword filter, and the longest term in characters.
    pub const MAX_TERMS: usize = 500;
    pub const MAX_TERM_CHARS: usize = 40;
}

/// Default token buckets on a member's room commands: so many a second
/// sustained, and a burst at once. A client that paces itself by them is
/// never told [`RejectReason::RateLimited`](crate::protocol::RejectReason).
/// The server's config may change chat's and reactions'.
pub mod rates {
    pub const CHAT_PER_SECOND: f64 = 1.0;
    pub const CHAT_BURST: u32 = 5;
    pub const REACTIONS_PER_SECOND: f64 = 5.0;
    pub const REACTIONS_BURST: u32 = 10;
    /// Flash-sale claims: a quick double tap passes, a script's flood does
    /// not reach the engine.
    pub const CLAIMS_PER_SECOND: f64 = 5.0;
    pub const CLAIMS_BURST: u32 = 10;
}

/// Friends: the friend graph, codes and requests.
pub mod friends {
    /// Friends one account may have; a request or an accept that would go
    /// past it, on either side, is refused.
    pub const MAX_FRIENDS: usize = 500;
    /// Friend requests one account may send: a burst of this many, then
    /// [`REQUESTS_PER_HOUR`] an hour. Spam stops here, not at the other end.
    pub const REQUESTS_BURST: u32 = 20;
    pub const REQUESTS_PER_HOUR: f64 = 20.0;
    /// Characters of a friend code (written in two groups of four).
    pub const CODE_CHARS: usize = 8;
    /// Friend codes use these: no `0`/`O`, `1`/`I`/`L` or `U`, which people
    /// misread or mistype.
    pub const CODE_ALPHABET: &[u8; 30] = b"23456789ABCDEFGHJKMNPQRSTVWXYZ";
    /// A friend link is this followed by the code.
    pub const LINK_PREFIX: &str = "vitrine://friend/";
    /// Requests one account may have waiting for its answer: a request past
    /// it is refused to its sender, so nobody's list is flooded by many
    /// senders each within their own rate.
    pub const MAX_PENDING_REQUESTS: i64 = 100;
    /// A request unanswered this long lapses (30 days), as it does on
    /// Discord's and Steam's friend lists.
    pub const REQUEST_EXPIRY_MS: i64 = 30 * 24 * 3600 * 1000;
}

/// Parties: their size, invites, party chat and shared products.
pub mod party {
    /// Members of one party, as Oculus and Hulu parties hold.
    pub const MAX_PARTY_SIZE: usize = 8;
    /// Invites one party may have waiting for an answer at once.
    pub const MAX_PENDING_INVITES: usize = 8;
    /// How long an invite may be answered, in seconds.
    pub const INVITE_EXPIRY_SECS: u64 = 120;
    /// How long a member who lost their connection (or is between rooms)
    /// stays in the party before they are taken out, in seconds: long
    /// enough to switch rooms or ride out a network drop.
    pub const AWAY_GRACE_SECS: u64 = 60;
    /// Invites one account may send: so many a second sustained, and a
    /// burst at once (rate limited per account, whatever room it is in).
    pub const INVITES_PER_SECOND: f64 = 0.5;
    pub const INVITE_BURST: u32 = 5;
    /// Products one account may share.
    pub const SHARES_PER_SECOND: f64 = 0.5;
    pub const SHARE_BURST: u32 = 3;
    /// Party chat lines a member is sent again when they connect to a room.
    pub const PARTY_CHAT_HISTORY: usize = 20;
}

/// Fair limits: guests made per network, and how a network is told.
pub mod fair {
    /// Guest accounts one network may create in a rolling day, by default
    /// (the `guests_per_network_per_day` setting).
    pub const GUESTS_PER_NETWORK_PER_DAY: u32 = 30;
    /// The setting's bounds: at least one guest a day, at most this many.
    pub const MAX_GUESTS_PER_NETWORK_PER_DAY: u32 = 1_000_000;
    /// An IPv6 network is its first this many bits: one home or office.
    pub const IPV6_NETWORK_BITS: u8 = 64;
    /// The window the count is over, in milliseconds.
    pub const GUEST_WINDOW_MS: i64 = 24 * 3600 * 1000;
}

/// Voice: what the server forwards, and what the showroom plays.
pub mod voice {
    /// Opus packet length, milliseconds: one packet, one datagram. Not
    /// Discord's and WebRTC's 20: every datagram carries about 60 bytes of
    /// IP, UDP, netcode and renet header, as much as a 20 ms frame of
    /// speech, so 20 ms packets spend half the uplink on headers (45.8
    /// kbit/s a speaker at 24 kbit/s, docs/BENCHMARKS.md). 40 ms halves the
    /// headers for 20 ms more delay, and a 40 ms packet's in-band FEC
    /// rebuilds all of the packet before it, where two 20 ms frames to a
    /// datagram would lose both and rebuild only one.
    pub const FRAME_MS: u32 = 40;
    /// Opus's clock: 48 kHz samples, so a packet advances the timestamp by
    /// 1,920.
    pub const SAMPLES_PER_FRAME: u32 = 48 * FRAME_MS;
    /// Target bitrate, bits per second: mono wideband speech in VOIP mode
    /// (Opus's own guide gives 16 to 20 kbit/s for wideband speech). 18,
    /// not 20: with every header counted 20 came to 32.5 kbit/s a speaker,
    /// over the 32 allowed, and 18 to 30.6 (docs/BENCHMARKS.md, voice).
    pub const BITRATE_BPS: u32 = 18_000;
    /// The largest Opus packet the server forwards. 18 kbit/s is 90 bytes
    /// a packet; in-band FEC and a loud burst stay well under this.
    pub const MAX_OPUS_BYTES: usize = 400;
    /// Packets one speaker may send a second (25 at 40 ms), and the burst
    /// allowed above that rate (a sender catching up after a stall).
    pub const FRAMES_PER_SECOND: u32 = 25;
    pub const FRAME_BURST: u32 = 10;
    /// Beyond this distance a nearby voice is neither forwarded nor heard
    /// (VRChat's 25 m).
    pub const EARSHOT_M: f32 = 25.0;
    /// Full volume within this distance, falling beyond it.
    pub const FULL_VOLUME_M: f32 = 2.0;
    /// The most speakers one listener is sent at once: the loudest and
    /// nearest.
    pub const MAX_VOICES_PER_LISTENER: usize = 8;
}

/// Voice forwarding: what the server checks on each frame and how it picks
/// a listener's voices.
pub mod voice_forwarding {
    /// The largest encoded [`crate::protocol::VoiceUp`] read: the Opus
    /// limit plus its header (sequence, timestamp, target, level, length).
    pub const MAX_VOICE_UP_BYTES: usize = super::voice::MAX_OPUS_BYTES + 16;
    /// A packet this many numbers behind the speaker's newest is stale:
    /// later than any jitter buffer waits (two seconds of packets).
    pub const MAX_SEQ_BEHIND: u16 = 50;
    /// A jump ahead past this many numbers (40 s of packets) is not loss.
    pub const MAX_SEQ_AHEAD: u16 = 1000;
    /// After this many frames in a row refused as out of order, the
    /// speaker's numbering is taken afresh (a restarted encoder).
    pub const SEQ_RESYNC_FRAMES: u32 = 50;
    /// A speaker holds a listener's slot this long after its last frame.
    pub const SLOT_HOLD_MS: u64 = 1000;
    /// ...and for at least this long once chosen, so voices do not flicker.
    pub const SLOT_TENURE_MS: u64 = 1000;
    /// A newcomer takes the weakest slot only when this much louder.
    pub const SLOT_TAKEOVER: f32 = 1.25;
    /// Speakers one listener may mute for itself.
    pub const MAX_MUTED_SPEAKERS: usize = 256;
    /// A voice-muted speaker who keeps talking is told at most this often.
    pub const MUTED_NOTICE_MS: u64 = 5000;
}
