//! The showroom in a headset. With an OpenXR runtime ([`runtime`], feature
//! `xr`) the same room renders to the headset; head and hands come from the
//! runtime into [`input::XrInput`], and everything after that is shared
//! with `--xr-simulated`, where a test writes synthetic poses instead:
//! - the rig ([`rig`]): the tracking space rides on the shopper's body;
//!   teleport, snap turn, seated mode and the comfort vignette move it, and
//!   head and hands go to the server in the avatar's pose;
//! - hands ([`hands`]): grab, turn, release, hand-off and the pointing ray;
//! - panels ([`panels`]): the desktop's view-model drawn in world space;
//! - AR ([`ar`]): passthrough, with only what is in hand shown.
//!
//! Without a runtime the client says so in one line and stays on the
//! desktop; `--xr` makes that an error instead.

pub mod ar;
pub mod hands;
pub mod input;
pub mod panels;
pub mod rig;
#[cfg(feature = "xr")]
pub mod runtime;

use super::Options;
use super::input_mode::XrMode;
use bevy::prelude::*;
use thiserror::Error;

/// Why the headset could not be used.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum XrUnavailable {
    #[error("this build has no XR support (feature `xr`)")]
    NotBuilt,
    #[error("no OpenXR loader ({0})")]
    NoLoader(String),
    #[error("no OpenXR runtime ({0})")]
    NoRuntime(String),
    #[error("the OpenXR runtime {runtime} has no Vulkan support")]
    NoVulkan { runtime: String },
    #[error("no headset connected to {runtime} ({reason})")]
    NoHeadset { runtime: String, reason: String },
}

/// Why `vitrine` will not start as asked.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum XrStartError {
    #[error("--xr was given but {0}")]
    Unavailable(XrUnavailable),
    #[error("--xr needs a headset to render to; it cannot be combined with {0}")]
    Offscreen(&'static str),
    #[error("--xr and --no-xr contradict each other")]
    Contradiction,
}

/// What the command line asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XrChoice {
    /// Try the headset, else the desktop (the default).
    Auto,
    /// `--xr`: the headset or an error.
    Required,
    /// `--no-xr`.
    Off,
}

impl XrChoice {
    pub fn of(options: &Options) -> Result<Self, XrStartError> {
        match (options.xr, options.no_xr) {
            (true, true) => Err(XrStartError::Contradiction),
            (true, false) => Ok(XrChoice::Required),
            (false, true) => Ok(XrChoice::Off),
            (false, false) => Ok(XrChoice::Auto),
        }
    }
}

/// The outcome of starting: the mode, and the one line to print when the
/// headset was wanted but is not there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XrStart {
    pub mode: XrMode,
    pub note: Option<String>,
}

/// Decides the mode from the options and what `probe` finds (the real
/// probe is [`probe`]; tests pass their own). Benchmarks never probe.
pub fn decide(
    options: &Options,
    probe: impl FnOnce() -> Result<String, XrUnavailable>,
) -> Result<XrStart, XrStartError> {
    let choice = XrChoice::of(options)?;
    let offscreen = if options.bench {
        Some("--bench")
    } else if options.screenshot.is_some() {
        Some("--screenshot")
    } else if options.headless {
        Some("--headless")
    } else {
        None
    };
    if options.xr_simulated {
        return Ok(XrStart {
            mode: XrMode::Simulated,
            note: None,
        });
    }
    match (choice, offscreen) {
        (XrChoice::Off, _) => Ok(XrStart {
            mode: XrMode::Desktop,
            note: None,
        }),
        (XrChoice::Required, Some(flag)) => Err(XrStartError::Offscreen(flag)),
        (XrChoice::Auto, Some("--bench")) => Ok(XrStart {
            mode: XrMode::Desktop,
            note: None,
        }),
        (choice, offscreen) => match probe() {
            // Offscreen runs render to an image: a headset there is noted,
            // not used.
            Ok(runtime) if offscreen.is_some() => Ok(XrStart {
                mode: XrMode::Desktop,
                note: Some(format!(
                    "XR: {runtime} found; offscreen runs stay on the desktop"
                )),
            }),
            Ok(runtime) => Ok(XrStart {
                mode: XrMode::Headset,
                note: Some(format!("XR: {runtime}")),
            }),
            Err(e) if choice == XrChoice::Required => Err(XrStartError::Unavailable(e)),
            Err(e) => Ok(XrStart {
                mode: XrMode::Desktop,
                note: Some(format!("XR: {e}; running on the desktop")),
            }),
        },
    }
}

/// Looks for a runtime and a headset without starting a session: the
/// loader, an instance with Vulkan, and a head-mounted system.
pub fn probe() -> Result<String, XrUnavailable> {
    #[cfg(feature = "xr")]
    {
        runtime::probe()
    }
    #[cfg(not(feature = "xr"))]
    {
        Err(XrUnavailable::NotBuilt)
    }
}

/// Comfort and AR settings.
#[derive(Resource, Debug, Clone, Copy, PartialEq)]
pub struct XrSettings {
    /// Seated: the tracking space is raised so the eyes are at standing
    /// height.
    pub seated: bool,
    /// Darken the view's edges while the view moves without the head.
    pub vignette: bool,
    /// Show the room through passthrough (where the runtime blends).
    pub ar: bool,
}

impl XrSettings {
    pub fn from_options(options: &Options) -> Self {
        XrSettings {
            seated: options.seated,
            vignette: !options.no_vignette,
            ar: options.ar,
        }
    }
}

pub(super) fn plugin(app: &mut App) {
    let options = app.world().resource::<Options>().clone();
    app.insert_resource(XrSettings::from_options(&options))
        .init_resource::<XrMode>()
        .init_resource::<input::XrInput>()
        .init_resource::<input::Gestures>()
        .add_message::<input::Gesture>()
        .add_plugins((rig::plugin, hands::plugin, panels::plugin, ar::plugin));
    // A simulated runtime blends whenever AR is asked for.
    if *app.world().resource::<XrMode>() == XrMode::Simulated && options.ar {
        app.insert_resource(ar::ArActive(true));
    }
    #[cfg(feature = "xr")]
    if *app.world().resource::<XrMode>() == XrMode::Headset {
        app.add_plugins(runtime::plugin);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(args: &[&str]) -> Options {
        use clap::Parser;
        Options::parse_from(std::iter::once("vitrine").chain(args.iter().copied()))
    }

    fn none() -> Result<String, XrUnavailable> {
        Err(XrUnavailable::NoRuntime(
            "XR_ERROR_RUNTIME_UNAVAILABLE".into(),
        ))
    }

    fn headset() -> Result<String, XrUnavailable> {
        Ok("Monado 25".into())
    }

    #[test]
    fn without_a_runtime_the_default_falls_back_in_one_line() {
        let start = decide(&options(&[]), none).unwrap();
        assert_eq!(start.mode, XrMode::Desktop);
        let note = start.note.unwrap();
        assert_eq!(note.lines().count(), 1);
        assert!(
            note.contains("no OpenXR runtime") && note.contains("desktop"),
            "{note}"
        );
        assert_eq!(
            decide(&options(&[]), headset).unwrap().mode,
            XrMode::Headset
        );
    }

    #[test]
    fn forced_xr_without_a_runtime_is_an_error() {
        let err = decide(&options(&["--xr"]), none).unwrap_err();
        assert!(matches!(
            err,
            XrStartError::Unavailable(XrUnavailable::NoRuntime(_))
        ));
        assert!(
            err.to_string()
                .starts_with("--xr was given but no OpenXR runtime")
        );
        assert_eq!(
            decide(&options(&["--xr", "--screenshot", "a.png"]), headset),
            Err(XrStartError::Offscreen("--screenshot"))
        );
        assert_eq!(
            decide(&options(&["--xr", "--no-xr"]), headset),
            Err(XrStartError::Contradiction)
        );
    }

    #[test]
    fn benches_and_no_xr_never_probe_and_simulation_needs_no_runtime() {
        let never = || -> Result<String, XrUnavailable> { panic!("probed") };
        assert_eq!(
            decide(&options(&["--bench"]), never).unwrap().mode,
            XrMode::Desktop
        );
        assert_eq!(
            decide(&options(&["--no-xr"]), never).unwrap().mode,
            XrMode::Desktop
        );
        let sim = decide(&options(&["--xr-simulated", "--headless"]), never).unwrap();
        assert_eq!(sim.mode, XrMode::Simulated);
        // Offscreen with a runtime: noted, not used.
        let shot = decide(&options(&["--screenshot", "a.png"]), headset).unwrap();
        assert_eq!(shot.mode, XrMode::Desktop);
        assert!(shot.note.unwrap().contains("Monado"));
    }
}
