//! Who has the keyboard and the mouse: the UI sets [`UiFocus`] (in
//! [`FocusDecided`]), and every feature that reads keys or clicks in the
//! room checks it first.

use bevy::prelude::*;

/// Whether the keyboard belongs to a text box and the mouse to a panel.
#[derive(Resource, Default, Debug)]
pub struct UiFocus {
    pub typing: bool,
    pub over_panel: bool,
}

/// The systems that decide this frame's [`UiFocus`] (the chat box takes the
/// keys): a feature that must not act on a key typed into it runs after.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FocusDecided;
