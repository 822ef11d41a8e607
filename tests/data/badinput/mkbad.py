#!/usr/bin/env python3
"""mkbad.py IN.o OUT.o CASE: one precise corruption of an x86-64 ELF object,
for the hardening tests (each case was once a koff-link crash or hang):
  reloc-sym-2g       the first entry of the first .rela.text* names symbol 2^31
  reloc-offset-wrap  the first entry of the first .rela.text* patches offset 2^64-2
  align-2p63         .text asks for alignment 2^63
  align-ffffffff     .text asks for alignment 0xffffffff (not a power of 2)
  sym-shndx-huge     the handler symbol names section 0xfeff (no such section)
  sym-value-outside  the handler symbol lies past the end of .text
  debug-info-garbage .debug_info filled with 0xff bytes past its unit header
  debug-zstd         a -gz=zlib object whose .debug_info claims zstd compression
  debug-compress-unknown  ... claims compression type 0x77 (no such type)
"""
import struct
import sys

src, dst, case = sys.argv[1:4]
b = bytearray(open(src, "rb").read())
shoff, = struct.unpack_from("<Q", b, 0x28)
shentsize, shnum, shstrndx = struct.unpack_from("<HHH", b, 0x3a)


def shdr(i):
    off = shoff + i * shentsize
    name, typ, flags, addr, offset, size, link, info, align, entsize = \
        struct.unpack_from("<IIQQQQIIQQ", b, off)
    return dict(off=off, name=name, type=typ, offset=offset, size=size, link=link, info=info)


strtab = shdr(shstrndx)


def secname(s):
    start = strtab["offset"] + s["name"]
    return bytes(b[start:b.index(0, start)]).decode()


secs = [shdr(i) for i in range(shnum)]
by_name = {secname(s): (i, s) for i, s in enumerate(secs)}


def handler_symbol():
    _, symtab = by_name[".symtab"]
    strs = secs[symtab["link"]]
    for k in range(symtab["size"] // 24):
        off = symtab["offset"] + 24 * k
        name, = struct.unpack_from("<I", b, off)
        start = strs["offset"] + name
        if bytes(b[start:b.index(0, start)]) == b"handle_request":
            return off
    sys.exit("no handle_request symbol")


def code_relocations():
    return next(s for n, (_, s) in sorted(by_name.items()) if n.startswith(".rela.text"))


if case == "reloc-sym-2g":
    r = code_relocations()
    struct.pack_into("<Q", b, r["offset"] + 8, (0x80000000 << 32) | 2)
elif case == "reloc-offset-wrap":
    r = code_relocations()
    struct.pack_into("<Q", b, r["offset"], 0xfffffffffffffffe)
elif case in ("align-2p63", "align-ffffffff"):
    _, t = by_name[".text"]
    struct.pack_into("<Q", b, t["off"] + 48, 1 << 63 if case == "align-2p63" else 0xffffffff)
elif case == "sym-shndx-huge":
    struct.pack_into("<H", b, handler_symbol() + 6, 0xfeff)
elif case == "sym-value-outside":
    struct.pack_into("<Q", b, handler_symbol() + 8, 0x7ffffff0)
elif case == "debug-info-garbage":
    _, d = by_name[".debug_info"]
    for k in range(d["offset"] + 12, d["offset"] + d["size"]):
        b[k] = 0xff
elif case in ("debug-zstd", "debug-compress-unknown"):
    _, d = by_name[".debug_info"]
    struct.pack_into("<I", b, d["offset"], 2 if case == "debug-zstd" else 0x77)
else:
    sys.exit("unknown case " + case)
open(dst, "wb").write(b)
