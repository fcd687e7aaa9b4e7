//! Matrix products of the CPU pass: one safe wrapper around gemm, and the linear layer on it.
//!
//! gemm takes raw pointers with row and column strides, which is what lets attention read Q, K
//! and V inside the fused projection's output and write each head's context in place. Those
//! pointers are only sound when every strided element lies inside its buffer, so every product
//! goes through `MatMul::run`, which checks that once against the slices and holds the one
//! `unsafe` call. It passes gemm exactly what its callers describe, so the arithmetic is gemm's
//! own: no copies, no reordering.

use gemm_common::simd::MixedSimd;

use super::{Linear, Vectors};

/// Where a matrix's elements lie in its slice: element (i, j) is at `i * row + j * col`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Strides {
    pub(super) row: usize,
    pub(super) col: usize,
}

impl Strides {
    /// Rows `row` elements apart with adjacent columns: a row-major matrix of `row` columns, or
    /// a band of columns inside a wider row-major one.
    pub(super) const fn rows(row: usize) -> Self {
        Self { row, col: 1 }
    }

    /// The same elements read as the transpose: (i, j) is where (j, i) was.
    pub(super) const fn transposed(self) -> Self {
        Self {
            row: self.col,
            col: self.row,
        }
    }

    /// Panics unless a slice of `len` elements holds a `rows` × `cols` matrix laid out this
    /// way, with strides that fit gemm's signed offsets. `operand` names it in the message.
    fn assert_holds(self, rows: usize, cols: usize, len: usize, operand: &str) {
        let fits = if rows == 0 || cols == 0 {
            true
        } else {
            // The last element's index, if it does not overflow, must lie inside the slice.
            (rows - 1)
                .checked_mul(self.row)
                .zip((cols - 1).checked_mul(self.col))
                .and_then(|(down, across)| down.checked_add(across))
                .is_some_and(|last| last < len)
        };
        assert!(
            fits && isize::try_from(self.row).is_ok() && isize::try_from(self.col).is_ok(),
            "gemm {operand}: {len} elements cannot hold {rows} × {cols} at {self:?}"
        );
    }
}

/// One product `dst = scale · lhs · rhs`, or `dst += scale · lhs · rhs` when `accumulate`:
/// `dst` is `rows` × `cols`, `lhs` `rows` × `depth` and `rhs` `depth` × `cols`, each laid out
/// by its strides. It runs on the calling thread; the pass parallelises across chunks instead.
#[derive(Debug, Clone, Copy)]
pub(super) struct MatMul {
    pub(super) rows: usize,
    pub(super) cols: usize,
    pub(super) depth: usize,
    pub(super) dst: Strides,
    pub(super) lhs: Strides,
    pub(super) rhs: Strides,
    pub(super) accumulate: bool,
    pub(super) scale: f32,
}

impl MatMul {
    /// Runs the product on the matrices at the start of each slice.
    ///
    /// # Panics
    /// When a slice is too short for its matrix as the strides lay it out.
    #[inline(always)]
    pub(super) fn run(&self, dst: &mut [f32], lhs: &[f32], rhs: &[f32]) {
        self.dst
            .assert_holds(self.rows, self.cols, dst.len(), "destination");
        self.lhs
            .assert_holds(self.rows, self.depth, lhs.len(), "left operand");
        self.rhs
            .assert_holds(self.depth, self.cols, rhs.len(), "right operand");
        // gemm computes dst := alpha·dst + beta·lhs·rhs, reading dst only when asked to.
        let alpha = if self.accumulate { 1.0 } else { 0.0 };
        // SAFETY: the asserts above put every element gemm touches through these pointers and
        // strides inside its slice, and the strides fit in isize. `dst` is borrowed mutably, so
        // it overlaps neither operand; the operands are only read.
        unsafe {
            gemm_of_family(
                Vectors::in_use(),
                self.rows,
                self.cols,
                self.depth,
                dst.as_mut_ptr(),
                [self.dst.col as isize, self.dst.row as isize],
                self.accumulate,
                lhs.as_ptr(),
                [self.lhs.col as isize, self.lhs.row as isize],
                rhs.as_ptr(),
                [self.rhs.col as isize, self.rhs.row as isize],
                alpha,
                self.scale,
            );
        }
    }
}

/// `gemm::gemm` for f32 with the kernel family chosen by the caller instead of the widest this
/// CPU has (`kernel.rs`): the same steps (the destination made row-oriented by transposing the
/// product, then gemm's blocked product with that family's microkernels). Strides are
/// `[column, row]` and never negative here.
///
/// # Safety
/// As `gemm::gemm`: every element the strides reach lies in its buffer, `dst` overlaps neither
/// operand, and `family` runs on this CPU.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn gemm_of_family(
    family: Vectors,
    m: usize,
    n: usize,
    k: usize,
    dst: *mut f32,
    [dst_cs, dst_rs]: [isize; 2],
    read_dst: bool,
    lhs: *const f32,
    [lhs_cs, lhs_rs]: [isize; 2],
    rhs: *const f32,
    [rhs_cs, rhs_rs]: [isize; 2],
    alpha: f32,
    beta: f32,
) {
    // gemm's microkernels prefer a column-major destination: transpose the product otherwise.
    let (m, n, dst_cs, dst_rs, lhs, lhs_cs, lhs_rs, rhs, rhs_cs, rhs_rs) =
        if dst_cs.abs() < dst_rs.abs() {
            (
                n, m, dst_rs, dst_cs, rhs, rhs_rs, rhs_cs, lhs, lhs_rs, lhs_cs,
            )
        } else {
            (
                m, n, dst_cs, dst_rs, lhs, lhs_cs, lhs_rs, rhs, rhs_cs, rhs_rs,
            )
        };
    // Each family's lanes of f32, as gemm's own dispatch instantiates it.
    macro_rules! with {
        ($simd:ty, $kernels:path, $lanes:literal) => {{
            use $kernels as kernels;
            // SAFETY: the caller's contract, and `family` runs here (so `try_new` succeeds).
            unsafe {
                gemm_common::gemm::gemm_basic_generic::<
                    _,
                    f32,
                    $lanes,
                    { kernels::MR_DIV_N * $lanes },
                    { kernels::NR },
                    { kernels::MR_DIV_N },
                    { kernels::H_M },
                    { kernels::H_N },
                >(
                    <$simd as MixedSimd<f32, f32, f32, f32>>::try_new()
                        .expect("the kernel family runs on this CPU"),
                    m,
                    n,
                    k,
                    dst,
                    dst_cs,
                    dst_rs,
                    read_dst,
                    lhs,
                    lhs_cs,
                    lhs_rs,
                    rhs,
                    rhs_cs,
                    rhs_rs,
                    alpha,
                    beta,
                    false,
                    false,
                    false,
                    |a, b, c| a * b + c,
                    &kernels::UKR,
                    &kernels::H_UKR,
                    false,
                    gemm_common::Parallelism::None,
                )
            }
        }};
    }
    match family {
        #[cfg(target_arch = "x86_64")]
        Vectors::Avx512 => with!(
            gemm_common::simd::V4,
            gemm_f32::microkernel::avx512f::f32,
            16
        ),
        #[cfg(target_arch = "x86_64")]
        Vectors::Avx2 => with!(gemm_common::simd::V3, gemm_f32::microkernel::fma::f32, 8),
        _ => with!(
            gemm_common::simd::Scalar,
            gemm_f32::microkernel::scalar::f32,
            1
        ),
    }
}

/// `out = start + xs · W + b`, where `start` is zero or a residual of the same shape as `out`.
/// `rounded` is scratch space for the bf16 product.
#[inline(always)]
pub(super) fn linear(
    xs: &[f32],
    layer: &Linear,
    residual: Option<&[f32]>,
    out: &mut [f32],
    rounded: &mut Vec<u32>,
) {
    let rows = xs.len() / layer.n_in;
    debug_assert_eq!(out.len(), rows * layer.n_out);
    match residual {
        Some(residual) => {
            for (row, res) in out
                .chunks_exact_mut(layer.n_out)
                .zip(residual.chunks_exact(layer.n_out))
            {
                for ((o, r), b) in row.iter_mut().zip(res).zip(&layer.bias) {
                    *o = r + b;
                }
            }
        }
        None => {
            for row in out.chunks_exact_mut(layer.n_out) {
                row.copy_from_slice(&layer.bias);
            }
        }
    }
    if let Some(packed) = &layer.packed {
        packed.matmul_add(xs, out, rounded);
        return;
    }
    MatMul {
        rows,
        cols: layer.n_out,
        depth: layer.n_in,
        dst: Strides::rows(layer.n_out),
        lhs: Strides::rows(layer.n_in),
        rhs: Strides::rows(layer.n_out),
        accumulate: true,
        scale: 1.0,
    }
    .run(out, xs, &layer.weight_t);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: usize, seed: u32) -> Vec<f32> {
        (0..n)
            .map(|i| (((i as u32).wrapping_mul(2_654_435_761) ^ seed) % 1000) as f32 / 500.0 - 1.0)
            .collect()
    }

    /// Element (i, j) of a matrix laid out by `strides` in `data`.
    fn at(data: &[f32], strides: Strides, i: usize, j: usize) -> f64 {
        f64::from(data[i * strides.row + j * strides.col])
    }

    #[test]
    fn strided_and_transposed_operands_give_the_plain_product() {
        // A 3 × 2 destination in columns 1..3 of rows 5 apart, a 3 × 4 left operand in rows 6
        // apart, and a 4 × 2 right operand stored transposed (2 rows of 4, 7 apart).
        let product = MatMul {
            rows: 3,
            cols: 2,
            depth: 4,
            dst: Strides::rows(5),
            lhs: Strides::rows(6),
            rhs: Strides::rows(7).transposed(),
            accumulate: true,
            scale: 0.5,
        };
        let lhs = values(3 * 6, 1);
        let rhs = values(2 * 7, 2);
        let start = values(3 * 5, 3);
        let mut dst = start.clone();
        product.run(&mut dst[1..], &lhs, &rhs);
        for i in 0..3 {
            for j in 0..5 {
                let got = f64::from(dst[i * 5 + j]);
                let want = if (1..3).contains(&j) {
                    let sum: f64 = (0..4)
                        .map(|p| at(&lhs, product.lhs, i, p) * at(&rhs, product.rhs, p, j - 1))
                        .sum();
                    f64::from(start[i * 5 + j]) + 0.5 * sum
                } else {
                    f64::from(start[i * 5 + j])
                };
                assert!((got - want).abs() < 1e-5, "({i}, {j}): {got} vs {want}");
            }
        }
    }

    #[test]
    #[should_panic(expected = "gemm left operand")]
    fn an_operand_shorter_than_its_strides_reach_is_refused() {
        let product = MatMul {
            rows: 2,
            cols: 2,
            depth: 2,
            dst: Strides::rows(2),
            lhs: Strides::rows(3),
            rhs: Strides::rows(2),
            accumulate: false,
            scale: 1.0,
        };
        // The left operand's last element is at 1 · 3 + 1 = 4, past a slice of 4.
        product.run(&mut [0.0; 4], &[0.0; 4], &[0.0; 4]);
    }
}
