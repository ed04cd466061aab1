# Mimics torch.serialization._legacy_save (torch 1.13) for a float32 state dict with fake torch classes, so CPython's
# own pickler decides the byte layout. Storage bytes: the float32 values 0..n-1.
import pickle, io, sys, types, collections, struct
torch = types.ModuleType('torch'); tu = types.ModuleType('torch._utils')
sys.modules['torch'] = torch; sys.modules['torch._utils'] = tu; torch._utils = tu
class FloatStorage: pass
FloatStorage.__module__ = 'torch'; torch.FloatStorage = FloatStorage
def _rebuild_tensor_v2(*a): pass
_rebuild_tensor_v2.__module__ = 'torch._utils'; tu._rebuild_tensor_v2 = _rebuild_tensor_v2
class Stor:
    def __init__(s, key, numel): s.key, s.numel = key, numel
class Tensor:
    def __init__(s, stor, off, size, stride): s.stor, s.off, s.size, s.stride = stor, off, size, stride
    def __reduce_ex__(s, proto):
        return (_rebuild_tensor_v2, (s.stor, s.off, tuple(s.size), tuple(s.stride), False, collections.OrderedDict()))
def location(): return 'cpu'
serialized = {}
def persistent_id(obj):
    if isinstance(obj, Stor):
        key = str(obj.key)
        serialized[key] = obj
        return ('storage', FloatStorage, key, location(), obj.numel, None)
    return None
a = Stor(94010000000000, 24); b = Stor(94020000000000, 3)
sd = collections.OrderedDict()
sd['w'] = Tensor(a, 0, [4, 6], [6, 1])
sd['wt'] = Tensor(a, 0, [6, 4], [1, 6])
sd['row'] = Tensor(a, 12, [6], [1])
sd['b'] = Tensor(b, 0, [3], [1])
sd._metadata = collections.OrderedDict([('', {'version': 1})])
f = io.BytesIO()
pickle.dump(0x1950a86a20f9469cfc6c, f, protocol=2)
pickle.dump(1001, f, protocol=2)
pickle.dump(dict(protocol_version=1001, little_endian=True, type_sizes=dict(short=2, int=4, long=8)), f, protocol=2)
p = pickle.Pickler(f, protocol=2); p.persistent_id = persistent_id; p.dump(sd)
keys = sorted(serialized.keys())
pickle.dump(keys, f, protocol=2)
for k in keys:
    s = serialized[k]
    f.write(struct.pack('<q', s.numel)); f.write(struct.pack('<%df' % s.numel, *range(s.numel)))
print(f.getvalue().hex())
