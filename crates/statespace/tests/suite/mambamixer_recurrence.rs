//! MambaMixer (arXiv 2403.19888 v1) has no official code: its stack is
//! checked against a direct loop of the paper's equations in f64 — the
//! selective mixers (eqs. 6–11, and 12–18 both ways) as Mamba's S6
//! recurrence written out step by step, and the weighted averaging of
//! eqs. 19–20 — with every averaging weight and skip drawn at random.

use crate::common::Draws;
use crate::common::loops::{layer_norm, linear, rows, silu, softplus, values};
use burn::backend::Flex;
use burn::module::{Module, Param};
use burn::tensor::{DType, Tensor, TensorData};
use rand::SeedableRng;
use statespace::golden::rel_err;
use statespace::io::state_dict::cast_params;
use statespace::layers::mambamixer::{
    MambaMixer, MambaMixerConfig, SelectiveDirection, SelectiveMixer, WeightedSum,
};

type B = Flex;

/// A sequence of feature vectors.
type Seq = Vec<Vec<f64>>;

/// (B, V, P, D) as nested vectors.
type Grid = Vec<Vec<Seq>>;

fn config() -> MambaMixerConfig {
    MambaMixerConfig {
        n_layers: 3,
        d_state: 4,
        d_conv: 3,
        expand: 2,
        dt_rank: Some(2),
        ..MambaMixerConfig::new(6)
    }
}

/// A stack in f64 with random averaging weights and skips (the
/// initialisation's 0/1 weights and D = 1 would hide index errors).
fn model(seed: u64) -> MambaMixer<B> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut m = cast_params(
        config().init::<B>(&Default::default(), &mut rng).unwrap(),
        DType::F64,
    );
    let mut draws = Draws::new(seed + 1);
    let mut random = |p: &Param<Tensor<B, 1>>| {
        let n = p.val().dims()[0];
        Param::from_tensor(Tensor::from_data(
            TensorData::new(draws.uniform_values(n, -1.0, 1.0), [n]),
            (&Default::default(), DType::F64),
        ))
    };
    let mut sums: Vec<&mut WeightedSum<B>> = Vec::new();
    for layer in &mut m.layers {
        for dir in [
            Some(&mut layer.token.forward),
            Some(&mut layer.channel.forward),
            layer.channel.backward.as_mut(),
        ]
        .into_iter()
        .flatten()
        {
            dir.D = random(&dir.D);
        }
        sums.push(&mut layer.token_input);
        sums.push(&mut layer.channel_input);
    }
    sums.push(&mut m.output);
    for s in sums {
        s.token = random(&s.token);
        s.channel = random(&s.channel);
    }
    m
}

/// One direction's gated S6 scan over `xs` (L × D) with gate `g` (L × E),
/// step by step: (L × E).
fn direction(p: &SelectiveDirection<B>, xs: &[Vec<f64>], g: &[Vec<f64>]) -> Seq {
    let w_in = rows(&p.in_proj.weight.val());
    let conv = values(&p.conv1d.weight.val()); // (E, 1, K)
    let conv_b = values(&p.conv1d.bias.as_ref().unwrap().val());
    let w_x = rows(&p.x_proj.weight.val());
    let w_dt = rows(&p.dt_proj.weight.val());
    let b_dt = values(&p.dt_proj.bias.as_ref().unwrap().val());
    let a: Vec<Vec<f64>> = rows(&p.A_log.val())
        .into_iter()
        .map(|r| r.into_iter().map(|v| -v.exp()).collect())
        .collect();
    let d = values(&p.D.val());
    let (e, n, r) = (w_in.len(), a[0].len(), w_dt[0].len());
    let k = conv.len() / e;
    let xin: Seq = xs.iter().map(|x| linear(&w_in, None, x)).collect();
    let mut h = vec![vec![0.0; n]; e];
    let mut out = Vec::new();
    for t in 0..xs.len() {
        let dbl = linear(&w_x, None, &xs[t]); // (δ, B, C) from the block input
        let mut y = vec![0.0; e];
        for c in 0..e {
            // Causal convolution: tap j reads step t − (K − 1) + j.
            let mut xc = conv_b[c];
            for j in 0..k {
                if let Some(s) = (t + j).checked_sub(k - 1) {
                    xc += conv[c * k + j] * xin[s][c];
                }
            }
            let xc = silu(xc);
            let dt = softplus((0..r).map(|q| w_dt[c][q] * dbl[q]).sum::<f64>() + b_dt[c]);
            let mut acc = d[c] * xc;
            for s in 0..n {
                h[c][s] = (dt * a[c][s]).exp() * h[c][s] + dt * dbl[r + s] * xc;
                acc += dbl[r + n + s] * h[c][s];
            }
            y[c] = acc * silu(g[t][c]);
        }
        out.push(y);
    }
    out
}

/// A selective mixer over `xs` (L × D), both ways when it has a backward
/// direction: (L × D).
fn mixer(m: &SelectiveMixer<B>, xs: &[Vec<f64>]) -> Seq {
    let w_g = rows(&m.gate.weight.val());
    let g: Seq = xs.iter().map(|x| linear(&w_g, None, x)).collect();
    let mut y = direction(&m.forward, xs, &g);
    if let Some(back) = &m.backward {
        let rev = |s: &[Vec<f64>]| s.iter().rev().cloned().collect::<Seq>();
        let yb = rev(&direction(back, &rev(xs), &rev(&g)));
        for (a, b) in y.iter_mut().zip(yb) {
            a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
        }
    }
    let w_o = rows(&m.out_proj.weight.val());
    y.iter().map(|v| linear(&w_o, None, v)).collect()
}

/// Eqs. 19–20: Σ token[i] y_T^(i) + Σ channel[i] y_C^(i).
fn average(s: &WeightedSum<B>, tokens: &[Grid], channels: &[Grid]) -> Grid {
    let (wt, wc) = (values(&s.token.val()), values(&s.channel.val()));
    let mut out = tokens[0].clone();
    for (bi, vs) in out.iter_mut().enumerate() {
        for (vi, ps) in vs.iter_mut().enumerate() {
            for (pi, ds) in ps.iter_mut().enumerate() {
                for (di, x) in ds.iter_mut().enumerate() {
                    *x = tokens
                        .iter()
                        .zip(&wt)
                        .map(|(y, w)| w * y[bi][vi][pi][di])
                        .sum::<f64>()
                        + channels
                            .iter()
                            .zip(&wc)
                            .map(|(y, w)| w * y[bi][vi][pi][di])
                            .sum::<f64>();
                }
            }
        }
    }
    out
}

/// The stack over x (B, V, P, D), loop by loop.
fn reference(m: &MambaMixer<B>, x: &Grid) -> Grid {
    let norm = |n: &statespace::layers::norm::LayerNorm<B>, v: &[f64]| {
        layer_norm(v, &values(&n.weight.val()), &values(&n.bias.val()), n.eps)
    };
    let (mut tokens, mut channels) = (vec![x.clone()], vec![x.clone()]);
    for layer in &m.layers {
        let h = average(&layer.token_input, &tokens, &channels);
        // Token mixer: along P for each (b, v).
        let t: Grid = h
            .iter()
            .map(|vs| {
                vs.iter()
                    .map(|ps| {
                        let normed: Seq = ps.iter().map(|d| norm(&layer.token_norm, d)).collect();
                        mixer(&layer.token, &normed)
                    })
                    .collect()
            })
            .collect();
        tokens.push(t);
        let h = average(&layer.channel_input, &tokens, &channels);
        // Channel mixer: along V for each (b, p).
        let mut c = h.clone();
        for (bi, vs) in h.iter().enumerate() {
            for p in 0..vs[0].len() {
                let seq: Seq = vs
                    .iter()
                    .map(|ps| norm(&layer.channel_norm, &ps[p]))
                    .collect();
                for (v, y) in mixer(&layer.channel, &seq).into_iter().enumerate() {
                    c[bi][v][p] = y;
                }
            }
        }
        channels.push(c);
    }
    average(&m.output, &tokens, &channels)
}

fn grid(flat: &[f64], [b, v, p, d]: [usize; 4]) -> Grid {
    (0..b)
        .map(|i| {
            (0..v)
                .map(|j| {
                    (0..p)
                        .map(|k| {
                            let at = ((i * v + j) * p + k) * d;
                            flat[at..at + d].to_vec()
                        })
                        .collect()
                })
                .collect()
        })
        .collect()
}

fn flatten(g: &Grid) -> Vec<f64> {
    g.iter().flatten().flatten().flatten().copied().collect()
}

#[test]
fn stack_equals_the_papers_equations_loop_by_loop() {
    let m = model(7);
    for shape in [[2, 3, 5, 6], [1, 1, 1, 6], [1, 4, 7, 6]] {
        let x = Draws::new(11).uniform_values(shape.iter().product(), -1.0, 1.0);
        let input = Tensor::<B, 4>::from_data(
            TensorData::new(x.clone(), shape),
            (&Default::default(), DType::F64),
        );
        let got = values(&m.forward(input).unwrap());
        let want = flatten(&reference(&m, &grid(&x, shape)));
        let err = rel_err(&got, &want);
        assert!(err < 1e-10, "shape {shape:?}: relative error {err:.3e}");
    }
}

#[test]
fn tokens_are_causal_and_channels_see_both_ways() {
    let m = model(3);
    let shape = [1, 4, 6, 6];
    let x = Draws::new(5).uniform_values(shape.iter().product(), -1.0, 1.0);
    let run = |x: &[f64]| {
        let t = Tensor::<B, 4>::from_data(
            TensorData::new(x.to_vec(), shape),
            (&Default::default(), DType::F64),
        );
        grid(&values(&m.forward(t).unwrap()), shape)
    };
    let base = run(&x);
    // Change the last token of the first channel.
    let mut later = x.clone();
    later[5 * 6] += 1.0;
    let moved = run(&later);
    for v in 0..4 {
        for p in 0..5 {
            assert_eq!(
                base[0][v][p], moved[0][v][p],
                "token {p} of channel {v} saw the future"
            );
        }
        assert_ne!(
            base[0][v][5], moved[0][v][5],
            "channel {v} did not see channel 0 at the changed token"
        );
    }
}

#[test]
fn parameter_count_matches_the_built_stack() {
    for layers in [1, 2, 4] {
        let c = MambaMixerConfig {
            n_layers: layers,
            ..config()
        };
        let m = c
            .init::<B>(
                &Default::default(),
                &mut rand_chacha::ChaCha8Rng::seed_from_u64(0),
            )
            .unwrap();
        assert_eq!(m.num_params(), c.param_count().unwrap(), "{layers} layers");
    }
}

#[test]
fn bad_configs_name_their_field() {
    let bad = [
        (
            MambaMixerConfig {
                n_layers: 0,
                ..config()
            },
            "n_layers",
        ),
        (
            MambaMixerConfig {
                d_conv: 1,
                ..config()
            },
            "d_conv",
        ),
        (
            MambaMixerConfig {
                dt_min: 0.0,
                ..config()
            },
            "dt_min",
        ),
        (
            MambaMixerConfig {
                d_state: 0,
                ..config()
            },
            "d_state",
        ),
    ];
    for (c, field) in bad {
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains(field), "{field}: {err}");
    }
    let m = model(1);
    let wrong = Tensor::<B, 4>::zeros([1, 2, 3, 5], (&Default::default(), DType::F64));
    assert!(
        m.forward(wrong)
            .unwrap_err()
            .to_string()
            .contains("MambaMixer input")
    );
}
