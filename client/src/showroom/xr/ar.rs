//! Passthrough AR: where the runtime blends the rendered picture with the
//! real world (alpha blend or additive, as on Quest or HoloLens), `--ar`
//! clears to transparent and hides the room, its stands and the products
//! on them; what the shopper holds stays, at its real size, in their own
//! space. `--xr-simulated --ar` behaves as a runtime that offers blending.

use crate::showroom::holding::Hands;
use crate::showroom::input_mode::in_xr;
use crate::showroom::room::{DisplayedProduct, ProductDisplay, RoomShell};
use crate::showroom::{AppState, ShowroomSystems};
use bevy::prelude::*;

/// Whether AR is on: asked for, and the runtime blends.
#[derive(Resource, Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ArActive(pub bool);

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<ArActive>().add_systems(
        Update,
        show_own_space
            .in_set(ShowroomSystems::Present)
            .run_if(in_xr.and_then(in_state(AppState::Showroom))),
    );
}

/// In AR only what is in hand shows; out of it, everything again.
fn show_own_space(
    ar: Res<ArActive>,
    mut was: Local<Option<Color>>,
    hands: Res<Hands>,
    mut clear: ResMut<ClearColor>,
    // The room's meshes; its lights stay, to light what is in hand.
    mut shell: Query<&mut Visibility, (With<RoomShell>, With<Mesh3d>)>,
    mut stands: Query<
        &mut Visibility,
        (
            With<ProductDisplay>,
            Without<RoomShell>,
            Without<DisplayedProduct>,
        ),
    >,
    mut products: Query<
        (Entity, &mut Visibility),
        (
            With<DisplayedProduct>,
            Without<RoomShell>,
            Without<ProductDisplay>,
        ),
    >,
) {
    let show = |on: bool| {
        if on {
            Visibility::Inherited
        } else {
            Visibility::Hidden
        }
    };
    if !ar.0 {
        // Leaving AR: the room and its clear colour come back.
        if let Some(colour) = was.take() {
            clear.0 = colour;
            shell.iter_mut().chain(stands.iter_mut()).for_each(|mut v| {
                v.set_if_neq(Visibility::Inherited);
            });
            for (_, mut v) in &mut products {
                v.set_if_neq(Visibility::Inherited);
            }
        }
        return;
    }
    if was.is_none() {
        *was = Some(clear.0);
        clear.0 = Color::NONE;
    }
    shell.iter_mut().chain(stands.iter_mut()).for_each(|mut v| {
        v.set_if_neq(show(false));
    });
    for (entity, mut v) in &mut products {
        v.set_if_neq(show(hands.holds(entity)));
    }
}
