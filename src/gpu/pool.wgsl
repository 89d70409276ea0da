// Max or average pool, one invocation per output value; the grid is 2-D so that large maps
// stay within the 65535 workgroups a dimension allows.

struct Params {
    c: u32, h: u32, w: u32, oh: u32,
    ow: u32, kh: u32, kw: u32, sh: u32,
    sw: u32, ph: u32, pw: u32, dh: u32,
    dw: u32, max_pool: u32, count_pad: u32, _pad: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.y * groups.x * 256u + gid.x;
    if (i >= p.c * p.oh * p.ow) {
        return;
    }
    let ox = i % p.ow;
    let oy = (i / p.ow) % p.oh;
    let c = i / (p.ow * p.oh);
    var best = -3.402823e38;
    var sum = 0.0;
    var inside = 0u;
    var padded = 0u;
    for (var ky = 0u; ky < p.kh; ky++) {
        let iy = i32(oy * p.sh + ky * p.dh) - i32(p.ph);
        for (var kx = 0u; kx < p.kw; kx++) {
            let ix = i32(ox * p.sw + kx * p.dw) - i32(p.pw);
            // ONNX count_include_pad counts the explicit padding, not what ceil_mode adds
            if (iy < i32(p.h + p.ph) && ix < i32(p.w + p.pw)) {
                padded++;
            }
            if (iy >= 0 && iy < i32(p.h) && ix >= 0 && ix < i32(p.w)) {
                let v = x[(c * p.h + u32(iy)) * p.w + u32(ix)];
                best = max(best, v);
                sum += v;
                inside++;
            }
        }
    }
    if (p.max_pool != 0u) {
        y[i] = best;
    } else if (p.count_pad != 0u) {
        y[i] = sum / f32(padded);
    } else {
        y[i] = sum / f32(max(inside, 1u));
    }
}
