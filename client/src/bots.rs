//! Bots: headless shoppers that wander, chat and react. The demo, the tests
//! and the load runs all use them.

use crate::net::{ApiClient, NetClient, NetError, SignedIn};
use crate::voice::{Hearing, Source, Talk, Voice, VoiceError};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::HashSet;
use std::time::Duration;
use vitrine_shared::SaleId;
use vitrine_shared::protocol::FlashSaleNet;
use vitrine_shared::{ChatText, PoseNet, Reaction, RoomCommand};

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
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            speed: 1.4,
            chat_every: Some(Duration::from_secs(8)),
            react_every: Some(Duration::from_secs(4)),
            shops: true,
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
}

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
        })
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
            self.walk(dt.as_secs_f32());
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
        if dist <= step.max(0.05) {
            pose.position = self.target;
            self.pick_target();
        } else {
            pose.position[0] += dx / dist * step;
            pose.position[2] += dz / dist * step;
            pose.yaw = dx.atan2(dz);
        }
        self.pose = Some(pose);
        self.net.send_pose(pose);
    }
}
