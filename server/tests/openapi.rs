//! The OpenAPI document, read as a client generator and an API tester would
//! read it, against the real server on a loopback port: every operation is
//! called with requests built from its schemas (a valid example, no token,
//! a shopper's token, a malformed, a mistyped and an oversized body), and
//! every answer's status must be one the document lists for it; each limit
//! a schema states (lengths, ranges, item counts, enums, character patterns;
//! in each alternative of a `oneOf`; of body fields and of query and header
//! parameters) is probed at the limit (not refused) and one past it (refused
//! with a documented 400 or 422). A second server with one-request
//! buckets shows the 429s are documented too.

use serde_json::{Map, Value, json};
use std::net::SocketAddr;
use std::time::Duration;
use vitrine_server::config::{RateConfig, ServerConfig};
use vitrine_server::{Server, ShutdownHandle};
use vitrine_shared::Role;

const PASSWORD: &str = "correct horse battery staple";

/// Numbers the walk's idempotency keys.
static KEYS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// A server on `127.0.0.1:0` with its runtime, and a way to call it.
struct Api {
    base: String,
    agent: ureq::Agent,
    shutdown: ShutdownHandle,
    _runtime: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
}

struct Reply {
    status: u16,
    body: String,
}

/// A request body: its media type and text.
#[derive(Clone)]
struct Body {
    content_type: String,
    text: String,
}

impl Api {
    fn start(rate: RateConfig) -> Api {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = ServerConfig::local(dir.path().join("data"));
        config.http = "127.0.0.1:0".parse().expect("literal");
        config.udp = "127.0.0.1:0".parse().expect("literal");
        config.http_rate = rate;
        config.account_rate = rate;
        // The walk signs in many guests from one address; the guest limit
        // per network has its own tests (tests/tests/it/fair.rs).
        config.guests_per_network_per_day =
            vitrine_shared::limits::fair::MAX_GUESTS_PER_NETWORK_PER_DAY;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        runtime
            .block_on(vitrine_server::create_user(
                &config,
                "host",
                Role::Host,
                None,
                Some(PASSWORD),
            ))
            .expect("create the host");
        let server = runtime
            .block_on(Server::start(config.clone()))
            .expect("server starts");
        let addr: SocketAddr = server.http_addr();
        let shutdown = server.shutdown_handle();
        runtime.spawn(server.wait());
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        Api {
            base: format!("http://{addr}"),
            agent,
            shutdown,
            _runtime: runtime,
            _dir: dir,
        }
    }

    fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(String, String)],
        body: Option<&Body>,
    ) -> Reply {
        self.send(method, path, token, headers, body, true)
    }

    /// [`Api::call`] with the headers exactly as given: for a probe of a
    /// header's own limits.
    fn call_exact(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(String, String)],
        body: Option<&Body>,
    ) -> Reply {
        self.send(method, path, token, headers, body, false)
    }

    fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(String, String)],
        body: Option<&Body>,
        fresh_keys: bool,
    ) -> Reply {
        let mut req = ureq::http::Request::builder()
            .method(method.to_uppercase().as_str())
            .uri(format!("{}{path}", self.base))
            // A refused body may leave its connection closed: never reuse one.
            .header("Connection", "close");
        if let Some(t) = token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        for (name, value) in headers {
            // Each request its own key: a probe is a new request, not a retry.
            let value = if fresh_keys && name.eq_ignore_ascii_case("Idempotency-Key") {
                let n = KEYS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                format!("{value}-{n}")
            } else {
                value.clone()
            };
            req = req.header(name.as_str(), value);
        }
        let text = match body {
            Some(b) => {
                req = req.header("Content-Type", b.content_type.as_str());
                b.text.clone()
            }
            None => String::new(),
        };
        let request = req.body(text).expect("a request");
        let mut response = self
            .agent
            .run(request)
            .unwrap_or_else(|e| panic!("{method} {path}: no answer: {e}"));
        let status = response.status().as_u16();
        let body = response.body_mut().read_to_string().unwrap_or_default();
        Reply { status, body }
    }

    fn json(&self, method: &str, path: &str, token: Option<&str>, body: Value) -> Reply {
        let body = Body {
            content_type: "application/json".into(),
            text: body.to_string(),
        };
        self.call(method, path, token, &[], Some(&body))
    }

    fn document(&self) -> Value {
        let reply = self.call("get", "/api/v1/openapi.json", None, &[], None);
        assert_eq!(reply.status, 200, "{}", reply.body);
        serde_json::from_str(&reply.body).expect("a JSON document")
    }

    /// Signs in the host made at start; returns its token.
    fn host_token(&self) -> String {
        let reply = self.json(
            "post",
            "/api/v1/sessions",
            None,
            json!({ "username": "host", "password": PASSWORD }),
        );
        assert_eq!(reply.status, 201, "{}", reply.body);
        token_of(&reply)
    }

    /// Signs in a guest; returns (token, account id).
    fn guest(&self, name: &str) -> (String, u64) {
        let reply = self.json(
            "post",
            "/api/v1/sessions",
            None,
            json!({ "display_name": name }),
        );
        assert_eq!(reply.status, 201, "{}", reply.body);
        let created: Value = serde_json::from_str(&reply.body).expect("JSON");
        (
            token_of(&reply),
            created["account_id"].as_u64().expect("id"),
        )
    }
}

impl Drop for Api {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

fn token_of(reply: &Reply) -> String {
    let created: Value = serde_json::from_str(&reply.body).expect("JSON");
    created["token"].as_str().expect("a token").to_owned()
}

/// Plenty for a walk that makes a few thousand requests from one account.
fn generous() -> RateConfig {
    RateConfig {
        per_second: 100_000.0,
        burst: 1_000_000,
    }
}

/// One request, then a bucket that refills about never.
fn strict() -> RateConfig {
    RateConfig {
        per_second: 0.001,
        burst: 1,
    }
}

/// The document, with `$ref`s followed.
struct Doc(Value);

impl Doc {
    fn resolve<'a>(&'a self, schema: &'a Value) -> &'a Value {
        match schema.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                let pointer = r.trim_start_matches('#');
                let target = self
                    .0
                    .pointer(pointer)
                    .unwrap_or_else(|| panic!("dangling $ref {r}"));
                self.resolve(target)
            }
            None => schema,
        }
    }

    /// Every (path, method, operation).
    fn operations(&self) -> Vec<(String, String, Value)> {
        let mut ops = Vec::new();
        for (path, item) in self.0["paths"].as_object().expect("paths") {
            for (method, op) in item.as_object().expect("a path item") {
                ops.push((path.clone(), method.clone(), op.clone()));
            }
        }
        ops
    }

    /// The schema's first non-null type.
    fn kind(&self, schema: &Value) -> String {
        let schema = self.resolve(schema);
        match &schema["type"] {
            Value::String(t) => t.clone(),
            Value::Array(ts) => ts
                .iter()
                .filter_map(Value::as_str)
                .find(|t| *t != "null")
                .unwrap_or("null")
                .to_owned(),
            _ if schema.get("properties").is_some() => "object".into(),
            _ => String::new(),
        }
    }

    /// A value the schema allows: its example where it gives one, else the
    /// smallest value its type and limits allow.
    fn example(&self, schema: &Value) -> Value {
        let schema = self.resolve(schema);
        if let Some(example) = schema["examples"].get(0).or(schema.get("example")) {
            return example.clone();
        }
        if let Some(first) = schema["enum"].get(0) {
            return first.clone();
        }
        for composite in ["oneOf", "anyOf"] {
            if let Some(items) = schema[composite].as_array() {
                let item = items
                    .iter()
                    .find(|i| self.kind(i) != "null")
                    .expect("a non-null alternative");
                return self.example(item);
            }
        }
        match self.kind(schema).as_str() {
            "object" => {
                let mut object = Map::new();
                let required: Vec<&str> = schema["required"]
                    .as_array()
                    .map(|r| r.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                if let Some(properties) = schema["properties"].as_object() {
                    for (name, property) in properties {
                        let illustrated = self.resolve(property).get("examples").is_some();
                        if required.contains(&name.as_str()) || illustrated {
                            object.insert(name.clone(), self.example(property));
                        }
                    }
                }
                Value::Object(object)
            }
            "array" => {
                let n = schema["minItems"].as_u64().unwrap_or(0) as usize;
                Value::Array(self.distinct_items(&schema["items"], n))
            }
            "string" => Value::String(text(min_length(schema).max(1), 0)),
            "integer" => json!(
                schema["minimum"]
                    .as_i64()
                    .unwrap_or_else(|| schema["maximum"].as_i64().map_or(1, |m| m.min(1)))
            ),
            "number" => json!(1.0),
            "boolean" => json!(false),
            _ => Value::Null,
        }
    }

    /// `n` items of `items`, each different (lists of options, terms and
    /// products refuse repeats).
    fn distinct_items(&self, items: &Value, n: usize) -> Vec<Value> {
        let items = self.resolve(items);
        (0..n)
            .map(|i| match self.kind(items).as_str() {
                "string" => Value::String(text(min_length(items).max(1), i)),
                "integer" => json!(items["minimum"].as_i64().unwrap_or(0) + i as i64),
                _ => self.example(items),
            })
            .collect()
    }
}

/// The character ranges of a pattern of the form `^[class]+$`; `None` for
/// another form.
fn class(pattern: &str) -> Option<Vec<(char, char)>> {
    let class: Vec<char> = pattern
        .strip_prefix("^[")?
        .strip_suffix("]+$")?
        .chars()
        .collect();
    let mut allowed: Vec<(char, char)> = Vec::new();
    let mut i = 0;
    while i < class.len() {
        if i + 2 < class.len() && class[i + 1] == '-' {
            allowed.push((class[i], class[i + 2]));
            i += 3;
        } else {
            allowed.push((class[i], class[i]));
            i += 1;
        }
    }
    Some(allowed)
}

/// A character the class refuses, from a few candidates.
fn outside(class: &[(char, char)]) -> Option<char> {
    [' ', '!', 'A', '~', '.', 'é']
        .into_iter()
        .find(|c| !class.iter().any(|(lo, hi)| (lo..=hi).contains(&c)))
}

fn min_length(schema: &Value) -> usize {
    schema["minLength"].as_u64().unwrap_or(0) as usize
}

/// `len` characters of `a-z`, different for each `seed`.
fn text(len: usize, seed: usize) -> String {
    let mut tag = String::new();
    let mut n = seed;
    loop {
        tag.push((b'a' + (n % 26) as u8) as char);
        n /= 26;
        if n == 0 {
            break;
        }
    }
    let mut s: String = tag.chars().take(len.max(1)).collect();
    while s.chars().count() < len {
        s.push('a');
    }
    if len == 0 { String::new() } else { s }
}

/// One way to call an operation: its URL, headers and body.
struct Call {
    url: String,
    headers: Vec<(String, String)>,
    body: Option<Body>,
    /// The body's schema, when it is JSON.
    json_schema: Option<Value>,
}

/// Values the walk cannot take from the document: the accounts it made.
struct Fixtures {
    shopper_id: u64,
}

impl Doc {
    /// A valid call built from the operation's parameters and body schema.
    fn call(&self, path: &str, op: &Value, fixtures: &Fixtures) -> Call {
        let mut url = path.to_owned();
        let mut query = Vec::new();
        let mut headers = Vec::new();
        for param in op["parameters"].as_array().into_iter().flatten() {
            let name = param["name"].as_str().expect("a name");
            let about_account = param["description"]
                .as_str()
                .is_some_and(|d| d.contains("Account id"));
            let value = if about_account {
                json!(fixtures.shopper_id)
            } else if let Some(example) = param.get("example") {
                // A parameter's own example (OpenAPI's `example` on the
                // parameter): for values a schema cannot state, such as
                // "a show's id, or all".
                example.clone()
            } else {
                self.example(&param["schema"])
            };
            let value = match value {
                Value::String(s) => s,
                other => other.to_string(),
            };
            let required = param["required"].as_bool().unwrap_or(false);
            match param["in"].as_str() {
                Some("path") => url = url.replace(&format!("{{{name}}}"), &value),
                // Every query parameter, optional ones too: each has a valid
                // example, and a required one is then never missed.
                Some("query") => query.push(format!("{name}={value}")),
                Some("header") if required => headers.push((name.to_owned(), value)),
                _ => {}
            }
        }
        if !query.is_empty() {
            url = format!("{url}?{}", query.join("&"));
        }
        let (body, json_schema) = match op["requestBody"]["content"].as_object() {
            Some(content) => {
                let (media, entry) = content.iter().next().expect("a media type");
                let schema = entry["schema"].clone();
                let mut value = self.example(&schema);
                set_account_ids(&mut value, fixtures.shopper_id);
                let is_json = media == "application/json";
                let text = match &value {
                    Value::String(s) if !is_json => s.clone(),
                    other => other.to_string(),
                };
                let body = Body {
                    content_type: media.clone(),
                    text,
                };
                (Some(body), is_json.then_some(schema))
            }
            None => (None, None),
        };
        Call {
            url,
            headers,
            body,
            json_schema,
        }
    }
}

/// A body field naming an account names the walk's shopper, so moderation
/// reaches its checks instead of stopping at "no such account".
fn set_account_ids(value: &mut Value, id: u64) {
    if let Some(object) = value.as_object_mut() {
        for (name, field) in object.iter_mut() {
            if name == "account_id" {
                *field = json!(id);
            } else {
                set_account_ids(field, id);
            }
        }
    }
}

fn documented(op: &Value, status: u16) -> bool {
    let responses = &op["responses"];
    let class = format!("{}XX", status / 100);
    responses.get(status.to_string()).is_some()
        || responses.get(&class).is_some()
        || responses.get("default").is_some()
}

/// A step into a body: a property, or an array's first item; each with
/// the example to put there when the body has none (an optional object).
#[derive(Clone, Debug)]
enum Step {
    Key(String, Value),
    First(Value),
    /// The value here becomes this alternative's example (a `oneOf` shape
    /// other than the first, which the example already takes).
    Alternative(usize, Value),
}

/// One limit of one field: a value at it and one past it.
#[derive(Debug)]
struct Probe {
    at: Vec<Step>,
    what: String,
    within: Value,
    beyond: Value,
}

impl Doc {
    /// Every limit stated under `schema` (a body, its properties, their
    /// items), with values to probe it.
    fn probes(&self, schema: &Value, at: Vec<Step>, out: &mut Vec<Probe>) {
        let schema = self.resolve(schema);
        let mut probe = |what: String, within: Value, beyond: Value| {
            out.push(Probe {
                at: at.clone(),
                what,
                within,
                beyond,
            })
        };
        if let Some(max) = schema["maxLength"].as_u64() {
            let max = max as usize;
            probe(
                format!("maxLength {max}"),
                json!(text(max, 0)),
                json!(text(max + 1, 0)),
            );
        }
        if let Some(min) = schema["minLength"].as_u64().filter(|m| *m > 0) {
            let min = min as usize;
            probe(
                format!("minLength {min}"),
                json!(text(min, 0)),
                json!(text(min - 1, 0)),
            );
        }
        if let Some(max) = schema["maximum"].as_i64() {
            probe(format!("maximum {max}"), json!(max), json!(max + 1));
        }
        if let Some(min) = schema["minimum"].as_i64() {
            probe(format!("minimum {min}"), json!(min), json!(min - 1));
        }
        if let Some(pattern) = schema["pattern"].as_str() {
            let class = class(pattern).unwrap_or_else(|| {
                panic!("pattern {pattern}: the walk cannot probe it; teach `class` its form")
            });
            let bad = outside(&class).expect("a character the pattern refuses");
            // Within: each range's first and last character, to the length
            // the field allows.
            let mut text: String = class.iter().flat_map(|(lo, hi)| [*lo, *hi]).collect();
            let max = schema["maxLength"]
                .as_u64()
                .map_or(usize::MAX, |m| m as usize);
            text = text.chars().take(max).collect();
            while text.chars().count() < min_length(schema) {
                text.push(class[0].0);
            }
            // Inside the value, never at an end: a header's outer spaces
            // would be trimmed.
            let mut chars: Vec<char> = text.chars().collect();
            if chars.len() >= 3 {
                chars[1] = bad;
            } else {
                chars.push(bad);
                chars.extend(text.chars());
            }
            let beyond: String = chars.into_iter().collect();
            probe(format!("pattern {pattern}"), json!(text), json!(beyond));
        }
        if let Some(values) = schema["enum"].as_array() {
            let first = values.iter().find(|v| !v.is_null()).cloned();
            let first = first.unwrap_or(Value::Null);
            probe("enum".into(), first, json!("not-a-listed-value"));
        }
        if let Some(max) = schema["maxItems"].as_u64() {
            let max = max as usize;
            probe(
                format!("maxItems {max}"),
                json!(self.distinct_items(&schema["items"], max)),
                json!(self.distinct_items(&schema["items"], max + 1)),
            );
        }
        if let Some(min) = schema["minItems"].as_u64().filter(|m| *m > 0) {
            let min = min as usize;
            probe(
                format!("minItems {min}"),
                json!(self.distinct_items(&schema["items"], min)),
                json!(self.distinct_items(&schema["items"], min - 1)),
            );
        }
        if let Some(max) = schema["maxProperties"].as_u64() {
            let entries = |n: u64| {
                let map: Map<String, Value> =
                    (0..n).map(|i| (text(1, i as usize), json!("a"))).collect();
                Value::Object(map)
            };
            probe(
                format!("maxProperties {max}"),
                entries(max),
                entries(max + 1),
            );
        }
        if let Some(properties) = schema["properties"].as_object() {
            for (name, property) in properties {
                let mut deeper = at.clone();
                deeper.push(Step::Key(name.clone(), self.example(property)));
                self.probes(property, deeper, out);
            }
        }
        if self.kind(schema) == "array" {
            let mut deeper = at.clone();
            deeper.push(Step::First(self.example(&schema["items"])));
            self.probes(&schema["items"], deeper, out);
        }
        for composite in ["oneOf", "anyOf"] {
            // Each alternative's limits, probed in that alternative: the
            // first non-null one is the one the example takes already.
            let items = schema[composite].as_array().into_iter().flatten();
            let shapes = items.filter(|i| self.kind(i) != "null").enumerate();
            for (n, item) in shapes {
                let mut deeper = at.clone();
                if n > 0 {
                    deeper.push(Step::Alternative(n, self.example(item)));
                }
                self.probes(item, deeper, out);
            }
        }
    }
}

/// `value` with the field at `path` set to `to`, making the containers on
/// the way (an optional object, an empty list) where the example has none.
fn set_at(value: &mut Value, path: &[Step], to: Value) {
    let Some((step, rest)) = path.split_first() else {
        *value = to;
        return;
    };
    match step {
        Step::Key(name, fill) => {
            if !value.is_object() {
                *value = json!({});
            }
            let field = value
                .as_object_mut()
                .expect("an object")
                .entry(name.clone())
                .or_insert_with(|| fill.clone());
            set_at(field, rest, to);
        }
        Step::Alternative(_, shape) => {
            *value = shape.clone();
            set_at(value, rest, to);
        }
        Step::First(fill) => {
            if !value.is_array() {
                *value = json!([]);
            }
            let items = value.as_array_mut().expect("an array");
            if items.is_empty() {
                items.push(fill.clone());
            }
            set_at(&mut items[0], rest, to);
        }
    }
}

fn path_text(path: &[Step]) -> String {
    path.iter()
        .map(|s| match s {
            Step::Key(k, _) => k.clone(),
            Step::First(_) => "[0]".into(),
            Step::Alternative(n, _) => format!("(shape {n})"),
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// Checks every answer against the document and gathers what is wrong, so
/// one run lists every problem.
struct Findings(Vec<String>);

impl Findings {
    fn documented(&mut self, op: &Value, what: &str, reply: &Reply) {
        if !documented(op, reply.status) {
            self.0.push(format!(
                "{what}: answered {} (undocumented): {}",
                reply.status, reply.body
            ));
        }
    }

    fn check(&mut self, ok: bool, message: impl FnOnce() -> String) {
        if !ok {
            self.0.push(message());
        }
    }
}

#[test]
fn every_answer_is_documented_and_every_stated_limit_is_the_enforced_one() {
    let api = Api::start(generous());
    let doc = Doc(api.document());
    let (mut shopper, shopper_id) = api.guest("Walker");
    let mut fixtures = Fixtures { shopper_id };
    let mut host = api.host_token();
    // A live show, so that a giveaway's entry rules that count within one
    // (present, bought in the show) meet their limits, not "no show".
    let show = api.json(
        "post",
        "/api/v1/shows",
        Some(&host),
        json!({ "title": "The walk" }),
    );
    assert_eq!(show.status, 201, "{}", show.body);
    let mut guests = 0;
    let mut findings = Findings(Vec::new());
    let ops = doc.operations();
    assert!(ops.len() > 60, "only {} operations", ops.len());

    // Every limit the document's own tables put on a field reached it.
    let schemas = &doc.0["components"]["schemas"];
    for (name, path) in vitrine_server::http::annotated_fields() {
        // A body in alternatives carries the field in each shape that has it.
        let body = doc.resolve(&schemas[name]);
        let shapes: Vec<&Value> = match body["oneOf"].as_array() {
            Some(shapes) => shapes
                .iter()
                .filter(|s| {
                    path.first()
                        .is_none_or(|f| doc.resolve(s)["properties"].get(f).is_some())
                })
                .collect(),
            None => vec![body],
        };
        findings.check(!shapes.is_empty(), || {
            format!("{name}.{}: no shape has it", path.join("."))
        });
        for shape in shapes {
            let mut at = shape;
            for step in &path {
                at = doc.resolve(at);
                at = if *step == "[]" {
                    &at["items"]
                } else {
                    &at["properties"][step]
                };
            }
            let at = doc.resolve(at);
            let keywords = [
                "maxLength",
                "minLength",
                "maximum",
                "minimum",
                "maxItems",
                "minItems",
                "maxProperties",
                "enum",
                "examples",
            ];
            findings.check(keywords.iter().any(|k| at.get(k).is_some()), || {
                format!(
                    "{name}.{}: neither a limit nor an example: {at}",
                    path.join(".")
                )
            });
        }
    }

    for (path, method, op) in &ops {
        let what = format!("{} {path}", method.to_uppercase());
        let call = doc.call(path, op, &fixtures);
        let send = |token: Option<&str>, body: Option<&Body>| {
            api.call(method, &call.url, token, &call.headers, body)
        };
        // A valid request: without a token, as a shopper, as the host.
        for (who, token) in [("no token", None), ("shopper", Some(shopper.as_str()))] {
            let reply = send(token, call.body.as_ref());
            findings.documented(op, &format!("{what} ({who})"), &reply);
        }
        let reply = send(Some(&host), call.body.as_ref());
        findings.documented(op, &format!("{what} (host)"), &reply);
        findings.check(reply.status < 500, || {
            format!(
                "{what}: a valid request failed: {} {}",
                reply.status, reply.body
            )
        });
        // Valid by the schema: not refused as invalid. (A TOML file's
        // validity is more than a schema can say.)
        if call.json_schema.is_some() || call.body.is_none() {
            findings.check(!matches!(reply.status, 400 | 422), || {
                format!(
                    "{what}: a request valid by the document was refused: {} {} (sent {:?} {:?})",
                    reply.status,
                    reply.body,
                    call.url,
                    call.body.as_ref().map(|b| &b.text)
                )
            });
        }

        if let Some(body) = &call.body {
            // Malformed, of the wrong type, and over any body limit.
            let malformed = Body {
                content_type: body.content_type.clone(),
                text: "{\"unclosed\": ".into(),
            };
            let reply = send(Some(&host), Some(&malformed));
            findings.documented(op, &format!("{what} (malformed body)"), &reply);
            if call.json_schema.is_some() {
                let untyped = Body {
                    content_type: "text/plain".into(),
                    text: body.text.clone(),
                };
                let reply = send(Some(&host), Some(&untyped));
                findings.documented(op, &format!("{what} (text/plain body)"), &reply);
                findings.check(reply.status == 415, || {
                    format!("{what}: a text/plain body answered {}", reply.status)
                });
            }
            // Just over the common limit: a body far over it may meet a
            // closed socket before the answer is read. Catalog routes take
            // more, so only their answer's being documented is checked.
            let huge = Body {
                content_type: body.content_type.clone(),
                text: format!(
                    "{{\"pad\": \"{}\"}}",
                    "x".repeat(vitrine_server::http::MAX_BODY_BYTES)
                ),
            };
            let reply = send(Some(&host), Some(&huge));
            findings.documented(op, &format!("{what} (oversized body)"), &reply);
            findings.check(
                path.starts_with("/api/v1/admin/") || reply.status == 413,
                || format!("{what}: a body over the limit answered {}", reply.status),
            );
        }

        // Each limit is probed by a newcomer where anyone may call (so a
        // cart or a question queue starts empty), else by the host.
        let mut prober = || {
            if documented(op, 403) {
                host.clone()
            } else {
                guests += 1;
                api.guest(&format!("Prober {guests}")).0
            }
        };
        // Each limit of the body: at it, not refused; one past, refused.
        if let (Some(schema), Some(body)) = (&call.json_schema, &call.body) {
            let base: Value = serde_json::from_str(&body.text).expect("JSON example");
            let mut probes = Vec::new();
            doc.probes(schema, Vec::new(), &mut probes);
            for probe in probes {
                let field = path_text(&probe.at);
                let prober = prober();
                let prober = prober.as_str();
                for (side, value, refused) in
                    [("at", &probe.within, false), ("past", &probe.beyond, true)]
                {
                    let mut sent = base.clone();
                    set_at(&mut sent, &probe.at, value.clone());
                    let reply = send(
                        Some(prober),
                        Some(&Body {
                            content_type: body.content_type.clone(),
                            text: sent.to_string(),
                        }),
                    );
                    let label = format!("{what} {field} {} ({side})", probe.what);
                    findings.documented(op, &label, &reply);
                    let was_refused = matches!(reply.status, 400 | 422);
                    findings.check(was_refused == refused, || {
                        format!(
                            "{label}: answered {} {} for {sent}",
                            reply.status, reply.body
                        )
                    });
                }
            }
        }
        // Each limit of a header parameter, with the valid request's body.
        for param in op["parameters"].as_array().into_iter().flatten() {
            if param["in"] != "header" {
                continue;
            }
            let name = param["name"].as_str().expect("a name");
            let mut probes = Vec::new();
            doc.probes(&param["schema"], Vec::new(), &mut probes);
            findings.check(!probes.is_empty(), || {
                format!("{what}: header {name} states no limit")
            });
            for probe in probes {
                let prober = prober();
                for (side, value, refused) in
                    [("at", &probe.within, false), ("past", &probe.beyond, true)]
                {
                    let value = value.as_str().expect("a header is text").to_owned();
                    let mut headers: Vec<(String, String)> = call
                        .headers
                        .iter()
                        .filter(|(n, _)| !n.eq_ignore_ascii_case(name))
                        .cloned()
                        .collect();
                    headers.push((name.to_owned(), value));
                    let reply = api.call_exact(
                        method,
                        &call.url,
                        Some(prober.as_str()),
                        &headers,
                        call.body.as_ref(),
                    );
                    let label = format!("{what} {name}: {} ({side})", probe.what);
                    findings.documented(op, &label, &reply);
                    findings.check(matches!(reply.status, 400 | 422) == refused, || {
                        format!("{label}: answered {} {}", reply.status, reply.body)
                    });
                }
            }
        }
        // Each limit of a query parameter, the same way.
        for param in op["parameters"].as_array().into_iter().flatten() {
            if param["in"] != "query" || param["name"] == "token" {
                continue;
            }
            let name = param["name"].as_str().expect("a name");
            let mut probes = Vec::new();
            doc.probes(&param["schema"], Vec::new(), &mut probes);
            for probe in probes {
                let prober = prober();
                let prober = prober.as_str();
                for (side, value, refused) in
                    [("at", &probe.within, false), ("past", &probe.beyond, true)]
                {
                    let value = match value {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    let url = format!("{path}?{name}={value}");
                    let reply = api.call(method, &url, Some(prober), &call.headers, None);
                    let label = format!("{what} ?{name} {} ({side})", probe.what);
                    findings.documented(op, &label, &reply);
                    findings.check(matches!(reply.status, 400 | 422) == refused, || {
                        format!("{label}: answered {} {}", reply.status, reply.body)
                    });
                }
            }
        }

        // Leave the state as the valid request leaves it (a probe may have
        // set a filter of one-letter words, say).
        if call.json_schema.is_some() {
            send(Some(&host), call.body.as_ref());
        }
        // Signing out ends a session: sign in again for the rest.
        if api
            .call("get", "/api/v1/rewards", Some(&host), &[], None)
            .status
            == 401
        {
            host = api.host_token();
        }
        if api
            .call("get", "/api/v1/rewards", Some(&shopper), &[], None)
            .status
            == 401
        {
            let (token, id) = api.guest("Walker again");
            shopper = token;
            fixtures = Fixtures { shopper_id: id };
        }
    }
    assert!(
        findings.0.is_empty(),
        "{} problems:\n{}",
        findings.0.len(),
        findings.0.join("\n")
    );
}

#[test]
fn rate_limited_answers_are_documented() {
    let api = Api::start(strict());
    let doc = Doc(api.document());
    // The guest takes the address's one sign-in; the host signs in the same
    // way on its own server below, so nothing here needs a second.
    let (shopper, shopper_id) = api.guest("Hasty");
    let fixtures = Fixtures { shopper_id };
    let mut findings = Findings(Vec::new());
    let mut limited = 0;
    for (path, method, op) in doc.operations() {
        let what = format!("{} {path}", method.to_uppercase());
        let call = doc.call(&path, &op, &fixtures);
        for (who, token) in [("no token", None), ("shopper", Some(shopper.as_str()))] {
            let reply = api.call(&method, &call.url, token, &call.headers, call.body.as_ref());
            limited += usize::from(reply.status == 429);
            findings.documented(&op, &format!("{what} ({who}, buckets empty)"), &reply);
        }
    }
    // The check means something only if the buckets did run dry.
    assert!(limited > 20, "only {limited} answers were 429");
    assert!(
        findings.0.is_empty(),
        "{} problems:\n{}",
        findings.0.len(),
        findings.0.join("\n")
    );
}
