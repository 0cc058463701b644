//! OpenXR through bevy_mod_openxr: the probe that decides between headset
//! and desktop, and, in a session, the actions and spaces that fill
//! [`XrInput`] each frame. Everything after [`XrInput`] is shared with
//! `--xr-simulated` and tested there.

use super::input::{HandInput, LEFT, RIGHT, TrackedPose, XrInput};
use super::rig::TrackingSpace;
use super::{XrSettings, XrUnavailable};
use crate::showroom::Options;
use bevy::prelude::*;
use bevy_mod_openxr::action_binding::{OxrSendActionBindings, OxrSuggestActionBinding};
use bevy_mod_openxr::action_set_attaching::OxrAttachActionSet;
use bevy_mod_openxr::action_set_syncing::{OxrActionSetSyncSet, OxrSyncActionSet};
use bevy_mod_openxr::openxr_session_running;
use bevy_mod_openxr::resources::{OxrInstance, OxrSessionConfig};
use bevy_mod_openxr::session::OxrSession;
use bevy_mod_xr::hands::{HandBone, LeftHand};
use bevy_mod_xr::session::{XrSessionCreated, XrTrackingRoot, session_available};
use bevy_mod_xr::spaces::{XrSpace, XrSpaceLocationFlags, XrSpaceSyncSet};
use openxr::EnvironmentBlendMode;

const HANDS: [&str; 2] = ["/user/hand/left", "/user/hand/right"];

/// Loads the OpenXR loader, makes an instance with Vulkan and asks for a
/// head-mounted system, then lets it all go.
pub fn probe() -> Result<String, XrUnavailable> {
    // The loader writes every failure to stderr; the fallback is one line
    // of ours. XR_LOADER_DEBUG=error (or info) brings its lines back.
    if std::env::var_os("XR_LOADER_DEBUG").is_none() {
        // SAFETY: called from `main` before the app or any thread starts.
        unsafe { std::env::set_var("XR_LOADER_DEBUG", "none") };
    }
    // SAFETY: loading the system's OpenXR loader library, as
    // bevy_mod_openxr does itself.
    let entry =
        unsafe { openxr::Entry::load() }.map_err(|e| XrUnavailable::NoLoader(e.to_string()))?;
    let available = entry
        .enumerate_extensions()
        .map_err(|e| XrUnavailable::NoRuntime(e.to_string()))?;
    let app = openxr::ApplicationInfo {
        application_name: "vitrine",
        application_version: 1,
        engine_name: "bevy",
        engine_version: 19,
        api_version: openxr::Version::new(1, 0, 0),
    };
    let instance = entry
        .create_instance(&app, &openxr::ExtensionSet::default(), &[])
        .map_err(|e| XrUnavailable::NoRuntime(e.to_string()))?;
    let runtime = instance
        .properties()
        .map(|p| format!("{} {}", p.runtime_name, p.runtime_version))
        .unwrap_or_else(|_| "OpenXR runtime".into());
    if !available.khr_vulkan_enable2 {
        return Err(XrUnavailable::NoVulkan { runtime });
    }
    instance
        .system(openxr::FormFactor::HEAD_MOUNTED_DISPLAY)
        .map_err(|e| XrUnavailable::NoHeadset {
            runtime: runtime.clone(),
            reason: e.to_string(),
        })?;
    Ok(runtime)
}

/// Before the XR plugins: AR asks for a blended environment first.
pub fn configure(app: &mut App, options: &Options) {
    let blend_mode_preference = if options.ar {
        vec![
            EnvironmentBlendMode::ALPHA_BLEND,
            EnvironmentBlendMode::ADDITIVE,
            EnvironmentBlendMode::OPAQUE,
        ]
    } else {
        vec![EnvironmentBlendMode::OPAQUE]
    };
    app.insert_resource(OxrSessionConfig {
        blend_mode_preference,
        ..default()
    });
}

pub(super) fn plugin(app: &mut App) {
    app.add_systems(Startup, create_actions.run_if(session_available))
        .add_systems(OxrSendActionBindings, suggest_bindings)
        .add_systems(XrSessionCreated, (attach_actions, create_spaces))
        .add_systems(
            PreUpdate,
            (
                sync_actions.before(OxrActionSetSyncSet),
                read_input.after(XrSpaceSyncSet).after(OxrActionSetSyncSet),
            )
                .run_if(openxr_session_running),
        )
        .add_systems(Update, (root_the_tracking_space, ar_mode));
}

#[derive(Resource)]
struct Actions {
    set: openxr::ActionSet,
    grip: openxr::Action<openxr::Posef>,
    aim: openxr::Action<openxr::Posef>,
    squeeze: openxr::Action<f32>,
    trigger: openxr::Action<f32>,
    stick: openxr::Action<openxr::Vector2f>,
    /// Push-to-talk: a face button held.
    talk: openxr::Action<bool>,
    hands: [openxr::Path; 2],
}

/// The tracked spaces: the head, and each hand's grip and aim.
#[derive(Component, Clone, Copy, PartialEq, Eq)]
enum Tracked {
    Head,
    Grip(usize),
    Aim(usize),
}

fn create_actions(instance: Res<OxrInstance>, mut commands: Commands) {
    let made = (|| -> openxr::Result<Actions> {
        let hands = [
            instance.string_to_path(HANDS[LEFT])?,
            instance.string_to_path(HANDS[RIGHT])?,
        ];
        let set = instance.create_action_set("vitrine", "Vitrine", 0)?;
        Ok(Actions {
            grip: set.create_action("grip_pose", "Grip pose", &hands)?,
            aim: set.create_action("aim_pose", "Aim pose", &hands)?,
            squeeze: set.create_action("grab", "Grab", &hands)?,
            trigger: set.create_action("click", "Point and click", &hands)?,
            stick: set.create_action("move", "Teleport and turn", &hands)?,
            talk: set.create_action("talk", "Push to talk", &hands)?,
            set,
            hands,
        })
    })();
    match made {
        Ok(actions) => commands.insert_resource(actions),
        Err(e) => error!("XR: could not create the input actions: {e}"),
    }
}

/// Bindings for the common controllers; runtimes map the rest.
fn suggest_bindings(actions: Res<Actions>, mut out: MessageWriter<OxrSuggestActionBinding>) {
    let profiles: [(&str, &str, &str, &str); 4] = [
        (
            "oculus/touch_controller",
            "squeeze/value",
            "trigger/value",
            "thumbstick",
        ),
        (
            "valve/index_controller",
            "squeeze/value",
            "trigger/value",
            "thumbstick",
        ),
        (
            "htc/vive_controller",
            "squeeze/click",
            "trigger/value",
            "trackpad",
        ),
        ("khr/simple_controller", "select/click", "select/click", ""),
    ];
    for (profile, squeeze, trigger, stick) in profiles {
        let profile = format!("/interaction_profiles/{profile}");
        let mut suggest = |action: openxr::sys::Action, input: &str| {
            if input.is_empty() {
                return;
            }
            out.write(OxrSuggestActionBinding {
                action,
                interaction_profile: profile.clone().into(),
                bindings: HANDS
                    .iter()
                    .map(|hand| format!("{hand}/input/{input}").into())
                    .collect(),
            });
        };
        suggest(actions.grip.as_raw(), "grip/pose");
        suggest(actions.aim.as_raw(), "aim/pose");
        suggest(actions.squeeze.as_raw(), squeeze);
        suggest(actions.trigger.as_raw(), trigger);
        suggest(actions.stick.as_raw(), stick);
    }
    // Push-to-talk on a face button the other actions leave free: X or A
    // on Touch, A on Index, the menu button on Vive and the simple
    // controller. Per hand, as the buttons' names differ.
    let talk: [(&str, [&str; 2]); 4] = [
        ("oculus/touch_controller", ["x/click", "a/click"]),
        ("valve/index_controller", ["a/click", "a/click"]),
        ("htc/vive_controller", ["menu/click", "menu/click"]),
        ("khr/simple_controller", ["menu/click", "menu/click"]),
    ];
    for (profile, buttons) in talk {
        out.write(OxrSuggestActionBinding {
            action: actions.talk.as_raw(),
            interaction_profile: format!("/interaction_profiles/{profile}").into(),
            bindings: HANDS
                .iter()
                .zip(buttons)
                .map(|(hand, button)| format!("{hand}/input/{button}").into())
                .collect(),
        });
    }
}

fn attach_actions(actions: Option<Res<Actions>>, mut attach: MessageWriter<OxrAttachActionSet>) {
    if let Some(actions) = actions {
        attach.write(OxrAttachActionSet(actions.set.clone()));
    }
}

fn sync_actions(actions: Option<Res<Actions>>, mut sync: MessageWriter<OxrSyncActionSet>) {
    if let Some(actions) = actions {
        sync.write(OxrSyncActionSet(actions.set.clone()));
    }
}

fn create_spaces(actions: Option<Res<Actions>>, session: Res<OxrSession>, mut commands: Commands) {
    let Some(actions) = actions else {
        return;
    };
    match session.create_reference_space(openxr::ReferenceSpaceType::VIEW, Isometry3d::IDENTITY) {
        Ok(view) => {
            commands.spawn((Tracked::Head, view.0));
        }
        Err(e) => error!("XR: no head space: {e}"),
    }
    for hand in [LEFT, RIGHT] {
        let path = actions.hands[hand];
        for (tracked, action) in [
            (Tracked::Grip(hand), &actions.grip),
            (Tracked::Aim(hand), &actions.aim),
        ] {
            match session.create_action_space(action, path, Isometry3d::IDENTITY) {
                Ok(space) => {
                    commands.spawn((tracked, space));
                }
                Err(e) => error!("XR: no hand space: {e}"),
            }
        }
    }
}

/// The runtime's poses and buttons into [`XrInput`]. Tracked hands without
/// controllers grab by pinching and hold at the palm.
fn read_input(
    actions: Option<Res<Actions>>,
    session: Res<OxrSession>,
    spaces: Query<(&Tracked, &Transform, &XrSpaceLocationFlags), With<XrSpace>>,
    bones: Query<(&HandBone, &Transform, &XrSpaceLocationFlags, Has<LeftHand>)>,
    mut input: ResMut<XrInput>,
) {
    let Some(actions) = actions else {
        return;
    };
    let session: &openxr::Session<openxr::AnyGraphics> = &session;
    let mut next = XrInput::default();
    let tracked = |f: &XrSpaceLocationFlags| f.position_tracked && f.rotation_tracked;
    for (which, t, flags) in &spaces {
        if !tracked(flags) {
            continue;
        }
        let pose = Some(TrackedPose::new(t.translation, t.rotation));
        match *which {
            Tracked::Head => next.head = pose,
            Tracked::Grip(h) => next.hands[h].grip = pose,
            Tracked::Aim(h) => next.hands[h].aim = pose,
        }
    }
    for hand in [LEFT, RIGHT] {
        let path = actions.hands[hand];
        let h: &mut HandInput = &mut next.hands[hand];
        h.squeeze = actions
            .squeeze
            .state(session, path)
            .map_or(0.0, |s| s.current_state);
        h.trigger = actions
            .trigger
            .state(session, path)
            .map_or(0.0, |s| s.current_state);
        h.stick = actions.stick.state(session, path).map_or(Vec2::ZERO, |s| {
            Vec2::new(s.current_state.x, s.current_state.y)
        });
        h.talk = actions
            .talk
            .state(session, path)
            .is_ok_and(|s| s.current_state);
    }
    // Hand tracking: a pinch of thumb and index tips, held at the palm.
    let mut tips = [[None::<Vec3>; 2]; 2];
    for (bone, t, flags, left) in &bones {
        if !tracked(flags) {
            continue;
        }
        let hand = if left { LEFT } else { RIGHT };
        match bone {
            HandBone::ThumbTip => tips[hand][0] = Some(t.translation),
            HandBone::IndexTip => tips[hand][1] = Some(t.translation),
            HandBone::Palm if next.hands[hand].grip.is_none() => {
                let pose = TrackedPose::new(t.translation, t.rotation);
                next.hands[hand].grip = Some(pose);
                next.hands[hand].aim.get_or_insert(pose);
            }
            _ => {}
        }
    }
    for hand in [LEFT, RIGHT] {
        if let [Some(thumb), Some(index)] = tips[hand] {
            // Touching (1.5 cm) is a full pinch; 4.5 cm apart is none.
            let gap = thumb.distance(index);
            next.hands[hand].pinch = (1.0 - (gap - 0.015) / 0.03).clamp(0.0, 1.0);
        }
    }
    *input = next.sanitized();
}

/// The runtime's tracked entities hang under the rig's tracking space.
fn root_the_tracking_space(
    mut commands: Commands,
    space: Query<Entity, (With<TrackingSpace>, Without<XrTrackingRoot>)>,
) {
    for entity in &space {
        commands.entity(entity).insert(XrTrackingRoot);
    }
}

/// AR is on when asked for and the session blends with the world.
fn ar_mode(
    settings: Res<XrSettings>,
    blend: Option<Res<bevy_mod_openxr::environment_blend_mode::OxrEnvironmentBlendModes>>,
    mut ar: ResMut<super::ar::ArActive>,
) {
    let blended =
        settings.ar && blend.is_some_and(|b| b.blend_mode() != EnvironmentBlendMode::OPAQUE);
    if ar.0 != blended {
        ar.0 = blended;
    }
}
