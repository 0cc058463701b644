// The stage screen: the StandardMaterial (unlit, the slate as its texture)
// with the host's video drawn over it from three I420 planes. Y'CbCr to
// R'G'B' here, on the GPU, then to linear light like any sRGB texture;
// lighting, fog and tonemapping stay Bevy's own.
#import bevy_pbr::{
    pbr_fragment::pbr_input_from_standard_material,
    pbr_functions::alpha_discard,
}
#import bevy_render::color_operations::srgb_to_linear

#ifdef PREPASS_PIPELINE
#import bevy_pbr::{
    prepass_io::{VertexOutput, FragmentOutput},
    pbr_deferred_functions::deferred_output,
}
#else
#import bevy_pbr::{
    forward_io::{VertexOutput, FragmentOutput},
    pbr_functions::{apply_pbr_lighting, main_pass_post_lighting_processing},
    pbr_types::STANDARD_MATERIAL_FLAGS_UNLIT_BIT,
}
#endif

// 0: the slate (the base texture); 1: video, BT.601; 2: video, BT.709.
@group(#{MATERIAL_BIND_GROUP}) @binding(100) var<uniform> mode: u32;
@group(#{MATERIAL_BIND_GROUP}) @binding(101) var y_plane: texture_2d<f32>;
@group(#{MATERIAL_BIND_GROUP}) @binding(102) var plane_sampler: sampler;
@group(#{MATERIAL_BIND_GROUP}) @binding(103) var u_plane: texture_2d<f32>;
@group(#{MATERIAL_BIND_GROUP}) @binding(104) var v_plane: texture_2d<f32>;

// Limited-range Y'CbCr (16-235, 16-240), as encoders write it.
fn yuv_to_rgb(y: f32, u: f32, v: f32, bt709: bool) -> vec3<f32> {
    let c = (y - 16.0 / 255.0) * (255.0 / 219.0);
    let d = (u - 128.0 / 255.0) * (255.0 / 224.0);
    let e = (v - 128.0 / 255.0) * (255.0 / 224.0);
    var rgb: vec3<f32>;
    if bt709 {
        rgb = vec3(c + 1.5748 * e, c - 0.1873 * d - 0.4681 * e, c + 1.8556 * d);
    } else {
        rgb = vec3(c + 1.402 * e, c - 0.3441 * d - 0.7141 * e, c + 1.772 * d);
    }
    return clamp(rgb, vec3(0.0), vec3(1.0));
}

@fragment
fn fragment(in: VertexOutput, @builtin(front_facing) is_front: bool) -> FragmentOutput {
    var pbr_input = pbr_input_from_standard_material(in, is_front);
    if mode != 0u {
        let y = textureSample(y_plane, plane_sampler, in.uv).r;
        let u = textureSample(u_plane, plane_sampler, in.uv).r;
        let v = textureSample(v_plane, plane_sampler, in.uv).r;
        let rgb = yuv_to_rgb(y, u, v, mode == 2u);
        pbr_input.material.base_color = vec4(srgb_to_linear(rgb), 1.0);
    }
    pbr_input.material.base_color = alpha_discard(pbr_input.material, pbr_input.material.base_color);
#ifdef PREPASS_PIPELINE
    let out = deferred_output(in, pbr_input);
#else
    var out: FragmentOutput;
    if (pbr_input.material.flags & STANDARD_MATERIAL_FLAGS_UNLIT_BIT) == 0u {
        out.color = apply_pbr_lighting(pbr_input);
    } else {
        out.color = pbr_input.material.base_color;
    }
    out.color = main_pass_post_lighting_processing(pbr_input, out.color);
#endif
    return out;
}
