#!/usr/bin/env python3
"""DESIGN.md's rule that every public declaration has a `///` comment, checked over the headers of ir/,
passes/, compiler/, runtime/ and models/. A declaration is a line at namespace level, or in the public part
of a class or struct, that starts a function, type, alias or constant; it is documented by a `///` line
above it (overloads of one name, declared one after another, share it) or a trailing `///<`. Prints each undocumented one as file:line and exits 1 if there is any. Usage: doccomments.py [REPO]"""
import os
import re
import sys

FOLDERS = ["ir", "passes", "compiler", "runtime", "models"]
DECL = re.compile(r"^(template\b|struct\b|class\b|enum\b|using\b|inline\b|constexpr\b|extern\b|explicit\b|virtual\b|"
                  r"static\b|const\b|[\w:<>,\s\*&~]+\s[\*&]*~?[\w:]+\s*\(|[\w:<>]+\s*\(|[\w:<>,\s\*&]+\s\w+\s*(=|;|\{))")
SKIP = re.compile(r"^(public:|private:|protected:|namespace\b|}|#|//|friend\b|\)|KILN_FIELDS)")
TEMPLATE_HEAD = re.compile(r"^template\s*<[^(){};]*>$")  # a template head alone: the declaration is on the next line


def undocumented(path):
    lines = open(path, encoding="utf-8").read().split("\n")
    out, documented, prev_name = [], False, None
    parens = 0  # open parentheses carried over from earlier lines: a line inside them continues a declaration
    stack = []  # per open brace: "ns", "public", "private" (a class or struct body), "enum" or "body"
    for no, raw in enumerate(lines, 1):
        line = raw.strip()
        at_scope = all(k in ("ns", "public") for k in stack)
        code = re.sub(r"//.*", "", raw)
        code = re.sub(r'"(\\.|[^"\\])*"', '""', code)
        continuation, parens = parens > 0, max(0, parens + code.count("(") - code.count(")"))
        if line.startswith("///"):
            documented = True
        elif not line:
            documented, prev_name = False, None
        elif continuation or TEMPLATE_HEAD.match(line):
            pass
        elif at_scope and not SKIP.match(line) and DECL.match(line) and "///<" not in line:
            m = re.search(r"(operator\S*|~?\w+)\s*\(", line)
            name = m.group(1) if m else line
            if not documented and name != prev_name:
                out.append((no, line))
            prev_name, documented = name, False
        for c in code:
            if c == "{":
                head = code.split("{")[0]
                if re.search(r"\bnamespace\b", head):
                    stack.append("ns")
                elif re.search(r"\benum\b", head):
                    stack.append("enum")
                elif re.search(r"\b(struct|class|union)\b", head) and "(" not in head:
                    stack.append("private" if re.search(r"\bclass\b", head) else "public")
                else:
                    stack.append("body")
            elif c == "}" and stack:
                stack.pop()
        if stack and stack[-1] in ("public", "private"):
            if line.startswith("public:"):
                stack[-1] = "public"
            elif line.startswith(("private:", "protected:")):
                stack[-1] = "private"
    return out


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
    missing = 0
    for folder in FOLDERS:
        for dirpath, _, files in os.walk(os.path.join(root, folder)):
            for f in sorted(files):
                if f.endswith(".h"):
                    path = os.path.join(dirpath, f)
                    for no, line in undocumented(path):
                        print(f"{os.path.relpath(path, root)}:{no}: no /// comment: {line}")
                        missing += 1
    print(f"doccomments: {missing} public declarations without a /// comment")
    sys.exit(1 if missing else 0)


if __name__ == "__main__":
    main()
