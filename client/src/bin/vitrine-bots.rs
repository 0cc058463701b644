//! `vitrine-bots`: N headless shoppers in a room, printing what happens.

use clap::Parser;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use vitrine_client::bots::{Behaviour, Bot};
use vitrine_client::net::{ApiClient, RoomChange};
use vitrine_shared::protocol::CommerceEventNet;

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
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let api = ApiClient::new(&args.server);
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

    let frame = Duration::from_secs_f64(1.0 / 30.0);
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
        // The first bot narrates the room; the others only act.
        let changes = bots[0].net.mirror_mut().drain_changes();
        for bot in bots.iter_mut().skip(1) {
            bot.net.mirror_mut().drain_changes();
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
                    RoomChange::Reaction { from, reaction } => {
                        println!("{} reacted {}", name_of(from), reaction.emoji())
                    }
                    RoomChange::Rejected(r) => println!("! refused {:?}: {}", r.command, r.reason),
                    RoomChange::ShuttingDown(reason) => println!("! server: {reason}"),
                    RoomChange::Commerce(event) => println!("$ {}", describe(&event)),
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
