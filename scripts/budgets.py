#!/usr/bin/env python3
"""The house budgets of DESIGN.md, checked: a file at most 600 lines, a function at most 60, a pass (one
file of passes/, its rules and printing apart) at most 300. Prints every function over the budget and
exits 1 if any budget is broken. Usage: budgets.py [REPO] [--top N] (--top lists the N longest functions).

Functions are found by braces: a `{` at namespace or class level whose head (the text since the previous
`;`, `{` or `}`) has a parameter list and is not a control statement, a lambda or an initialiser list.
Comments, strings and character literals are skipped."""
import os
import re
import sys

FILE_BUDGET, FUNCTION_BUDGET, PASS_BUDGET = 600, 60, 300
FOLDERS = ["ir", "passes", "compiler", "runtime", "models", "tools", "bench", "tests", "examples"]
CONTROL = re.compile(r"^\s*(if|for|while|switch|catch|do|else|return)\b")


def strip(text):
    """The text with comments, strings and char literals blanked (newlines kept)."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i)); i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j])); i = j
        elif text.startswith('R"', i):
            m = re.match(r'R"([^(]*)\(', text[i:])
            end = text.find(")" + m.group(1) + '"', i) + len(m.group(1)) + 2
            out.append(re.sub(r"[^\n]", " ", text[i:end])); i = end
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(" " * (j + 1 - i)); i = j + 1
        else:
            out.append(c); i += 1
    return "".join(out)


def functions(path):
    """(name, first line, body lines) of every function defined in the file."""
    text = strip(open(path, encoding="utf-8").read())
    found, stack, head_start = [], [], 0  # stack: (is_function, name, line, scope_kind)
    line = 1
    for i, c in enumerate(text):
        if c == "\n":
            line += 1
        elif c == "{":
            head = text[head_start:i]
            flat = " ".join(head.split())
            in_function = any(s[0] for s in stack)
            is_fn = (not in_function and "(" in flat and ")" in flat and not CONTROL.match(flat)
                     and not re.search(r"\]\s*(\(.*\))?\s*(mutable\s*)?(->.*)?$", flat) and not flat.endswith("=")
                     and not re.match(r"^(namespace|struct|class|enum|union)\b", flat) and "=" not in flat.split("(")[0])
            name = re.findall(r"([~\w:]+)\s*\(", flat)
            stack.append((is_fn, name[0] if name else "?", line))
            head_start = i + 1
        elif c == "}":
            if stack:
                is_fn, name, start = stack.pop()
                if is_fn:
                    found.append((name, start, line - start - 1))
            head_start = i + 1
        elif c == ";":
            head_start = i + 1
    return found


def main():
    args = sys.argv[1:]
    top = 0
    if "--top" in args:
        k = args.index("--top")
        top = int(args[k + 1])
        del args[k:k + 2]
    root = args[0] if args else os.path.join(os.path.dirname(__file__), "..")
    problems, all_fns = [], []
    for folder in FOLDERS:
        for dirpath, _, files in os.walk(os.path.join(root, folder)):
            for f in sorted(files):
                if not f.endswith((".cpp", ".h", ".c")):
                    continue
                path = os.path.join(dirpath, f)
                rel = os.path.relpath(path, root)
                lines = open(path, encoding="utf-8").read().count("\n")
                if lines > FILE_BUDGET:
                    problems.append(f"{rel}: {lines} lines (file budget {FILE_BUDGET})")
                if folder == "passes" and f.endswith(".cpp") and lines > PASS_BUDGET:
                    problems.append(f"{rel}: {lines} lines (pass budget {PASS_BUDGET})")
                for name, start, body in functions(path):
                    all_fns.append((body, f"{rel}:{start}", name))
                    if body > FUNCTION_BUDGET:
                        problems.append(f"{rel}:{start}: {name} is {body} lines (function budget {FUNCTION_BUDGET})")
    for body, where, name in sorted(all_fns, reverse=True)[:top]:
        print(f"{body:5} {where} {name}")
    for p in problems:
        print(p)
    print(f"budgets: {len(all_fns)} functions, {len(problems)} over budget")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
