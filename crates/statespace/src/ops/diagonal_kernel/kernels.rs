//! The CubeCL kernels of the discretisation, f32, one unit per mode (h, n):
//! transcriptions of [`super::discretize`]'s formulas. All tensors packed.

use burn_cubecl::cubecl;
use burn_cubecl::cubecl::prelude::*;

use super::discretize::{SERIES_RADIUS, SERIES_TERMS};

/// A complex number in f32.
#[derive(CubeType, Clone, Copy)]
struct Cf {
    re: f32,
    im: f32,
}

#[cube]
impl Cf {
    fn new(re: f32, im: f32) -> Cf {
        Cf { re, im }
    }

    fn plus(self, o: Cf) -> Cf {
        Cf::new(self.re + o.re, self.im + o.im)
    }

    fn minus(self, o: Cf) -> Cf {
        Cf::new(self.re - o.re, self.im - o.im)
    }

    fn times(self, o: Cf) -> Cf {
        Cf::new(
            self.re * o.re - self.im * o.im,
            self.re * o.im + self.im * o.re,
        )
    }

    fn scale(self, s: f32) -> Cf {
        Cf::new(self.re * s, self.im * s)
    }

    fn over(self, o: Cf) -> Cf {
        let norm = o.re * o.re + o.im * o.im;
        Cf::new(
            (self.re * o.re + self.im * o.im) / norm,
            (self.im * o.re - self.re * o.im) / norm,
        )
    }

    fn conj(self) -> Cf {
        Cf::new(self.re, -self.im)
    }

    fn exp(self) -> Cf {
        let magnitude = self.re.exp();
        Cf::new(magnitude * self.im.cos(), magnitude * self.im.sin())
    }
}

/// φ₁(z) = (eᶻ − 1)/z and φ₁′(z) (see `discretize::phi1`: the series below
/// |z| = `SERIES_RADIUS`, the closed forms above).
#[cube]
fn phi1(z: Cf) -> (Cf, Cf) {
    let mut f_re = 0.0f32;
    let mut f_im = 0.0f32;
    let mut d_re = 0.0f32;
    let mut d_im = 0.0f32;
    let radius = SERIES_RADIUS as f32;
    if z.re * z.re + z.im * z.im < radius * radius {
        let mut t_re = 1.0f32;
        let mut t_im = 0.0f32;
        for k in 0..SERIES_TERMS {
            let k = f32::cast_from(k);
            f_re += t_re;
            f_im += t_im;
            let weight = (k + 1.0) / (k + 2.0);
            d_re += t_re * weight;
            d_im += t_im * weight;
            let next = Cf::new(t_re, t_im).times(z).scale(1.0 / (k + 2.0));
            t_re = next.re;
            t_im = next.im;
        }
    } else {
        let one = Cf::new(1.0, 0.0);
        let e = z.exp();
        let f = e.minus(one).over(z);
        let d = e.times(z.minus(one)).plus(one).over(z.times(z));
        f_re = f.re;
        f_im = f.im;
        d_re = d.re;
        d_im = d.im;
    }
    (Cf::new(f_re, f_im), Cf::new(d_re, d_im))
}

/// log(1 + u), accurate for small u.
#[cube]
fn ln_1p(u: Cf) -> Cf {
    Cf::new(
        0.5 * (2.0 * u.re + u.re * u.re + u.im * u.im).log1p(),
        f32::atan2(u.im, 1.0 + u.re),
    )
}

/// (w, p) of one mode (see `discretize::discretize`).
#[cube]
fn discretize(dt: f32, a: Cf, b: Cf, #[comptime] bilinear: bool) -> (Cf, Cf) {
    let one = Cf::new(1.0, 0.0);
    let z = a.scale(dt);
    if bilinear {
        let den = one.minus(z.scale(0.5));
        (ln_1p(z.over(den)), b.scale(dt).over(den))
    } else {
        let (f, _) = phi1(z);
        (z, b.times(f).scale(dt))
    }
}

/// w (H, N) and coef = C·p (C, H, N) of the system Δ (H), A and B (H, N),
/// C (C, H, N); `modes` = N, `channels` = C; one unit per (h, n).
#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
pub fn discretize_forward(
    dt: &Tensor<f32>,
    a_re: &Tensor<f32>,
    a_im: &Tensor<f32>,
    b_re: &Tensor<f32>,
    b_im: &Tensor<f32>,
    c_re: &Tensor<f32>,
    c_im: &Tensor<f32>,
    w_re: &mut Tensor<f32>,
    w_im: &mut Tensor<f32>,
    coef_re: &mut Tensor<f32>,
    coef_im: &mut Tensor<f32>,
    modes: u32,
    channels: u32,
    #[comptime] bilinear: bool,
) {
    let i = ABSOLUTE_POS;
    let count = a_re.len();
    if i >= count {
        terminate!();
    }
    let a = Cf::new(a_re[i], a_im[i]);
    let b = Cf::new(b_re[i], b_im[i]);
    let (w, p) = discretize(dt[i / modes as usize], a, b, bilinear);
    w_re[i] = w.re;
    w_im[i] = w.im;
    for c in 0..channels as usize {
        let j = c * count + i;
        let coef = Cf::new(c_re[j], c_im[j]).times(p);
        coef_re[j] = coef.re;
        coef_im[j] = coef.im;
    }
}

/// One mode's gradients: ∂Δ (its share), ∂A, ∂B.
#[derive(CubeType)]
struct ModeGrads {
    dt: f32,
    a: Cf,
    b: Cf,
}

/// ZOH: w = z; p = B·q, q = Δ·φ₁(z): ∂q/∂A = Δ²·φ₁′(z), ∂q/∂Δ = eᶻ.
#[cube]
fn zoh_grads(dt: f32, a: Cf, b: Cf, grad_w: Cf, grad_p: Cf) -> ModeGrads {
    let z = a.scale(dt);
    let (f, d) = phi1(z);
    let grad_q = grad_p.times(b.conj());
    ModeGrads {
        dt: grad_w.times(a.conj()).re + grad_q.times(z.exp().conj()).re,
        a: grad_w.scale(dt).plus(grad_q.times(d.scale(dt * dt).conj())),
        b: grad_p.times(f.scale(dt).conj()),
    }
}

/// Bilinear: w = log(n/d), n = 1 + z/2, d = 1 − z/2, ∂w/∂z = 1/(n·d);
/// p = B·q, q = Δ/d: ∂q/∂z = Δ/(2d²), ∂q/∂Δ (z fixed) = 1/d.
#[cube]
fn bilinear_grads(dt: f32, a: Cf, b: Cf, grad_w: Cf, grad_p: Cf) -> ModeGrads {
    let one = Cf::new(1.0, 0.0);
    let z = a.scale(dt);
    let num = one.plus(z.scale(0.5));
    let den = one.minus(z.scale(0.5));
    let q = one.scale(dt).over(den);
    let grad_q = grad_p.times(b.conj());
    let grad_z = grad_w
        .times(one.over(num.times(den)).conj())
        .plus(grad_q.times(one.scale(0.5 * dt).over(den.times(den)).conj()));
    ModeGrads {
        dt: grad_z.times(a.conj()).re + grad_q.times(one.over(den).conj()).re,
        a: grad_z.scale(dt),
        b: grad_p.times(q.conj()),
    }
}

/// ∂A, ∂B (H, N), ∂C (C, H, N) and each mode's share of ∂Δ (H, N; the
/// caller sums over N) from ∂w (H, N) and ∂coef (C, H, N) (see
/// `discretize::discretize_backward`); one unit per (h, n).
#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
pub fn discretize_backward(
    dt: &Tensor<f32>,
    a_re: &Tensor<f32>,
    a_im: &Tensor<f32>,
    b_re: &Tensor<f32>,
    b_im: &Tensor<f32>,
    c_re: &Tensor<f32>,
    c_im: &Tensor<f32>,
    grad_w_re: &Tensor<f32>,
    grad_w_im: &Tensor<f32>,
    grad_coef_re: &Tensor<f32>,
    grad_coef_im: &Tensor<f32>,
    grad_dt_part: &mut Tensor<f32>,
    grad_a_re: &mut Tensor<f32>,
    grad_a_im: &mut Tensor<f32>,
    grad_b_re: &mut Tensor<f32>,
    grad_b_im: &mut Tensor<f32>,
    grad_c_re: &mut Tensor<f32>,
    grad_c_im: &mut Tensor<f32>,
    modes: u32,
    channels: u32,
    #[comptime] bilinear: bool,
) {
    let i = ABSOLUTE_POS;
    let count = a_re.len();
    if i >= count {
        terminate!();
    }
    let dt = dt[i / modes as usize];
    let a = Cf::new(a_re[i], a_im[i]);
    let b = Cf::new(b_re[i], b_im[i]);
    let (_, p) = discretize(dt, a, b, bilinear);
    // ∂p = Σ_c ∂coef·conj(C); ∂C = ∂coef·conj(p).
    let mut grad_p_re = 0.0f32;
    let mut grad_p_im = 0.0f32;
    for c in 0..channels as usize {
        let j = c * count + i;
        let grad_coef = Cf::new(grad_coef_re[j], grad_coef_im[j]);
        let share = grad_coef.times(Cf::new(c_re[j], c_im[j]).conj());
        grad_p_re += share.re;
        grad_p_im += share.im;
        let grad_c = grad_coef.times(p.conj());
        grad_c_re[j] = grad_c.re;
        grad_c_im[j] = grad_c.im;
    }
    let grad_w = Cf::new(grad_w_re[i], grad_w_im[i]);
    let grad_p = Cf::new(grad_p_re, grad_p_im);
    let grads = if bilinear {
        bilinear_grads(dt, a, b, grad_w, grad_p)
    } else {
        zoh_grads(dt, a, b, grad_w, grad_p)
    };
    grad_dt_part[i] = grads.dt;
    grad_a_re[i] = grads.a.re;
    grad_a_im[i] = grads.a.im;
    grad_b_re[i] = grads.b.re;
    grad_b_im[i] = grads.b.im;
}
