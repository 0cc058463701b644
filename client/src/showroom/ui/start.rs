//! The start screen: a display name, the server's URL, and the room list
//! with occupancy; joining moves on to the showroom. Then a "joining" screen
//! that says what went wrong if it did, while it retries.

use crate::showroom::session::{LinkState, Session, SessionRequest};
use crate::showroom::{AppState, ShowroomSystems};
use bevy::input::ButtonState;
use bevy::input::keyboard::{Key, KeyboardInput};
use bevy::prelude::*;

const FIELD_MAX: usize = 64;

pub(super) fn plugin(app: &mut App) {
    // The session answers the buttons' requests between input and drawing.
    app.init_resource::<StartForm>()
        .add_systems(OnEnter(AppState::Start), (fill_form, spawn_screen).chain())
        .add_systems(OnEnter(AppState::Connecting), spawn_connecting)
        .add_systems(
            Update,
            (
                (type_into_form, press)
                    .chain()
                    .in_set(ShowroomSystems::Input),
                redraw.in_set(ShowroomSystems::Present),
            )
                .run_if(in_state(AppState::Start)),
        )
        .add_systems(
            Update,
            (connecting_status, press_back.in_set(ShowroomSystems::Input))
                .run_if(in_state(AppState::Connecting)),
        );
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Field {
    #[default]
    Name,
    Server,
}

#[derive(Resource, Default, Debug)]
pub struct StartForm {
    pub name: String,
    pub server: String,
    pub focused: Field,
}

#[derive(Component, Clone, Debug)]
enum StartButton {
    Focus(Field),
    Refresh,
    Join(String),
}

#[derive(Component)]
struct FormBody;

#[derive(Component)]
struct ConnectingText;

#[derive(Component)]
struct BackButton;

fn fill_form(
    session: Res<Session>,
    mut form: ResMut<StartForm>,
    mut requests: MessageWriter<SessionRequest>,
) {
    form.name = session.name.clone();
    form.server = session
        .server
        .clone()
        .unwrap_or_else(|| "http://127.0.0.1:8080".into());
    requests.write(SessionRequest::FindRooms {
        server: form.server.clone(),
    });
}

fn screen(commands: &mut Commands, state: AppState) -> Entity {
    commands.spawn((DespawnOnExit(state), Camera2d));
    commands
        .spawn((
            DespawnOnExit(state),
            Node {
                width: percent(100),
                height: percent(100),
                flex_direction: FlexDirection::Column,
                align_items: AlignItems::Center,
                justify_content: JustifyContent::Center,
                row_gap: px(14),
                ..default()
            },
            BackgroundColor(Color::srgb(0.07, 0.07, 0.11)),
        ))
        .id()
}

fn spawn_screen(mut commands: Commands) {
    let root = screen(&mut commands, AppState::Start);
    commands.entity(root).with_children(|p| {
        p.spawn((
            Text::new("VITRINE"),
            TextFont::from_font_size(56.0),
            TextColor(Color::srgb(1.0, 0.45, 0.6)),
        ));
        p.spawn((
            Text::new("Live shopping in 3D: walk in, pick things up, buy with one tap"),
            TextFont::from_font_size(18.0),
            TextColor(Color::srgb(0.75, 0.78, 0.86)),
        ));
        p.spawn((
            FormBody,
            Node {
                flex_direction: FlexDirection::Column,
                row_gap: px(10),
                width: px(520),
                ..default()
            },
        ));
    });
}

fn type_into_form(mut keys: MessageReader<KeyboardInput>, mut form: ResMut<StartForm>) {
    for key in keys.read() {
        if key.state != ButtonState::Pressed {
            continue;
        }
        let field = match form.focused {
            Field::Name => &mut form.name,
            Field::Server => &mut form.server,
        };
        match &key.logical_key {
            Key::Backspace => {
                field.pop();
            }
            Key::Space if field.len() < FIELD_MAX => field.push(' '),
            Key::Character(c) if field.len() + c.len() <= FIELD_MAX => field.push_str(c),
            Key::Tab => {
                form.focused = match form.focused {
                    Field::Name => Field::Server,
                    Field::Server => Field::Name,
                }
            }
            _ => {}
        }
    }
}

fn press(
    buttons: Query<(&Interaction, &StartButton), Changed<Interaction>>,
    mut form: ResMut<StartForm>,
    mut requests: MessageWriter<SessionRequest>,
) {
    for (interaction, button) in &buttons {
        if *interaction != Interaction::Pressed {
            continue;
        }
        match button {
            StartButton::Focus(field) => form.focused = *field,
            StartButton::Refresh => {
                requests.write(SessionRequest::FindRooms {
                    server: form.server.trim().to_owned(),
                });
            }
            StartButton::Join(room) => {
                let name = form.name.trim().to_owned();
                // The session refuses an empty name, and says so.
                if name.is_empty() {
                    form.focused = Field::Name;
                }
                requests.write(SessionRequest::Join {
                    name,
                    server: form.server.trim().to_owned(),
                    room: room.clone(),
                });
            }
        }
    }
}

/// Redraws the form when it or the room list changed.
fn redraw(
    mut commands: Commands,
    form: Res<StartForm>,
    session: Res<Session>,
    body: Query<Entity, With<FormBody>>,
    mut last: Local<Option<String>>,
) {
    let Ok(body) = body.single() else {
        return;
    };
    let key = format!(
        "{form:?}{:?}{:?}",
        session
            .rooms
            .iter()
            .map(|r| (&r.id, r.occupancy))
            .collect::<Vec<_>>(),
        session.rooms_error
    );
    if last.as_deref() == Some(key.as_str()) {
        return;
    }
    *last = Some(key);
    commands.entity(body).despawn_children();
    commands.entity(body).with_children(|p| {
        for (field, label, value) in [
            (Field::Name, "Display name", &form.name),
            (Field::Server, "Server", &form.server),
        ] {
            let focused = form.focused == field;
            p.spawn((
                Button,
                StartButton::Focus(field),
                Node {
                    padding: UiRect::all(px(10)),
                    border: UiRect::all(px(2)),
                    border_radius: BorderRadius::all(px(8)),
                    flex_direction: FlexDirection::Column,
                    ..default()
                },
                BorderColor::all(if focused {
                    Color::srgb(1.0, 0.45, 0.6)
                } else {
                    Color::srgb(0.3, 0.3, 0.4)
                }),
                BackgroundColor(Color::srgb(0.12, 0.12, 0.18)),
            ))
            .with_children(|f| {
                f.spawn((
                    Text::new(label),
                    TextFont::from_font_size(13.0),
                    TextColor(Color::srgb(0.7, 0.7, 0.8)),
                ));
                f.spawn((
                    Text::new(format!("{value}{}", if focused { "_" } else { "" })),
                    TextFont::from_font_size(20.0),
                    TextColor(Color::WHITE),
                ));
            });
        }
        button(p, "Find rooms".into(), StartButton::Refresh);
        if let Some(error) = &session.rooms_error {
            p.spawn((
                Text::new(error.clone()),
                TextFont::from_font_size(15.0),
                TextColor(Color::srgb(1.0, 0.5, 0.5)),
            ));
        }
        for room in &session.rooms {
            button(
                p,
                format!(
                    "Join {}  ({} / {} inside)",
                    room.name, room.occupancy, room.capacity
                ),
                StartButton::Join(room.id.clone()),
            );
        }
    });
}

/// A start-screen button: `marker` says what it does.
fn button(p: &mut ChildSpawnerCommands, label: String, marker: impl Component) {
    p.spawn((
        Button,
        marker,
        Node {
            padding: UiRect::axes(px(14), px(8)),
            border_radius: BorderRadius::all(px(8)),
            ..default()
        },
        BackgroundColor(Color::srgb(0.25, 0.27, 0.38)),
    ))
    .with_children(|b| {
        b.spawn((
            Text::new(label),
            TextFont::from_font_size(18.0),
            TextColor(Color::WHITE),
        ));
    });
}

fn spawn_connecting(mut commands: Commands) {
    let root = screen(&mut commands, AppState::Connecting);
    commands.entity(root).with_children(|p| {
        p.spawn((
            ConnectingText,
            Text::new("Joining..."),
            TextFont::from_font_size(24.0),
            TextColor(Color::WHITE),
        ));
        button(p, "Back".into(), BackButton);
    });
}

fn connecting_status(session: Res<Session>, mut text: Query<&mut Text, With<ConnectingText>>) {
    let Ok(mut text) = text.single_mut() else {
        return;
    };
    let room = session.room.clone().unwrap_or_default();
    let line = match &session.link {
        LinkState::Lost {
            reason, retry_in, ..
        } if *retry_in != std::time::Duration::MAX => {
            format!(
                "Could not join {room}: {reason}\nTrying again in {} s...",
                retry_in.as_secs() + 1
            )
        }
        LinkState::Closed(reason) => format!("Cannot join {room}: {reason}"),
        _ => format!("Joining {room} as {}...", session.name),
    };
    if text.0 != line {
        text.0 = line;
    }
}

fn press_back(
    buttons: Query<&Interaction, (With<BackButton>, Changed<Interaction>)>,
    mut requests: MessageWriter<SessionRequest>,
) {
    if buttons.iter().any(|i| *i == Interaction::Pressed) {
        requests.write(SessionRequest::Leave);
    }
}
