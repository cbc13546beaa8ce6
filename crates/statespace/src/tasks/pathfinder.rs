//! Pathfinder (Linsley et al. 2018; Long Range Arena, Tay et al. 2021): a
//! grey image holds several curved contours drawn as chains of short dashes,
//! and two marker discs; the class says whether the two markers lie at the
//! two ends of one contour (1) or on different contours (0). Read as a
//! flattened pixel sequence (row-major, one grey value per step), it needs
//! reasoning over the whole image: 1024 steps at 32×32, 4096 at 64×64, 16384
//! at 128×128 (Path-X).
//!
//! Every contour has the same number of dashes, so only connectivity tells
//! the classes apart. Each dash turns from the previous one by at most
//! `max_turn` degrees; contours keep `spacing` pixels from each other, so
//! they never touch; distractor contours carry no marker.

use rand::Rng;
use serde::{Deserialize, Serialize};

use super::{Example, Split, Task, check_split_sizes, example_rng, nonzero, split_size};
use crate::error::{Error, Result};
use crate::models::classifier::InputKind;

/// Pathfinder settings (defaults: 32×32).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PathfinderConfig {
    /// Seed of the data.
    pub seed: u64,
    /// Image side in pixels.
    pub size: usize,
    /// Dashes per contour.
    pub dashes: usize,
    /// Dash length in pixels.
    pub dash: f64,
    /// Gap between dashes in pixels (0: solid contours).
    pub gap: f64,
    /// Largest turn between consecutive dashes, in degrees.
    pub max_turn: f64,
    /// Contours without markers, beside the two that carry them.
    pub distractors: usize,
    /// Least distance between the centre lines of different contours, in
    /// pixels (strokes and markers are drawn about 2.4 and 3.4 pixels wide).
    pub spacing: f64,
    /// Training examples.
    pub train_size: usize,
    /// Validation examples.
    pub val_size: usize,
    /// Test examples.
    pub test_size: usize,
}

impl Default for PathfinderConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            size: 32,
            dashes: 8,
            dash: 2.5,
            gap: 1.0,
            max_turn: 30.0,
            distractors: 1,
            spacing: 4.5,
            train_size: 160_000,
            val_size: 20_000,
            test_size: 20_000,
        }
    }
}

/// The Pathfinder task.
pub struct Pathfinder {
    config: PathfinderConfig,
}

/// A contour: its dashes as line segments, and its two ends.
struct Contour {
    dashes: Vec<[(f64, f64); 2]>,
    ends: [(f64, f64); 2],
}

/// Attempts before a contour placement gives up and the image restarts.
const TRIES: usize = 200;

impl Pathfinder {
    /// Checks the settings.
    pub fn new(config: PathfinderConfig) -> Result<Self> {
        check_split_sizes(config.train_size, config.val_size, config.test_size)?;
        nonzero("task.dashes", config.dashes)?;
        if config.size < 8 {
            return Err(Error::config(
                "task.size",
                "images need at least 8×8 pixels",
            ));
        }
        if !(config.dash >= 1.0 && config.gap >= 0.0 && config.spacing >= 1.0) {
            return Err(Error::config(
                "task.dash/gap/spacing",
                "need dash ≥ 1, gap ≥ 0 and spacing ≥ 1 pixels",
            ));
        }
        let extent = config.dashes as f64 * (config.dash + config.gap);
        if extent > 2.0 * config.size as f64 {
            return Err(Error::config(
                "task.dashes",
                format!(
                    "contours of {extent:.0} pixels do not fit a {0}×{0} image",
                    config.size
                ),
            ));
        }
        Ok(Self { config })
    }

    /// Draws a contour keeping `spacing` from the `earlier` ones' dashes;
    /// `None` if it runs off the image or comes too close.
    fn contour(&self, rng: &mut impl Rng, earlier: &Obstacles) -> Option<Contour> {
        let c = &self.config;
        let n = c.size as f64;
        let margin = 2.0;
        let mut at = (
            rng.random_range(margin..n - margin),
            rng.random_range(margin..n - margin),
        );
        let mut angle = rng.random_range(0.0..std::f64::consts::TAU);
        let start = at;
        let mut dashes = Vec::with_capacity(c.dashes);
        for i in 0..c.dashes {
            if i > 0 {
                angle += rng.random_range(-c.max_turn..=c.max_turn).to_radians();
            }
            let (dx, dy) = (angle.cos(), angle.sin());
            let end = (at.0 + c.dash * dx, at.1 + c.dash * dy);
            let next = (end.0 + c.gap * dx, end.1 + c.gap * dy);
            for p in [end, next] {
                if p.0 < margin || p.1 < margin || p.0 > n - margin || p.1 > n - margin {
                    return None;
                }
            }
            // Sample the dash every half pixel against earlier contours.
            let steps = (c.dash * 2.0).ceil() as usize;
            for s in 0..=steps {
                let t = s as f64 / steps as f64;
                let (x, y) = (at.0 + t * (end.0 - at.0), at.1 + t * (end.1 - at.1));
                if earlier.near((x, y)) {
                    return None;
                }
            }
            dashes.push([at, end]);
            at = next;
        }
        let last = dashes.last().map(|d| d[1]).unwrap_or(start);
        Some(Contour {
            dashes,
            ends: [start, last],
        })
    }

    /// Draws the contours and places the markers.
    fn scene(&self, rng: &mut impl Rng) -> Scene {
        let c = &self.config;
        'scene: loop {
            let mut contours = Vec::with_capacity(2 + c.distractors);
            for _ in 0..2 + c.distractors {
                let earlier = Obstacles::new(&contours, c.spacing);
                let Some(contour) = (0..TRIES).find_map(|_| self.contour(rng, &earlier)) else {
                    continue 'scene;
                };
                contours.push(contour);
            }
            let connected = rng.random_bool(0.5);
            let markers = if connected {
                contours[0].ends
            } else {
                [
                    contours[0].ends[0],
                    contours[1].ends[rng.random_range(0..2)],
                ]
            };
            return Scene {
                contours,
                markers,
                connected,
            };
        }
    }

    /// Row-major grey values in [0, 1]: strokes about one pixel wide and
    /// marker discs, antialiased.
    fn render(&self, scene: &Scene) -> Vec<f32> {
        let size = self.config.size;
        (0..size * size)
            .map(|i| {
                let p = ((i % size) as f64 + 0.5, (i / size) as f64 + 0.5);
                let mut v = 0f64;
                for contour in &scene.contours {
                    for seg in &contour.dashes {
                        v = v.max(1.0 - (distance_to_segment(p, seg[0], seg[1]) - 0.5).max(0.0));
                    }
                }
                for m in scene.markers {
                    let r = ((p.0 - m.0).powi(2) + (p.1 - m.1).powi(2)).sqrt();
                    v = v.max((2.0 - r).clamp(0.0, 1.0));
                }
                v as f32
            })
            .collect()
    }
}

/// One image before rendering.
struct Scene {
    contours: Vec<Contour>,
    markers: [(f64, f64); 2],
    connected: bool,
}

fn distance_to_segment(p: (f64, f64), a: (f64, f64), b: (f64, f64)) -> f64 {
    squared_distance_to_segment(p, a, b).sqrt()
}

fn squared_distance_to_segment(p: (f64, f64), a: (f64, f64), b: (f64, f64)) -> f64 {
    let (abx, aby) = (b.0 - a.0, b.1 - a.1);
    let len2 = abx * abx + aby * aby;
    let t = if len2 == 0.0 {
        0.0
    } else {
        (((p.0 - a.0) * abx + (p.1 - a.1) * aby) / len2).clamp(0.0, 1.0)
    };
    (p.0 - a.0 - t * abx).powi(2) + (p.1 - a.1 - t * aby).powi(2)
}

/// The dashes a new contour must keep `spacing` from, each with its
/// bounding box grown by the spacing. [`Obstacles::near`] decides exactly
/// as `distance_to_segment(p, …) < spacing` over every dash would (the
/// data of a seed do not depend on it), skipping the dashes whose box
/// leaves p out and the square root where the squared distance is clearly
/// on one side (a 32×32 example: 3.2 → 2.5 ms; the same bits for the
/// first 2,000 examples of seed 0).
struct Obstacles {
    dashes: Vec<Dash>,
    spacing: f64,
}

/// A dash from `a` to `b` and its box grown by the spacing and a margin
/// far above rounding, `lo` to `hi`.
struct Dash {
    a: (f64, f64),
    b: (f64, f64),
    lo: (f64, f64),
    hi: (f64, f64),
}

impl Obstacles {
    /// Margin past the spacing within which the exact comparison runs.
    const SLACK: f64 = 1e-9;

    fn new(contours: &[Contour], spacing: f64) -> Self {
        let grow = spacing + Self::SLACK;
        let dashes = contours
            .iter()
            .flat_map(|c| &c.dashes)
            .map(|&[a, b]| Dash {
                a,
                b,
                lo: (a.0.min(b.0) - grow, a.1.min(b.1) - grow),
                hi: (a.0.max(b.0) + grow, a.1.max(b.1) + grow),
            })
            .collect();
        Self { dashes, spacing }
    }

    /// Whether some dash lies closer than the spacing to p.
    fn near(&self, p: (f64, f64)) -> bool {
        let s = self.spacing;
        let (inside, outside) = ((s - Self::SLACK).powi(2), (s + Self::SLACK).powi(2));
        self.dashes.iter().any(|d| {
            if p.0 < d.lo.0 || p.0 > d.hi.0 || p.1 < d.lo.1 || p.1 > d.hi.1 {
                return false;
            }
            let squared = squared_distance_to_segment(p, d.a, d.b);
            if squared < inside {
                true
            } else if squared > outside {
                false
            } else {
                squared.sqrt() < s
            }
        })
    }
}

impl Task for Pathfinder {
    fn name(&self) -> &str {
        "pathfinder"
    }

    fn input(&self) -> InputKind {
        InputKind::Values { channels: 1 }
    }

    fn classes(&self) -> usize {
        2
    }

    fn max_len(&self) -> usize {
        self.config.size * self.config.size
    }

    fn size(&self, split: Split) -> usize {
        let c = &self.config;
        split_size(split, c.train_size, c.val_size, c.test_size)
    }

    fn example(&self, split: Split, index: usize) -> Example {
        let mut rng = example_rng(self.config.seed, split, index);
        let scene = self.scene(&mut rng);
        let values = self.render(&scene);
        Example::Values {
            len: values.len(),
            values,
            label: i64::from(scene.connected),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether the bright pixels joining `a` and `b` form one 8-connected
    /// region.
    fn joined(grey: &[f32], size: usize, a: usize, b: usize) -> bool {
        let mut seen = vec![false; grey.len()];
        let mut stack = vec![a];
        while let Some(i) = stack.pop() {
            if i == b {
                return true;
            }
            if seen[i] || grey[i] < 0.3 {
                continue;
            }
            seen[i] = true;
            let (x, y) = ((i % size) as i64, (i / size) as i64);
            for (dx, dy) in [
                (-1, -1),
                (-1, 0),
                (-1, 1),
                (0, -1),
                (0, 1),
                (1, -1),
                (1, 0),
                (1, 1),
            ] {
                let (nx, ny) = (x + dx, y + dy);
                if nx >= 0 && ny >= 0 && nx < size as i64 && ny < size as i64 {
                    stack.push(ny as usize * size + nx as usize);
                }
            }
        }
        false
    }

    #[test]
    fn solid_contours_join_the_markers_exactly_when_the_label_says_so() {
        let task = Pathfinder::new(PathfinderConfig {
            gap: 0.0,
            ..PathfinderConfig::default()
        })
        .unwrap();
        let mut positives = 0;
        for i in 0..200 {
            let scene = task.scene(&mut example_rng(0, Split::Train, i));
            let grey = task.render(&scene);
            let at = |p: (f64, f64)| p.1 as usize * 32 + p.0 as usize;
            let [a, b] = scene.markers;
            assert_eq!(
                joined(&grey, 32, at(a), at(b)),
                scene.connected,
                "example {i}"
            );
            positives += usize::from(scene.connected);
            assert_eq!(task.example(Split::Train, i), task.example(Split::Train, i));
        }
        assert!(
            (70..=130).contains(&positives),
            "{positives} of 200 positive"
        );
    }
}
