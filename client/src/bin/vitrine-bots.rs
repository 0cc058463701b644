//! `vitrine-bots`: N headless shoppers in a room, printing what happens.

use clap::Parser;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use std::time::{SystemTime, UNIX_EPOCH};
use vitrine_client::bots::{Behaviour, Bot};
use vitrine_client::net::{ApiClient, RoomChange};
use vitrine_shared::api::{CreateCoupon, CreatePoll, StartFlashSale};
use vitrine_shared::protocol::{
    CheckoutCommand, CommandKind, CommerceEventNet, EngagementEventNet, PartyCommand, Purchase,
};
use vitrine_shared::{ChatText, CouponCode, PaymentMethod, ProductId, RoomCommand, Sku};

/// Runs bots that join a room, walk around, chat and react.
#[derive(Parser)]
#[command(name = "vitrine-bots", version)]
struct Args {
    /// The server's HTTP address
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    server: String,
    /// Room id to join
    #[arg(long, default_value = "main-stage")]
    room: String,
    /// How many bots
    #[arg(long, default_value_t = 5)]
    count: usize,
    /// How long to run, in seconds (0: until interrupted)
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Print only the summary, not every change
    #[arg(long)]
    quiet: bool,
    /// A host account (username) that starts a flash sale during the run
    #[arg(long, requires = "host_password")]
    host_user: Option<String>,
    /// The host's password
    #[arg(long, env = "VITRINE_HOST_PASSWORD", hide_env_values = true)]
    host_password: Option<String>,
    /// When the host starts the flash sale, in seconds from the start
    #[arg(long, default_value_t = 15)]
    flash_sale_after: u64,
    /// The first bot invites the shopper of this name into a party when
    /// they are in the room, then says hello in party chat and shares a
    /// product (the demo's "shopping together")
    #[arg(long)]
    party_with: Option<String>,
    /// With the flash sale, the host also sets a group deal (teams of 3 on
    /// the perfume the party bot shares) for the showroom's card to show.
    #[arg(long, requires = "host_user")]
    group_deal: bool,
    /// Bots talk aloud: `tone`, or a sound file (WAV, OGG) looped with a
    /// pause after each pass. Given N times, the first N bots each speak
    /// one, in order.
    #[arg(long)]
    voice: Vec<String>,
}

/// Silence after each pass of a bot's sound file, so bots take turns
/// rather than talking without end.
const VOICE_PAUSE_S: f32 = 4.0;

/// The source `--voice` names: a tone, or a file decoded once and looped
/// with a pause.
fn voice_source(arg: &str, pitch: f32) -> Result<vitrine_client::voice::Source, String> {
    use vitrine_client::voice::Source;
    if arg == "tone" {
        return Ok(Source::Tone { hz: pitch });
    }
    let mut samples =
        vitrine_media::voice::decode_file(std::path::Path::new(arg)).map_err(|e| e.to_string())?;
    samples.resize(samples.len() + (VOICE_PAUSE_S * 48_000.0) as usize, 0);
    Ok(Source::Clip(samples))
}

/// What the first bot shares with its party.
const PARTY_SHARE: &str = "amber-perfume";

/// The first bot's party with `--party-with`: invite (again every 30 s
/// while not answered), then a line and a share once the party forms.
#[derive(Default)]
struct PartyHost {
    invited_at: Option<Instant>,
    greeted: bool,
}

impl PartyHost {
    fn step(&mut self, bot: &mut Bot, with: &str) {
        let mirror = bot.net.mirror();
        let in_party = mirror
            .party
            .party
            .as_ref()
            .is_some_and(|p| p.members.len() > 1);
        if in_party {
            if !self.greeted {
                self.greeted = true;
                if let Ok(text) = ChatText::new("Found a perfume for your sister, look!") {
                    bot.net.send_party(PartyCommand::Chat(text));
                }
                if let Ok(product) = ProductId::new(PARTY_SHARE) {
                    bot.net.send_party(PartyCommand::Share { product });
                }
                println!("& {} greets the party and shares {PARTY_SHARE}", bot.name);
            }
            return;
        }
        self.greeted = false;
        if self
            .invited_at
            .is_some_and(|at| at.elapsed() < Duration::from_secs(30))
        {
            return;
        }
        let Some(account) = mirror
            .members
            .values()
            .find(|m| m.name.as_str() == with)
            .map(|m| m.account)
        else {
            return;
        };
        self.invited_at = Some(Instant::now());
        bot.net.send_party(PartyCommand::Invite { account });
        println!("& {} invites {with} into a party", bot.name);
    }
}

/// The host sets a group deal on the perfume the party bot shares (its
/// card opens from the party chat line): teams of 3 for 15 minutes.
fn set_group_deal(api: &ApiClient, user: &str, password: &str) -> Result<(), String> {
    let host = api
        .sign_in_with_password(user, password)
        .map_err(|e| e.to_string())?;
    let deal = vitrine_shared::api::CreateGroupDeal {
        sku: "amber-perfume-50ml".into(),
        team_size: 3,
        team_price_minor: 4500,
        currency: "EUR".into(),
        window_secs: Some(900),
        until_show_ends: false,
        stock_cap: 20,
    };
    let deal = api
        .create_group_deal(&host, &deal)
        .map_err(|e| e.to_string())?;
    println!(
        "$ host {user} sets group deal {}: teams of {} buy {} at {}",
        deal.id, deal.team_size, deal.sku, deal.team_price.display
    );
    Ok(())
}

/// The host's turn: announce a flash sale on a serum, half as many units as
/// there are bots, so that some of them miss out.
fn start_flash_sale(
    api: &ApiClient,
    user: &str,
    password: &str,
    bots: usize,
) -> Result<(), String> {
    let host = api
        .sign_in_with_password(user, password)
        .map_err(|e| e.to_string())?;
    let show = api
        .start_show(&host, "Spring drop, live")
        .map_err(|e| e.to_string())?;
    println!("$ host {user} starts the show \"{}\"", show.title);
    let poll = CreatePoll {
        question: "Which colour should the mug come in next?".into(),
        options: vec!["Terracotta".into(), "Ink blue".into(), "Butter".into()],
        duration_secs: 30,
    };
    let poll = api.create_poll(&host, &poll).map_err(|e| e.to_string())?;
    println!("$ host {user} opens a poll: {}", poll.question);
    let sale = StartFlashSale {
        sku: "glow-serum-30ml".into(),
        sale_price_minor: 1490,
        currency: "EUR".into(),
        quantity: (bots as i64 / 2).max(1),
        per_buyer_limit: 1,
        countdown_secs: 10,
        duration_secs: 120,
    };
    let sale = api
        .start_flash_sale(&host, &sale)
        .map_err(|e| e.to_string())?;
    println!(
        "$ host {user} announces flash sale {}: {} × {} at {}, opening in 10 s",
        sale.id, sale.quantity, sale.sku, sale.sale_price.display
    );
    // And pins a coupon for the show (made once; a rerun pins it again).
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let coupon = CreateCoupon {
        code: DEMO_COUPON.into(),
        percent_off: Some(10),
        amount_off_minor: None,
        currency: "EUR".into(),
        min_order_minor: 2000,
        max_redemptions: Some(100),
        per_buyer_limit: 1,
        starts_at_ms: None,
        ends_at_ms: now_ms + 24 * 3600 * 1000,
    };
    match api.create_coupon(&host, &coupon) {
        Ok(_) => {}
        Err(e) if e.code() == Some("coupon_exists") => {}
        Err(e) => return Err(e.to_string()),
    }
    api.pin_coupon(&host, DEMO_COUPON)
        .map_err(|e| e.to_string())?;
    println!("$ host {user} pins coupon {DEMO_COUPON}: 10% off orders of 20.00 EUR or more");
    Ok(())
}

fn describe_engagement(event: &EngagementEventNet) -> Option<String> {
    Some(match event {
        EngagementEventNet::PollOpened(p) => {
            format!("poll: {} ({})", p.question, p.options.join(" / "))
        }
        EngagementEventNet::PollResults {
            counts,
            closed: true,
            ..
        } => format!("poll closed: {counts:?}"),
        EngagementEventNet::PollResults { counts, .. } => format!("poll so far: {counts:?}"),
        EngagementEventNet::Points {
            change,
            balance,
            reason,
        } => format!("{change:+} points for {reason} (balance {balance})"),
        EngagementEventNet::Badge { name, .. } => format!("badge earned: {name}"),
        EngagementEventNet::Leaderboard { show, .. } if !show.is_empty() => {
            let top: Vec<String> = show
                .iter()
                .take(3)
                .map(|l| format!("{} {}", l.name, l.points))
                .collect();
            format!("leaderboard: {}", top.join(", "))
        }
        EngagementEventNet::QuestionAsked(q) => format!("question from {}: {}", q.name, q.text),
        EngagementEventNet::GiveawayOpened(g) => format!("giveaway: {}", g.prize),
        EngagementEventNet::GiveawayDrawn { winner, .. } => format!("giveaway won by {winner}"),
        _ => return None,
    })
}

/// The coupon the demo host pins.
const DEMO_COUPON: &str = "LIVE10";

/// One bot's turn once a coupon is pinned: two mugs into the cart from the
/// room, then checkout of the cart with the coupon and the test card.
fn shop_with_coupon(bot: &mut Bot, code: CouponCode) {
    let sku = Sku::new("stoneware-mug-sage").expect("a valid SKU");
    bot.net
        .send_command(RoomCommand::AddToCart { sku, quantity: 2 });
    bot.net.send_command(RoomCommand::Checkout(CheckoutCommand {
        request_id: 1,
        items: Purchase::Cart,
        coupon: Some(code),
        payment: PaymentMethod::new("4242 4242 4242 4242").expect("a valid card"),
    }));
    println!(
        "{} puts 2 mugs in the cart and checks out with the coupon",
        bot.name
    );
}

const NAMES: &[&str] = &[
    "Ada", "Bo", "Chen", "Dara", "Eli", "Femi", "Gus", "Hana", "Ivo", "Juno",
];

fn describe(event: &CommerceEventNet) -> String {
    match event {
        CommerceEventNet::SaleAnnounced(s) => format!(
            "flash sale {}: {} × {} at {}, {} per buyer",
            s.id, s.quantity, s.sku, s.price, s.per_buyer_limit
        ),
        CommerceEventNet::SaleOpened { sale_id } => format!("flash sale {sale_id} is open"),
        CommerceEventNet::UnitsLeft {
            sale_id,
            units_left,
        } => format!("flash sale {sale_id}: {units_left} left"),
        CommerceEventNet::SoldOut { sale_id } => format!("flash sale {sale_id} sold out"),
        CommerceEventNet::SaleEnded { sale_id } => format!("flash sale {sale_id} ended"),
        CommerceEventNet::Claimed {
            order_id,
            quantity,
            total,
            ..
        } => {
            format!("bought {quantity} (order {order_id}, {total})")
        }
        CommerceEventNet::Cart(cart) => {
            let units: i64 = cart.lines.iter().map(|l| l.quantity).sum();
            format!("cart: {} lines, {units} units", cart.lines.len())
        }
        CommerceEventNet::RecentOrders(orders) => format!("{} recent orders", orders.len()),
        CommerceEventNet::Order(o) => {
            format!("order {}: {} ({})", o.id, o.status.as_str(), o.total)
        }
        CommerceEventNet::CheckoutDone { order, .. } => {
            format!(
                "checked out: order {} {} ({})",
                order.id,
                order.status.as_str(),
                order.total
            )
        }
        CommerceEventNet::CheckoutFailed { reason, .. } => format!("checkout failed: {reason}"),
        CommerceEventNet::CouponPinned(Some(c)) => format!("coupon {} pinned", c.code),
        CommerceEventNet::CouponPinned(None) => "coupon unpinned".into(),
        CommerceEventNet::SharedCart(cart) => shared_cart_line(cart),
        CommerceEventNet::Reviewed {
            product,
            stars,
            refused: None,
        } => format!("reviewed {product}: {stars} stars"),
        CommerceEventNet::Reviewed {
            product,
            refused: Some(why),
            ..
        } => format!("review of {product} refused: {why}"),
    }
}

fn shared_cart_line(cart: &vitrine_shared::protocol::SharedCartNet) -> String {
    let units: i64 = cart.lines.iter().map(|l| l.quantity).sum();
    format!(
        "shared cart ({:?}): {} lines, {units} units",
        cart.change,
        cart.lines.len()
    )
}

fn main() -> ExitCode {
    let args = Args::parse();
    // Each bot its own loopback address when the server is on loopback, so
    // the bots are distinct shoppers to the server's per-network limits.
    let api = ApiClient::new(&args.server).with_loopback_guests();
    match api.rooms() {
        Ok(rooms) => {
            for r in rooms {
                println!(
                    "room {:<14} {:<14} {}/{}",
                    r.id, r.name, r.occupancy, r.capacity
                );
            }
        }
        Err(e) => {
            eprintln!("vitrine-bots: {e}");
            return ExitCode::FAILURE;
        }
    }
    let mut bots = Vec::with_capacity(args.count);
    for i in 0..args.count {
        let name = format!("{}-bot{}", NAMES[i % NAMES.len()], i);
        match Bot::join(&api, &name, &args.room, Behaviour::default(), i as u64) {
            Ok(bot) => bots.push(bot),
            Err(e) => {
                eprintln!("vitrine-bots: {name} could not join: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    println!(
        "{} bots joining {} on {}",
        bots.len(),
        args.room,
        args.server
    );
    for (i, (bot, arg)) in bots.iter_mut().zip(&args.voice).enumerate() {
        let speaks = voice_source(arg, 140.0 + 45.0 * i as f32)
            .and_then(|source| bot.speak(&source).map_err(|e| e.to_string()));
        match speaks {
            Ok(()) => println!("~ {} speaks {arg}", bot.name),
            Err(e) => {
                eprintln!("vitrine-bots: {} cannot speak {arg}: {e}", bot.name);
                return ExitCode::FAILURE;
            }
        }
    }

    let frame = Duration::from_secs_f64(1.0 / 30.0);
    let mut sale_started = false;
    let mut coupon_used = false;
    let mut party = PartyHost::default();
    let start = Instant::now();
    let mut last = Instant::now();
    let mut next_status = Duration::from_secs(5);
    let run_for = (args.seconds > 0).then(|| Duration::from_secs(args.seconds));
    loop {
        let dt = last.elapsed();
        last = Instant::now();
        for bot in bots.iter_mut() {
            if let Err(e) = bot.step(dt) {
                eprintln!("{}: {e}", bot.name);
            }
        }
        if let (Some(user), Some(password), false) =
            (&args.host_user, &args.host_password, sale_started)
            && start.elapsed() >= Duration::from_secs(args.flash_sale_after)
        {
            sale_started = true;
            if let Err(e) = start_flash_sale(&api, user, password, bots.len()) {
                eprintln!("vitrine-bots: the host could not start a flash sale: {e}");
            }
            if args.group_deal
                && let Err(e) = set_group_deal(&api, user, password)
            {
                eprintln!("vitrine-bots: the host could not set a group deal: {e}");
            }
        }
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        if let (Some(with), Some(bot)) = (&args.party_with, bots.first_mut()) {
            party.step(bot, with);
        }
        // The last bot shops with the pinned coupon once it shows.
        if !coupon_used
            && let Some(bot) = bots.last_mut()
            && let Some(coupon) = bot.net.mirror().pinned_coupon.clone()
        {
            coupon_used = true;
            shop_with_coupon(bot, coupon.code);
        }
        // Every bot taps on an open sale, and pays for what it got; the
        // first bot also narrates the room.
        let mut changes = Vec::new();
        for (i, bot) in bots.iter_mut().enumerate() {
            for sale in bot.shop(now_ms) {
                println!("{} taps buy on flash sale {}", bot.name, sale.id);
            }
            let mine = bot.net.mirror_mut().drain_changes();
            for change in &mine {
                match change {
                    RoomChange::Commerce(CommerceEventNet::Claimed {
                        order_id, total, ..
                    }) => match api.pay(&bot.session, *order_id, "4242 4242 4242 4242") {
                        Ok(order) => println!(
                            "{} got one and paid {} (order {}, {})",
                            bot.name, total, order.id, order.status
                        ),
                        Err(e) => println!("{} got one but could not pay: {e}", bot.name),
                    },
                    RoomChange::Rejected(r) if r.command == CommandKind::ClaimFlashSale => {
                        println!("{} missed out: {}", bot.name, r.reason);
                    }
                    RoomChange::Commerce(CommerceEventNet::CheckoutDone { order, .. }) => {
                        println!(
                            "{} bought its cart: order {} {} ({} off, {} paid)",
                            bot.name,
                            order.id,
                            order.status.as_str(),
                            order.discount,
                            order.total
                        );
                    }
                    RoomChange::Commerce(CommerceEventNet::CheckoutFailed { reason, .. }) => {
                        println!("{} could not check out: {reason}", bot.name);
                    }
                    // Every bot answers a poll when it opens.
                    RoomChange::Engagement(EngagementEventNet::PollOpened(poll)) => {
                        let option = (i % poll.options.len()) as u8;
                        bot.net.send_command(RoomCommand::Vote {
                            poll_id: poll.id,
                            option,
                        });
                    }
                    _ => {}
                }
            }
            if i == 0 {
                changes = mine;
            }
        }
        if !args.quiet {
            let mirror = bots[0].net.mirror();
            let name_of = |slot| {
                mirror
                    .members
                    .get(&slot)
                    .map(|m| m.name.to_string())
                    .unwrap_or_else(|| "?".into())
            };
            for change in changes {
                match change {
                    RoomChange::Welcomed { room, .. } => {
                        println!("[{}] welcome to {room}", bots[0].name)
                    }
                    RoomChange::Joined(m) => println!("+ {} joined ({})", m.name, m.role),
                    RoomChange::Left(m) => println!("- {} left", m.name),
                    RoomChange::Chat(line) => println!("{}: {}", line.name, line.text),
                    RoomChange::Reactions(burst) => {
                        let shown: Vec<String> = burst
                            .counts
                            .iter()
                            .map(|(r, n)| format!("{}×{n}", r.emoji()))
                            .collect();
                        let who: Vec<String> =
                            burst.from.iter().map(|(slot, _)| name_of(*slot)).collect();
                        println!("reactions {} (from {})", shown.join(" "), who.join(", "))
                    }
                    RoomChange::ChatRemoved(seq) => {
                        println!("- chat line {seq} removed by a moderator")
                    }
                    RoomChange::Removed { banned, reason } => {
                        println!("! removed from the room (banned: {banned}): {reason}")
                    }
                    RoomChange::Engagement(event) => {
                        if let Some(line) = describe_engagement(&event) {
                            println!("* {line}");
                        }
                    }
                    RoomChange::Rejected(r) => println!("! refused {:?}: {}", r.command, r.reason),
                    RoomChange::ShuttingDown(reason) => println!("! server: {reason}"),
                    RoomChange::Commerce(event) => println!("$ {}", describe(&event)),
                    RoomChange::ProductHeld { product, by } => {
                        println!("{} picked up {product}", name_of(by))
                    }
                    RoomChange::ProductDropped { product, .. } => {
                        println!("{product} was dropped")
                    }
                    RoomChange::ProductReturned { product } => {
                        println!("{product} is back on its display")
                    }
                    RoomChange::ProductPassed { product, from, to } => {
                        println!("{} passed {product} to {}", name_of(from), name_of(to))
                    }
                    RoomChange::Stream(stream) => println!(
                        "~ the host is {} ({})",
                        if stream.live { "live" } else { "off" },
                        stream.srt.as_deref().unwrap_or("no SRT URL")
                    ),
                    RoomChange::GroupDeals(event) => println!("$ group deal: {event:?}"),
                    RoomChange::Friends(event) => println!("♥ {event:?}"),
                    RoomChange::Party(event) => println!("& party: {event:?}"),
                    RoomChange::SharedCart(cart) => println!("$ {}", shared_cart_line(&cart)),
                    RoomChange::Voice(event) => println!("! voice: {event:?}"),
                }
            }
        }
        let elapsed = start.elapsed();
        if elapsed >= next_status {
            next_status += Duration::from_secs(5);
            let connected = bots.iter().filter(|b| b.net.is_connected()).count();
            let mirror = bots[0].net.mirror();
            println!(
                "· {:>3}s  {connected}/{} bots connected, {} members and {} avatars in view, {} chat lines",
                elapsed.as_secs(),
                bots.len(),
                mirror.members.len(),
                mirror.avatars.len(),
                mirror.chat.len()
            );
        }
        if run_for.is_some_and(|limit| elapsed >= limit) {
            break;
        }
        if bots.iter().all(|b| b.net.is_disconnected()) {
            eprintln!(
                "all bots disconnected: {}",
                bots[0].net.disconnect_reason().unwrap_or_default()
            );
            return ExitCode::FAILURE;
        }
        std::thread::sleep(frame.saturating_sub(last.elapsed()));
    }
    for bot in bots.iter_mut() {
        bot.net.disconnect();
    }
    ExitCode::SUCCESS
}
