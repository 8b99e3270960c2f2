#!/usr/bin/env python3
"""Regenerates common-passwords.txt from the password frequency list that ships
inside the zxcvbn crate (its `PASSWORDS` table, ordered most common first).

Usage: python3 crates/domain/data/generate.py [COUNT]   (run after `cargo fetch`)
"""
import glob, os, re, sys

count = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
home = os.environ.get("CARGO_HOME", os.path.expanduser("~/.cargo"))
sources = sorted(glob.glob(f"{home}/registry/src/*/zxcvbn-3.*/src/frequency_lists.rs"))
if not sources:
    sys.exit("zxcvbn 3.x source not found: run `cargo fetch` first")
text = open(sources[-1], encoding="utf-8").read()
match = re.search(r'const PASSWORDS: &str = "([^"]*)"', text)
words = [w for w in match.group(1).split(",") if w][:count]
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "common-passwords.txt")
with open(out, "w", encoding="utf-8") as f:
    f.write("\n".join(words) + "\n")
print(f"wrote {len(words)} passwords from {sources[-1]} to {out}")
