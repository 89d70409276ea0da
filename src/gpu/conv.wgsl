// Convolution as an implicit GEMM: Y[m, n] = sum_k W[k, m] * X'[k, n] + b[m], where m is the
// output channel, n = oy * OW + ox the output pixel, and k = (ci * KH + ky) * KW + kx runs
// over the input window. X' (im2col) is never stored: each tile of it is gathered from the
// input into workgroup memory. A workgroup of 16 x 16 invocations computes a 64 x 64 tile of
// Y, each invocation a 4 x 4 block, from vec4s of both operands.

struct Params {
    cin: u32, cout: u32, h: u32, w: u32,
    oh: u32, ow: u32, kh: u32, kw: u32,
    sh: u32, sw: u32, ph: u32, pw: u32,
    dh: u32, dw: u32, relu: u32, k: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
// [K, cout]: the weights transposed at upload, so that a tile's row is contiguous
@group(0) @binding(1) var<storage, read> wt: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

const TK: u32 = 16u;
// [kk][m / 4] and [kk][n / 4]: one vec4 holds 4 consecutive m (or n)
var<workgroup> a_tile: array<vec4<f32>, 256>;
var<workgroup> b_tile: array<vec4<f32>, 256>;

@compute @workgroup_size(16, 16)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let n_total = p.oh * p.ow;
    let m0 = wid.y * 64u;
    let n0 = wid.x * 64u;
    let tid = lid.y * 16u + lid.x;
    let window = p.kh * p.kw;
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    for (var k0 = 0u; k0 < p.k; k0 += TK) {
        // each invocation loads 4 of the 1024 values of each tile
        for (var i = 0u; i < 4u; i++) {
            let e = tid + i * 256u;
            let kk = e / 64u;
            let j = e % 64u;
            let k = k0 + kk;
            // weights: row k, column m0 + j
            let m = m0 + j;
            var a = 0.0;
            if (k < p.k && m < p.cout) {
                a = wt[k * p.cout + m];
            }
            a_tile[kk * 16u + j / 4u][j % 4u] = a;
            // input: window element k of output pixel n0 + j
            let n = n0 + j;
            var b = 0.0;
            if (k < p.k && n < n_total) {
                let ci = k / window;
                let r = k % window;
                let iy = i32((n / p.ow) * p.sh + (r / p.kw) * p.dh) - i32(p.ph);
                let ix = i32((n % p.ow) * p.sw + (r % p.kw) * p.dw) - i32(p.pw);
                if (iy >= 0 && iy < i32(p.h) && ix >= 0 && ix < i32(p.w)) {
                    b = x[(ci * p.h + u32(iy)) * p.w + u32(ix)];
                }
            }
            b_tile[kk * 16u + j / 4u][j % 4u] = b;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < TK; kk++) {
            let a = a_tile[kk * 16u + lid.y];
            let b = b_tile[kk * 16u + lid.x];
            acc0 += a.x * b;
            acc1 += a.y * b;
            acc2 += a.z * b;
            acc3 += a.w * b;
        }
        workgroupBarrier();
    }
    let n = n0 + lid.x * 4u;
    let rows = array<vec4<f32>, 4>(acc0, acc1, acc2, acc3);
    for (var i = 0u; i < 4u; i++) {
        let m = m0 + lid.y * 4u + i;
        if (m >= p.cout) {
            break;
        }
        for (var j = 0u; j < 4u; j++) {
            if (n + j < n_total) {
                var v = rows[i][j] + bias[m];
                if (p.relu != 0u) {
                    v = max(v, 0.0);
                }
                y[m * n_total + n + j] = v;
            }
        }
    }
}
