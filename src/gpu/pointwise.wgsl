// Per-channel affine (y = x * scale[c] + shift[c], or one scale and shift for all) and ReLU.

struct Params { n: u32, plane: u32, per_channel: u32, relu: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> scale: array<f32>;
@group(0) @binding(2) var<storage, read> shift: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.y * groups.x * 256u + gid.x;
    if (i >= p.n) {
        return;
    }
    let c = select(0u, i / p.plane, p.per_channel != 0u);
    var v = x[i] * scale[c] + shift[c];
    if (p.relu != 0u) {
        v = max(v, 0.0);
    }
    y[i] = v;
}
