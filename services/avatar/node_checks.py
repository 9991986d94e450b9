"""Checks the node hierarchy (references, one parent per node, no cycles) and the scenes."""

from __future__ import annotations

from services.avatar.check_context import CheckContext
from services.avatar.gltf_json import child
from services.avatar.mesh_checks import MeshSummary


def check_nodes(ctx: CheckContext) -> dict[int, int]:
    """Check nodes and scenes; returns the mesh each node instances."""
    reader, issues = ctx.reader, ctx.issues
    node_meshes: dict[int, int] = {}
    parents: dict[int, int] = {}
    for node in reader.top("nodes"):
        mesh = reader.index(node.obj, "mesh", node.pointer, "meshes")
        if mesh is not None:
            node_meshes[node.index] = mesh
        reader.index(node.obj, "skin", node.pointer, "skins")
        reader.index(node.obj, "camera", node.pointer, "cameras")
        for position, kid in reader.index_list(node.obj, "children", node.pointer, "nodes"):
            if kid == node.index:
                issues.error("NODE_LOOP", "A node cannot be its own child.", f"{node.pointer}/children/{position}")
            elif kid in parents:
                issues.error(
                    "NODE_MULTIPLE_PARENTS",
                    f"Node {kid} is already a child of node {parents[kid]}; the hierarchy must be a tree.",
                    f"{node.pointer}/children/{position}",
                )
            else:
                parents[kid] = node.index
    _check_cycles(ctx, parents)
    _check_scenes(ctx, parents)
    return node_meshes


def _check_cycles(ctx: CheckContext, parents: dict[int, int]) -> None:
    """Report each loop in the parent chain once; every node is visited a bounded number of times."""
    settled: set[int] = set()
    for start in parents:
        path: list[int] = []
        on_path: set[int] = set()
        node: int | None = start
        while node is not None and node not in settled:
            if node in on_path:
                ctx.issues.error("NODE_LOOP", f"Node {node} is its own ancestor.", f"/nodes/{node}")
                break
            path.append(node)
            on_path.add(node)
            node = parents.get(node)
        settled.update(path)


def _check_scenes(ctx: CheckContext, parents: dict[int, int]) -> None:
    """A scene lists root nodes only, and the widget needs at least one scene to show."""
    reader, issues = ctx.reader, ctx.issues
    scenes = reader.top("scenes")
    if not scenes:
        issues.error("NO_SCENE", "The file has no scene, so there is nothing for the widget to show.", "/scenes")
    reader.index(reader.root, "scene", "", "scenes")
    for scene in scenes:
        for position, node in reader.index_list(scene.obj, "nodes", scene.pointer, "nodes"):
            if node in parents:
                issues.error(
                    "SCENE_NON_ROOT_NODE",
                    f"Node {node} is a child of node {parents[node]}, not a root.",
                    child(child(scene.pointer, "nodes"), position),
                )


def drawn_triangles(meshes: dict[int, MeshSummary], node_meshes: dict[int, int]) -> int:
    """Triangles as drawn: once per node instancing a mesh, plus once for each mesh no node uses."""
    instanced = sum(meshes[mesh].triangles for mesh in node_meshes.values() if mesh in meshes)
    used = set(node_meshes.values())
    return instanced + sum(summary.triangles for index, summary in meshes.items() if index not in used)
