//! The patch of burn's crates in vendor/ holds: the strides burn-std gives a
//! reshaped view (vendor/burn-std/PATCHED.md), which CubeCL devices use and
//! the CPU backend does not, so only the GPU's parity checks see them in
//! use (`parity::carried_step_checks`).

use burn_std::tensor::split_strides;

/// The (size, stride) of each axis stepped along (size above 1).
fn real_axes(shape: &[usize], strides: &[usize]) -> Vec<(usize, usize)> {
    shape
        .iter()
        .zip(strides)
        .filter(|(size, _)| **size > 1)
        .map(|(&size, &stride)| (size, stride))
        .collect()
}

#[test]
fn reshaped_views_keep_the_strides_of_their_real_axes() {
    // Mamba's B at one step: columns of a (3, 1, 33) projection,
    // transposed to (3, 16, 1) with strides (33, 1, 33), then unsqueezed.
    let new = [3, 1, 16, 1];
    let strides = split_strides(&[3, 16, 1], &[33, 1, 33], &new);
    assert_eq!(real_axes(&new, &strides), [(3, 33), (16, 1)]);
    // A broadcast (stride 0) unit axis, unsqueezed.
    let new = [26, 1, 1];
    let strides = split_strides(&[26, 1], &[1, 0], &new);
    assert_eq!(real_axes(&new, &strides), [(26, 1)]);
    // Unit axes between real ones, and a real axis split in two.
    let new = [4, 1, 2, 3, 1];
    let strides = split_strides(&[4, 1, 6, 1], &[60, 7, 10, 3], &new);
    assert_eq!(real_axes(&new, &strides), [(4, 60), (2, 30), (3, 10)]);
    // Unchanged where there is no unit axis: one axis split in three.
    let new = [2, 3, 4];
    let strides = split_strides(&[24], &[5], &new);
    assert_eq!(real_axes(&new, &strides), [(2, 60), (3, 20), (4, 5)]);
}
