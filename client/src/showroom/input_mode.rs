//! Where the shopper is: at a desktop (mouse and keyboard) or in XR (a
//! headset, or synthetic poses in tests). Features that act only on one
//! side gate their systems on [`on_desktop`] or [`in_xr`].

use bevy::prelude::*;

/// Where the shopper is.
#[derive(Resource, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum XrMode {
    #[default]
    Desktop,
    /// In a headset, through OpenXR.
    Headset,
    /// XR interactions driven by synthetic poses (tests), rendered like the
    /// desktop.
    Simulated,
}

impl XrMode {
    pub fn is_xr(self) -> bool {
        self != XrMode::Desktop
    }
}

/// Run condition: XR interactions are on.
pub fn in_xr(mode: Res<XrMode>) -> bool {
    mode.is_xr()
}

/// Run condition: mouse and keyboard drive the shopper.
pub fn on_desktop(mode: Res<XrMode>) -> bool {
    !mode.is_xr()
}
