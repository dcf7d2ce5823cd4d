"""Loading openapi.yaml and checking JSON values against its schemas, with
the standard library plus PyYAML (Debian's python3-yaml)."""

import os
import re

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
                              "(scripts/deps.sh test)" % e)
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


TYPE_CHECKS = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def schema_errors(spec, schema, value, where="$"):
    """A small JSON Schema checker for the keywords openapi.yaml uses."""
    schema = resolve(spec, schema)
    errs = []
    if "allOf" in schema:
        for sub in schema["allOf"]:
            errs += schema_errors(spec, sub, value, where)
    if "oneOf" in schema:
        ok = [s for s in schema["oneOf"] if not schema_errors(spec, s, value, where)]
        if not ok:
            errs.append("%s: matches none of oneOf" % where)
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(TYPE_CHECKS[t](value) for t in types):
            return errs + ["%s: %r is not of type %s" % (where, value, types)]
    if "enum" in schema and value not in schema["enum"]:
        errs.append("%s: %r not in %r" % (where, value, schema["enum"]))
    if isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            errs.append("%s: shorter than %d" % (where, schema["minLength"]))
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errs.append("%s: longer than %d" % (where, schema["maxLength"]))
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errs.append("%s: %r does not match %r" % (where, value, schema["pattern"]))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            errs.append("%s: below %s" % (where, schema["minimum"]))
        if "maximum" in schema and value > schema["maximum"]:
            errs.append("%s: above %s" % (where, schema["maximum"]))
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for k in schema.get("required", []):
            if k not in value:
                errs.append("%s: missing required %r" % (where, k))
        for k, v in value.items():
            if k in props:
                errs += schema_errors(spec, props[k], v, "%s.%s" % (where, k))
            elif schema.get("additionalProperties") is False:
                errs.append("%s: unexpected member %r" % (where, k))
    if isinstance(value, list):
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errs.append("%s: more than %d items" % (where, schema["maxItems"]))
        if "minItems" in schema and len(value) < schema["minItems"]:
            errs.append("%s: fewer than %d items" % (where, schema["minItems"]))
        if "items" in schema:
            for i, v in enumerate(value):
                errs += schema_errors(spec, schema["items"], v, "%s[%d]" % (where, i))
    return errs
