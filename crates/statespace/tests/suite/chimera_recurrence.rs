//! Chimera (arXiv 2406.04320) has no official code: its 2-D SSM is checked
//! against the Roesser recurrence written out cell by cell in f64 (the
//! equations in `layers::chimera::ssm2d`), with random couplings and skips,
//! and the stack is checked for causality along time.

use crate::common::Draws;
use crate::common::loops::{linear, rows, softplus, values};
use burn::backend::Flex;
use burn::module::{Module, Param};
use burn::tensor::{DType, Tensor, TensorData};
use rand::SeedableRng;
use statespace::golden::rel_err;
use statespace::io::state_dict::cast_params;
use statespace::layers::chimera::{Chimera, ChimeraConfig, Ssm2d};

type B = Flex;

fn config() -> ChimeraConfig {
    ChimeraConfig {
        n_layers: 2,
        d_state: 3,
        expand: 2,
        dt_rank: Some(2),
        // Wide enough that the steps differ visibly between cells.
        dt_min: 0.01,
        dt_max: 1.0,
        ..ChimeraConfig::new(3)
    }
}

fn tensor<const D: usize>(v: Vec<f64>, shape: [usize; D]) -> Tensor<B, D> {
    Tensor::from_data(TensorData::new(v, shape), (&Default::default(), DType::F64))
}

/// An f64 stack whose skips D are random (D = 1 would hide a misplaced skip).
fn stack(seed: u64) -> Chimera<B> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut m = cast_params(
        config().init::<B>(&Default::default(), &mut rng).unwrap(),
        DType::F64,
    );
    let mut draws = Draws::new(seed + 1);
    for block in &mut m.blocks {
        for ssm in [&mut block.forward, &mut block.backward] {
            let e = ssm.D.val().dims()[0];
            ssm.D = Param::from_tensor(tensor(draws.uniform_values(e, -1.0, 1.0), [e]));
        }
    }
    m
}

/// The 2-D SSM over u (B, T, V, E), cell by cell.
fn reference(p: &Ssm2d<B>, u: &[f64], [bt, t, v, e]: [usize; 4]) -> Vec<f64> {
    let w_x = rows(&p.x_proj.weight.val());
    let (w1, w2) = (
        rows(&p.dt_time.weight.val()),
        rows(&p.dt_variate.weight.val()),
    );
    let b1 = values(&p.dt_time.bias.as_ref().unwrap().val());
    let b2 = values(&p.dt_variate.bias.as_ref().unwrap().val());
    let neg_exp = |m: Vec<Vec<f64>>| -> Vec<Vec<f64>> {
        m.into_iter()
            .map(|r| r.into_iter().map(|x| -x.exp()).collect())
            .collect()
    };
    let a1 = neg_exp(rows(&p.A1_log.val()));
    let a4 = neg_exp(rows(&p.A4_log.val()));
    let (a2, a3) = (rows(&p.A2.val()), rows(&p.A3.val()));
    let d = values(&p.D.val());
    let (n, r) = (a1[0].len(), w1[0].len());
    let at = |b: usize, i: usize, j: usize| ((b * t + i) * v + j) * e;
    let mut y = vec![0.0; u.len()];
    for b in 0..bt {
        // h1[j][i], h2[j][i]: states of cell (variate j, time i), per (e, n).
        let mut h1 = vec![vec![vec![0.0; e * n]; t]; v];
        let mut h2 = h1.clone();
        for i in 0..t {
            for j in 0..v {
                let cell = &u[at(b, i, j)..at(b, i, j) + e];
                let dbl = linear(&w_x, None, cell);
                let (bb1, bb2) = (&dbl[2 * r..2 * r + n], &dbl[2 * r + n..2 * r + 2 * n]);
                let (c1, c2) = (&dbl[2 * r + 2 * n..2 * r + 3 * n], &dbl[2 * r + 3 * n..]);
                for c in 0..e {
                    let dt1 = softplus((0..r).map(|q| w1[c][q] * dbl[q]).sum::<f64>() + b1[c]);
                    let dt2 = softplus((0..r).map(|q| w2[c][q] * dbl[r + q]).sum::<f64>() + b2[c]);
                    let mut out = d[c] * cell[c];
                    for s in 0..n {
                        let k = c * n + s;
                        let bar1 = (dt1 * a1[c][s]).exp();
                        let phi1 = (bar1 - 1.0) / a1[c][s];
                        let bar4 = (dt2 * a4[c][s]).exp();
                        let phi2 = (bar4 - 1.0) / a4[c][s];
                        let (prev1, prev2) = if i > 0 {
                            (h1[j][i - 1][k], h2[j][i - 1][k])
                        } else {
                            (0.0, 0.0)
                        };
                        h1[j][i][k] =
                            bar1 * prev1 + phi1 * a2[c][s] * prev2 + phi1 * bb1[s] * cell[c];
                        let (up1, up2) = if j > 0 {
                            (h1[j - 1][i][k], h2[j - 1][i][k])
                        } else {
                            (0.0, 0.0)
                        };
                        h2[j][i][k] = bar4 * up2 + phi2 * a3[c][s] * up1 + phi2 * bb2[s] * cell[c];
                        out += c1[s] * h1[j][i][k] + c2[s] * h2[j][i][k];
                    }
                    y[at(b, i, j) + c] = out;
                }
            }
        }
    }
    y
}

#[test]
fn ssm2d_equals_the_roesser_recurrence_cell_by_cell() {
    let m = stack(5);
    let e = config().d_inner();
    for shape in [[2, 6, 4, e], [1, 1, 1, e], [1, 9, 1, e], [1, 1, 5, e]] {
        let u = Draws::new(9).uniform_values(shape.iter().product(), -1.0, 1.0);
        for ssm in [&m.blocks[0].forward, &m.blocks[1].backward] {
            let got = values(&ssm.forward(tensor(u.clone(), shape)).unwrap());
            let err = rel_err(&got, &reference(ssm, &u, shape));
            assert!(err < 1e-10, "shape {shape:?}: relative error {err:.3e}");
        }
    }
}

#[test]
fn stack_is_causal_in_time_and_reads_every_variate() {
    let m = stack(2);
    let shape = [1, 5, 3, 3];
    let x = Draws::new(4).uniform_values(45, -1.0, 1.0);
    let run = |x: Vec<f64>| values(&m.forward(tensor(x, shape)).unwrap());
    let base = run(x.clone());
    let mut later = x;
    // Time 3, variate 1.
    later[(3 * 3 + 1) * 3] += 1.0;
    let moved = run(later);
    let cell = |y: &[f64], i: usize, j: usize| y[(i * 3 + j) * 3..(i * 3 + j + 1) * 3].to_vec();
    for j in 0..3 {
        for i in 0..3 {
            assert_eq!(
                cell(&base, i, j),
                cell(&moved, i, j),
                "time {i}, variate {j} saw the future"
            );
        }
        assert_ne!(
            cell(&base, 3, j),
            cell(&moved, 3, j),
            "variate {j} missed variate 1 at time 3"
        );
    }
}

#[test]
fn parameter_count_matches_the_built_stack() {
    for layers in [1, 3] {
        let c = ChimeraConfig {
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
fn bad_configs_and_inputs_are_named() {
    for (c, field) in [
        (
            ChimeraConfig {
                n_layers: 0,
                ..config()
            },
            "n_layers",
        ),
        (
            ChimeraConfig {
                d_state: 0,
                ..config()
            },
            "d_state",
        ),
        (
            ChimeraConfig {
                dt_max: f64::INFINITY,
                ..config()
            },
            "dt_min",
        ),
    ] {
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains(field), "{field}: {err}");
    }
    let m = stack(1);
    let wrong = tensor(vec![0.0; 8], [1, 2, 2, 2]);
    assert!(
        m.forward(wrong)
            .unwrap_err()
            .to_string()
            .contains("Chimera input")
    );
}
