#!/usr/bin/env python3
"""Doxygen INPUT_FILTER for libvmstream's public headers.

The headers are written for people first: plain C comments, with /** only
on the blocks directly above declarations.  This filter lets Doxygen read
the rest without touching the headers:

  * the comment that opens the file (name, purpose, conventions) becomes
    the file's documentation (@file), so the conventions appear on the
    header's page;
  * a comment that follows a declaration on the same line (struct members,
    enum constants, macros) becomes a member comment (/**<), continuing
    over the next lines if it does;
  * a member line declaring several names ("uint32_t major, minor;") with
    such a comment is split into one declaration per name on the same
    line, each with the comment, since Doxygen documents only the last;
  * "e.g. " and "i.e. " get Doxygen's escaped space ("e.g.\\ ") and ranges
    such as "1 .. 64" read "1 to 64", so that JAVADOC_AUTOBRIEF does not
    end a brief description there;
  * everything else passes through unchanged, line for line, so line
    numbers in Doxygen's messages are those of the real header.
"""
import re
import sys

TRAILING = re.compile(r"^(\s*[^\s/*].*?)/\*(?![*!])")
RANGE = re.compile(r" \.\. ")
# "    type a, b, c; /* text */" (simple names, no pointers or arrays).
MULTI = re.compile(r"^(\s+)((?:const\s+)?[A-Za-z_]\w*\s+)"
                   r"([A-Za-z_]\w*(?:\s*,\s*[A-Za-z_]\w*)+)\s*;\s*"
                   r"(/\*(?![*!]).*\*/)\s*$")


def split_multi(line):
    m = MULTI.match(line.rstrip("\n"))
    if not m:
        return None
    indent, type_, names, comment = m.groups()
    doc = "/**<" + comment[2:]
    parts = [type_ + n.strip() + "; " + doc for n in names.split(",")]
    return indent + " ".join(parts) + "\n"


def filter_lines(lines):
    out = []
    in_comment = False
    first_comment_done = False
    for line in lines:
        for abbrev in ("e.g. ", "i.e. "):
            line = line.replace(abbrev, abbrev[:-1] + "\\ ")
        line = RANGE.sub(" to ", line)
        if in_comment:
            out.append(line)
            if "*/" in line:
                in_comment = False
            continue
        stripped = line.lstrip()
        if not first_comment_done and stripped.startswith("/*"):
            first_comment_done = True
            if not stripped.startswith("/**"):
                line = line.replace("/*", "/** @file", 1)
        elif stripped.startswith("/*"):
            pass
        elif split_multi(line) is not None:
            line = split_multi(line)
        else:
            m = TRAILING.match(line)
            if m and not m.group(1).lstrip().startswith("#include"):
                line = m.group(1) + "/**<" + line[m.end():]
        # Track whether a comment stays open at the end of this line.
        pos = 0
        while True:
            start = line.find("/*", pos)
            if start < 0:
                break
            end = line.find("*/", start + 2)
            if end < 0:
                in_comment = True
                break
            pos = end + 2
        out.append(line)
    return out


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        lines = f.readlines()
    sys.stdout.write("".join(filter_lines(lines)))


if __name__ == "__main__":
    main()
