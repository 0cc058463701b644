//! Bots: headless shoppers that wander, chat and react, and (as
//! [`Behaviour::mixed`] has them) stand at displays, pick products up or
//! wear a headset. The demo, the tests and the load runs all use them.

use crate::net::{ApiClient, NetClient, NetError, SignedIn};
use crate::voice::{Hearing, Source, Talk, Voice, VoiceError};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::HashSet;
use std::time::Duration;
use vitrine_shared::SaleId;
use vitrine_shared::pose::{TrackedPoseNet, XrPoseNet};
use vitrine_shared::protocol::FlashSaleNet;
use vitrine_shared::{ChatText, PoseNet, ProductId, Reaction, RoomCommand};

/// What a bot does on its own.
#[derive(Debug, Clone, Copy)]
pub struct Behaviour {
    /// Walking speed, metres per second.
    pub speed: f32,
    /// Mean time between chat lines; `None` never chats.
    pub chat_every: Option<Duration>,
    /// Mean time between reactions; `None` never reacts.
    pub react_every: Option<Duration>,
    /// Taps on flash sales when they open.
    pub shops: bool,
    /// Wears a headset: the pose carries a head that bobs and turns and
    /// two hands that swing.
    pub xr: bool,
    /// Mean time a product is held before being put down and another one
    /// picked up (from those given by [`Bot::hold_from`]); `None` holds
    /// nothing.
    pub hold_for: Option<Duration>,
    /// Mean time spent standing at each spot reached (looking at a display,
    /// watching the stage) before walking on; `None` walks without pause.
    pub linger: Option<Duration>,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            speed: 1.4,
            chat_every: Some(Duration::from_secs(8)),
            react_every: Some(Duration::from_secs(4)),
            shops: true,
            xr: false,
            hold_for: None,
            linger: None,
        }
    }
}

impl Behaviour {
    /// Walks only: for tests that count chat lines exactly.
    pub fn walker() -> Self {
        Behaviour {
            chat_every: None,
            react_every: None,
            shops: false,
            ..Behaviour::default()
        }
    }

    /// The shoppers of a real room, by `index`: one in ten in a headset,
    /// two in ten picking products up, three in ten chatting and reacting,
    /// the rest walking; none taps on sales (the bench counts the room).
    /// Each walks to a spot and stands there a while (4 s on average, about
    /// as long as the walk between spots takes), as shoppers stop at a
    /// display or to watch the host; a headset wearer's head and hands keep
    /// moving while it stands.
    pub fn mixed(index: usize) -> Self {
        let walker = Behaviour {
            linger: Some(Duration::from_secs(4)),
            ..Behaviour::walker()
        };
        match index % 10 {
            0 => Behaviour { xr: true, ..walker },
            1 | 2 => Behaviour {
                hold_for: Some(Duration::from_secs(15)),
                ..walker
            },
            3..=5 => Behaviour {
                chat_every: Some(Duration::from_secs(20)),
                react_every: Some(Duration::from_secs(6)),
                ..walker
            },
            _ => walker,
        }
    }

    /// What [`Behaviour::mixed`] gives `index`, in a word.
    pub fn mixed_kind(index: usize) -> &'static str {
        match index % 10 {
            0 => "in XR",
            1 | 2 => "holding products",
            3..=5 => "chatting and reacting",
            _ => "walking",
        }
    }
}

/// Without snapshots arriving, the pose still goes out this often.
const INPUT_WITHOUT_SNAPSHOT_S: f32 = 0.1;

const LINES: &[&str] = &[
    "Does it come in blue?",
    "Love this one!",
    "How heavy is it?",
    "Just bought two 🛍",
    "What's the battery life?",
    "Is there a discount code?",
    "That colour is gorgeous",
    "Shipping to Lisbon?",
];

pub struct Bot {
    pub name: String,
    pub net: NetClient,
    /// The bot's session, for HTTP calls such as paying.
    pub session: SignedIn,
    /// Flash sales this bot has tapped on.
    tapped: HashSet<SaleId>,
    behaviour: Behaviour,
    rng: StdRng,
    pose: Option<PoseNet>,
    target: [f32; 3],
    until_chat: f32,
    until_react: f32,
    /// What the bot says aloud, on open mic; it hears nothing.
    voice: Option<Voice>,
    /// Seconds since the last pose went out.
    since_sent: f32,
    /// The newest snapshot the last input acknowledged.
    acked: Option<u32>,
    /// Seconds since the bot was welcomed (a headset's motion follows it).
    clock: f32,
    /// Products it may pick up, the one it holds (and since when), and
    /// seconds until it swaps.
    products: Vec<ProductId>,
    holding: Option<(ProductId, f32)>,
    until_swap: f32,
    /// Seconds left standing at the spot reached.
    standing: f32,
}

impl Bot {
    /// Signs in as `name`, joins `room` and starts connecting. `seed` makes
    /// the bot's wandering repeatable. Bots of one server on loopback are
    /// distinct shoppers only through an `api` made with
    /// [`ApiClient::with_loopback_guests`]: the server counts guests by the
    /// network they come from.
    pub fn join(
        api: &ApiClient,
        name: &str,
        room: &str,
        behaviour: Behaviour,
        seed: u64,
    ) -> Result<Bot, NetError> {
        let session = api.sign_in(name)?;
        let net = NetClient::connect(&api.join(&session, room)?)?;
        let mut rng = StdRng::seed_from_u64(seed);
        let until_chat = Self::wait(&mut rng, behaviour.chat_every);
        let until_react = Self::wait(&mut rng, behaviour.react_every);
        Ok(Bot {
            name: name.to_owned(),
            net,
            session,
            tapped: HashSet::new(),
            behaviour,
            rng,
            pose: None,
            target: [0.0; 3],
            until_chat,
            until_react,
            voice: None,
            since_sent: 0.0,
            acked: None,
            clock: 0.0,
            products: Vec::new(),
            holding: None,
            until_swap: 0.0,
            standing: 0.0,
        })
    }

    /// The products a bot whose behaviour holds things picks up from.
    pub fn hold_from(&mut self, products: Vec<ProductId>) {
        self.products = products;
    }

    /// Has the bot talk from `source` (a sound file, looped, or a tone) on
    /// open mic to everyone nearby, so a demo room is audible.
    pub fn speak(&mut self, source: &Source) -> Result<(), VoiceError> {
        let mut voice = Voice::new(source, Hearing::Off)?;
        voice.set_talk(Talk::OpenMic);
        self.voice = Some(voice);
        Ok(())
    }

    /// Stops talking.
    pub fn stop_speaking(&mut self) {
        self.voice = None;
    }

    /// The bot's voice, when it speaks.
    pub fn voice(&self) -> Option<&Voice> {
        self.voice.as_ref()
    }

    fn wait(rng: &mut StdRng, mean: Option<Duration>) -> f32 {
        match mean {
            Some(mean) => mean.as_secs_f32() * rng.random_range(0.5..1.5),
            None => f32::INFINITY,
        }
    }

    /// Taps once on every open flash sale it has not tapped yet, if the
    /// behaviour shops. Returns the sales tapped now.
    pub fn shop(&mut self, now_ms: i64) -> Vec<FlashSaleNet> {
        if !self.behaviour.shops || !self.net.is_connected() {
            return Vec::new();
        }
        let open: Vec<FlashSaleNet> = self
            .net
            .mirror()
            .flash_sales
            .values()
            .filter(|s| {
                s.starts_at_ms <= now_ms && s.units_left > 0 && !self.tapped.contains(&s.id)
            })
            .cloned()
            .collect();
        for sale in &open {
            self.tapped.insert(sale.id);
            self.net.send_command(RoomCommand::ClaimFlashSale {
                sale_id: sale.id,
                quantity: 1,
            });
        }
        open
    }

    /// The pose this bot last sent.
    pub fn pose(&self) -> Option<PoseNet> {
        self.pose
    }

    /// One frame: receive, walk, maybe chat or react, send.
    pub fn step(&mut self, dt: Duration) -> Result<(), NetError> {
        self.net.update(dt)?;
        if let Some(voice) = &mut self.voice {
            // Bots do not listen: what arrives is dropped unheard.
            voice.receive(&mut self.net);
            if self.net.mirror().is_welcomed() {
                voice.send(&mut self.net, std::time::Instant::now());
            }
        }
        if self.net.is_connected() && self.net.mirror().is_welcomed() {
            self.clock += dt.as_secs_f32();
            self.walk(dt.as_secs_f32());
            self.handle(dt.as_secs_f32());
            self.until_chat -= dt.as_secs_f32();
            if self.until_chat <= 0.0 {
                self.until_chat = Self::wait(&mut self.rng, self.behaviour.chat_every);
                let line = LINES[self.rng.random_range(0..LINES.len())];
                if let Ok(text) = ChatText::new(line) {
                    self.net.send_command(RoomCommand::Chat(text));
                }
            }
            self.until_react -= dt.as_secs_f32();
            if self.until_react <= 0.0 {
                self.until_react = Self::wait(&mut self.rng, self.behaviour.react_every);
                let reaction = Reaction::ALL[self.rng.random_range(0..Reaction::ALL.len())];
                self.net.send_command(RoomCommand::React(reaction));
            }
        }
        self.net.flush()
    }

    fn pick_target(&mut self) {
        if let Some(bounds) = self.net.mirror().bounds {
            let margin = 1.0;
            self.target = [
                self.rng
                    .random_range(bounds.min[0] + margin..bounds.max[0] - margin),
                bounds.min[1],
                self.rng
                    .random_range(bounds.min[2] + margin..bounds.max[2] - margin),
            ];
        }
    }

    fn walk(&mut self, dt: f32) {
        let mut pose = match self.pose {
            Some(pose) => pose,
            None => {
                self.pick_target();
                self.net
                    .mirror()
                    .spawn
                    .unwrap_or(PoseNet::at([0.0; 3], 0.0))
            }
        };
        let dx = self.target[0] - pose.position[0];
        let dz = self.target[2] - pose.position[2];
        let dist = (dx * dx + dz * dz).sqrt();
        let step = self.behaviour.speed * dt;
        if self.standing > 0.0 {
            self.standing -= dt;
        } else if dist <= step.max(0.05) {
            pose.position = self.target;
            self.pick_target();
            self.standing = match self.behaviour.linger {
                Some(_) => Self::wait(&mut self.rng, self.behaviour.linger),
                None => 0.0,
            };
        } else {
            pose.position[0] += dx / dist * step;
            pose.position[2] += dz / dist * step;
            pose.yaw = dx.atan2(dz);
        }
        self.pose = Some(pose);
        self.since_sent += dt;
        // An input goes out as each snapshot arrives, as the showroom's do:
        // the server learns at once what this client holds (a late
        // acknowledgement makes it send again what already arrived), and
        // the pose goes at the snapshot rate, the most the server uses.
        let latest = self.net.mirror().latest_snapshot;
        if latest != self.acked || self.since_sent >= INPUT_WITHOUT_SNAPSHOT_S {
            self.acked = latest;
            self.since_sent = 0.0;
            let sent = if self.behaviour.xr {
                PoseNet {
                    xr: Some(headset(&pose, self.clock)),
                    ..pose
                }
            } else {
                pose
            };
            self.net.send_pose(sent);
        }
    }

    /// Picks a product up, holds it a while, puts it back and takes
    /// another: one nobody else holds, if there is one.
    fn handle(&mut self, dt: f32) {
        let Some(mean) = self.behaviour.hold_for else {
            return;
        };
        if self.products.is_empty() {
            return;
        }
        self.until_swap -= dt;
        if self.until_swap > 0.0 {
            return;
        }
        self.until_swap = Self::wait(&mut self.rng, Some(mean));
        if let Some((product, since)) = self.holding.take() {
            let held_ms = ((self.clock - since).max(0.0) * 1000.0) as u32;
            self.net
                .send_command(RoomCommand::PutDownProduct { product, held_ms });
        }
        let held = &self.net.mirror().held;
        let free: Vec<&ProductId> = self
            .products
            .iter()
            .filter(|p| !held.contains_key(*p))
            .collect();
        if free.is_empty() {
            return;
        }
        let product = free[self.rng.random_range(0..free.len())].clone();
        self.net.send_command(RoomCommand::Inspect {
            product: product.clone(),
        });
        self.holding = Some((product, self.clock));
    }
}

/// A headset wearer's head and hands around `body` at `t` seconds: the
/// head bobs with the step and looks around, the hands swing; all within
/// the reach the server allows.
fn headset(body: &PoseNet, t: f32) -> XrPoseNet {
    let (sin, cos) = body.yaw.sin_cos();
    // Forward is +z turned by yaw (as the walk sets it: yaw = atan2(dx, dz)).
    let at = |side: f32, up: f32, ahead: f32| {
        [
            body.position[0] + cos * side + sin * ahead,
            body.position[1] + up,
            body.position[2] - sin * side + cos * ahead,
        ]
    };
    let look = body.yaw + 0.4 * (t * 0.7).sin();
    let head = TrackedPoseNet {
        position: at(0.0, 1.62 + 0.02 * (t * 6.0).sin(), 0.05),
        rotation: [0.0, (look / 2.0).sin(), 0.0, (look / 2.0).cos()],
    };
    let swing = 0.2 * (t * 3.0).sin();
    let hand = |side: f32, phase: f32| TrackedPoseNet {
        position: at(side, 1.0 + 0.05 * (t * 3.0).cos(), 0.15 + swing * phase),
        rotation: [
            (0.3 * swing * phase).sin(),
            (body.yaw / 2.0).sin(),
            0.0,
            (body.yaw / 2.0).cos(),
        ],
    };
    XrPoseNet {
        head,
        left_hand: Some(hand(-0.25, 1.0)),
        right_hand: Some(hand(0.25, -1.0)),
    }
}
