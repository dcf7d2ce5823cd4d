"""Loading openapi.yaml and walking it, with the standard library plus
PyYAML (Debian's python3-yaml). Responses are checked against it by
contract.py, with openapi-schema-validator (not a checker of our own)."""

import os

from harness import REPO

SPEC_PATH = os.path.join(REPO, "openapi.yaml")
METHODS = ("get", "head", "post", "put", "patch", "delete", "options", "trace")


class SpecUnavailable(Exception):
    pass


def load_spec():
    try:
        import yaml
    except ImportError as e:
        raise SpecUnavailable("PyYAML is not importable (%s); install python3-yaml "
                              "(tools/deps.sh test)" % e)
    with open(SPEC_PATH, encoding="utf-8") as f:
        return yaml.safe_load(f)


def resolve(spec, node):
    """Follows local $refs until a non-reference node."""
    seen = 0
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        if not ref.startswith("#/"):
            raise ValueError("non-local $ref %r" % ref)
        node = spec
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, dict) or part not in node:
                raise KeyError("unresolvable $ref %r" % ref)
            node = node[part]
        seen += 1
        if seen > 50:
            raise ValueError("$ref loop at %r" % ref)
    return node


def all_refs(node, path="#"):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str):
                yield path, v
            else:
                yield from all_refs(v, path + "/" + str(k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from all_refs(v, "%s/%d" % (path, i))


def operations(spec):
    for path, item in spec.get("paths", {}).items():
        for m in METHODS:
            if m in item:
                yield path, m, item[m]


def op_parameters(spec, path, method):
    item = spec["paths"][path]
    params = [resolve(spec, p) for p in item.get("parameters", [])]
    params += [resolve(spec, p) for p in item[method].get("parameters", [])]
    return {(p["in"], p["name"].lower()): p for p in params}


def response(spec, path, method, status):
    return resolve(spec, spec["paths"][path][method]["responses"][str(status)])
