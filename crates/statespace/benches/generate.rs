//! Criterion benchmark of batch-1 generation with random-weight models of
//! the mamba-130m and mamba2-130m shapes on the CPU: prefill of a 512-token
//! prompt (parallel scan) and one decoded token (recurrent step). The CLI's
//! `ssm bench generate` measures the same in one shot for peer comparisons
//! (docs/BENCHMARKS.md).

use burn::backend::Flex;
use criterion::{Criterion, criterion_group, criterion_main};
use statespace::generate::{Generator, Sampling};
use statespace::layers::mamba::MambaConfig;
use statespace::layers::mamba2::Mamba2Config;
use statespace::models::{LmConfig, MixerConfig};

fn shape(mixer: MixerConfig) -> LmConfig {
    LmConfig {
        vocab_size: 50280,
        n_layer: 24,
        mixer,
        norm_eps: 1e-5,
        tie_embeddings: true,
    }
}

fn generation(c: &mut Criterion) {
    let device = Default::default();
    let prompt: Vec<i64> = (0..512).map(|i| (i * 7919 % 50000) as i64).collect();
    let mut group = c.benchmark_group("generate");
    group.sample_size(10);
    for (name, config) in [
        (
            "mamba-130m",
            shape(MixerConfig::Mamba(MambaConfig::new(768))),
        ),
        (
            "mamba2-130m",
            shape(MixerConfig::Mamba2(Mamba2Config::new(768))),
        ),
    ] {
        let model = config
            .init::<Flex>(
                &device,
                &mut <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(1),
            )
            .expect("valid shape");
        group.bench_function(format!("{name}/prefill_512"), |b| {
            b.iter(|| Generator::new(&model, &prompt, Sampling::default(), 512, &device).unwrap())
        });
        let mut generator =
            Generator::new(&model, &prompt[..8], Sampling::default(), 1 << 20, &device).unwrap();
        group.bench_function(format!("{name}/decode_token"), |b| {
            b.iter(|| generator.next_token().unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, generation);
criterion_main!(benches);
