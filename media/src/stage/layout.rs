//! Where each live publisher goes on the stage: a pure function of the
//! layout the host chose, who is in the big slot and who is live, so the
//! console, the tests and the compositor agree on one answer.

/// The arrangements the host switches between.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layout {
    /// The big slot alone, filling the stage.
    #[default]
    Solo,
    /// The big slot on the left, the next live publisher on the right.
    SideBySide,
    /// The big slot fills the stage; the others in small tiles, bottom right.
    PictureInPicture,
    /// Everyone live in equal cells, the big slot first.
    Grid,
}

impl Layout {
    pub const ALL: [Layout; 4] = [
        Layout::Solo,
        Layout::SideBySide,
        Layout::PictureInPicture,
        Layout::Grid,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Layout::Solo => "solo",
            Layout::SideBySide => "side_by_side",
            Layout::PictureInPicture => "picture_in_picture",
            Layout::Grid => "grid",
        }
    }
}

impl std::str::FromStr for Layout {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Layout::ALL
            .into_iter()
            .find(|l| l.as_str() == s)
            .ok_or_else(|| {
                format!("unknown layout `{s}` (solo, side_by_side, picture_in_picture or grid)")
            })
    }
}

/// A rectangle on the stage, in pixels. The picture keeps its shape inside
/// it (the compositor letterboxes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    pub x: i32,
    pub y: i32,
    pub width: i32,
    pub height: i32,
}

/// One publisher placed: its seat, its rectangle, and its depth (tiles over
/// the big picture).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placed {
    pub seat: usize,
    pub rect: Rect,
    pub z: u32,
}

/// The layout actually shown: what the host chose, or solo while only one
/// publisher is live (a co-host who drops leaves the host alone on the
/// stage; when they return, the chosen layout comes back).
pub fn shown(layout: Layout, live: usize) -> Layout {
    if live <= 1 { Layout::Solo } else { layout }
}

/// The big slot actually shown: the chosen one while it is live, else the
/// first live seat (the host before co-hosts).
pub fn big_shown(big: Option<usize>, live: &[usize]) -> Option<usize> {
    big.filter(|b| live.contains(b))
        .or_else(|| live.iter().copied().min())
}

/// Places every live seat on a `width` x `height` stage. Seats not placed
/// are hidden. `live` may be in any order; the big slot comes first, then
/// the others by seat.
pub fn arrange(
    layout: Layout,
    big: Option<usize>,
    live: &[usize],
    width: u32,
    height: u32,
) -> Vec<Placed> {
    let (w, h) = (width as i32, height as i32);
    let Some(first) = big_shown(big, live) else {
        return Vec::new();
    };
    let mut order = vec![first];
    let mut rest: Vec<usize> = live.iter().copied().filter(|&s| s != first).collect();
    rest.sort_unstable();
    rest.dedup();
    order.extend(rest);
    let full = Rect {
        x: 0,
        y: 0,
        width: w,
        height: h,
    };
    let cells = |columns: i32, rows: i32, count: usize| -> Vec<Rect> {
        let (cw, ch) = (w / columns, h / rows);
        (0..count as i32)
            .map(|i| Rect {
                x: (i % columns) * cw,
                y: (i / columns) * ch,
                width: cw,
                height: ch,
            })
            .collect()
    };
    match shown(layout, order.len()) {
        Layout::Solo => vec![Placed {
            seat: first,
            rect: full,
            z: 0,
        }],
        Layout::SideBySide => order
            .iter()
            .take(2)
            .zip(cells(2, 1, 2))
            .map(|(&seat, rect)| Placed { seat, rect, z: 0 })
            .collect(),
        Layout::PictureInPicture => {
            // A fifth of the stage: four tiles fit along the bottom.
            let (tw, th) = (w / 5, h / 5);
            let margin = h / 32;
            let mut placed = vec![Placed {
                seat: first,
                rect: full,
                z: 0,
            }];
            // Tiles from the right edge leftwards, along the bottom.
            for (i, &seat) in order.iter().skip(1).enumerate() {
                let i = i as i32;
                placed.push(Placed {
                    seat,
                    rect: Rect {
                        x: w - (i + 1) * (tw + margin),
                        y: h - th - margin,
                        width: tw,
                        height: th,
                    },
                    z: 1,
                });
            }
            placed
        }
        Layout::Grid => {
            let (columns, rows) = match order.len() {
                0..=2 => (2, 1),
                3..=4 => (2, 2),
                _ => (3, 2),
            };
            order
                .iter()
                .zip(cells(columns, rows, order.len()))
                .map(|(&seat, rect)| Placed { seat, rect, z: 0 })
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seats(placed: &[Placed]) -> Vec<usize> {
        placed.iter().map(|p| p.seat).collect()
    }

    #[test]
    fn one_live_publisher_is_solo_whatever_was_chosen() {
        for layout in Layout::ALL {
            let placed = arrange(layout, Some(2), &[0], 1280, 720);
            assert_eq!(seats(&placed), [0], "{layout:?}");
            assert_eq!(placed[0].rect.width, 1280);
            assert_eq!(placed[0].rect.height, 720);
        }
        assert!(arrange(Layout::Grid, None, &[], 1280, 720).is_empty());
    }

    #[test]
    fn side_by_side_puts_the_big_slot_left() {
        let placed = arrange(Layout::SideBySide, Some(3), &[0, 3, 1], 1280, 720);
        assert_eq!(seats(&placed), [3, 0]);
        assert_eq!(
            placed[0].rect,
            Rect {
                x: 0,
                y: 0,
                width: 640,
                height: 720
            }
        );
        assert_eq!(placed[1].rect.x, 640);
    }

    #[test]
    fn a_big_slot_not_live_falls_back_to_the_first_live_seat() {
        assert_eq!(big_shown(Some(4), &[2, 1]), Some(1));
        let placed = arrange(Layout::SideBySide, Some(4), &[2, 1], 1280, 720);
        assert_eq!(seats(&placed), [1, 2]);
    }

    #[test]
    fn picture_in_picture_tiles_sit_inside_the_stage_above_the_big_one() {
        let placed = arrange(Layout::PictureInPicture, None, &[0, 1, 2, 3, 4], 1280, 720);
        assert_eq!(seats(&placed), [0, 1, 2, 3, 4]);
        assert_eq!(placed[0].z, 0);
        for tile in &placed[1..] {
            let r = tile.rect;
            assert_eq!(tile.z, 1);
            assert!(r.x >= 0 && r.y >= 0 && r.x + r.width <= 1280 && r.y + r.height <= 720);
        }
        // No two tiles overlap.
        for (i, a) in placed[1..].iter().enumerate() {
            for b in &placed[i + 2..] {
                assert!(a.rect.x + a.rect.width <= b.rect.x || b.rect.x + b.rect.width <= a.rect.x);
            }
        }
    }

    #[test]
    fn the_grid_holds_everyone_in_equal_cells() {
        for n in 2..=5 {
            let live: Vec<usize> = (0..n).collect();
            let placed = arrange(Layout::Grid, None, &live, 1200, 720);
            assert_eq!(placed.len(), n);
            let area = placed[0].rect.width * placed[0].rect.height;
            assert!(placed.iter().all(|p| p.rect.width * p.rect.height == area));
            for p in &placed {
                assert!(p.rect.x + p.rect.width <= 1200 && p.rect.y + p.rect.height <= 720);
            }
        }
    }

    #[test]
    fn layouts_read_back_from_their_names() {
        for layout in Layout::ALL {
            assert_eq!(layout.as_str().parse::<Layout>(), Ok(layout));
        }
        assert!("mosaic".parse::<Layout>().is_err());
    }
}
