//! Who has the keyboard and the mouse: the UI sets [`UiFocus`], and every
//! feature that reads keys or clicks in the room checks it first.

use bevy::prelude::*;

/// Whether the keyboard belongs to a text box and the mouse to a panel.
#[derive(Resource, Default, Debug)]
pub struct UiFocus {
    pub typing: bool,
    pub over_panel: bool,
}
