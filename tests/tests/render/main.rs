//! The tests that render: the showroom and XR apps stepped offscreen on
//! lavapipe. Built only with the `render` feature, so the other tests link
//! without Bevy's renderer and OpenXR (`cargo test -p vitrine-tests
//! --features render --test render`).

mod showroom;
mod xr;
