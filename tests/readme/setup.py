#!/usr/bin/env python3
"""The README's AWS setup, checked against what it names: the commands of
its Setup and Infrastructure sections cannot run here (they need an AWS
account), so every name in them must exist where the command would look it
up. A renamed variable, module, output, file or repository variable fails
here instead of in a new user's first `terraform apply`.

  - terraform: -var NAME=, TF_VAR_NAME, -target=module.NAME,
    `output -raw NAME` are declared in the directory the command runs in
    (-chdir, or the block's last `cd`); -var-file and -backend-config files
    exist, or their committed .example does (the reader copies it);
  - cp SOURCE: the source is committed;
  - scripts (release/, infrastructure/scripts/, tools/) exist, executable;
  - the GitHub variables the Setup asks for (`ALL_CAPS` in backticks, with
    `_<ENV>` standing for an environment's suffix) are read by the
    workflows as vars.NAME.
A loop `for env in staging production` is unrolled: each name is checked
for both environments.
"""

import os
import re
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
README = os.path.join(ROOT, "README.md")
ENVIRONMENTS = ("staging", "production")


def section(text, title):
    m = re.search(r"^## %s\n(.*?)(?=^## )" % re.escape(title), text, re.S | re.M)
    if not m:
        sys.exit("readme-setup: README.md has no section '## %s'" % title)
    return m.group(1)


def shell_blocks(text):
    return re.findall(r"```sh\n(.*?)```", text, re.S)


def declared(directory, kind):
    names = set()
    for name in os.listdir(directory):
        if name.endswith(".tf"):
            with open(os.path.join(directory, name)) as f:
                names |= set(re.findall(r'^%s "([A-Za-z0-9_-]+)"' % kind, f.read(), re.M))
    return names


class Checker:
    def __init__(self):
        self.checked = 0
        self.problems = []

    def expect(self, ok, what):
        self.checked += 1
        if not ok:
            self.problems.append(what)

    def command(self, line, cwd):
        """One logical command line (continuations joined), run in cwd."""
        words = line.split()
        if not words:
            return cwd
        if words[0] == "cd":
            return os.path.normpath(os.path.join(cwd, words[1]))
        for env in ENVIRONMENTS if "$env" in line else (None,):
            self.one(line.replace("$env", env) if env else line, cwd)
        return cwd

    def one(self, line, cwd):
        rel = os.path.relpath(cwd, ROOT)
        m = re.search(r"-chdir=(\S+)", line)
        tfdir = os.path.join(ROOT, m.group(1)) if m else cwd
        tfrel = os.path.relpath(tfdir, ROOT)
        for name in re.findall(r"\bTF_VAR_([a-z0-9_]+)=", line):
            self.expect(name in declared(os.path.join(ROOT, "infrastructure"), "variable"),
                        "TF_VAR_%s: infrastructure/ has no variable %s" % (name, name))
        if re.search(r"\bterraform\b", line):
            variables = declared(tfdir, "variable")
            for name in re.findall(r"-var[= ]([a-z0-9_]+)=", line):
                self.expect(name in variables, "%s: -var %s is not a variable of %s" % (line.strip(), name, tfrel))
            for name in re.findall(r"-target=module\.([a-z0-9_]+)", line):
                self.expect(name in declared(tfdir, "module"),
                            "%s: %s has no module %s" % (line.strip(), tfrel, name))
            m = re.search(r"\boutput\s+(?:-raw\s+|-json\s+)?([a-z0-9_]+)", line)
            if m:
                self.expect(m.group(1) in declared(tfdir, "output"),
                            "%s: %s has no output %s" % (line.strip(), tfrel, m.group(1)))
            for opt in ("-var-file", "-backend-config"):
                for path in re.findall(r"%s=([^\s=]+)(?:\s|$)" % opt, line):
                    full = os.path.join(tfdir, path)
                    self.expect(os.path.exists(full) or os.path.exists(full + ".example"),
                                "%s: neither %s nor %s.example exists (in %s)" % (line.strip(), path, path, tfrel))
        m = re.match(r"\s*cp\s+(\S+)\s+\S+", line)
        if m:
            self.expect(os.path.exists(os.path.join(cwd, m.group(1))),
                        "%s: %s does not exist (in %s)" % (line.strip(), m.group(1), rel))
        for script in re.findall(r"(?:^|\s)((?:release|infrastructure/scripts|tools)/[\w./-]+\.(?:sh|py))", line):
            full = os.path.join(ROOT, script)
            self.expect(os.access(full, os.X_OK), "%s: %s is not an executable file" % (line.strip(), script))


def main():
    with open(README) as f:
        text = f.read()
    check = Checker()
    for title in ("Setup", "Infrastructure"):
        for block in shell_blocks(section(text, title)):
            cwd = ROOT
            for line in re.sub(r"\\\n\s*", " ", block).splitlines():
                line = re.sub(r"\s#.*$", "", line)
                if re.match(r"\s*(for|do|done)\b", line):
                    line = re.sub(r"^\s*(for .*;\s*do|do|done)\s*", "", line)
                cwd = check.command(line, cwd)
    workflows = ""
    for name in sorted(os.listdir(os.path.join(ROOT, ".github", "workflows"))):
        with open(os.path.join(ROOT, ".github", "workflows", name)) as f:
            workflows += f.read()
    setup = section(text, "Setup")
    wanted = set(re.findall(r"`([A-Z][A-Z0-9_]*(?:_<ENV>)?)`", setup))
    for name in sorted(wanted):
        if name.endswith("_<ENV>"):
            prefix = name[: -len("<ENV>")]
            ok = any(("vars.%s%s" % (prefix, env.upper())) in workflows for env in ENVIRONMENTS) \
                or ("'%s" % prefix) in workflows
        else:
            ok = re.search(r"vars\.%s\b" % name, workflows) is not None
        check.expect(ok, "README Setup names the GitHub variable %s, which no workflow reads" % name)
    for p in check.problems:
        print("  readme-setup: " + p, file=sys.stderr)
    if check.checked < 20:
        sys.exit("readme-setup: only %d names found in the README's setup: the parser lost its way"
                 % check.checked)
    if check.problems:
        sys.exit(1)
    print("  ok  README.md setup: all %d names its AWS commands and settings use exist" % check.checked)


if __name__ == "__main__":
    main()
