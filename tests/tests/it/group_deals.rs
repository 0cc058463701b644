//! Group deals end to end: a host sets one over HTTP, shoppers start and
//! join a team over HTTP and from a real room (loopback UDP), every room
//! sees the places left fall, the team completes (three captured orders at
//! the team price), a lapsed team is voided, and every bad request is
//! refused with its code and changes nothing.

use serde_json::{Value, json};
use std::time::Duration;
use vitrine_server::clock::ManualClock;
use vitrine_shared::api::{GroupDealView, JoinedView, OrderList};
use vitrine_shared::protocol::{GroupDealRefusal, ShopRefusal};
use vitrine_shared::{DealId, PaymentMethod, Role, RoomCommand, TeamId};
use vitrine_tests::{
    Http, TestServer, guest, joined_as, joined_client, pump, step_until, stock_of,
};

const MUG: (&str, &str) = ("stoneware-mug", "stoneware-mug-sage");
const APPROVED: &str = "4242 4242 4242 4242";
const DECLINED: &str = "4000000000000002";
/// The mug is 16.00 EUR alone; 12.00 in a team.
const TEAM_PRICE: i64 = 1200;

fn create_deal(http: &Http, host: &str, body: Value) -> (u16, Value) {
    http.call("POST", "/api/v1/group-deals", Some(host), None, Some(body))
}

fn deal_body(team_size: i64) -> Value {
    json!({
        "sku": MUG.1, "team_size": team_size, "team_price_minor": TEAM_PRICE,
        "currency": "EUR", "window_secs": 3600, "stock_cap": 30,
    })
}

fn start(http: &Http, token: &str, deal: i64, key: &str, card: &str) -> (u16, Value) {
    http.call(
        "POST",
        &format!("/api/v1/group-deals/{deal}/teams"),
        Some(token),
        Some(key),
        Some(json!({ "card": card })),
    )
}

fn join(http: &Http, token: &str, team: i64, key: &str, card: &str) -> (u16, Value) {
    http.call(
        "POST",
        &format!("/api/v1/teams/{team}/join"),
        Some(token),
        Some(key),
        Some(json!({ "card": card })),
    )
}

fn deal(http: &Http, id: i64) -> GroupDealView {
    let (status, body) = http.call(
        "GET",
        &format!("/api/v1/group-deals/{id}"),
        None,
        None,
        None,
    );
    assert_eq!(status, 200, "{body}");
    serde_json::from_value(body).unwrap()
}

/// The shopper's group-deal orders: (status, total).
fn deal_orders(http: &Http, token: &str) -> Vec<(String, i64)> {
    let (status, body) = http.call("GET", "/api/v1/orders", Some(token), None, None);
    assert_eq!(status, 200, "{body}");
    serde_json::from_value::<OrderList>(body)
        .unwrap()
        .orders
        .into_iter()
        .filter(|o| o.source == "group_deal")
        .map(|o| (o.status, o.total.minor))
        .collect()
}

fn card(number: &str) -> PaymentMethod {
    PaymentMethod::new(number).unwrap()
}

const CAP: Duration = Duration::from_secs(15);

#[test]
fn a_team_of_three_fills_from_http_and_a_room_and_every_room_sees_the_places_left() {
    let server = TestServer::start();
    let http = Http::new(&server);
    let host = server.sign_in_as("host.deals", Role::Host);
    let mut watcher = joined_client(&server, "Watcher", "hall");
    let ben_session = server.api().sign_in("Ben").unwrap();
    let mut ben = joined_as(&server, &ben_session, "tiny");
    let before = stock_of(&http, MUG.0, MUG.1);

    let (status, created) = create_deal(&http, &host, deal_body(3));
    assert_eq!(status, 201, "{created}");
    let deal_id = created["id"].as_i64().unwrap();
    let id = DealId(deal_id);
    // Both rooms hear of it.
    let heard = step_until(CAP, || {
        pump(&mut [&mut watcher, &mut ben]);
        watcher.mirror().group_deals.contains_key(&id) && ben.mirror().group_deals.contains_key(&id)
    });
    assert!(heard, "every room heard of the deal");
    assert_eq!(
        watcher.mirror().group_deals[&id].team_price.minor,
        TEAM_PRICE
    );

    // Ada starts a team over HTTP: the rooms see two places left.
    let ada = guest(&http, "Ada");
    let (status, started) = start(&http, &ada, deal_id, "ada-1", APPROVED);
    assert_eq!(status, 201, "{started}");
    let started: JoinedView = serde_json::from_value(started).unwrap();
    let team = started.team.id;
    let places = |m: &vitrine_client::net::RoomMirror| {
        m.group_deals
            .get(&id)
            .and_then(|d| d.teams.iter().find(|t| t.id == team))
            .map(|t| t.places_left)
    };
    let seen = step_until(CAP, || {
        pump(&mut [&mut watcher, &mut ben]);
        places(watcher.mirror()) == Some(2)
    });
    assert!(seen, "the room saw the team with two places left");

    // Ben joins from his room with the room's command.
    ben.send_command(RoomCommand::JoinTeam {
        team,
        request_id: 7,
        payment: card(APPROVED),
    });
    let answered = step_until(CAP, || {
        pump(&mut [&mut watcher, &mut ben]);
        ben.mirror().team_answers.contains_key(&7) && places(watcher.mirror()) == Some(1)
    });
    assert!(answered, "Ben joined and the places left fell to one");
    let ben_team = ben.mirror().team_answers[&7].clone().unwrap();
    assert_eq!((ben_team.id, ben_team.places_left), (team, 1));
    // A repeat of the same command joins once.
    ben.send_command(RoomCommand::JoinTeam {
        team,
        request_id: 7,
        payment: card(APPROVED),
    });

    // Cy fills it over HTTP: everyone is charged the team price.
    let cy = guest(&http, "Cy");
    let (status, last) = join(&http, &cy, team.get(), "cy-1", APPROVED);
    assert_eq!(status, 201, "{last}");
    let done = step_until(CAP, || {
        pump(&mut [&mut watcher, &mut ben]);
        ben.mirror().teams_settled.contains_key(&team)
            && watcher.mirror().group_deals[&id].teams.is_empty()
    });
    assert!(done, "the team completed and left the rooms' lists");
    let (charged, order) = ben.mirror().teams_settled[&team];
    assert!(charged);
    assert_eq!(watcher.mirror().group_deals[&id].units_left, 27);
    let ben_http = Http::new(&server);
    for token in [&ada, &cy, &ben_session.token] {
        assert_eq!(
            deal_orders(&ben_http, token),
            vec![("paid".to_owned(), TEAM_PRICE)]
        );
    }
    assert!(ben.mirror().orders.contains_key(&order.unwrap()));
    let after = deal(&http, deal_id);
    assert_eq!(
        (after.sold, after.units_left, after.teams.len()),
        (3, 27, 0)
    );
    assert_eq!(stock_of(&http, MUG.0, MUG.1), before - 3);

    // Someone joining a room later learns the open deal after Welcome.
    let mut late = joined_client(&server, "Late", "hall");
    let told = step_until(CAP, || {
        pump(&mut [&mut late]);
        late.mirror().group_deals.contains_key(&id)
    });
    assert!(told, "a newcomer hears the open deals");
}

#[test]
fn a_team_that_does_not_fill_in_time_is_voided_and_its_members_are_told() {
    let time = ManualClock::starting_now();
    let clock = time.clock();
    let server = TestServer::start_with(move |c| c.clock = clock);
    let http = Http::new(&server);
    let host = server.sign_in_as("host.lapse", Role::Host);
    let session = server.api().sign_in("Dee").unwrap();
    let mut dee = joined_as(&server, &session, "hall");
    let before = stock_of(&http, MUG.0, MUG.1);
    let (_, created) = create_deal(&http, &host, deal_body(2));
    let id = DealId(created["id"].as_i64().unwrap());
    let heard = step_until(CAP, || {
        pump(&mut [&mut dee]);
        dee.mirror().group_deals.contains_key(&id)
    });
    assert!(heard);
    dee.send_command(RoomCommand::StartTeam {
        deal: id,
        request_id: 1,
        payment: card(APPROVED),
    });
    let joined = step_until(CAP, || {
        pump(&mut [&mut dee]);
        dee.mirror().team_answers.contains_key(&1)
    });
    assert!(joined);
    let team = dee.mirror().team_answers[&1].clone().unwrap().id;
    assert_eq!(stock_of(&http, MUG.0, MUG.1), before - 1);

    time.advance(Duration::from_secs(3600));
    let voided = step_until(CAP, || {
        pump(&mut [&mut dee]);
        dee.mirror().teams_settled.contains_key(&team)
            && !dee.mirror().group_deals.contains_key(&id)
    });
    assert!(
        voided,
        "Dee heard her team voided and the deal end: {:?} {:?} {:?}",
        dee.mirror().teams_settled,
        dee.mirror().group_deals.keys(),
        dee.disconnect_reason()
    );
    assert_eq!(dee.mirror().teams_settled[&team], (false, None));
    assert_eq!(stock_of(&http, MUG.0, MUG.1), before);
    assert!(
        deal_orders(&http, &session.token).is_empty(),
        "nobody charged"
    );
    // The provider's own record (the test gateway's journal): each group
    // authorization was voided, under its member's void key.
    let journal = std::fs::read_to_string(server.data_dir.join("test-gateway.journal")).unwrap();
    let lines: Vec<Vec<&str>> = journal.lines().map(|l| l.split('\t').collect()).collect();
    let held: Vec<(&str, &str)> = lines
        .iter()
        .filter_map(|f| match f.as_slice() {
            ["authorize", key, id, ..] => key.strip_prefix("group-authorize-").map(|o| (o, *id)),
            _ => None,
        })
        .collect();
    assert_eq!(held.len(), 1, "Dee's authorization: {journal}");
    for (order, id) in held {
        let void_key = format!("group-void-{order}");
        assert!(
            lines
                .iter()
                .any(|f| matches!(f.as_slice(), ["void", k, i, ..] if *k == void_key.as_str() && *i == id)),
            "{id} voided: {journal}"
        );
    }
}

#[test]
fn bad_group_deal_requests_are_refused_typed_and_change_nothing() {
    let server = TestServer::start();
    let http = Http::new(&server);
    let host = server.sign_in_as("host.bad", Role::Host);
    let shopper = guest(&http, "Eve");
    let before = stock_of(&http, MUG.0, MUG.1);
    let code =
        |(status, body): (u16, Value)| (status, body["code"].as_str().unwrap_or("").to_owned());

    assert_eq!(
        code(create_deal(&http, &shopper, deal_body(2))),
        (403, "forbidden".into())
    );
    for (field, value) in [
        ("team_size", json!(1)),
        ("team_size", json!(6)),
        ("team_price_minor", json!(1600)),
        ("team_price_minor", json!(0)),
        ("window_secs", json!(86_401)),
        ("stock_cap", json!(0)),
        ("currency", json!("USD")),
        ("sku", json!("Not A Sku!")),
    ] {
        let mut body = deal_body(2);
        body[field] = value.clone();
        assert_eq!(
            code(create_deal(&http, &host, body)),
            (400, "invalid_group_deal".into()),
            "{field} = {value}"
        );
    }
    let mut unknown = deal_body(2);
    unknown["sku"] = json!("no-such-mug");
    assert_eq!(
        code(create_deal(&http, &host, unknown)),
        (404, "unknown_sku".into())
    );
    let (status, body) = http.call("GET", "/api/v1/group-deals/9999", None, None, None);
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("group_deal_not_found"))
    );
    let (status, _) = http.call("GET", "/api/v1/group-deals/nope", None, None, None);
    assert_eq!(status, 404);

    let (_, created) = create_deal(&http, &host, deal_body(3));
    let deal_id = created["id"].as_i64().unwrap();
    let no_key = http.call(
        "POST",
        &format!("/api/v1/group-deals/{deal_id}/teams"),
        Some(&shopper),
        None,
        Some(json!({ "card": APPROVED })),
    );
    assert_eq!(code(no_key), (400, "idempotency_key_required".into()));
    assert_eq!(
        code(start(&http, &shopper, deal_id, "k0", " ")),
        (400, "invalid_card".into())
    );
    assert_eq!(
        code(start(&http, &shopper, 9999, "k1", APPROVED)),
        (404, "group_deal_not_found".into())
    );
    assert_eq!(
        code(start(&http, &shopper, deal_id, "k2", DECLINED)),
        (402, "payment_declined".into())
    );
    assert_eq!(
        code(join(&http, &shopper, 9999, "k3", APPROVED)),
        (404, "team_not_found".into())
    );
    assert!(
        deal(&http, deal_id).teams.is_empty(),
        "a declined start makes no team"
    );
    assert_eq!(stock_of(&http, MUG.0, MUG.1), before);

    let (status, started) = start(&http, &shopper, deal_id, "k4", APPROVED);
    assert_eq!(status, 201, "{started}");
    let team = started["team"]["id"].as_i64().unwrap();
    assert_eq!(
        code(join(&http, &shopper, team, "k5", APPROVED)),
        (409, "already_in_team".into())
    );
    // The same key for another request.
    assert_eq!(
        code(join(&http, &shopper, team, "k4", APPROVED)),
        (409, "idempotency_conflict".into())
    );
    let other = guest(&http, "Fay");
    assert_eq!(
        code(join(&http, &other, team, "f1", DECLINED)),
        (402, "payment_declined".into())
    );
    let after = deal(&http, deal_id);
    assert_eq!(
        (after.teams.len(), after.teams[0].members, after.units_left),
        (1, 1, 29)
    );
    assert_eq!(stock_of(&http, MUG.0, MUG.1), before - 1);

    // The same refusals from a room, typed.
    let session = server.api().sign_in("Gil").unwrap();
    let mut gil = joined_as(&server, &session, "hall");
    gil.send_command(RoomCommand::JoinTeam {
        team: TeamId(9999),
        request_id: 1,
        payment: card(APPROVED),
    });
    gil.send_command(RoomCommand::StartTeam {
        deal: DealId(deal_id),
        request_id: 2,
        payment: card(DECLINED),
    });
    gil.send_command(RoomCommand::StartTeam {
        deal: DealId(9999),
        request_id: 3,
        payment: card(APPROVED),
    });
    let answered = step_until(CAP, || {
        pump(&mut [&mut gil]);
        gil.mirror().team_answers.len() == 3
    });
    assert!(answered);
    let answers = &gil.mirror().team_answers;
    assert_eq!(answers[&1], Err(GroupDealRefusal::UnknownTeam));
    assert_eq!(
        answers[&2],
        Err(GroupDealRefusal::Shop(ShopRefusal::PaymentDeclined {
            reason: "card_declined".into()
        }))
    );
    assert_eq!(answers[&3], Err(GroupDealRefusal::UnknownDeal));
    let after = deal(&http, deal_id);
    assert_eq!((after.teams.len(), after.units_left), (1, 29));
    assert_eq!(stock_of(&http, MUG.0, MUG.1), before - 1);
}

#[test]
fn a_deal_until_the_show_ends_closes_when_the_show_ends_and_voids_its_open_teams() {
    let server = TestServer::start();
    let http = Http::new(&server);
    let host = server.sign_in_as("host.show", Role::Host);
    let session = server.api().sign_in("Flo").unwrap();
    let mut flo = joined_as(&server, &session, "hall");
    let before = stock_of(&http, MUG.0, MUG.1);
    let code =
        |(status, body): (u16, Value)| (status, body["code"].as_str().unwrap_or("").to_owned());
    let until_show = || {
        let mut body = deal_body(2);
        body.as_object_mut().unwrap().remove("window_secs");
        body["until_show_ends"] = json!(true);
        body
    };

    // No show live: refused, typed, nothing set.
    assert_eq!(
        code(create_deal(&http, &host, until_show())),
        (409, "no_show_live".into())
    );
    let (status, show) = http.call(
        "POST",
        "/api/v1/shows",
        Some(&host),
        None,
        Some(json!({ "title": "Mug night" })),
    );
    assert_eq!(status, 201, "{show}");
    // Exactly one of a window and "until the show ends".
    let mut both = until_show();
    both["window_secs"] = json!(3600);
    let mut neither = until_show();
    neither["until_show_ends"] = json!(false);
    for body in [both, neither] {
        assert_eq!(
            code(create_deal(&http, &host, body.clone())),
            (400, "invalid_group_deal".into()),
            "{body}"
        );
    }
    let (_, list) = http.call("GET", "/api/v1/group-deals", None, None, None);
    assert_eq!(list["deals"], json!([]), "nothing refused was set");

    let (status, created) = create_deal(&http, &host, until_show());
    assert_eq!(status, 201, "{created}");
    let created: GroupDealView = serde_json::from_value(created).unwrap();
    assert!(created.until_show_ends && created.open);
    assert_eq!(created.ends_at_ms - created.starts_at_ms, 24 * 3600 * 1000);
    let id = created.id;
    let heard = step_until(CAP, || {
        pump(&mut [&mut flo]);
        flo.mirror().group_deals.contains_key(&id)
    });
    assert!(heard, "the room heard of the deal");
    flo.send_command(RoomCommand::StartTeam {
        deal: id,
        request_id: 1,
        payment: card(APPROVED),
    });
    let joined = step_until(CAP, || {
        pump(&mut [&mut flo]);
        flo.mirror().team_answers.contains_key(&1)
    });
    assert!(joined);
    let team = flo.mirror().team_answers[&1].clone().unwrap().id;
    assert_eq!(stock_of(&http, MUG.0, MUG.1), before - 1);
    // The room's news names who started the team.
    let named = step_until(CAP, || {
        pump(&mut [&mut flo]);
        flo.mirror().group_deals[&id]
            .teams
            .iter()
            .any(|t| t.id == team && t.started_by.as_ref().is_some_and(|n| n.as_str() == "Flo"))
    });
    assert!(named, "the team reads as started by Flo");

    // The host ends the show: Flo's team is voided, the deal ends.
    let (status, body) = http.call("POST", "/api/v1/shows/current/end", Some(&host), None, None);
    assert!(status < 300, "{status} {body}");
    let voided = step_until(CAP, || {
        pump(&mut [&mut flo]);
        flo.mirror().teams_settled.contains_key(&team)
            && !flo.mirror().group_deals.contains_key(&id)
    });
    assert!(voided, "Flo heard her team voided and the deal end");
    assert_eq!(flo.mirror().teams_settled[&team], (false, None));
    let after = deal(&http, id.get());
    assert!(!after.open && after.teams.is_empty());
    assert_eq!((after.sold, after.units_left), (0, 30));
    assert_eq!(stock_of(&http, MUG.0, MUG.1), before);
    assert!(
        deal_orders(&http, &session.token).is_empty(),
        "nobody charged"
    );
    // A late start is refused: the deal is closed.
    let ada = guest(&http, "Ada");
    assert_eq!(
        code(start(&http, &ada, id.get(), "ada-late", APPROVED)),
        (409, "group_deal_closed".into())
    );
}
