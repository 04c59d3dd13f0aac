"""A small, offline stand-in for ``kustomize build`` covering what deploy/kubernetes uses.

kustomize is not installed where ``make test`` runs, so the Kubernetes tests render the
manifests with this. It implements a subset of the Kustomization file
(https://kubectl.docs.kubernetes.io/references/kustomize/kustomization/) and refuses
anything outside it, so a manifest change that needs more fails here instead of being
silently rendered differently:

- ``resources``: YAML files (several documents each) and directories holding a
  ``kustomization.yaml`` (built recursively, as bases).
- ``configMapGenerator`` with ``files`` (key = file name) and ``secretGenerator`` with
  ``envs`` (``KEY=value`` lines; ``#`` comments and blank lines skipped; values base64 in
  ``data``, type Opaque). kustomize appends a content hash to generated names and rewrites
  every reference; this renderer keeps the plain names, so references are checked against
  the generator's name.
- ``patches`` with ``path``: one strategic-merge document per file, applied to the resource
  with the same apiVersion, kind and name (exactly one must exist). Merge rules: mappings
  merge key by key, a null value deletes the key; a list whose items (in the resource and
  the patch) are all mappings with a ``name`` merges item by item on ``name``, keeping the
  resource's order and appending new names; any other list or scalar is replaced. Patch
  directives (``$patch``, ``$setElementOrder``, ...) are refused.
- ``namespace``: set on every resource except Namespaces.
- ``images``: ``name`` -> ``newName`` / ``newTag`` on containers' ``image``.

Transformers run in kustomize's order for these fields: resources and generators, then
patches, namespace, images.
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

__all__ = ["KustomizeError", "build", "merge_patch"]

_SUPPORTED = {
    "apiVersion",
    "kind",
    "resources",
    "namespace",
    "images",
    "configMapGenerator",
    "secretGenerator",
    "patches",
}
_CLUSTER_SCOPED = {"Namespace"}

Resource = dict[str, Any]


class KustomizeError(ValueError):
    """The kustomization uses something this renderer does not implement, or is invalid."""


def build(directory: Path, replace_files: Mapping[Path, Path] | None = None) -> list[Resource]:
    """The resources ``kustomize build directory`` would print, in order (names unhashed).

    ``replace_files`` maps a file a kustomization names (resolved path) to the file read in its
    place (the tests render ``secrets.env`` from ``secrets.env.example``).
    """
    replacements = {k.resolve(): v for k, v in (replace_files or {}).items()}
    return _build(directory.resolve(), replacements)


def _build(directory: Path, replacements: Mapping[Path, Path]) -> list[Resource]:
    spec = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(spec) - _SUPPORTED
    if unknown:
        raise KustomizeError(f"{directory}: fields not implemented here: {sorted(unknown)}")

    def read(name: str) -> str:
        path = (directory / name).resolve()
        return replacements.get(path, path).read_text()

    resources: list[Resource] = []
    for entry in spec.get("resources", []):
        path = directory / entry
        if path.is_dir():
            resources += _build(path.resolve(), replacements)
        else:
            resources += [d for d in yaml.safe_load_all(read(entry)) if d is not None]
    for generator in spec.get("configMapGenerator", []):
        _only(generator, {"name", "files"}, "configMapGenerator")
        data = {Path(name).name: read(name) for name in generator["files"]}
        resources.append(_generated("ConfigMap", generator["name"], {"data": data}))
    for generator in spec.get("secretGenerator", []):
        _only(generator, {"name", "envs"}, "secretGenerator")
        pairs: dict[str, str] = {}
        for name in generator["envs"]:
            pairs.update(_env_file(read(name), name))
        data = {k: base64.b64encode(v.encode()).decode() for k, v in pairs.items()}
        resources.append(_generated("Secret", generator["name"], {"type": "Opaque", "data": data}))
    _check_unique(resources, directory)
    for entry in spec.get("patches", []):
        _only(entry, {"path"}, "patches")
        documents = [d for d in yaml.safe_load_all(read(entry["path"])) if d is not None]
        if len(documents) != 1:
            raise KustomizeError(f"{entry['path']}: expected one patch document")
        _apply_patch(resources, documents[0], entry["path"])
    if "namespace" in spec:
        for resource in resources:
            if resource["kind"] not in _CLUSTER_SCOPED:
                resource["metadata"]["namespace"] = spec["namespace"]
    for image in spec.get("images", []):
        _only(image, {"name", "newName", "newTag"}, "images")
        for resource in resources:
            for container in _containers(resource):
                if _image_name(container["image"]) == image["name"]:
                    name = image.get("newName", image["name"])
                    tag = image.get("newTag", _image_tag(container["image"]))
                    container["image"] = f"{name}:{tag}" if tag else name
    return resources


def merge_patch(target: Any, patch: Any, path: str = "") -> Any:
    """``target`` with the strategic-merge ``patch`` applied (the rules in this module's doc)."""
    if isinstance(target, dict) and isinstance(patch, dict):
        merged = dict(target)
        for key, value in patch.items():
            if str(key).startswith("$"):
                raise KustomizeError(f"{path}.{key}: patch directives are not implemented here")
            if value is None:
                merged.pop(key, None)
            elif key in merged:
                merged[key] = merge_patch(merged[key], value, f"{path}.{key}")
            else:
                merged[key] = copy.deepcopy(value)
        return merged
    if isinstance(target, list) and isinstance(patch, list) and _named(target) and _named(patch):
        items = {item["name"]: item for item in target}
        order = [item["name"] for item in target]
        for item in patch:
            if item["name"] in items:
                items[item["name"]] = merge_patch(
                    items[item["name"]], item, f"{path}[{item['name']}]"
                )
            else:
                items[item["name"]] = copy.deepcopy(item)
                order.append(item["name"])
        return [items[name] for name in order]
    return copy.deepcopy(patch)


def _named(items: list[Any]) -> bool:
    return bool(items) and all(isinstance(i, dict) and "name" in i for i in items)


def _apply_patch(resources: list[Resource], patch: Resource, source: str) -> None:
    key = (patch.get("apiVersion"), patch.get("kind"), patch.get("metadata", {}).get("name"))
    matches = [i for i, r in enumerate(resources) if _identity(r) == key]
    if len(matches) != 1:
        raise KustomizeError(f"{source}: patch target {key} matches {len(matches)} resources")
    resources[matches[0]] = merge_patch(resources[matches[0]], patch, source)


def _identity(resource: Resource) -> tuple[Any, Any, Any]:
    return (resource.get("apiVersion"), resource.get("kind"), resource["metadata"].get("name"))


def _check_unique(resources: list[Resource], directory: Path) -> None:
    seen: set[tuple[Any, Any, Any]] = set()
    for resource in resources:
        identity = _identity(resource)
        if identity in seen:
            raise KustomizeError(f"{directory}: {identity} defined twice")
        seen.add(identity)


def _generated(kind: str, name: str, body: dict[str, Any]) -> Resource:
    return {"apiVersion": "v1", "kind": kind, "metadata": {"name": name}, **body}


def _env_file(text: str, name: str) -> dict[str, str]:
    pairs = {}
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        key, equals, value = stripped.partition("=")
        if not equals:
            raise KustomizeError(f"{name}:{number}: expected KEY=value")
        pairs[key] = value
    return pairs


def _only(entry: Mapping[str, Any], allowed: set[str], field: str) -> None:
    unknown = set(entry) - allowed
    if unknown:
        raise KustomizeError(f"{field}: keys not implemented here: {sorted(unknown)}")


def _containers(resource: Resource) -> list[dict[str, Any]]:
    pod = resource.get("spec", {}).get("template", {}).get("spec", {})
    return [*pod.get("initContainers", []), *pod.get("containers", [])]


def _image_name(image: str) -> str:
    name = image.split("@", 1)[0]
    head, _, tail = name.rpartition(":")
    return head if head and "/" not in tail else name


def _image_tag(image: str) -> str:
    name = image.split("@", 1)[0]
    return name[len(_image_name(image)) + 1 :]
