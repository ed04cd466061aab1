# Sets VER_FLG_WEAK on the named version requirements of an ELF64 file (see patch-libtorchsharp.sh).
# Usage: python3 weaken_verneed.py FILE VERSION...   Exit code 1 when nothing was patched.
import struct, sys
path, wanted = sys.argv[1], set(sys.argv[2:])
data = bytearray(open(path, 'rb').read())
assert data[:4] == b'\x7fELF' and data[4] == 2 and data[5] == 1, "ELF64 LE only"
e_shoff, = struct.unpack_from('<Q', data, 0x28)
e_shentsize, e_shnum, e_shstrndx = struct.unpack_from('<HHH', data, 0x3A)
secs = []
for i in range(e_shnum):
    name, typ, flags, addr, offset, size, link, info, align, entsize = struct.unpack_from('<IIQQQQIIQQ', data, e_shoff + i * e_shentsize)
    secs.append((name, typ, offset, size, link, info))
patched = 0
for name, typ, offset, size, link, info in secs:
    if typ != 0x6ffffffe: continue            # SHT_GNU_verneed
    strtab_off = secs[link][2]
    cstr = lambda o: data[strtab_off + o:data.index(b'\0', strtab_off + o)].decode()
    vn = offset
    for _ in range(info):
        vn_version, vn_cnt, vn_file, vn_aux, vn_next = struct.unpack_from('<HHIII', data, vn)
        va = vn + vn_aux
        for _ in range(vn_cnt):
            vna_hash, vna_flags, vna_other, vna_name, vna_next = struct.unpack_from('<IHHII', data, va)
            if cstr(vna_name) in wanted:
                struct.pack_into('<H', data, va + 4, vna_flags | 0x2); patched += 1   # VER_FLG_WEAK
            va += vna_next
        vn += vn_next
open(path, 'wb').write(data)
sys.exit(0 if patched else 1)
