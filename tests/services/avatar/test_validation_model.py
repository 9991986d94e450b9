"""Meshes, morph targets, nodes, skins, animations, images, extensions and the platform's limits."""

from __future__ import annotations

import struct

import pytest

from services.avatar.extensions import KNOWN_EXTENSIONS
from services.avatar.report import Severity, ValidationLimits
from services.avatar.validation import validate_glb
from tests.services.avatar.glb_samples import DELETE, edited_glb, png_bytes
from tests.services.avatar.test_validation_data import errors, warnings

PRIMITIVE = "/meshes/0/primitives/0"


def test_indices_out_of_vertex_range_are_read_from_the_data() -> None:
    # The weights' float bytes (1.0 = 00 00 80 3f) read as unsigned shorts give index 16256 of three vertices.
    report = validate_glb(edited_glb({"accessors.6.bufferView": 3}))
    assert errors(report) == [("MESH_PRIMITIVE_INDEX_OUT_OF_RANGE", f"{PRIMITIVE}/indices")]


def test_indices_must_be_unsigned_scalars() -> None:
    report = validate_glb(edited_glb({"meshes.0.primitives.0.indices": 1}))
    assert ("MESH_PRIMITIVE_INDICES_INVALID", f"{PRIMITIVE}/indices") in errors(report)


def test_attribute_index_out_of_range() -> None:
    report = validate_glb(edited_glb({"meshes.0.primitives.0.attributes.POSITION": 500}))
    assert ("INDEX_OUT_OF_RANGE", f"{PRIMITIVE}/attributes/POSITION") in errors(report)


def test_attributes_of_unequal_counts() -> None:
    report = validate_glb(edited_glb({"accessors.1.count": 2}))
    assert ("MESH_PRIMITIVE_UNEQUAL_ACCESSOR_COUNT", f"{PRIMITIVE}/attributes/TEXCOORD_0") in errors(report)


def test_quantized_positions_need_the_extension() -> None:
    quantized = {"accessors.0.componentType": 5123, "accessors.0.min": DELETE, "accessors.0.max": DELETE}
    report = validate_glb(edited_glb(quantized))
    assert ("MESH_PRIMITIVE_ATTRIBUTE_INVALID", f"{PRIMITIVE}/attributes/POSITION") in errors(report)
    assert validate_glb(edited_glb({**quantized, "extensionsUsed": ["KHR_mesh_quantization"]})).valid


def test_invalid_primitive_mode() -> None:
    assert ("MESH_PRIMITIVE_INVALID_MODE", f"{PRIMITIVE}/mode") in errors(
        validate_glb(edited_glb({"meshes.0.primitives.0.mode": 9}))
    )


def test_morph_target_with_a_different_vertex_count() -> None:
    report = validate_glb(edited_glb({"accessors.5.count": 2}))
    assert ("MORPH_TARGET_ATTRIBUTE_COUNT_MISMATCH", f"{PRIMITIVE}/targets/1") in errors(report)


def test_mesh_weights_must_match_the_targets() -> None:
    report = validate_glb(edited_glb({"meshes.0.weights": [0, 0, 0]}))
    assert ("MESH_INVALID_WEIGHTS_COUNT", "/meshes/0/weights") in errors(report)


def test_target_names_that_do_not_match_are_a_warning() -> None:
    report = validate_glb(edited_glb({"meshes.0.extras.targetNames": ["jawOpen"]}))
    assert report.valid
    assert warnings(report) == [("MORPH_TARGET_NAMES_MISMATCH", "/meshes/0/extras/targetNames")]


def test_node_hierarchy_loop() -> None:
    report = validate_glb(edited_glb({"nodes.3.children": [0]}))
    assert ("NODE_LOOP", "/nodes/0") in errors(report)
    assert ("SCENE_NON_ROOT_NODE", "/scenes/0/nodes/0") in errors(report)


def test_node_with_two_parents() -> None:
    report = validate_glb(edited_glb({"nodes.1.children": [3]}))
    assert errors(report) == [("NODE_MULTIPLE_PARENTS", "/nodes/2/children/0")]


def test_no_scene_and_no_mesh() -> None:
    assert ("NO_SCENE", "/scenes") in errors(validate_glb(edited_glb({"scenes": DELETE, "scene": DELETE})))
    no_mesh = {"meshes": DELETE, "nodes.1.mesh": DELETE, "animations": DELETE}
    assert ("NO_MESHES", "/meshes") in errors(validate_glb(edited_glb(no_mesh)))


def test_missing_skin_is_a_warning() -> None:
    report = validate_glb(edited_glb({"skins": DELETE, "nodes.1.skin": DELETE}))
    assert report.valid
    assert warnings(report) == [("NO_SKIN", "")]


def test_skin_joint_that_does_not_exist() -> None:
    report = validate_glb(edited_glb({"skins.0.joints": [2, 99]}))
    assert ("INDEX_OUT_OF_RANGE", "/skins/0/joints/1") in errors(report)


def test_skin_with_too_few_inverse_bind_matrices() -> None:
    report = validate_glb(edited_glb({"skins.0.joints": [2, 3, 0]}))
    assert errors(report) == [("SKIN_INVERSE_BIND_MATRICES_COUNT", "/skins/0/inverseBindMatrices")]


def test_skin_inverse_bind_matrices_of_the_wrong_type() -> None:
    report = validate_glb(edited_glb({"skins.0.inverseBindMatrices": 0}))
    assert ("SKIN_INVERSE_BIND_MATRICES_INVALID", "/skins/0/inverseBindMatrices") in errors(report)


def test_animation_channel_targets_a_missing_node() -> None:
    report = validate_glb(edited_glb({"animations.0.channels.0.target.node": 42}))
    assert ("INDEX_OUT_OF_RANGE", "/animations/0/channels/0/target/node") in errors(report)


def test_animation_channel_uses_a_missing_sampler() -> None:
    report = validate_glb(edited_glb({"animations.0.channels.0.sampler": 5}))
    assert ("INDEX_OUT_OF_RANGE", "/animations/0/channels/0/sampler") in errors(report)


def test_animation_invalid_interpolation() -> None:
    report = validate_glb(edited_glb({"animations.0.samplers.0.interpolation": "BEZIER"}))
    assert ("ANIMATION_SAMPLER_INVALID_INTERPOLATION", "/animations/0/samplers/0/interpolation") in errors(report)


def test_animation_output_count_must_match_input() -> None:
    report = validate_glb(edited_glb({"animations.0.samplers.0.interpolation": "CUBICSPLINE"}))
    assert ("ANIMATION_SAMPLER_OUTPUT_COUNT_MISMATCH", "/animations/0/samplers/0/output") in errors(report)


def test_animation_input_must_be_float_times() -> None:
    report = validate_glb(edited_glb({"animations.0.samplers.0.input": 6}))
    assert ("ANIMATION_SAMPLER_INPUT_INVALID", "/animations/0/samplers/0/input") in errors(report)


def test_animation_path_must_be_known() -> None:
    report = validate_glb(edited_glb({"animations.0.channels.0.target.path": "colour"}))
    assert ("ANIMATION_CHANNEL_INVALID_PATH", "/animations/0/channels/0/target/path") in errors(report)


def test_weights_animation_needs_morph_targets() -> None:
    report = validate_glb(edited_glb({"animations.0.channels.1.target.node": 3}))
    assert ("ANIMATION_WEIGHTS_WITHOUT_MORPH_TARGETS", "/animations/0/channels/1/target") in errors(report)


def test_asset_version() -> None:
    assert ("ASSET_VERSION_UNSUPPORTED", "/asset/version") in errors(validate_glb(edited_glb({"asset.version": "1.0"})))
    assert ("REQUIRED_PROPERTY_MISSING", "/asset") in errors(validate_glb(edited_glb({"asset": DELETE})))


def test_unknown_required_extension_is_an_error() -> None:
    report = validate_glb(edited_glb({"extensionsUsed": ["ACME_magic"], "extensionsRequired": ["ACME_magic"]}))
    assert errors(report) == [("UNSUPPORTED_REQUIRED_EXTENSION", "/extensionsRequired/0")]


def test_unknown_used_extension_is_a_warning() -> None:
    report = validate_glb(edited_glb({"extensionsUsed": ["KHR_texture_transform", "ACME_magic"]}))
    assert report.valid
    assert warnings(report) == [("UNKNOWN_EXTENSION_USED", "/extensionsUsed/1")]
    assert report.stats.extensions_used == ("KHR_texture_transform", "ACME_magic")


def test_required_extension_must_also_be_used() -> None:
    report = validate_glb(edited_glb({"extensionsRequired": ["KHR_materials_unlit"]}))
    assert errors(report) == [("EXTENSION_REQUIRED_NOT_USED", "/extensionsRequired/0")]


@pytest.mark.parametrize(
    "name",
    [
        "KHR_mesh_quantization",
        "EXT_meshopt_compression",
        "KHR_draco_mesh_compression",
        "EXT_texture_webp",
        "KHR_texture_transform",
        "KHR_materials_unlit",
        "KHR_materials_emissive_strength",
        "KHR_texture_basisu",
    ],
)
def test_known_extensions_may_be_required(name: str) -> None:
    assert name in KNOWN_EXTENSIONS
    report = validate_glb(edited_glb({"extensionsUsed": [name], "extensionsRequired": [name]}))
    assert report.valid, report.issues
    assert report.stats.extensions_required == (name,)


def test_large_texture_is_a_warning() -> None:
    report = validate_glb(edited_glb({}, image=png_bytes(8192, 4096)))
    assert report.valid
    assert warnings(report) == [("TEXTURE_TOO_LARGE", "/images/0")]
    assert (report.stats.max_texture_width, report.stats.max_texture_height) == (8192, 4096)


def test_texture_beyond_any_gpu_is_an_error() -> None:
    report = validate_glb(edited_glb({}, image=png_bytes(40000, 40000)))
    assert errors(report) == [("TEXTURE_EXCEEDS_GPU_LIMIT", "/images/0")]


def test_texture_limit_is_configurable() -> None:
    report = validate_glb(edited_glb({}), ValidationLimits(max_texture_size=32))
    assert warnings(report) == [("TEXTURE_TOO_LARGE", "/images/0")]


def test_image_in_an_unsupported_format() -> None:
    report = validate_glb(edited_glb({}, image=b"GIF89a" + struct.pack("<HH", 4, 4) + b"\x00" * 20))
    assert errors(report) == [("IMAGE_UNSUPPORTED_FORMAT", "/images/0")]


def test_image_with_a_cut_header() -> None:
    report = validate_glb(edited_glb({}, image=png_bytes()[:12]))
    assert errors(report) == [("IMAGE_UNREADABLE", "/images/0")]


def test_image_mime_type_that_lies_is_a_warning() -> None:
    report = validate_glb(edited_glb({"images.0.mimeType": "image/jpeg"}))
    assert report.valid
    assert warnings(report) == [("IMAGE_MIME_TYPE_MISMATCH", "/images/0/mimeType")]


def test_external_image_is_rejected() -> None:
    report = validate_glb(edited_glb({"images.0": {"uri": "textures/skin.png"}}))
    assert errors(report) == [("EXTERNAL_RESOURCE", "/images/0/uri")]


def test_material_texture_index_out_of_range() -> None:
    report = validate_glb(edited_glb({"materials.0.pbrMetallicRoughness.baseColorTexture.index": 3}))
    assert errors(report) == [("INDEX_OUT_OF_RANGE", "/materials/0/pbrMetallicRoughness/baseColorTexture/index")]


def test_triangle_limits() -> None:
    assert ("TOO_MANY_TRIANGLES", "") in errors(validate_glb(edited_glb({}), ValidationLimits(max_triangles=0)))
    report = validate_glb(edited_glb({}), ValidationLimits(warn_triangles=0))
    assert report.valid
    assert warnings(report) == [("HIGH_TRIANGLE_COUNT", "")]


def test_issues_list_errors_first() -> None:
    report = validate_glb(edited_glb({"accessors.5.count": 2, "images.0.mimeType": "image/jpeg"}))
    severities = [issue.severity for issue in report.issues]
    assert severities == sorted(severities, key=lambda severity: severity != Severity.ERROR)
    assert report.error_count == len(report.errors)
    assert report.warning_count == len(report.warnings)
