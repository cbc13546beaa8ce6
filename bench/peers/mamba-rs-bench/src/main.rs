//! Peer benchmark: the `mamba-rs` crate (0.4.2), CPU `MambaLM`, batch 1, f32, random weights
//! loaded from the HF folder written by make_models.py. Mamba-1 only (its loader rejects Mamba-2).
//!
//! usage: mamba-rs-bench <hf_dir> [prompt=512] [decode=128] [decode_prompt=8] [reps=3]
//! prefill: generate_streaming(prompt, max_tokens=1); time to the first callback
//!          (= sequential step-by-step prefill + one lm_head), median of reps.
//! decode:  generate_streaming(short prompt, max_tokens=decode, greedy, no EOS);
//!          (decode-1) / (t_last - t_first) from callback stamps.
use std::path::Path;
use std::time::Instant;

use mamba_rs::module::lm::MambaLM;
use mamba_rs::module::sample::SampleParams;

fn stamps(lm: &mut MambaLM, prompt: &[u32], n: usize) -> (Instant, Vec<Instant>) {
    let params = SampleParams {
        temperature: 0.0,
        max_tokens: n,
        eos_token_ids: vec![],
        ..SampleParams::default()
    };
    let mut ts = Vec::with_capacity(n);
    let t0 = Instant::now();
    lm.generate_streaming(prompt, &params, |_, _| ts.push(Instant::now()));
    (t0, ts)
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let dir = a.get(1).expect("usage: mamba-rs-bench <hf_dir> [prompt] [decode] [decode_prompt] [reps]");
    let arg = |i: usize, d: usize| a.get(i).map_or(d, |s| s.parse().unwrap());
    let (np, nd, ndp, reps) = (arg(2, 512), arg(3, 128), arg(4, 8), arg(5, 3));
    let name = a.get(6).cloned().unwrap_or_else(|| "mamba-130m".into());
    let mut lm = MambaLM::from_hf(Path::new(dir)).expect("load");
    let prompt: Vec<u32> = (0..np).map(|i| (i * 7919 % 50000) as u32).collect();
    let short: Vec<u32> = prompt[..ndp.min(np)].to_vec();

    let _ = stamps(&mut lm, &short, 4); // warm-up
    let mut pre = Vec::new();
    for _ in 0..reps.max(1) {
        let (t0, ts) = stamps(&mut lm, &prompt, 1);
        pre.push((ts[0] - t0).as_secs_f64());
    }
    pre.sort_by(f64::total_cmp);
    let pre_med = pre[pre.len() / 2];
    let (_, ts) = stamps(&mut lm, &short, nd);
    assert_eq!(ts.len(), nd);
    let dec = (nd - 1) as f64 / (ts[nd - 1] - ts[0]).as_secs_f64();
    println!(
        "{{\"peer\": \"mamba-rs\", \"model\": \"{name}\", \"batch\": 1, \"dtype\": \"float32\", \"prompt\": {np}, \"prefill_tok_s\": {:.1}, \"prefill_s_all\": {:?}, \"decode_prompt\": {ndp}, \"decode_tokens\": {nd}, \"decode_tok_s\": {dec:.2}, \"threads\": 1, \"version\": \"0.4.2\"}}",
        np as f64 / pre_med,
        pre
    );
}
