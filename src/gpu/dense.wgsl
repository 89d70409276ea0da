// A dense layer at batch 1 is a matrix-vector product. One workgroup of 64 invocations per
// output row: each sums vec4 products along the row (consecutive invocations read
// consecutive vec4s), then the workgroup adds the 64 partial sums in a tree. A large weight
// matrix arrives as several bindings of whole rows (`row0` says where this one starts).

struct Params { k4: u32, rows: u32, row0: u32, relu: u32 }

// the input vector, zero-padded to a multiple of 4
@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
// [rows, k4] vec4s: each row zero-padded to a multiple of 4
@group(0) @binding(1) var<storage, read> wt: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

var<workgroup> partial: array<f32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let r = wid.y * groups.x + wid.x;
    var s = 0.0;
    if (r < p.rows) {
        let base = r * p.k4;
        for (var i = lid.x; i < p.k4; i += 64u) {
            s += dot(x[i], wt[base + i]);
        }
    }
    partial[lid.x] = s;
    workgroupBarrier();
    for (var stride = 32u; stride > 0u; stride /= 2u) {
        if (lid.x < stride) {
            partial[lid.x] += partial[lid.x + stride];
        }
        workgroupBarrier();
    }
    if (lid.x == 0u && r < p.rows) {
        var v = partial[0] + bias[p.row0 + r];
        if (p.relu != 0u) {
            v = max(v, 0.0);
        }
        y[p.row0 + r] = v;
    }
}
