"""The contract check: every response the suite receives through its HTTP
client is validated against openapi.yaml by a validator this project did not
write.

  - the operation is found by method + path template (a concrete path wins
    over a templated one, as OpenAPI says);
  - the status must be documented for it (exactly, as NXX, or `default`);
  - every documented response header: required ones present, present ones
    valid against their schema (simple style: integer/number/boolean
    values are deserialized first; Content-Type is described by `content`);
  - the body: no body where the response documents no content (and never on
    HEAD, 204, 304); otherwise the Content-Type must be a documented media
    type and the body must validate against its schema.

Schemas are checked by openapi-schema-validator's validator for the
document's OpenAPI version (OAS31Validator for 3.1, with its format checker),
with jsonschema and referencing underneath. Where openapi-schema-validator is
not importable (Debian's python3 with python3-jsonschema), jsonschema's
Draft 2020-12 validator stands in for 3.1: the OAS 3.1 dialect is 2020-12 plus
annotation-only keywords, so the verdicts are the same. With neither, the
suite refuses to run (Contract() raises).

Responses to requests the document cannot describe are not guessed at:
  - a method the path does not have (405, or a protocol error): checked
    against the path's own response for that status (every operation of a
    path shares them);
  - a path the document does not have (404; 401 under /v1): checked against
    the response the document gives that status elsewhere (all share one
    components/responses entry);
  - /__test/... (a route compiled into test builds only): excluded, counted.
"""

import json
import re
import threading
import urllib.parse

from openapi_doc import METHODS, SPEC_PATH, load_spec

SPEC_URI = "urn:items-api:openapi.yaml"
EXCLUDED_PREFIXES = ("/__test/",)


class ContractViolation(AssertionError):
    """A response the document does not allow."""


class ValidatorUnavailable(Exception):
    pass


def _validator_class(version):
    """The schema validator for this OpenAPI version, and its name."""
    try:
        import openapi_schema_validator as osv
    except ImportError as e:
        osv = None
        why = str(e)
    if osv is not None:
        if version.startswith("3.0"):
            return osv.OAS30ReadValidator, osv.oas30_format_checker, "openapi-schema-validator OAS30ReadValidator"
        if version.startswith("3.1"):
            return osv.OAS31Validator, osv.oas31_format_checker, "openapi-schema-validator OAS31Validator"
        if version.startswith("3.2") and hasattr(osv, "OAS32Validator"):
            return osv.OAS32Validator, osv.oas32_format_checker, "openapi-schema-validator OAS32Validator"
        raise ValidatorUnavailable("no openapi-schema-validator class for OpenAPI %s" % version)
    if not version.startswith("3.1"):
        raise ValidatorUnavailable("openapi-schema-validator is not importable (%s) and OpenAPI %s "
                                   "is not plain JSON Schema 2020-12" % (why, version))
    try:
        import jsonschema
    except ImportError as e:
        raise ValidatorUnavailable(
            "neither openapi-schema-validator (%s) nor jsonschema (%s) is importable: install "
            "one (pip install openapi-schema-validator, or Debian's python3-jsonschema via "
            "tools/deps.sh test)" % (why, e))
    try:
        from importlib.metadata import version as dist_version
        jv = dist_version("jsonschema")
    except Exception:  # noqa: BLE001 - only for the name printed
        jv = "?"
    return (jsonschema.Draft202012Validator, jsonschema.FormatChecker(),
            "jsonschema %s Draft202012Validator (openapi-schema-validator not importable)" % jv)


def _escape(token):
    return token.replace("~", "~0").replace("/", "~1")


def _media_base(ct):
    return (ct or "").split(";")[0].strip().lower()


class Contract:
    """openapi.yaml (or a given document) compiled for response checks."""

    def __init__(self, spec=None):
        self.spec = spec if spec is not None else load_spec()
        self.version = str(self.spec.get("openapi", ""))
        self.cls, self.format_checker, self.validator_name = _validator_class(self.version)
        # The whole document is the root schema: only local $refs resolve
        # into it; its other members are not JSON Schema keywords.
        self._validators = {}
        self._routes = []
        for template in self.spec.get("paths", {}):
            rx = "^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$"
            # Concrete paths before templated ones.
            self._routes.append((template.count("{"), template, re.compile(rx)))
        self._routes.sort(key=lambda r: r[0])

    # -- the document

    def _lookup(self, pointer):
        node = self.spec
        for part in pointer.lstrip("/").split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            node = node[int(part)] if isinstance(node, list) else node[part]
        return node

    def _deref(self, pointer):
        """Follows local $refs from pointer; returns (final pointer, node)."""
        node = self._lookup(pointer)
        for _ in range(50):
            if not (isinstance(node, dict) and "$ref" in node):
                return pointer, node
            ref = node["$ref"]
            if not ref.startswith("#/"):
                raise ValueError("non-local $ref %r" % ref)
            pointer = ref[1:]
            node = self._lookup(pointer)
        raise ValueError("$ref loop at %s" % pointer)

    def _schema_errors(self, pointer, value):
        v = self._validators.get(pointer)
        if v is None:
            root = dict(self.spec)
            root["$ref"] = "#" + pointer
            v = self.cls(root, format_checker=self.format_checker)
            self._validators[pointer] = v
        out = []
        for e in sorted(v.iter_errors(value), key=lambda e: list(e.absolute_path)):
            where = "$" + "".join("[%d]" % p if isinstance(p, int) else ".%s" % p
                                  for p in e.absolute_path)
            out.append("%s: %s" % (where, e.message))
        return out

    def route(self, path):
        for _, template, rx in self._routes:
            if rx.match(path):
                return template
        return None

    def _status_key(self, responses, status):
        for k in (str(status), "%dXX" % (status // 100), "default"):
            if k in responses:
                return k
        return None

    def _find_response(self, method, path):
        """(route label, operation pointer or None, kind) for a request."""
        template = self.route(path)
        if template is None:
            return "%s %s (no such path in openapi.yaml)" % (method, path), None, "unknown-path"
        item = self.spec["paths"][template]
        m = method.lower()
        if m in METHODS and m in item:
            return "%s %s" % (method, template), "/paths/%s/%s" % (_escape(template), m), "operation"
        return ("%s %s (method not in openapi.yaml)" % (method, template), template, "other-method")

    def _response_pointer(self, method, path, status):
        """(route label, response pointer or None, problem or None)."""
        label, where, kind = self._find_response(method, path)
        if kind == "operation":
            responses = self._lookup(where + "/responses")
            key = self._status_key(responses, status)
            if key is None:
                return label, None, ("status %d is not documented (documented: %s)"
                                     % (status, ", ".join(sorted(responses))))
            return label, where + "/responses/" + key, None
        # Not an operation: the same status as documented on the path's
        # operations, or (unknown path) anywhere in the document.
        paths = [where] if kind == "other-method" else list(self.spec["paths"])
        for p in paths:
            for m, op in self.spec["paths"][p].items():
                if m in METHODS and str(status) in op.get("responses", {}):
                    return label, "/paths/%s/%s/responses/%d" % (_escape(p), m, status), None
        return label, None, ("status %d is not documented for %s"
                             % (status, "any operation of the path" if kind == "other-method"
                                else "any operation"))

    # -- checks

    def check(self, method, target, status, headers, body):
        """Returns (route label, [violation messages]), or (None, None) for
        an excluded request. headers: a mapping with case-insensitive get()
        and get_all() (http.client.HTTPMessage) or {lower-name: [values]}."""
        path = target
        if not path.startswith("/"):
            u = urllib.parse.urlsplit(target)
            path = u.path or "/"
        path = path.split("?", 1)[0].split("#", 1)[0]
        if path.startswith(EXCLUDED_PREFIXES):
            return None, None
        method = method.upper()
        label, rptr, problem = self._response_pointer(method, path, status)
        label = "%s -> %d" % (label, status)
        if problem:
            return label, [problem]
        return self._check_response(label, rptr, method, status, headers, body)

    def _check_body_and_headers(self, label, rptr, resp, method, status, get_all, body, errs):
        for name in resp.get("headers", {}):
            if name.lower() == "content-type":
                continue
            hptr, h = self._deref(rptr + "/headers/" + _escape(name))
            values = get_all(name)
            if not values:
                if h.get("required"):
                    errs.append("header %s: required, missing" % name)
                continue
            if "schema" not in h:
                continue
            sptr, schema = self._deref(hptr + "/schema")
            for raw in values:
                value, why = _deserialize(raw, schema)
                if why:
                    errs.append("header %s: %r %s" % (name, raw, why))
                    continue
                errs += ["header %s: %s" % (name, e[3:] if e.startswith("$: ") else e)
                         for e in self._schema_errors(sptr, value)]

        content = resp.get("content") or {}
        no_body = method == "HEAD" or status in (204, 304) or status < 200
        ct_values = get_all("Content-Type")
        ct = _media_base(ct_values[0]) if ct_values else ""
        if no_body or not content:
            if body:
                errs.append("a %d-byte body where %s" % (len(body), "none may be" if no_body
                                                         else "the response documents no content"))
            if content and ct and _media_match(ct, content) is None:
                errs.append("Content-Type %r is not one of %s" % (ct, sorted(content)))
            return label, errs
        key = _media_match(ct, content)
        if key is None:
            errs.append("Content-Type %r is not one of %s" % (ct_values[0] if ct_values else None,
                                                              sorted(content)))
            return label, errs
        media = content[key]
        if "schema" not in media:
            return label, errs
        sptr, _ = self._deref(rptr + "/content/" + _escape(key) + "/schema")
        if key.endswith("json") or _media_base(key).endswith("+json"):
            try:
                value = json.loads(body.decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as e:
                errs.append("body is not JSON (%s): %r" % (e, body[:200]))
                return label, errs
        else:
            try:
                value = body.decode("utf-8")
            except UnicodeDecodeError as e:
                errs.append("body is not UTF-8 text (%s)" % e)
                return label, errs
        errs += ["body %s" % e for e in self._schema_errors(sptr, value)]
        return label, errs

    def shared_response(self, status):
        """The one response object every operation that documents `status`
        shares (all refer to the same components/responses entry), as a
        pointer; None when operations describe that status differently."""
        found = set()
        for p, item in self.spec.get("paths", {}).items():
            for m, op in item.items():
                if m in METHODS and isinstance(op, dict) and str(status) in op.get("responses", {}):
                    found.add(self._deref("/paths/%s/%s/responses/%d" % (_escape(p), m, status))[0])
        return found.pop() if len(found) == 1 else None

    def check_unrouted(self, status, headers, body):
        """A response whose request is not known (one of several in a raw
        byte stream): checked against the response its status has
        everywhere in the document. (None, None) when the document gives
        that status different responses on different operations (the route
        would decide) or none at all."""
        rptr = self.shared_response(status)
        if rptr is None:
            return None, None
        return self._check_response("(request not parsed) -> %d as #%s" % (status, rptr), rptr,
                                    "GET", status, headers, body)

    def _check_response(self, label, rptr, method, status, headers, body):
        rptr, resp = self._deref(rptr)
        errs = []
        get_all = _header_getter(headers)
        return self._check_body_and_headers(label, rptr, resp, method, status, get_all, body, errs)


def _header_getter(headers):
    if hasattr(headers, "get_all"):
        return lambda name: headers.get_all(name) or []
    lower = {k.lower(): v for k, v in headers.items()}
    return lambda name: list(lower.get(name.lower(), []))


def _media_match(ct, content):
    """The documented media type key for a Content-Type (parameters ignored,
    `type/*` and `*/*` honoured), or None."""
    if not ct:
        return None
    by_base = {}
    for k in content:
        by_base.setdefault(_media_base(k), k)
    if ct in by_base:
        return by_base[ct]
    major = ct.split("/")[0] + "/*"
    return by_base.get(major) or by_base.get("*/*")


def _deserialize(raw, schema):
    """A simple-style header value as its schema's type; (value, problem)."""
    types = schema.get("type", "string")
    types = types if isinstance(types, list) else [types]
    raw = raw.strip()
    if "integer" in types:
        if re.fullmatch(r"-?[0-9]+", raw):
            return int(raw), None
        if "string" not in types:
            return None, "is not an integer"
    if "number" in types:
        try:
            return float(raw), None
        except ValueError:
            if "string" not in types:
                return None, "is not a number"
    if "boolean" in types and raw in ("true", "false"):
        return raw == "true", None
    return raw, None


# ---------------------------------------------------------------- the run's tally

class Tally:
    """What this process validated: printed by runner.py per backend."""

    def __init__(self):
        self.lock = threading.Lock()
        self.validated = 0
        self.excluded = {}
        self.violations = []

    def exclude(self, why):
        with self.lock:
            self.excluded[why] = self.excluded.get(why, 0) + 1

    def record(self, label, errs):
        with self.lock:
            self.validated += 1
            if errs:
                self.violations.append((label, errs))


TALLY = Tally()
_contract = None
_contract_lock = threading.Lock()


def contract():
    """The suite's Contract over openapi.yaml (built once)."""
    global _contract
    with _contract_lock:
        if _contract is None:
            _contract = Contract()
        return _contract


def validate_exchange(method, target, status, headers, body, contract_=None, tally=None):
    """Checks one exchange; records it (in TALLY unless told otherwise);
    raises ContractViolation with the route and the validator's messages
    when the response breaks the document."""
    c = contract_ or contract()
    tally = tally or TALLY
    label, errs = c.check(method, target, status, headers, body)
    if label is None:
        tally.exclude("test-build route %s" % target.split("?")[0])
        return
    tally.record(label, errs)
    if errs:
        raise ContractViolation("response violates %s: %s\n  %s\n  (body: %r)"
                                % (SPEC_PATH.rsplit("/", 1)[-1], label, "\n  ".join(errs),
                                   body[:300]))
