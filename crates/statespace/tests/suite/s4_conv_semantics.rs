//! The convolution view against its definition, summed directly on the host:
//! several output channels, bidirectional kernels (s4's anti-causal part
//! with its one-step offset) and the D skip.

use crate::common::Draws;
use burn::backend::Flex;
use burn::tensor::{DType, Tensor, TensorData};
use rand::SeedableRng;
use statespace::golden::rel_err;
use statespace::io::HostTensor;
use statespace::layers::activation::Activation;
use statespace::layers::s4::S4Config;

type B = Flex;

fn check(config: S4Config) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let device = Default::default();
    let layer = config.init::<B>(&device, &mut rng).unwrap();
    let (batch, len, h, ch) = (2, 40, config.d_model, config.channels);
    let x = Draws::new(6).normal::<B, 3>([batch, len, h], DType::F32);
    let y = HostTensor::from_tensor(&layer.forward(x.clone()).unwrap()).data; // (B, L, ch·H)
    let k = HostTensor::from_tensor(&layer.kernel.kernel(len).unwrap()).data; // (kc, H, L)
    let d = HostTensor::from_tensor(&layer.D.val()).data; // (ch, H)
    let u = HostTensor::from_tensor(&x).data; // (B, L, H)
    let kat = |c: usize, hi: usize, l: usize| k[(c * h + hi) * len + l];
    let mut expected = vec![0.0; batch * len * ch * h];
    for b in 0..batch {
        for c in 0..ch {
            for hi in 0..h {
                for t in 0..len {
                    let uat = |s: usize| u[(b * len + s) * h + hi];
                    let mut acc = d[c * h + hi] * uat(t);
                    for s in 0..=t {
                        acc += kat(c, hi, t - s) * uat(s);
                    }
                    if config.bidirectional {
                        for dd in 1..len - t {
                            acc += kat(ch + c, hi, dd - 1) * uat(t + dd);
                        }
                    }
                    expected[(b * len + t) * ch * h + c * h + hi] = acc;
                }
            }
        }
    }
    let err = rel_err(&y, &expected);
    assert!(err < 1e-5, "{config:?}: relative error {err:.2e}");
}

#[test]
fn s4d_multichannel_bidirectional_equals_direct_sum() {
    check(S4Config {
        channels: 2,
        bidirectional: true,
        activation: Activation::Identity,
        ..S4Config::s4d(3)
    });
}

#[test]
fn s4_dplr_multichannel_bidirectional_equals_direct_sum() {
    check(S4Config {
        channels: 3,
        bidirectional: true,
        d_state: 16,
        activation: Activation::Identity,
        ..S4Config::s4(2, 40)
    });
}

#[test]
fn s4_causal_bilinear_diag_equals_direct_sum() {
    check(S4Config {
        disc: statespace::discretize::Discretization::Bilinear,
        init: statespace::layers::s4::SsmInit::DiagInv,
        activation: Activation::Identity,
        ..S4Config::s4d(4)
    });
}

/// Step mode and chunked streaming equal the convolution view for every
/// initialisation and discretisation.
#[test]
fn recurrent_views_equal_convolution_for_every_init() {
    use statespace::discretize::Discretization;
    use statespace::layers::s4::SsmInit;
    let configs = [
        S4Config {
            d_state: 16,
            ..S4Config::s4(3, 30)
        },
        S4Config {
            d_state: 16,
            init: SsmInit::Fout,
            ..S4Config::s4(3, 30)
        },
        S4Config {
            d_state: 16,
            init: SsmInit::LegT,
            rank: 2,
            ..S4Config::s4(3, 30)
        },
        S4Config {
            d_state: 16,
            channels: 2,
            init: SsmInit::DiagLin,
            ..S4Config::s4(3, 30)
        },
        S4Config {
            init: SsmInit::DiagInv,
            disc: Discretization::Bilinear,
            ..S4Config::s4d(3)
        },
        S4Config {
            init: SsmInit::DiagLegs,
            ..S4Config::s4d(3)
        },
        S4Config {
            init: SsmInit::DiagReal,
            channels: 2,
            ..S4Config::s4d(3)
        },
    ];
    let device = Default::default();
    for config in configs {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let layer = config.init::<B>(&device, &mut rng).unwrap();
        let len = 30;
        // Drawn from the seeded generator: burn's `random` is unseeded, and
        // the DPLR FouT step's f32 error ranges 2e-5 … 1e-4 over inputs.
        let normal = rand_distr::Normal::new(0.0f32, 1.0).expect("valid normal");
        let values: Vec<f32> = (0..2 * len * 3)
            .map(|_| rand_distr::Distribution::sample(&normal, &mut rng))
            .collect();
        let x = Tensor::<B, 3>::from_data(TensorData::new(values, [2, len, 3]), &device);
        let y = HostTensor::from_tensor(&layer.forward(x.clone()).unwrap()).data;
        let rec = layer.recurrent().unwrap();
        let mut state = rec.initial_state(2);
        let mut steps = Vec::new();
        for t in 0..len {
            let (y_t, next) = rec
                .step(&state, x.clone().narrow(1, t, 1).squeeze_dim::<2>(1))
                .unwrap();
            steps.push(y_t.unsqueeze_dim::<3>(1));
            state = next;
        }
        let stepped = HostTensor::from_tensor(&Tensor::cat(steps, 1)).data;
        let (head, mid) = rec
            .forward_with_state(&rec.initial_state(2), x.clone().narrow(1, 0, 11))
            .unwrap();
        let (tail, _) = rec
            .forward_with_state(&mid, x.narrow(1, 11, len - 11))
            .unwrap();
        let streamed = HostTensor::from_tensor(&Tensor::cat(vec![head, tail], 1)).data;
        for (what, got) in [("step", &stepped), ("chunks", &streamed)] {
            let err = rel_err(got, &y);
            assert!(
                err < 1e-4,
                "{:?} {:?}: {what} differs from forward by {err:.2e}",
                config.mode,
                config.init
            );
        }
    }
}
