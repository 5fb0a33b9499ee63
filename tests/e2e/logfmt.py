#!/usr/bin/env python3
"""logfmt.py [--match REGEX] FILE: reads mtlsd's operator log as logfmt.

Each line (or each line matching REGEX) is split into key=value pairs the
way go-logfmt's decoder (the reference logfmt reader) does, strictly: a key
is a run of bytes above space other than '=' and '"'; a value is bare (bytes
above space other than '=' and '"') or double-quoted with JSON's escapes
(\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX, surrogate pairs) and no raw
control character; a key alone (the time and level that start each line,
words of a message) has the value None.  Prints one JSON object a line;
exits 1 naming FILE:LINE at the first line that does not parse.
"""
import json
import re
import sys

ESC = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n",
       "r": "\r", "t": "\t"}


class Bad(ValueError):
    pass


def parse_quoted(s, i):
    """s[i] is the opening quote: (value, index after the closing quote)."""
    out = []
    i += 1
    while True:
        if i >= len(s):
            raise Bad("unterminated quoted value")
        c = s[i]
        if c == '"':
            return "".join(out), i + 1
        if ord(c) < 0x20:
            raise Bad("raw control character U+%04X in a quoted value" % ord(c))
        if c != "\\":
            out.append(c)
            i += 1
            continue
        if i + 1 >= len(s):
            raise Bad("a backslash ends the line")
        e = s[i + 1]
        if e in ESC:
            out.append(ESC[e])
            i += 2
            continue
        if e != "u" or not re.fullmatch(r"[0-9a-fA-F]{4}", s[i + 2:i + 6]):
            raise Bad("unknown escape \\%s" % e)
        cp = int(s[i + 2:i + 6], 16)
        i += 6
        if 0xD800 <= cp <= 0xDBFF and s[i:i + 2] == "\\u":
            lo = int(s[i + 2:i + 6], 16)
            if 0xDC00 <= lo <= 0xDFFF:
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00)
                i += 6
        out.append(chr(cp))


def parse(line):
    """A line's pairs, in order, as a list of (key, value or None)."""
    pairs = []
    i, n = 0, len(line)
    while i < n:
        if line[i] == " ":
            i += 1
            continue
        j = i
        while j < n and line[j] > " " and line[j] not in '="':
            j += 1
        if j == i:
            raise Bad("column %d: %r where a key should start" % (i + 1, line[i]))
        key = line[i:j]
        if j >= n or line[j] == " ":
            pairs.append((key, None))
            i = j
            continue
        if line[j] != "=":
            raise Bad("column %d: %r after key %s" % (j + 1, line[j], key))
        j += 1
        if j < n and line[j] == '"':
            val, j = parse_quoted(line, j)
        else:
            k = j
            while j < n and line[j] > " ":
                if line[j] in '="':
                    raise Bad("column %d: %r inside the bare value of %s"
                              % (j + 1, line[j], key))
                j += 1
            val = line[k:j]
        if j < n and line[j] != " ":
            raise Bad("column %d: no space after the value of %s" % (j + 1, key))
        pairs.append((key, val))
        i = j
    return pairs


def main():
    args = sys.argv[1:]
    pat = None
    if len(args) == 3 and args[0] == "--match":
        pat = re.compile(args[1])
        args = args[2:]
    if len(args) != 1:
        sys.exit(__doc__)
    with open(args[0], "rb") as f:
        data = f.read().decode("utf-8")
    for n, line in enumerate(data.split("\n")[:-1], 1):
        if pat is not None and not pat.search(line):
            continue
        try:
            pairs = parse(line)
        except Bad as e:
            print("%s:%d: not logfmt: %s: %s" % (args[0], n, e, line), file=sys.stderr)
            sys.exit(1)
        print(json.dumps(dict(pairs)))


if __name__ == "__main__":
    main()
