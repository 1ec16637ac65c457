"""The README's layout table and docs/design.md's layer table match the tree.

Every folder of src/ is a row of both tables; every path and header they name
exists; every public header in include/posterior/ is named in the layer table.
"""
import os
import re
import sys


def section(path, title):
    """The lines of the Markdown section `title` (up to the next heading)."""
    lines = open(path, encoding="utf-8").read().split("\n")
    start = lines.index(title) + 1
    end = next((i for i in range(start, len(lines))
                if lines[i].startswith("#")), len(lines))
    return "\n".join(lines[start:end])


def named(text):
    """The `code` spans of a table's rows."""
    rows = [line for line in text.split("\n") if line.startswith("|")]
    return re.findall(r"`([^`]+)`", "\n".join(rows))


def main():
    errors = []
    src = sorted(d for d in os.listdir("src") if os.path.isdir("src/" + d))
    headers = sorted(h for h in os.listdir("include/posterior")
                     if h.endswith(".h"))
    tables = {"README.md": section("README.md", "## Layout"),
              "docs/design.md": section("docs/design.md", "## Layers")}
    for doc, text in tables.items():
        spans = named(text)
        for d in src:
            if "src/" + d not in spans:
                errors.append(f"{doc}: src/{d} has no row")
        for s in spans:
            path = s.rstrip("/")
            if "/" in s and not (os.path.exists(path) or
                                 os.path.exists("include/" + path)):
                errors.append(f"{doc}: {s} does not exist")
            if s.endswith(".h") and "/" not in s and s not in headers:
                errors.append(f"{doc}: header {s} does not exist")
    design = named(tables["docs/design.md"])
    for h in headers:
        if h not in design:
            errors.append(f"docs/design.md: posterior/{h} is not named")
    for e in errors:
        print("FAIL:", e, file=sys.stderr)
    print(f"{len(src)} src folders, {len(headers)} headers checked; "
          f"{len(errors)} mismatches")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
