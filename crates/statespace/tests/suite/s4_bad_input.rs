//! Bad input to S4 layers gets a clear error naming the problem, never a
//! panic or a silent wrong answer.

use crate::common::Draws;
use burn::backend::Flex;
use burn::tensor::{DType, Tensor};
use rand::SeedableRng;
use statespace::error::Error;
use statespace::io::HostTensor;
use statespace::layers::s4::{S4, S4Config};

type B = Flex;

fn layer(config: &S4Config) -> S4<B> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    config.init::<B>(&Default::default(), &mut rng).unwrap()
}

/// The layer's own parameters as a name → tensor lookup.
fn own_params(layer: &S4<B>) -> Vec<(String, HostTensor<f64>)> {
    let k = &layer.kernel;
    let mut out = vec![
        (
            "kernel.inv_dt".to_string(),
            HostTensor::from_tensor(&k.inv_dt.val()),
        ),
        (
            "kernel.A_real".to_string(),
            HostTensor::from_tensor(&k.A_real.val()),
        ),
        (
            "kernel.A_imag".to_string(),
            HostTensor::from_tensor(&k.A_imag.val()),
        ),
        ("kernel.B".to_string(), HostTensor::from_tensor(&k.B.val())),
        ("kernel.C".to_string(), HostTensor::from_tensor(&k.C.val())),
        ("D".to_string(), HostTensor::from_tensor(&layer.D.val())),
    ];
    if let Some(p) = &k.P {
        out.push(("kernel.P".to_string(), HostTensor::from_tensor(&p.val())));
    }
    out
}

fn lookup(
    params: Vec<(String, HostTensor<f64>)>,
) -> impl FnMut(&str) -> statespace::Result<HostTensor<f64>> {
    move |name| {
        params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t.clone())
            .ok_or_else(|| Error::MissingTensor {
                name: name.to_string(),
                source_name: "test state dict".into(),
            })
    }
}

#[test]
fn odd_state_size_is_rejected_by_name() {
    let config = S4Config {
        d_state: 63,
        ..S4Config::s4(4, 32)
    };
    let err = config.validate().unwrap_err().to_string();
    assert!(err.contains("d_state") && err.contains("63"), "{err}");
}

#[test]
fn dplr_without_l_max_is_rejected() {
    let config = S4Config {
        l_max: None,
        ..S4Config::s4(4, 32)
    };
    let err = config.validate().unwrap_err().to_string();
    assert!(err.contains("l_max"), "{err}");
}

#[test]
fn missing_or_misnamed_tensor_is_named() {
    let config = S4Config::s4(4, 32);
    let source = layer(&config);
    let mut params = own_params(&source);
    let b = params.iter().position(|(n, _)| n == "kernel.B").unwrap();
    params[b].0 = "kernel.b".to_string(); // misnamed
    let err = layer(&config)
        .load(lookup(params), Some(32))
        .unwrap_err()
        .to_string();
    assert!(err.contains("kernel.B"), "{err}");
}

#[test]
fn wrong_shape_names_tensor_and_both_shapes() {
    let config = S4Config::s4d(4);
    let source = layer(&config);
    let mut params = own_params(&source);
    let c = params.iter().position(|(n, _)| n == "kernel.C").unwrap();
    params[c].1 = HostTensor::new("kernel.C", vec![1, 4, 16, 2], vec![0.0; 128]).unwrap();
    let err = layer(&config).load(lookup(params), None).unwrap_err();
    match &err {
        Error::Shape {
            tensor,
            expected,
            actual,
        } => {
            assert_eq!(tensor, "kernel.C");
            assert_eq!(expected, &vec![1, 4, 32, 2]);
            assert_eq!(actual, &vec![1, 4, 16, 2]);
        }
        other => panic!("expected a shape error, got {other}"),
    }
}

#[test]
fn nan_step_size_is_rejected() {
    let config = S4Config::s4d(4);
    let source = layer(&config);
    let mut params = own_params(&source);
    let dt = params
        .iter()
        .position(|(n, _)| n == "kernel.inv_dt")
        .unwrap();
    params[dt].1.data[2] = f64::NAN;
    let err = layer(&config)
        .load(lookup(params), None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("kernel.inv_dt") && err.contains("NaN"),
        "{err}"
    );
}

#[test]
fn wrong_input_width_and_too_long_sequences_are_errors() {
    let s4 = layer(&S4Config::s4(4, 32));
    let mut draws = Draws::new(4);
    let x = draws.normal::<B, 3>([2, 16, 5], DType::F32);
    let err = s4.forward(x).unwrap_err().to_string();
    assert!(err.contains("input") && err.contains("5"), "{err}");
    let long = draws.normal::<B, 3>([1, 64, 4], DType::F32);
    let err = s4.forward(long).unwrap_err().to_string();
    assert!(err.contains("attune"), "{err}");
}

#[test]
fn attuning_to_a_longer_length_keeps_the_kernel() {
    let mut s4 = layer(&S4Config::s4(4, 32));
    let before = HostTensor::from_tensor(&s4.kernel.kernel(32).unwrap());
    s4.attune(100);
    let after = HostTensor::from_tensor(&s4.kernel.kernel(100).unwrap().narrow(2, 0, 32));
    let err = statespace::golden::rel_err(&after.data, &before.data);
    assert!(err < 1e-4, "kernel changed by {err:.2e} when re-attuned");
}

#[test]
fn recurrent_state_of_wrong_batch_is_an_error() {
    let s4 = layer(&S4Config::s4d(4));
    let rec = s4.recurrent().unwrap();
    let state = rec.initial_state(3);
    let u = Tensor::<B, 2>::zeros([2, 4], &Default::default());
    let err = rec.step(&state, u).unwrap_err().to_string();
    assert!(err.contains("state"), "{err}");
}
