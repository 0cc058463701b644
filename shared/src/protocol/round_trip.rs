//! Every message, arbitrary but valid, survives encode and decode; arbitrary
//! bytes never panic the decoder.

use super::*;
use crate::ids::{
    AccountId, GiveawayId, MemberSlot, OrderId, PartyId, PollId, QuestionId, Role, SaleId,
};
use crate::money::Money;
use crate::pose::{PoseDeltaQ, PoseNet, PoseQ, RoomBounds, TrackedPoseNet, XrPoseNet};
use crate::validated::{
    ChatText, CouponCode, DisplayName, PaymentMethod, ProductId, Reaction, RoomId, Sku,
};
use proptest::prelude::*;

fn finite() -> impl Strategy<Value = f32> {
    -1000.0f32..1000.0
}

fn tracked() -> impl Strategy<Value = TrackedPoseNet> {
    (
        prop::array::uniform3(finite()),
        prop::array::uniform4(-1.0f32..1.0),
    )
        .prop_map(|(position, rotation)| TrackedPoseNet { position, rotation })
}

fn pose() -> impl Strategy<Value = PoseNet> {
    let xr = (
        tracked(),
        prop::option::of(tracked()),
        prop::option::of(tracked()),
    )
        .prop_map(|(head, left_hand, right_hand)| XrPoseNet {
            head,
            left_hand,
            right_hand,
        });
    (
        prop::array::uniform3(finite()),
        finite(),
        prop::option::of(xr),
    )
        .prop_map(|(position, yaw, xr)| PoseNet { position, yaw, xr })
}

fn pose_q() -> impl Strategy<Value = PoseQ> {
    (prop::array::uniform3(any::<i16>()), 0u16..4096).prop_map(|(position, yaw)| PoseQ {
        position,
        yaw,
        xr: None,
    })
}

fn reaction() -> impl Strategy<Value = Reaction> {
    prop::sample::select(Reaction::ALL.to_vec())
}

fn chat() -> impl Strategy<Value = ChatText> {
    "[a-zA-Z0-9 ,.!?éü😀]{1,120}".prop_filter_map("valid chat", |s| ChatText::new(s).ok())
}

fn name() -> impl Strategy<Value = DisplayName> {
    "[a-zA-Z][a-zA-Z0-9 _]{0,30}".prop_filter_map("valid name", |s| DisplayName::new(s).ok())
}

fn member() -> impl Strategy<Value = MemberInfo> {
    (
        any::<u16>(),
        any::<u64>(),
        name(),
        prop::sample::select(Role::ALL.to_vec()),
    )
        .prop_map(|(slot, account, name, role)| MemberInfo {
            slot: MemberSlot(slot),
            account: AccountId(account),
            name,
            role,
        })
}

fn client_message() -> impl Strategy<Value = ClientMessage> {
    prop_oneof![
        (any::<u32>(), prop::option::of(any::<u32>()), pose()).prop_map(
            |(seq, ack_snapshot, pose)| ClientMessage::Input(InputMessage {
                seq,
                ack_snapshot,
                pose
            })
        ),
        chat().prop_map(|c| ClientMessage::Room(RoomCommand::Chat(c))),
        reaction().prop_map(|r| ClientMessage::Room(RoomCommand::React(r))),
        (any::<i64>(), any::<u8>(), any::<i64>(), any::<bool>()).prop_map(
            |(poll_id, option, id, vote)| ClientMessage::Room(if vote {
                RoomCommand::Vote {
                    poll_id: PollId(poll_id),
                    option,
                }
            } else {
                RoomCommand::Upvote {
                    question_id: QuestionId(id),
                }
            })
        ),
        chat().prop_map(|c| ClientMessage::Room(RoomCommand::Ask(c))),
        shared_cart_command().prop_map(|c| ClientMessage::Room(RoomCommand::SharedCart(c))),
        ("[a-z0-9-]{1,64}", any::<u8>(), ".{0,40}").prop_map(|(p, stars, text)| {
            ClientMessage::Room(RoomCommand::Review {
                product: ProductId::new(p).unwrap(),
                stars,
                text,
            })
        }),
        any::<i64>().prop_map(
            |giveaway_id| ClientMessage::Room(RoomCommand::EnterGiveaway {
                giveaway_id: GiveawayId(giveaway_id)
            })
        ),
        "[a-z0-9-]{1,64}".prop_map(|p| ClientMessage::Room(RoomCommand::Inspect {
            product: ProductId::new(p).unwrap()
        })),
        ("[a-z0-9-]{1,64}", prop::option::of(any::<u32>())).prop_map(|(p, held)| {
            let product = ProductId::new(p).unwrap();
            ClientMessage::Room(match held {
                Some(held_ms) => RoomCommand::PutDownProduct { product, held_ms },
                None => RoomCommand::ViewProduct { product },
            })
        }),
        // Infinities too: the server refuses them, but they must cross
        // the wire intact (NaN, which equals nothing, has its own test).
        (
            product(),
            any::<u32>(),
            prop::array::uniform3(prop_oneof![
                finite(),
                Just(f32::INFINITY),
                Just(f32::NEG_INFINITY)
            ])
        )
            .prop_map(|(product, held_ms, at)| ClientMessage::Room(
                RoomCommand::DropProduct {
                    product,
                    held_ms,
                    at
                }
            )),
        product().prop_map(|product| ClientMessage::Room(RoomCommand::TakeFromHand { product })),
        (
            prop::array::uniform3(prop_oneof![
                finite(),
                Just(f32::INFINITY),
                Just(f32::NEG_INFINITY)
            ]),
            prop_oneof![finite(), Just(f32::INFINITY)],
        )
            .prop_map(|(to, yaw)| ClientMessage::Room(RoomCommand::Teleport { to, yaw })),
        (any::<i64>(), any::<u16>()).prop_map(|(sale_id, quantity)| {
            ClientMessage::Room(RoomCommand::ClaimFlashSale {
                sale_id: SaleId(sale_id),
                quantity,
            })
        }),
        (sku(), any::<u16>(), any::<bool>()).prop_map(|(sku, quantity, add)| {
            ClientMessage::Room(if add {
                RoomCommand::AddToCart { sku, quantity }
            } else {
                RoomCommand::SetCartQuantity { sku, quantity }
            })
        }),
        (
            any::<u32>(),
            prop::option::of((sku(), any::<u16>())),
            prop::option::of("[A-Z0-9-]{3,32}"),
            "[0-9 ]{0,20}[0-9]",
        )
            .prop_map(|(request_id, buy_now, coupon, card)| {
                ClientMessage::Room(RoomCommand::Checkout(CheckoutCommand {
                    request_id,
                    items: match buy_now {
                        Some((sku, quantity)) => Purchase::BuyNow { sku, quantity },
                        None => Purchase::Cart,
                    },
                    coupon: coupon.map(|c| CouponCode::new(c).unwrap()),
                    payment: PaymentMethod::new(card).unwrap(),
                }))
            }),
        (
            any::<i64>(),
            any::<u32>(),
            "[0-9 ]{0,20}[0-9]",
            any::<bool>()
        )
            .prop_map(|(id, request_id, card, start)| {
                let payment = PaymentMethod::new(card).unwrap();
                ClientMessage::Room(if start {
                    RoomCommand::StartTeam {
                        deal: crate::ids::DealId(id),
                        request_id,
                        payment,
                    }
                } else {
                    RoomCommand::JoinTeam {
                        team: crate::ids::TeamId(id),
                        request_id,
                        payment,
                    }
                })
            }),
        party_command().prop_map(|c| ClientMessage::Room(RoomCommand::Party(c))),
    ]
}

fn party_command() -> impl Strategy<Value = PartyCommand> {
    prop_oneof![
        any::<u64>().prop_map(|a| PartyCommand::Invite {
            account: AccountId(a)
        }),
        any::<u64>().prop_map(|p| PartyCommand::Accept { party: PartyId(p) }),
        any::<u64>().prop_map(|p| PartyCommand::Decline { party: PartyId(p) }),
        Just(PartyCommand::Leave),
        any::<u64>().prop_map(|a| PartyCommand::Kick {
            account: AccountId(a)
        }),
        any::<u64>().prop_map(|a| PartyCommand::Promote {
            account: AccountId(a)
        }),
        chat().prop_map(PartyCommand::Chat),
        product().prop_map(|product| PartyCommand::Share { product }),
    ]
}

fn room_id() -> impl Strategy<Value = RoomId> {
    "[a-z0-9-]{1,40}".prop_map(|r| RoomId::new(r).unwrap())
}

fn party_event() -> impl Strategy<Value = PartyEventNet> {
    let party_member = (
        any::<u64>(),
        name(),
        prop::option::of((room_id(), ".{0,40}")),
        0u8..8,
    )
        .prop_map(|(account, name, room, colour)| PartyMemberNet {
            account: AccountId(account),
            name,
            room_name: room.as_ref().map(|(_, n)| n.clone()),
            room: room.map(|(r, _)| r),
            colour,
        });
    let invitee = (any::<u64>(), name()).prop_map(|(account, name)| PartyInviteeNet {
        account: AccountId(account),
        name,
    });
    let body = prop_oneof![
        chat().prop_map(PartyLineBody::Said),
        (product(), room_id()).prop_map(|(product, room)| PartyLineBody::Shared { product, room }),
        (room_id(), name(), any::<u32>(), any::<u32>()).prop_map(|(room, n, free, needed)| {
            PartyLineBody::RoomTooSmall {
                room,
                room_name: n.to_string(),
                free,
                needed,
            }
        }),
    ];
    let refusal = prop_oneof![
        Just(PartyRefusal::InviteSelf),
        Just(PartyRefusal::PartyFull),
        Just(PartyRefusal::UnknownInvite),
        Just(PartyRefusal::NotLeader),
        any::<u32>().prop_map(|retry_after_ms| PartyRefusal::TooFast { retry_after_ms }),
    ];
    let kind = prop::sample::select(vec![
        PartyCommandKind::Invite,
        PartyCommandKind::Accept,
        PartyCommandKind::Decline,
        PartyCommandKind::Leave,
        PartyCommandKind::Kick,
        PartyCommandKind::Promote,
        PartyCommandKind::Chat,
        PartyCommandKind::Share,
    ]);
    let exit = prop::sample::select(vec![
        PartyExit::Left,
        PartyExit::Kicked,
        PartyExit::Dissolved,
        PartyExit::TimedOut,
    ]);
    prop_oneof![
        (any::<u64>(), any::<u64>(), name(), 1u8..8, any::<u32>()).prop_map(
            |(party, by, by_name, members, expires_in_ms)| PartyEventNet::Invited {
                party: PartyId(party),
                by: AccountId(by),
                by_name,
                members,
                expires_in_ms,
            }
        ),
        any::<u64>().prop_map(|p| PartyEventNet::InviteGone { party: PartyId(p) }),
        (any::<u64>(), name()).prop_map(|(a, name)| PartyEventNet::InviteDeclined {
            account: AccountId(a),
            name
        }),
        (
            any::<u64>(),
            any::<u64>(),
            prop::collection::vec(party_member, 1..8),
            prop::collection::vec(invitee, 0..8)
        )
            .prop_map(
                |(id, leader, members, invited)| PartyEventNet::State(PartyNet {
                    id: PartyId(id),
                    leader: AccountId(leader),
                    members,
                    invited,
                })
            ),
        (any::<u64>(), exit).prop_map(|(p, why)| PartyEventNet::Exited {
            party: PartyId(p),
            why
        }),
        (any::<u64>(), prop::option::of((any::<u64>(), name())), body).prop_map(
            |(seq, from, body)| PartyEventNet::Line(PartyLine {
                seq,
                from: from.map(|(a, n)| (AccountId(a), n)),
                body,
            })
        ),
        (any::<u64>(), name(), product(), room_id()).prop_map(|(by, name, product, room)| {
            PartyEventNet::Shared {
                by: AccountId(by),
                name,
                product,
                room,
            }
        }),
        (any::<u64>(), room_id(), name(), any::<bool>()).prop_map(
            |(leader, room, n, seat_for_you)| PartyEventNet::FollowOffer {
                leader: AccountId(leader),
                room,
                room_name: n.to_string(),
                seat_for_you,
            }
        ),
        (kind, refusal).prop_map(|(command, refusal)| PartyEventNet::Refused { command, refusal }),
    ]
}

fn team() -> impl Strategy<Value = TeamNet> {
    (
        any::<i64>(),
        any::<u8>(),
        any::<u8>(),
        prop::option::of(name()),
    )
        .prop_map(|(id, members, places_left, started_by)| TeamNet {
            id: crate::ids::TeamId(id),
            members,
            places_left,
            started_by,
        })
}

fn group_deal() -> impl Strategy<Value = GroupDealNet> {
    (
        any::<i64>(),
        sku(),
        2u8..=5,
        money(),
        any::<i64>(),
        prop::collection::vec(team(), 0..4),
    )
        .prop_map(
            |(id, sku, team_size, team_price, ends_at_ms, teams)| GroupDealNet {
                id: crate::ids::DealId(id),
                product: ProductId::new("stoneware-mug").unwrap(),
                sku,
                team_size,
                team_price,
                regular_price: Money::new(1600, crate::Currency::EUR),
                units_left: ends_at_ms.rem_euclid(1000),
                ends_at_ms,
                open_teams: teams.len() as u32 + (id.rem_euclid(300) as u32),
                teams,
            },
        )
}

/// Group-deal news, each kind.
fn group_deal_news() -> impl Strategy<Value = ServerMessage> {
    prop_oneof![
        prop::collection::vec(group_deal(), 0..3).prop_map(GroupDealEventNet::Open),
        group_deal().prop_map(GroupDealEventNet::Deal),
        any::<i64>().prop_map(|deal| GroupDealEventNet::Ended {
            deal: crate::ids::DealId(deal)
        }),
        (any::<u32>(), any::<i64>(), team(), any::<i64>(), money()).prop_map(
            |(request_id, deal, team, order, price)| GroupDealEventNet::Joined {
                request_id,
                deal: crate::ids::DealId(deal),
                team,
                order_id: OrderId(order),
                price,
            }
        ),
        (any::<u32>(), 0u8..10, ".{0,20}").prop_map(|(request_id, which, reason)| {
            let reason = match which {
                0 => GroupDealRefusal::UnknownDeal,
                1 => GroupDealRefusal::DealClosed,
                2 => GroupDealRefusal::UnknownTeam,
                3 => GroupDealRefusal::TeamFull,
                4 => GroupDealRefusal::AlreadyInTeam,
                5 => GroupDealRefusal::SoldOut,
                6 => GroupDealRefusal::Shop(ShopRefusal::PaymentDeclined { reason }),
                8 => GroupDealRefusal::AlreadyInOpenTeam,
                9 => GroupDealRefusal::TooManyOpenTeams,
                _ => GroupDealRefusal::Shop(ShopRefusal::NotEnoughStock { available: 0 }),
            };
            GroupDealEventNet::JoinFailed { request_id, reason }
        }),
        (any::<i64>(), any::<i64>(), any::<i64>(), 0..3u8).prop_map(|(deal, team, order, how)| {
            let (deal, team) = (crate::ids::DealId(deal), crate::ids::TeamId(team));
            match how {
                0 => GroupDealEventNet::TeamCompleted {
                    deal,
                    team,
                    order_id: OrderId(order),
                },
                1 => GroupDealEventNet::TeamVoided { deal, team },
                _ => GroupDealEventNet::TeamFailed { deal, team },
            }
        }),
    ]
    .prop_map(ServerMessage::GroupDeals)
}

fn product() -> impl Strategy<Value = ProductId> {
    "[a-z0-9-]{1,64}".prop_map(|p| ProductId::new(p).unwrap())
}

fn held_product() -> impl Strategy<Value = HeldProductNet> {
    (
        product(),
        any::<u16>(),
        prop::array::uniform3(finite()),
        any::<bool>(),
    )
        .prop_map(|(product, slot, at, held)| HeldProductNet {
            product,
            by: held.then_some(MemberSlot(slot)),
            dropped_at: (!held).then_some(at),
        })
}

fn sku() -> impl Strategy<Value = Sku> {
    "[a-z0-9-]{1,64}".prop_map(|s| Sku::new(s).unwrap())
}

fn money() -> impl Strategy<Value = Money> {
    any::<i64>().prop_map(|minor| Money::new(minor, crate::Currency::EUR))
}

fn order() -> impl Strategy<Value = OrderNet> {
    (
        any::<i64>(),
        prop::sample::select(OrderStatus::ALL.to_vec()),
        money(),
        prop::collection::vec((sku(), any::<i64>(), money()), 0..4),
    )
        .prop_map(|(id, status, total, lines)| OrderNet {
            id: OrderId(id),
            status,
            total,
            discount: Money::new(0, crate::Currency::EUR),
            coupon: CouponCode::new("LIVE10").ok(),
            lines: lines
                .into_iter()
                .map(|(sku, quantity, unit_price)| OrderLineNet {
                    sku,
                    quantity,
                    unit_price,
                })
                .collect(),
        })
}

fn shared_cart_command() -> impl Strategy<Value = SharedCartCommand> {
    prop_oneof![
        (sku(), any::<u16>()).prop_map(|(sku, quantity)| SharedCartCommand::Add { sku, quantity }),
        (any::<i64>(), any::<u16>()).prop_map(|(line, quantity)| {
            SharedCartCommand::SetQuantity {
                line: SharedLineId(line),
                quantity,
            }
        }),
        any::<i64>().prop_map(|line| SharedCartCommand::MarkMine {
            line: SharedLineId(line)
        }),
        (any::<u32>(), any::<bool>(), any::<i64>()).prop_map(|(request_id, mine, minor)| {
            SharedCartCommand::Checkout(SharedCheckoutCommand {
                request_id,
                pays_for: if mine {
                    SharedPayment::Mine
                } else {
                    SharedPayment::Everyone
                },
                payment: PaymentMethod::new("4242424242424242").unwrap(),
                shown: Money::new(minor, crate::Currency::EUR),
            })
        }),
    ]
}

fn shared_cart() -> impl Strategy<Value = SharedCartNet> {
    (
        any::<u64>(),
        prop::collection::vec(
            (
                any::<i64>(),
                sku(),
                0i64..1_000_000,
                1i64..100,
                any::<i64>(),
                any::<u64>(),
                any::<u64>(),
                name(),
            ),
            0..4,
        ),
    )
        .prop_map(|(group, lines)| {
            let lines = lines
                .into_iter()
                .map(
                    |(id, sku, minor, quantity, held, adder, payer, who)| SharedCartLineNet {
                        line: SharedLineId(id),
                        sku,
                        product: ProductId::new("glow-serum").unwrap(),
                        name: "Glow Serum".into(),
                        unit_price: Money::new(minor, crate::Currency::EUR),
                        quantity,
                        held_until_ms: held,
                        added_by: AccountId(adder),
                        added_by_name: who.clone(),
                        payer: AccountId(payer),
                        payer_name: who,
                    },
                )
                .collect();
            SharedCartNet::new(CartGroupId(group), SharedCartChange::Restored, lines)
        })
}

fn server_message() -> impl Strategy<Value = ServerMessage> {
    let full = (any::<u16>(), pose_q()).prop_map(|(s, pose)| AvatarFull {
        slot: MemberSlot(s),
        pose,
    });
    let moved = prop::collection::btree_map(
        any::<u16>(),
        (any::<i16>(), any::<i16>(), any::<i16>()),
        0..40,
    )
    .prop_map(|deltas| {
        let mut moved = MovedAvatars::default();
        for (slot, (x, z, yaw)) in deltas {
            moved
                .push(MemberSlot(slot), PoseDeltaQ { x, z, yaw })
                .unwrap();
        }
        moved
    });
    let line = || {
        (any::<u16>(), name(), chat(), any::<u64>()).prop_map(|(s, name, text, seq)| ChatLine {
            from: MemberSlot(s),
            name,
            text,
            seq,
        })
    };
    let tracked = (any::<[i16; 3]>(), any::<[i16; 4]>())
        .prop_map(|(position, rotation)| crate::pose::TrackedDeltaQ { position, rotation });
    let moved_xr = prop::collection::vec(
        (
            any::<u16>(),
            any::<(i16, i16, i16)>(),
            tracked.clone(),
            prop::option::of(tracked.clone()),
            prop::option::of(tracked),
        )
            .prop_map(|(slot, (x, z, yaw), head, left_hand, right_hand)| {
                super::AvatarMovedXr {
                    slot: MemberSlot(slot),
                    delta: crate::pose::XrDeltaQ {
                        body: crate::pose::PoseDeltaQ { x, z, yaw },
                        head,
                        left_hand,
                        right_hand,
                    },
                }
            }),
        0..8,
    );
    prop_oneof![
        (
            any::<u32>(),
            prop::option::of(any::<u32>()),
            prop::collection::vec(full, 0..40),
            moved,
            moved_xr,
        )
            .prop_map(|(tick, baseline, full, moved, moved_xr)| {
                ServerMessage::Snapshot(Snapshot {
                    tick,
                    baseline,
                    full,
                    moved,
                    moved_xr,
                })
            }),
        member().prop_map(|m| ServerMessage::Room(RoomEvent::MemberJoined(m))),
        any::<u16>().prop_map(|s| ServerMessage::Room(RoomEvent::MemberLeft {
            slot: MemberSlot(s)
        })),
        line().prop_map(|l| ServerMessage::Room(RoomEvent::Chat(l))),
        (
            prop::collection::vec((reaction(), any::<u32>()), 0..5),
            prop::collection::vec((any::<u16>(), reaction()), 0..16)
        )
            .prop_map(|(counts, from)| ServerMessage::Room(RoomEvent::Reactions(
                ReactionBurst {
                    counts,
                    from: from.into_iter().map(|(s, r)| (MemberSlot(s), r)).collect(),
                }
            ))),
        (
            any::<i64>(),
            prop::collection::vec(any::<u32>(), 2..6),
            any::<bool>()
        )
            .prop_map(|(poll_id, counts, closed)| ServerMessage::Engagement(
                EngagementEventNet::PollResults {
                    poll_id: PollId(poll_id),
                    counts,
                    closed
                }
            )),
        (any::<i64>(), name(), chat(), any::<u32>()).prop_map(|(id, name, text, votes)| {
            ServerMessage::Engagement(EngagementEventNet::QuestionAsked(QuestionNet {
                id: QuestionId(id),
                name,
                text,
                votes,
                answered: false,
            }))
        }),
        (any::<i64>(), any::<u32>(), name(), "[0-9a-f]{64}").prop_map(
            |(giveaway_id, draw, winner, seed)| {
                ServerMessage::Engagement(EngagementEventNet::GiveawayDrawn {
                    giveaway_id: GiveawayId(giveaway_id),
                    draw,
                    winner,
                    seed,
                })
            }
        ),
        (any::<i64>(), any::<i64>()).prop_map(|(change, balance)| {
            ServerMessage::Engagement(EngagementEventNet::Points {
                change,
                balance,
                reason: "watch".into(),
            })
        }),
        (
            prop::collection::vec(member(), 0..5),
            prop::collection::vec(line(), 0..5),
            prop::collection::vec(held_product(), 0..5),
        )
            .prop_map(|(members, recent_chat, products)| ServerMessage::Room(
                RoomEvent::Welcome {
                    room: RoomId::new("main-stage").unwrap(),
                    room_name: "Main stage".into(),
                    you: MemberSlot(3),
                    spawn: Box::new(PoseNet::at([1.0, 0.0, -2.0], 0.5)),
                    bounds: RoomBounds::centered(30.0, 20.0, 5.0),
                    members,
                    recent_chat,
                    flash_sales: vec![],
                    pinned_coupon: None,
                    products,
                }
            )),
        any::<bool>().prop_map(|live| ServerMessage::Room(RoomEvent::Stream(StreamNet {
            srt: Some("srt://10.0.0.1:9001".into()),
            hls: Some("http://10.0.0.1:8080/hls/live.m3u8".into()),
            live,
        }))),
        (product(), any::<u16>()).prop_map(|(product, slot)| ServerMessage::Room(
            RoomEvent::ProductHeld {
                product,
                by: MemberSlot(slot)
            }
        )),
        (product(), prop::array::uniform3(finite())).prop_map(|(product, at)| {
            ServerMessage::Room(RoomEvent::ProductDropped { product, at })
        }),
        product().prop_map(|product| ServerMessage::Room(RoomEvent::ProductReturned { product })),
        (product(), any::<u16>(), any::<u16>()).prop_map(|(product, from, to)| {
            ServerMessage::Room(RoomEvent::ProductPassed {
                product,
                from: MemberSlot(from),
                to: MemberSlot(to),
            })
        }),
        (
            prop::sample::select(vec![CommandKind::Pose, CommandKind::Inspect]),
            prop_oneof![
                Just(RejectReason::OutOfReach),
                Just(RejectReason::InvalidPosition),
                any::<u32>().prop_map(|ms| RejectReason::RateLimited { retry_after_ms: ms }),
            ],
        )
            .prop_map(|(command, reason)| ServerMessage::Rejected(Rejection { command, reason })),
        any::<u32>().prop_map(|ms| ServerMessage::Rejected(Rejection {
            command: CommandKind::Chat,
            reason: RejectReason::RateLimited { retry_after_ms: ms }
        })),
        (
            any::<u16>(),
            prop::sample::select(vec![
                RejectReason::NotHolding,
                RejectReason::HandsFull,
                RejectReason::InvalidPosition,
                RejectReason::OutOfReach,
            ])
        )
            .prop_map(|(slot, reason)| ServerMessage::Rejected(Rejection {
                command: CommandKind::Inspect,
                reason: if slot % 4 == 0 {
                    RejectReason::ProductHeld {
                        by: MemberSlot(slot),
                    }
                } else {
                    reason
                },
            })),
        ".{0,40}".prop_map(|reason| ServerMessage::ShuttingDown { reason }),
        (any::<i64>(), any::<i64>(), 0i64..1_000_000).prop_map(|(id, starts, left)| {
            ServerMessage::Commerce(CommerceEventNet::SaleAnnounced(FlashSaleNet {
                id: SaleId(id),
                product: ProductId::new("glow-serum").unwrap(),
                sku: Sku::new("glow-serum-30ml").unwrap(),
                price: Money::new(1990, crate::Currency::EUR),
                quantity: left + 1,
                units_left: left,
                per_buyer_limit: 2,
                starts_at_ms: starts,
                ends_at_ms: starts.saturating_add(60_000),
            }))
        }),
        (any::<i64>(), any::<i64>()).prop_map(|(sale_id, units_left)| {
            ServerMessage::Commerce(CommerceEventNet::UnitsLeft {
                sale_id: SaleId(sale_id),
                units_left,
            })
        }),
        (sku(), money(), any::<i64>(), any::<i64>()).prop_map(
            |(sku, unit_price, quantity, held)| {
                ServerMessage::Commerce(CommerceEventNet::Cart(CartNet {
                    change: CartChange::Updated,
                    lines: vec![CartLineNet {
                        sku,
                        product: ProductId::new("glow-serum").unwrap(),
                        name: "Glow Serum".into(),
                        unit_price,
                        quantity,
                        held_until_ms: held,
                    }],
                }))
            }
        ),
        (any::<u32>(), order()).prop_map(|(request_id, order)| {
            ServerMessage::Commerce(CommerceEventNet::CheckoutDone { request_id, order })
        }),
        order().prop_map(|o| ServerMessage::Commerce(CommerceEventNet::Order(o))),
        prop::collection::vec(order(), 0..4)
            .prop_map(|o| ServerMessage::Commerce(CommerceEventNet::RecentOrders(o))),
        (any::<u32>(), money()).prop_map(|(request_id, min)| {
            ServerMessage::Commerce(CommerceEventNet::CheckoutFailed {
                request_id,
                reason: ShopRefusal::CouponMinimum { min },
            })
        }),
        (1u8..=100, money(), any::<i64>()).prop_map(|(pct, min_order, ends_at_ms)| {
            ServerMessage::Commerce(CommerceEventNet::CouponPinned(Some(CouponNet {
                code: CouponCode::new("LIVE10").unwrap(),
                discount: DiscountNet::Percent(pct),
                min_order,
                ends_at_ms,
                remaining: Some(3),
            })))
        }),
        shared_cart().prop_map(|cart| ServerMessage::Commerce(CommerceEventNet::SharedCart(cart))),
        (
            "[a-z0-9-]{1,64}",
            1u8..=5,
            prop::option::of(prop::sample::select(vec![
                ReviewRefusal::NotBought,
                ReviewRefusal::NotDelivered,
                ReviewRefusal::AlreadyReviewed,
            ]))
        )
            .prop_map(|(p, stars, refused)| {
                ServerMessage::Commerce(CommerceEventNet::Reviewed {
                    product: ProductId::new(p).unwrap(),
                    stars,
                    refused,
                })
            }),
        prop::sample::select(vec![
            ShopRefusal::NotGroupMember,
            ShopRefusal::UnknownLine,
            ShopRefusal::PayerNotInGroup,
            ShopRefusal::NothingMarkedYours,
            ShopRefusal::CartFull,
            ShopRefusal::CartChanged,
            ShopRefusal::NotYourMark,
            ShopRefusal::CouponNotYours,
        ])
        .prop_map(|why| ServerMessage::Rejected(Rejection {
            command: CommandKind::SharedCart,
            reason: RejectReason::Shop(why),
        })),
        (any::<i64>(), 0i64..100).prop_map(|(limit, remaining)| ServerMessage::Rejected(
            Rejection {
                command: CommandKind::ClaimFlashSale,
                reason: RejectReason::Claim(ClaimRefusal::LimitReached { limit, remaining }),
            }
        )),
        group_deal_news(),
        prop::collection::vec(friend(), 0..20)
            .prop_map(|list| ServerMessage::Friends(FriendEventNet::List(list))),
        (any::<u64>(), prop::option::of(presence())).prop_map(|(account, presence)| {
            ServerMessage::Friends(FriendEventNet::Presence {
                account: AccountId(account),
                presence,
            })
        }),
        (any::<u64>(), name()).prop_map(|(account, name)| ServerMessage::Friends(
            FriendEventNet::RequestArrived {
                account: AccountId(account),
                name,
            }
        )),
        friend().prop_map(|f| ServerMessage::Friends(FriendEventNet::Added(f))),
        any::<u64>().prop_map(|account| ServerMessage::Friends(FriendEventNet::Removed {
            account: AccountId(account),
        })),
        party_event().prop_map(ServerMessage::Party),
    ]
}

fn presence() -> impl Strategy<Value = PresenceNet> {
    ("[a-z0-9-]{1,16}", ".{0,40}", prop::option::of(".{0,80}")).prop_map(
        |(room, room_name, show)| PresenceNet {
            room: RoomId::new(room).unwrap(),
            room_name,
            show,
        },
    )
}

fn friend() -> impl Strategy<Value = FriendNet> {
    (any::<u64>(), name(), prop::option::of(presence())).prop_map(|(account, name, presence)| {
        FriendNet {
            account: AccountId(account),
            name,
            presence,
        }
    })
}

proptest! {
    #[test]
    fn client_messages_round_trip(msg in client_message()) {
        let bytes = encode(&msg).unwrap();
        prop_assert_eq!(decode::<ClientMessage>(&bytes), Ok(msg));
    }

    #[test]
    fn server_messages_round_trip(msg in server_message()) {
        let bytes = encode(&msg).unwrap();
        prop_assert_eq!(decode::<ServerMessage>(&bytes), Ok(msg));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        // Either outcome is fine; a panic fails the test. Whatever
        // decodes must be a message that encodes and decodes again.
        if let Ok(msg) = decode::<ClientMessage>(&bytes) {
            prop_assert!(decode::<ClientMessage>(&encode(&msg).unwrap()).is_ok());
        }
        if let Ok(msg) = decode::<ServerMessage>(&bytes) {
            prop_assert!(decode::<ServerMessage>(&encode(&msg).unwrap()).is_ok());
        }
    }

    #[test]
    fn truncated_messages_are_errors(msg in client_message(), cut in 1usize..64) {
        let bytes = encode(&msg).unwrap();
        let cut = cut.min(bytes.len());
        prop_assert!(decode::<ClientMessage>(&bytes[..bytes.len() - cut]).is_err());
    }
}
