//! Whether the renderer is ready: the pipelines it is still compiling
//! (lavapipe takes seconds per shader). The slate waits for them before it
//! stops drawing, and an offscreen picture before it is taken.

use bevy::prelude::*;
use bevy::render::render_resource::PipelineCache;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

pub(super) fn plugin(app: &mut App) {
    // The render world counts; the main world reads the same counter.
    let waiting = PipelinesWaiting::default();
    if let Some(render_app) = app.get_sub_app_mut(bevy::render::RenderApp) {
        render_app
            .insert_resource(waiting.clone())
            .add_systems(bevy::render::Render, count_waiting_pipelines);
    }
    app.insert_resource(waiting);
}

/// Pipelines the renderer is still compiling, shared with the render world.
#[derive(Resource, Clone, Default)]
pub struct PipelinesWaiting(Arc<AtomicUsize>);

impl PipelinesWaiting {
    pub fn count(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

fn count_waiting_pipelines(cache: Res<PipelineCache>, waiting: Res<PipelinesWaiting>) {
    waiting
        .0
        .store(cache.waiting_pipelines().count(), Ordering::Relaxed);
}
