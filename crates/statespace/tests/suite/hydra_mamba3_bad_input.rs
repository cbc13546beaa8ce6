//! Hydra and Mamba-3 configs that cannot work, and inputs or states of the
//! wrong shape, are errors naming the field or tensor — never a panic.

use burn::backend::Flex;
use burn::tensor::Tensor;
use rand::SeedableRng;
use statespace::io::{HostTensor, load_params, param_infos};
use statespace::layers::hydra::HydraConfig;
use statespace::layers::mamba3::Mamba3Config;
use statespace::layers::mixer::StatefulMixer;

type B = Flex;

fn rng() -> rand_chacha::ChaCha8Rng {
    rand_chacha::ChaCha8Rng::seed_from_u64(0)
}

fn assert_names(err: impl std::fmt::Display, key: &str) {
    let text = err.to_string();
    assert!(text.contains(key), "error should name `{key}`: {text}");
}

#[test]
fn impossible_hydra_configs_name_the_field() {
    let base = HydraConfig {
        d_state: 8,
        headdim: 8,
        ..HydraConfig::new(16)
    };
    let cases = [
        (
            "headdim",
            HydraConfig {
                headdim: 7,
                ..base.clone()
            },
        ),
        (
            "ngroups",
            HydraConfig {
                ngroups: 3,
                ..base.clone()
            },
        ),
        (
            "d_conv",
            HydraConfig {
                d_conv: 4,
                ..base.clone()
            },
        ),
        (
            "d_conv",
            HydraConfig {
                d_conv: 0,
                ..base.clone()
            },
        ),
        (
            "d_state",
            HydraConfig {
                d_state: 0,
                ..base.clone()
            },
        ),
        (
            "dt_limit",
            HydraConfig {
                dt_limit: (0.5, 0.1),
                ..base.clone()
            },
        ),
        (
            "norm_eps",
            HydraConfig {
                norm_eps: -1.0,
                ..base.clone()
            },
        ),
        (
            "expand",
            HydraConfig {
                expand: usize::MAX,
                ..base.clone()
            },
        ),
    ];
    for (key, config) in cases {
        assert_names(config.validate().unwrap_err(), key);
        assert_names(
            config
                .init::<B>(&Default::default(), &mut rng())
                .unwrap_err(),
            key,
        );
    }
    base.validate().unwrap();
}

#[test]
fn impossible_mamba3_configs_name_the_field() {
    let base = Mamba3Config {
        d_state: 8,
        headdim: 8,
        ..Mamba3Config::new(16)
    };
    let cases = [
        (
            "headdim",
            Mamba3Config {
                headdim: 5,
                ..base.clone()
            },
        ),
        (
            "ngroups",
            Mamba3Config {
                ngroups: 3,
                ..base.clone()
            },
        ),
        (
            "d_state",
            Mamba3Config {
                d_state: 7,
                ..base.clone()
            },
        ),
        (
            "d_state",
            Mamba3Config {
                d_state: 2,
                ..base.clone()
            },
        ),
        (
            "rope_fraction",
            Mamba3Config {
                rope_fraction: 0.3,
                ..base.clone()
            },
        ),
        (
            "mimo_rank",
            Mamba3Config {
                is_mimo: true,
                mimo_rank: 0,
                ..base.clone()
            },
        ),
        (
            "A_floor",
            Mamba3Config {
                A_floor: f64::NAN,
                ..base.clone()
            },
        ),
        (
            "expand",
            Mamba3Config {
                expand: usize::MAX,
                ..base.clone()
            },
        ),
    ];
    for (key, config) in cases {
        assert_names(config.validate().unwrap_err(), key);
    }
    base.validate().unwrap();
}

#[test]
fn wrong_inputs_states_and_tensors_are_named_errors() {
    let device = Default::default();
    let hydra = HydraConfig {
        d_state: 8,
        headdim: 8,
        ..HydraConfig::new(16)
    }
    .init::<B>(&device, &mut rng())
    .unwrap();
    assert_names(
        hydra
            .forward(Tensor::zeros([2, 5, 15], &device))
            .unwrap_err(),
        "input",
    );
    // L = 1: the shift leaves only the diagonal term.
    assert_eq!(
        hydra
            .forward(Tensor::zeros([2, 1, 16], &device))
            .unwrap()
            .dims(),
        [2, 1, 16]
    );

    let config = Mamba3Config {
        d_state: 8,
        headdim: 8,
        is_mimo: true,
        mimo_rank: 2,
        ..Mamba3Config::new(16)
    };
    let mamba3 = config.init::<B>(&device, &mut rng()).unwrap();
    assert_names(
        mamba3
            .forward(Tensor::zeros([2, 5, 12], &device))
            .unwrap_err(),
        "input",
    );
    assert_names(
        mamba3
            .forward(Tensor::zeros([2, 0, 16], &device))
            .unwrap_err(),
        "input",
    );
    let mut state = mamba3.initial_state(2);
    state.k = Tensor::zeros([2, 1, 4, 8], &device);
    assert_names(
        mamba3
            .forward_with_state(&state, Tensor::zeros([2, 3, 16], &device))
            .unwrap_err(),
        "k state",
    );
    // A checkpoint tensor of the wrong shape or a missing one.
    let fresh = config.init::<B>(&device, &mut rng()).unwrap();
    let shapes: Vec<(String, Vec<usize>)> = param_infos::<B, _>(&fresh)
        .into_iter()
        .map(|p| (p.name, p.shape))
        .collect();
    let tensor = |name: &str, bad: &str, missing: &str| {
        if name == missing {
            return Err(statespace::Error::config(name, "missing tensor"));
        }
        let mut shape = shapes.iter().find(|(n, _)| n == name).unwrap().1.clone();
        if name == bad {
            shape[0] += 1;
        }
        HostTensor::new(name, shape.clone(), vec![0.5; shape.iter().product()])
    };
    let err = load_params(config.init::<B>(&device, &mut rng()).unwrap(), |n| {
        tensor(n, "mimo_x", "")
    });
    assert_names(err.unwrap_err(), "mimo_x");
    let err = load_params(config.init::<B>(&device, &mut rng()).unwrap(), |n| {
        tensor(n, "", "C_bias")
    });
    assert_names(err.unwrap_err(), "C_bias");
    load_params(fresh, |n| tensor(n, "", "")).unwrap();
}
