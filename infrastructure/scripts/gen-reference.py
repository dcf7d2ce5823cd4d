#!/usr/bin/env python3
"""Generate the inputs/outputs/modules reference of infrastructure/README.md.

Reads infrastructure/variables.tf, outputs.tf and the first comment of every
modules/*/main.tf (and, to say where an input is validated, the module calls
of main.tf and the modules' variables.tf), and rewrites the part of README.md between

    <!-- BEGIN GENERATED REFERENCE -->  and  <!-- END GENERATED REFERENCE -->

    gen-reference.py          rewrite README.md
    gen-reference.py --check  exit 1 if README.md is not up to date

Standard library only: a small reader for the HCL subset these files use
(top-level blocks with `key = value` attributes, strings, nested brackets,
heredocs), not a general HCL parser.
"""
import os
import re
import sys

INFRA = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(INFRA, "README.md")
BEGIN = "<!-- BEGIN GENERATED REFERENCE -->"
END = "<!-- END GENERATED REFERENCE -->"


def scan_to_close(text, i, opening):
    """Index just past the bracket that closes text[i-1] (an opening bracket)."""
    pairs = {"{": "}", "(": ")", "[": "]"}
    stack = [pairs[opening]]
    while i < len(text):
        c = text[i]
        if c == '"':
            i += 1
            while text[i] != '"':
                i += 2 if text[i] == "\\" else 1
        elif c == "#" or text.startswith("//", i):
            i = text.index("\n", i)
        elif text.startswith("<<", i):
            m = re.match(r"<<-?([A-Z_]+)\n", text[i:])
            if m:
                end = re.search(r"\n\s*%s\n" % m.group(1), text[i:])
                i += end.end() - 1
        elif c in pairs:
            stack.append(pairs[c])
        elif c == stack[-1]:
            stack.pop()
            if not stack:
                return i + 1
        i += 1
    raise ValueError("unbalanced brackets")


def blocks(text, kind):
    """(name, body) of every top-level `kind "name" { ... }` block."""
    for m in re.finditer(r'^%s "([^"]+)" \{' % kind, text, re.M):
        end = scan_to_close(text, m.end(), "{")
        yield m.group(1), text[m.end():end - 1]


def attributes(body):
    """Top-level `key = value` attributes of a block body (nested blocks skipped)."""
    out, i = {}, 0
    while i < len(body):
        m = re.compile(r"[ \t]*([a-z0-9_]+)[ \t]*(=)?[ \t]*").match(body, i)
        if not m or not m.group(1):
            nl = body.find("\n", i)
            i = len(body) if nl < 0 else nl + 1
            continue
        j = m.end()
        if not m.group(2):  # nested block: skip it
            brace = body.find("{", j)
            i = scan_to_close(body, brace + 1, "{")
            continue
        # value: up to the end of the line, or past balanced brackets
        start = j
        while j < len(body) and body[j] != "\n":
            c = body[j]
            if c in "{([":
                j = scan_to_close(body, j + 1, c)
                continue
            if c == '"':
                j += 1
                while body[j] != '"':
                    j += 2 if body[j] == "\\" else 1
            elif body.startswith("<<", j):
                hm = re.match(r"<<-?([A-Z_]+)\n", body[j:])
                end = re.search(r"\n\s*%s\n" % hm.group(1), body[j:])
                j += end.end() - 1
                break
            j += 1
        out[m.group(1)] = body[start:j].strip()
        i = j + 1
    return out


def unquote(value):
    if value.startswith('"') and value.endswith('"'):
        return value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return value


def one_line(value):
    """A multi-line HCL value on one line; newline-separated items get commas."""
    parts = [p.strip() for p in re.sub(r"#[^\n]*", "", value).splitlines() if p.strip()]
    out = ""
    for part in parts:
        if out and not out.endswith(("{", "(", "[", ",")) and not part.startswith(("}", ")", "]")):
            out += ","
        out += (" " if out else "") + part
    return re.sub(r"\s+", " ", out)


def cell(text):
    return text.replace("|", "\\|").replace("\n", " ")


def code(text):
    return "`%s`" % text.replace("`", "'") if text else ""


def has_validation(body):
    return re.search(r"^\s*validation \{", body, re.M) is not None


def module_rules():
    """{root variable: [module folder, ...]} for the root variables that main.tf
    passes as they are (`input = var.x`) to a module input with a validation."""
    main = open(os.path.join(INFRA, "main.tf")).read()
    rules = {}
    for _, body in blocks(main, "module"):
        a = attributes(body)
        folder = unquote(a.get("source", "")).removeprefix("./")
        path = os.path.join(INFRA, folder, "variables.tf")
        if not os.path.exists(path):
            continue
        validated = {n for n, b in blocks(open(path).read(), "variable") if has_validation(b)}
        for key, value in a.items():
            m = re.fullmatch(r"var\.([a-z0-9_]+)(?:\.[a-z0-9_]+)?", value)
            if m and key in validated and folder not in rules.get(m.group(1), []):
                rules.setdefault(m.group(1), []).append(folder)
    return rules


def generate():
    in_modules = module_rules()
    variables = open(os.path.join(INFRA, "variables.tf")).read()
    outputs = open(os.path.join(INFRA, "outputs.tf")).read()
    lines = [BEGIN, "", "_Generated by `make docs` (infrastructure/scripts/gen-reference.py) from variables.tf, outputs.tf and modules/*/main.tf; do not edit by hand._", ""]

    lines += ["### Inputs", "", "| Name | Description | Type | Default | Required |", "|------|-------------|------|---------|:--------:|"]
    for name, body in sorted(blocks(variables, "variable")):
        a = attributes(body)
        desc = unquote(a.get("description", ""))
        flags = [f for f in ("sensitive", "ephemeral") if a.get(f) == "true"]
        if flags:
            desc += " (%s)" % ", ".join(flags)
        folders = ", ".join("`%s`" % f for f in in_modules.get(name, []))
        if has_validation(body):
            desc += " Validated here and in %s." % folders if folders else " Validated."
        elif folders:
            desc += " Validated in %s." % folders
        default = a.get("default")
        lines.append("| %s | %s | %s | %s | %s |" % (
            code(name), cell(desc), code(one_line(a.get("type", "any"))),
            code(one_line(default)) if default is not None else "n/a",
            "no" if default is not None else "yes"))

    lines += ["", "### Outputs", "", "| Name | Description |", "|------|-------------|"]
    for name, body in sorted(blocks(outputs, "output")):
        lines.append("| %s | %s |" % (code(name), cell(unquote(attributes(body).get("description", "")))))

    lines += ["", "### Modules", "", "| Module | Purpose |", "|--------|---------|"]
    for module in sorted(os.listdir(os.path.join(INFRA, "modules"))):
        main = open(os.path.join(INFRA, "modules", module, "main.tf")).read()
        comment = []
        for line in main.splitlines():
            if not line.startswith("#") or not line.lstrip("# ").strip():
                break  # the first paragraph of the header comment
            comment.append(line.lstrip("# ").strip())
        first = " ".join(comment).split(". ")[0].rstrip(".:") + "."
        lines.append("| [`modules/%s`](modules/%s) | %s |" % (module, module, cell(first)))
    lines += ["", END]
    return "\n".join(lines)


def main():
    text = open(README).read()
    if BEGIN not in text or END not in text:
        sys.exit("README.md has no %s ... %s section" % (BEGIN, END))
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    new = head + generate() + tail
    if "--check" in sys.argv[1:]:
        if new != text:
            sys.exit("infrastructure/README.md: the generated reference is out of date; run `make docs`")
        print("README.md reference is up to date")
        return
    if new != text:
        open(README, "w").write(new)
        print("README.md reference regenerated")
    else:
        print("README.md reference already up to date")


if __name__ == "__main__":
    main()
