//! Logs and spans. The server's events go to stdout either as text for
//! people (the default) or as one JSON object a line for a log collector;
//! both carry the same events and the fields of the spans they happen in.
//!
//! The spans, named here so a collector's queries have one place to look:
//! - [`HTTP_REQUEST`]: each HTTP request (method, matched route, status,
//!   latency), closed by an `answered` event.
//! - [`COMMERCE_BATCH`] and [`ENGAGEMENT_BATCH`]: each batch an engine
//!   decides (kind, size, commit time), closed by a debug-level event.
//! - [`ROOM_JOIN`]: a client connecting to a room over the game link
//!   (client, and `outcome`: `joined` or the refusal's reason).
//! - A room tick over its budget is a warn-level event, not a span: ticks
//!   on time are too many to log.

use std::time::Duration;
use tracing::Dispatch;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

pub const HTTP_REQUEST: &str = "http_request";
pub const COMMERCE_BATCH: &str = "commerce_batch";
pub const ENGAGEMENT_BATCH: &str = "engagement_batch";
pub const ROOM_JOIN: &str = "room_join";

/// The filter when `RUST_LOG` is unset: sqlx logs every statement at info.
pub const DEFAULT_FILTER: &str = "info,sqlx=warn";

/// How events are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Text for people, one event a line.
    #[default]
    Human,
    /// One JSON object a line, the event's fields at the top level.
    Json,
}

/// The subscriber for `format`, writing to `writer`, filtered by `filter`.
/// `ansi` colours the text format (only for a terminal).
pub fn subscriber<W>(format: LogFormat, filter: EnvFilter, writer: W, ansi: bool) -> Dispatch
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    match format {
        LogFormat::Human => Dispatch::new(builder.with_ansi(ansi).finish()),
        LogFormat::Json => Dispatch::new(
            builder
                .json()
                .flatten_event(true)
                .with_current_span(true)
                .with_span_list(true)
                .finish(),
        ),
    }
}

/// Installs the process's subscriber: `RUST_LOG` or [`DEFAULT_FILTER`], to
/// stdout, with `log` records bridged in. Returns an error if one is
/// already installed.
pub fn init(format: LogFormat) -> Result<(), tracing::dispatcher::SetGlobalDefaultError> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| DEFAULT_FILTER.into());
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    install(subscriber(format, filter, std::io::stdout, ansi))
}

/// Makes `dispatch` the process's subscriber and bridges `log` records
/// into it through [`crate::refused::LogBridge`], which keeps renetcode's
/// line per refused datagram out (they are counted instead).
pub fn install(
    dispatch: impl Into<Dispatch>,
) -> Result<(), tracing::dispatcher::SetGlobalDefaultError> {
    tracing::dispatcher::set_global_default(dispatch.into())?;
    crate::refused::install_log_bridge();
    Ok(())
}

/// Warns of a room tick that took longer than its budget (the tick
/// period): the room falls behind and every client sees it.
pub fn warn_if_over_budget(took: Duration, budget: Duration) {
    if took > budget {
        tracing::warn!(
            took_ms = took.as_secs_f64() * 1000.0,
            budget_ms = budget.as_secs_f64() * 1000.0,
            "room tick over budget"
        );
    }
}

/// A layer that keeps every closed span's name and fields, and every
/// event's level and fields, so tests can check what the server records.
#[cfg(test)]
pub(crate) mod capture {
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};
    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Dispatch, Event, Level, Subscriber};
    use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
    use tracing_subscriber::registry::LookupSpan;

    /// A span as it was when it closed, or an event.
    #[derive(Debug, Clone)]
    pub struct Captured {
        pub name: &'static str,
        pub level: Level,
        pub fields: BTreeMap<String, String>,
        /// An event's span, by name (`None` for a span, or an event outside
        /// any).
        pub span: Option<&'static str>,
    }

    impl Captured {
        pub fn field(&self, name: &str) -> Option<&str> {
            self.fields.get(name).map(String::as_str)
        }
    }

    #[derive(Clone, Default)]
    pub struct Capture {
        spans: Arc<Mutex<Vec<Captured>>>,
        events: Arc<Mutex<Vec<Captured>>>,
    }

    impl Capture {
        /// A subscriber with only this layer, every level enabled.
        pub fn dispatch(&self) -> Dispatch {
            // tracing-core treats a lone registered dispatcher as everyone's:
            // a callsite first reached on another test's thread would be
            // cached as unwanted, and this capture would miss it. A second,
            // idle dispatcher kept for the process makes it ask each one.
            static SECOND: std::sync::OnceLock<Dispatch> = std::sync::OnceLock::new();
            SECOND.get_or_init(|| Dispatch::new(tracing::subscriber::NoSubscriber::default()));
            Dispatch::new(tracing_subscriber::registry().with(self.clone()))
        }

        /// Closed spans named `name`.
        pub fn spans(&self, name: &str) -> Vec<Captured> {
            let spans = self.spans.lock().unwrap();
            spans.iter().filter(|s| s.name == name).cloned().collect()
        }

        pub fn events(&self) -> Vec<Captured> {
            self.events.lock().unwrap().clone()
        }
    }

    struct Fields<'a>(&'a mut BTreeMap<String, String>);

    impl Visit for Fields<'_> {
        fn record_str(&mut self, field: &Field, value: &str) {
            self.0.insert(field.name().into(), value.into());
        }
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            self.0.insert(field.name().into(), format!("{value:?}"));
        }
    }

    impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
        fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
            let mut captured = Captured {
                name: attrs.metadata().name(),
                level: *attrs.metadata().level(),
                fields: BTreeMap::new(),
                span: None,
            };
            attrs.record(&mut Fields(&mut captured.fields));
            if let Some(span) = ctx.span(id) {
                span.extensions_mut().insert(captured);
            }
        }

        fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
            if let Some(span) = ctx.span(id)
                && let Some(captured) = span.extensions_mut().get_mut::<Captured>()
            {
                values.record(&mut Fields(&mut captured.fields));
            }
        }

        fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
            let mut captured = Captured {
                name: event.metadata().name(),
                level: *event.metadata().level(),
                fields: BTreeMap::new(),
                span: ctx.event_span(event).map(|span| span.name()),
            };
            event.record(&mut Fields(&mut captured.fields));
            self.events.lock().unwrap().push(captured);
        }

        fn on_close(&self, id: Id, ctx: Context<'_, S>) {
            if let Some(span) = ctx.span(&id)
                && let Some(captured) = span.extensions_mut().remove::<Captured>()
            {
                self.spans.lock().unwrap().push(captured);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    /// An in-memory log.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Logs one event inside a span in `format`; returns the text written.
    fn log_one(format: LogFormat) -> String {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let dispatch = subscriber(
            format,
            EnvFilter::new("info"),
            move || writer.clone(),
            false,
        );
        tracing::dispatcher::with_default(&dispatch, || {
            let span = tracing::info_span!(HTTP_REQUEST, method = %"GET", route = %"/healthz");
            let _entered = span.enter();
            tracing::info!(status = 200u16, "answered");
        });
        String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn json_writes_one_object_a_line_with_the_span_fields() {
        let text = log_one(LogFormat::Json);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1, "{text}");
        let line: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["message"], "answered");
        assert_eq!(line["status"], 200);
        assert_eq!(line["span"]["name"], HTTP_REQUEST);
        assert_eq!(line["span"]["route"], "/healthz");
        assert_eq!(line["span"]["method"], "GET");
    }

    #[test]
    fn the_default_is_text_for_people() {
        assert_eq!(LogFormat::default(), LogFormat::Human);
        let text = log_one(LogFormat::default());
        assert!(serde_json::from_str::<serde_json::Value>(text.trim()).is_err());
        assert!(text.contains("INFO"), "{text}");
        assert!(
            text.contains("http_request{method=GET route=/healthz}: "),
            "{text}"
        );
        assert!(text.contains("answered status=200"), "{text}");
    }

    #[test]
    fn only_a_tick_over_its_budget_is_logged_with_its_figures() {
        let capture = capture::Capture::default();
        let budget = Duration::from_millis(33);
        tracing::dispatcher::with_default(&capture.dispatch(), || {
            warn_if_over_budget(Duration::from_millis(5), budget);
            warn_if_over_budget(budget, budget);
            warn_if_over_budget(Duration::from_millis(50), budget);
        });
        let events = capture.events();
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0].level, tracing::Level::WARN);
        assert_eq!(events[0].field("took_ms"), Some("50.0"));
        assert_eq!(events[0].field("budget_ms"), Some("33.0"));
    }

    /// Waits (the engines run on this thread) until a `name` span with
    /// `kind` has closed; at most 10 s.
    async fn closed(capture: &capture::Capture, name: &str, kind: &str) -> capture::Captured {
        // The span closes after the batch's commit, which waits on the
        // store's own thread (an fsync, slow on a busy machine): poll on a
        // time cap, not a count of yields.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if let Some(span) = capture
                .spans(name)
                .into_iter()
                .find(|s| s.field("kind") == Some(kind))
            {
                return span;
            }
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        panic!("no {name} span of kind {kind}: {:?}", capture.spans(name));
    }

    fn commit_ms(span: &capture::Captured) -> f64 {
        span.field("commit_ms")
            .expect("commit time recorded")
            .parse()
            .unwrap()
    }

    // The engines run on this test's one thread, so the capture sees them.
    #[tokio::test(flavor = "current_thread")]
    async fn each_engagement_decision_has_a_span_with_kind_size_and_commit_time() {
        use crate::engagement::rules::GrantKind;
        let capture = capture::Capture::default();
        let _guard = tracing::dispatcher::set_default(&capture.dispatch());
        let (store, _dir) = crate::store::tests::stores().await.swap_remove(0);
        let rules = crate::engagement::load_rules_file(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/rewards.toml"),
        )
        .unwrap();
        let shop = crate::commerce::spawn(
            store.clone(),
            crate::clock::Clock::system(),
            Arc::new(crate::commerce::TestGateway::default()),
            crate::commerce::EngineSettings::default(),
        )
        .await
        .unwrap();
        let engagement =
            crate::engagement::spawn(store.clone(), crate::clock::Clock::system(), rules, shop)
                .await
                .unwrap();
        let ada = store
            .create_account(
                &vitrine_shared::DisplayName::new("Ada").unwrap(),
                vitrine_shared::Role::Shopper,
                "guest",
            )
            .await
            .unwrap()
            .id;

        assert!(matches!(engagement.current_show().await, Ok(None)));
        let granted = engagement
            .grant(ada, GrantKind::Watch, "29000000".to_owned())
            .await;
        assert!(matches!(granted, Ok(Some(_))), "{granted:?}");

        let show = closed(&capture, ENGAGEMENT_BATCH, "current_show").await;
        let grant = closed(&capture, ENGAGEMENT_BATCH, "grant").await;
        for span in [&show, &grant] {
            assert_eq!(span.level, tracing::Level::INFO);
            assert_eq!(span.field("size"), Some("1"));
            assert!(commit_ms(span) >= 0.0);
        }
        // A grant writes to the store, which takes time.
        assert!(commit_ms(&grant) > 0.0);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn each_commerce_batch_has_a_span_with_kind_size_and_commit_time() {
        let capture = capture::Capture::default();
        let _guard = tracing::dispatcher::set_default(&capture.dispatch());
        let (store, _dir) = crate::store::tests::stores().await.swap_remove(0);
        let shop = crate::commerce::spawn(
            store.clone(),
            crate::clock::Clock::system(),
            Arc::new(crate::commerce::TestGateway::default()),
            crate::commerce::EngineSettings::default(),
        )
        .await
        .unwrap();
        let buyer = vitrine_shared::AccountId(7);
        // Sent together before the engine runs (one thread): one batch.
        let (a, b, c) = tokio::join!(shop.cart(buyer), shop.cart(buyer), shop.cart(buyer));
        assert!(a.is_ok() && b.is_ok() && c.is_ok());
        let batch = closed(&capture, COMMERCE_BATCH, "cart").await;
        assert_eq!(batch.level, tracing::Level::INFO);
        assert_eq!(batch.field("size"), Some("3"), "{batch:?}");
        assert!(commit_ms(&batch) >= 0.0);
    }
}
