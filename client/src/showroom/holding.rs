//! Pointing at products and holding them: what the shopper points at
//! ([`Pointer`]), what is in hand ([`Hands`]), and the steps of holding
//! (take, turn, put back, let fall, go home) as functions the desktop's
//! input (`products`) and the XR hands (`xr::hands`) both call. The
//! functions say what the server should hear as a [`RoomCommand`]; the
//! caller sends it (as a `SendCommand`).

use super::room::{DisplayedProduct, ProductDisplay};
use bevy::prelude::*;
use bevy_rapier3d::prelude::*;
use std::collections::BTreeMap;
use vitrine_shared::{ProductId, RoomCommand};

/// Cards show for products this close.
pub const POINT_RANGE: f32 = 8.0;
/// A product looked at is reported again only after this long.
pub const VIEW_REPORT_SECS: f32 = 5.0;

/// What the shopper points at.
#[derive(Resource, Default, Debug)]
pub struct Pointer {
    /// The product under the pointer, and how far away it is.
    pub hovered: Option<(ProductId, f32)>,
    /// The product whose card stays open (clicked), until another is.
    pub selected: Option<ProductId>,
    /// Where the pointer meets the floor, for click-to-walk.
    pub floor: Option<Vec3>,
    reported: BTreeMap<ProductId, f32>,
}

impl Pointer {
    /// The card to show: the hovered product, else the selected one.
    pub fn card_product(&self) -> Option<&ProductId> {
        self.hovered
            .as_ref()
            .map(|(p, _)| p)
            .or(self.selected.as_ref())
    }

    /// The command that reports looking at `product`, unless it was
    /// reported in the last [`VIEW_REPORT_SECS`].
    pub fn report_view(&mut self, product: &ProductId) -> Option<RoomCommand> {
        if self.reported.contains_key(product) {
            return None;
        }
        self.reported.insert(product.clone(), VIEW_REPORT_SECS);
        Some(RoomCommand::ViewProduct {
            product: product.clone(),
        })
    }

    /// Forgets old view reports, so a card looked at again later counts
    /// again.
    pub fn age_reports(&mut self, dt: f32) {
        self.reported.retain(|_, left| {
            *left -= dt;
            *left > 0.0
        });
    }
}

/// Which hand: the desktop's one, or an XR hand (`xr::input::LEFT`,
/// `RIGHT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hand {
    Desktop,
    Xr(usize),
}

/// What this shopper holds: one product at a time on the desktop, one a
/// hand in XR.
#[derive(Resource, Default, Debug)]
pub struct Hands {
    pub held: Option<Held>,
    /// In XR: the left and right hands.
    pub xr: [Option<Held>; 2],
    /// Products dropped by us, falling, not yet reported: product, model,
    /// seconds since let go, milliseconds it was held.
    pub falling: Vec<(ProductId, Entity, f32, u32)>,
}

impl Hands {
    /// Everything in hand, desktop and XR.
    pub fn all(&self) -> impl Iterator<Item = &Held> {
        self.held.iter().chain(self.xr.iter().flatten())
    }

    /// Whether this model is in one of our hands.
    pub fn holds(&self, entity: Entity) -> bool {
        self.all().any(|h| h.entity == entity)
    }

    pub fn holds_product(&self, product: &ProductId) -> bool {
        self.all().any(|h| &h.product == product)
    }

    /// What `hand` holds.
    pub fn hand_mut(&mut self, hand: Hand) -> &mut Option<Held> {
        match hand {
            Hand::Desktop => &mut self.held,
            Hand::Xr(i) => &mut self.xr[i],
        }
    }

    /// Lets go of the products `which` picks (without telling the server).
    pub fn take_where(&mut self, which: impl Fn(&ProductId) -> bool) -> Vec<Held> {
        let [l, r] = &mut self.xr;
        [&mut self.held, l, r]
            .into_iter()
            .filter(|h| h.as_ref().is_some_and(|h| which(&h.product)))
            .filter_map(Option::take)
            .collect()
    }

    /// Lets go of `product` (without telling the server).
    pub fn take_product(&mut self, product: &ProductId) -> Option<Held> {
        let [l, r] = &mut self.xr;
        [&mut self.held, l, r]
            .into_iter()
            .find(|h| h.as_ref().is_some_and(|h| &h.product == product))
            .and_then(Option::take)
    }
}

#[derive(Debug, Clone)]
pub struct Held {
    pub product: ProductId,
    pub entity: Entity,
    /// Seconds since it was picked up.
    pub seconds: f32,
    /// The shopper's own turning of it.
    pub spin: Quat,
    /// Brought close to look at.
    pub close: bool,
    /// In XR: the product's pose relative to the hand's grip.
    pub in_hand: Option<Transform>,
}

impl Held {
    fn held_ms(&self) -> u32 {
        (self.seconds * 1000.0) as u32
    }
}

/// Takes `product` (its model `entity`) into `hand`, at once: the server
/// hears the returned command and may refuse (the product then goes home).
/// Out of someone else's hand it is a hand-off, else a pick-up from its
/// display or the floor. The product's card stays open.
pub fn take(
    hands: &mut Hands,
    pointer: &mut Pointer,
    hand: Hand,
    product: ProductId,
    entity: Entity,
    in_hand: Option<Transform>,
    from_someone: bool,
) -> RoomCommand {
    // Caught while falling: no longer ours to report.
    hands.falling.retain(|(_, e, ..)| *e != entity);
    let command = if from_someone {
        RoomCommand::TakeFromHand {
            product: product.clone(),
        }
    } else {
        RoomCommand::Inspect {
            product: product.clone(),
        }
    };
    pointer.selected = Some(product.clone());
    *hands.hand_mut(hand) = Some(Held {
        product,
        entity,
        seconds: 0.0,
        spin: Quat::IDENTITY,
        close: false,
        in_hand,
    });
    command
}

/// Turns what is held: `yaw` about the vertical, then `pitch` about the
/// sideways axis (radians).
pub fn turn(held: &mut Held, yaw: f32, pitch: f32) {
    held.spin = Quat::from_rotation_x(pitch) * Quat::from_rotation_y(yaw) * held.spin;
}

/// What the server hears when `held` goes back on its display; the model
/// itself goes there with [`go_home`].
pub fn put_back(held: &Held) -> RoomCommand {
    RoomCommand::PutDownProduct {
        product: held.product.clone(),
        held_ms: held.held_ms(),
    }
}

/// `held` falls: it is reported where it comes to rest ([`settle`]); the
/// model itself falls with [`fall_body`].
pub fn let_fall(hands: &mut Hands, held: Held) {
    let held_ms = held.held_ms();
    hands
        .falling
        .push((held.product, held.entity, 0.0, held_ms));
}

/// A product dropped this long ago is reported where it is, resting or
/// not.
pub const SETTLE_SECS: f32 = 2.5;

/// Ages the falling products by `dt`; those at rest (`body` says where each
/// is and whether it rests) are reported where they lie.
pub fn settle(
    hands: &mut Hands,
    dt: f32,
    body: impl Fn(Entity) -> (Vec3, bool),
) -> Vec<RoomCommand> {
    let mut settled = Vec::new();
    for (i, (_, entity, age, _)) in hands.falling.iter_mut().enumerate() {
        *age += dt;
        let (_, resting) = body(*entity);
        if (*age > 0.3 && resting) || *age > SETTLE_SECS {
            settled.push(i);
        }
    }
    let mut commands = Vec::new();
    for i in settled.into_iter().rev() {
        let (product, entity, _, held_ms) = hands.falling.remove(i);
        let (at, _) = body(entity);
        commands.push(RoomCommand::DropProduct {
            product,
            held_ms,
            at: at.to_array(),
        });
    }
    commands
}

/// Into a hand: kinematic, a sensor (the body walks through it), and no
/// longer falling if it was.
pub fn hold_body(commands: &mut Commands, entity: Entity) {
    commands
        .entity(entity)
        .insert((RigidBody::KinematicPositionBased, Sensor))
        .remove::<(Velocity, Ccd)>();
}

/// Let go: a dynamic body with the hand's motion.
pub fn fall_body(commands: &mut Commands, entity: Entity, velocity: Vec3) {
    commands.entity(entity).remove::<Sensor>().insert((
        RigidBody::Dynamic,
        Velocity {
            linear: velocity,
            angular: Vec3::ZERO,
        },
        Ccd::enabled(),
    ));
}

/// Back onto its display: kinematic, a sensor again, at home.
pub fn go_home(
    commands: &mut Commands,
    entity: Entity,
    displays: &Query<&ProductDisplay>,
    models: &Query<(Entity, &DisplayedProduct)>,
    transforms: &mut Query<&mut Transform>,
) {
    let Ok((_, model)) = models.get(entity) else {
        return;
    };
    let Ok(display) = displays.get(model.display) else {
        return;
    };
    if let Ok(mut t) = transforms.get_mut(entity) {
        *t = display.home;
    }
    commands
        .entity(entity)
        .remove::<(Velocity, Ccd)>()
        .insert((RigidBody::KinematicPositionBased, Sensor));
}

#[cfg(test)]
mod tests {
    use super::*;
    use bevy::ecs::system::RunSystemOnce;

    fn id(product: &str) -> ProductId {
        ProductId::new(product.to_owned()).unwrap()
    }

    fn model(world: &mut World) -> Entity {
        world.spawn_empty().id()
    }

    #[test]
    fn taking_fills_the_hand_opens_the_card_and_asks_the_server() {
        let mut world = World::new();
        let (lamp, vase) = (model(&mut world), model(&mut world));
        let mut hands = Hands::default();
        let mut pointer = Pointer::default();
        // The lamp was falling from an earlier drop: caught, no longer ours
        // to report.
        hands.falling.push((id("lamp"), lamp, 0.1, 300));
        let ask = take(
            &mut hands,
            &mut pointer,
            Hand::Desktop,
            id("lamp"),
            lamp,
            None,
            false,
        );
        assert_eq!(
            ask,
            RoomCommand::Inspect {
                product: id("lamp")
            }
        );
        assert_eq!(hands.held.as_ref().map(|h| h.entity), Some(lamp));
        assert!(hands.falling.is_empty());
        assert_eq!(pointer.selected, Some(id("lamp")));
        // Out of someone else's hand, into the right XR hand: a hand-off.
        let ask = take(
            &mut hands,
            &mut pointer,
            Hand::Xr(1),
            id("vase"),
            vase,
            Some(Transform::IDENTITY),
            true,
        );
        assert_eq!(
            ask,
            RoomCommand::TakeFromHand {
                product: id("vase")
            }
        );
        assert!(hands.xr[0].is_none());
        assert_eq!(hands.xr[1].as_ref().map(|h| h.entity), Some(vase));
        assert!(hands.holds(lamp) && hands.holds_product(&id("vase")));
    }

    #[test]
    fn putting_back_reports_how_long_it_was_held() {
        let mut world = World::new();
        let lamp = model(&mut world);
        let mut hands = Hands::default();
        take(
            &mut hands,
            &mut Pointer::default(),
            Hand::Desktop,
            id("lamp"),
            lamp,
            None,
            false,
        );
        let mut held = hands.hand_mut(Hand::Desktop).take().unwrap();
        held.seconds = 1.5;
        assert_eq!(
            put_back(&held),
            RoomCommand::PutDownProduct {
                product: id("lamp"),
                held_ms: 1500
            }
        );
        assert!(hands.held.is_none());
    }

    #[test]
    fn a_dropped_product_is_reported_where_it_rests_or_after_the_limit() {
        let mut world = World::new();
        let (lamp, vase) = (model(&mut world), model(&mut world));
        let mut hands = Hands::default();
        for (product, entity) in [("lamp", lamp), ("vase", vase)] {
            let held = Held {
                product: id(product),
                entity,
                seconds: 2.0,
                spin: Quat::IDENTITY,
                close: false,
                in_hand: None,
            };
            let_fall(&mut hands, held);
        }
        // The lamp comes to rest; the vase keeps rolling.
        let body = |e: Entity| (Vec3::new(1.0, 0.1, 2.0), e == lamp);
        assert!(settle(&mut hands, 0.2, body).is_empty(), "too soon");
        assert_eq!(
            settle(&mut hands, 0.2, body),
            vec![RoomCommand::DropProduct {
                product: id("lamp"),
                held_ms: 2000,
                at: [1.0, 0.1, 2.0],
            }]
        );
        assert_eq!(hands.falling.len(), 1);
        assert!(settle(&mut hands, 1.0, body).is_empty());
        let late = settle(&mut hands, SETTLE_SECS, body);
        assert!(
            matches!(&late[..], [RoomCommand::DropProduct { product, .. }] if *product == id("vase")),
            "{late:?}"
        );
        assert!(hands.falling.is_empty());
    }

    #[test]
    fn turning_yaws_then_pitches() {
        let mut held = Held {
            product: id("lamp"),
            entity: Entity::PLACEHOLDER,
            seconds: 0.0,
            spin: Quat::IDENTITY,
            close: false,
            in_hand: None,
        };
        turn(&mut held, 0.5, 0.0);
        assert!(held.spin.abs_diff_eq(Quat::from_rotation_y(0.5), 1e-6));
        turn(&mut held, 0.0, 0.25);
        let expected = Quat::from_rotation_x(0.25) * Quat::from_rotation_y(0.5);
        assert!(held.spin.abs_diff_eq(expected, 1e-6), "{:?}", held.spin);
    }

    #[test]
    fn going_home_puts_the_model_on_its_display_as_a_still_sensor() {
        let mut world = World::new();
        let home = Transform::from_xyz(2.0, 1.1, -3.0).with_scale(Vec3::splat(2.0));
        let display = world
            .spawn(ProductDisplay {
                product: id("lamp"),
                home,
                half_extents: Vec3::splat(0.2),
                model: Entity::PLACEHOLDER,
            })
            .id();
        let lamp = world
            .spawn((
                DisplayedProduct {
                    product: id("lamp"),
                    display,
                },
                Transform::from_xyz(5.0, 0.1, 5.0),
                RigidBody::Dynamic,
                Velocity::linear(Vec3::X),
            ))
            .id();
        world
            .run_system_once(
                move |mut commands: Commands,
                      displays: Query<&ProductDisplay>,
                      models: Query<(Entity, &DisplayedProduct)>,
                      mut transforms: Query<&mut Transform>| {
                    go_home(&mut commands, lamp, &displays, &models, &mut transforms);
                },
            )
            .unwrap();
        let at = world.entity(lamp);
        assert_eq!(at.get::<Transform>(), Some(&home));
        assert_eq!(
            at.get::<RigidBody>(),
            Some(&RigidBody::KinematicPositionBased)
        );
        assert!(at.contains::<Sensor>() && !at.contains::<Velocity>());
    }

    #[test]
    fn a_view_is_reported_once_until_it_ages_out() {
        let mut pointer = Pointer::default();
        let view = Some(RoomCommand::ViewProduct {
            product: id("lamp"),
        });
        assert_eq!(pointer.report_view(&id("lamp")), view);
        assert_eq!(pointer.report_view(&id("lamp")), None);
        pointer.age_reports(VIEW_REPORT_SECS - 0.5);
        assert_eq!(pointer.report_view(&id("lamp")), None);
        pointer.age_reports(1.0);
        assert_eq!(pointer.report_view(&id("lamp")), view);
    }
}
