using System.Buffers.Binary;
using System.Numerics;
using System.Text;

namespace Fusion.Models.Weights;

/// <summary>A pickle asked for a global (class or function) that is not on the allow-list; nothing was called.</summary>
public sealed class ForbiddenGlobalException(string source, string global, IEnumerable<string> allowed)
    : System.Security.SecurityException($"{source}: the pickle asks for the global '{global}', which is not allow-listed " +
                           $"(allowed: {string.Join(", ", allowed.Order())}); refusing to load it")
{
    public string Global { get; } = global;
}

/// <summary>An allow-listed global as it appears on the pickle stack; REDUCE/NEWOBJ call <see cref="Construct"/>.</summary>
public sealed record PickleGlobal(string Module, string Name, Func<object?[], object?> Construct)
{
    public string FullName => $"{Module}.{Name}";
    public override string ToString() => FullName;
}

/// <summary>
/// A pickle virtual machine (protocols 0–4 as far as data goes) that never imports anything: GLOBAL/STACK_GLOBAL
/// resolve only names on the caller's allow-list, anything else throws <see cref="ForbiddenGlobalException"/> before
/// any object is built. Values: None → null, bool, int → long (or BigInteger), float → double, str → string,
/// bytes → byte[], tuple → object?[], list → List&lt;object?&gt;, dict → Dictionary&lt;object, object?&gt; (insertion
/// order kept). Reads exactly up to STOP, so consecutive pickles in one stream can be read one after the other.
/// </summary>
public sealed class RestrictedUnpickler(Stream stream, string source, IReadOnlyDictionary<string, Func<object?[], object?>> allowed,
    Func<object?, object?>? persistentLoad = null)
{
    private readonly List<object?> stack = [];
    private readonly Stack<List<object?>> marks = new();
    private readonly Dictionary<long, object?> memo = [];

    /// <summary>Reads one pickle, up to and including its STOP opcode.</summary>
    public object? Load()
    {
        stack.Clear(); marks.Clear(); memo.Clear();
        while (true)
        {
            var at = stream.CanSeek ? stream.Position : -1;
            var op = ReadByte("an opcode");
            switch (op)
            {
                case 0x80: ReadByte("the protocol number"); break;                              // PROTO
                case 0x95: ReadBytes(8); break;                                                  // FRAME (length only)
                case (byte)'.': return Pop();                                                    // STOP
                case (byte)'(': marks.Push([.. stack]); stack.Clear(); break; // MARK
                case (byte)'0': Pop(); break;                                                    // POP
                case (byte)'1': PopMark(); break;                                                // POP_MARK
                case (byte)'2': Push(Peek()); break;                                             // DUP
                case (byte)'N': Push(null); break;
                case 0x88: Push(true); break;
                case 0x89: Push(false); break;
                case (byte)'J': Push((long)BinaryPrimitives.ReadInt32LittleEndian(ReadBytes(4))); break;
                case (byte)'K': Push((long)ReadByte("BININT1")); break;
                case (byte)'M': Push((long)BinaryPrimitives.ReadUInt16LittleEndian(ReadBytes(2))); break;
                case 0x8a: Push(Long(ReadBytes(ReadByte("LONG1 length")))); break;
                case 0x8b: Push(Long(ReadBytes(Length(4)))); break;
                case (byte)'I': Push(ReadLine() switch { "01" => true, "00" => false, var s => long.Parse(s) }); break;
                case (byte)'L': Push(Normalise(BigInteger.Parse(ReadLine().TrimEnd('L')))); break;
                case (byte)'G': Push(BinaryPrimitives.ReadDoubleBigEndian(ReadBytes(8))); break;
                case (byte)'X': Push(Encoding.UTF8.GetString(ReadBytes(Length(4)))); break;    // BINUNICODE
                case 0x8c: Push(Encoding.UTF8.GetString(ReadBytes(ReadByte("length")))); break; // SHORT_BINUNICODE
                case 0x8d: Push(Encoding.UTF8.GetString(ReadBytes(Length(8)))); break;          // BINUNICODE8
                case (byte)'T': Push(Encoding.Latin1.GetString(ReadBytes(Length(4)))); break;   // BINSTRING (Python 2 str)
                case (byte)'U': Push(Encoding.Latin1.GetString(ReadBytes(ReadByte("length")))); break;
                case (byte)'B': Push(ReadBytes(Length(4))); break;                               // BINBYTES
                case (byte)'C': Push(ReadBytes(ReadByte("length"))); break;                      // SHORT_BINBYTES
                case 0x8e: Push(ReadBytes(Length(8))); break;                                    // BINBYTES8
                case (byte)')': Push(Array.Empty<object?>()); break;
                case (byte)'t': Push(PopMark().ToArray()); break;
                case 0x85: Push(new[] { Pop() }); break;
                case 0x86: { var b = Pop(); var a = Pop(); Push(new[] { a, b }); break; }
                case 0x87: { var c = Pop(); var b = Pop(); var a = Pop(); Push(new[] { a, b, c }); break; }
                case (byte)']': Push(new List<object?>()); break;
                case (byte)'l': Push(PopMark()); break;
                case (byte)'a': { var v = Pop(); As<List<object?>>(Peek(), "APPEND").Add(v); break; }
                case (byte)'e': { var items = PopMark(); As<List<object?>>(Peek(), "APPENDS").AddRange(items); break; }
                case (byte)'}': Push(new Dictionary<object, object?>()); break;
                case (byte)'d': { var d = new Dictionary<object, object?>(); SetItems(d, PopMark()); Push(d); break; }
                case (byte)'s': { var v = Pop(); var k = Pop(); SetItems(Peek(), [k, v]); break; }
                case (byte)'u': { var items = PopMark(); SetItems(Peek(), items); break; }
                case (byte)'c': Push(Resolve(ReadLine(), ReadLine())); break;                    // GLOBAL
                case 0x93: { var name = Pop(); var module = Pop(); Push(Resolve(As<string>(module, "STACK_GLOBAL"), As<string>(name, "STACK_GLOBAL"))); break; }
                case (byte)'R': case 0x81:                                                       // REDUCE, NEWOBJ
                {
                    var args = As<object?[]>(Pop(), "REDUCE arguments");
                    var callable = As<PickleGlobal>(Pop(), "REDUCE callable");
                    Push(callable.Construct(args));
                    break;
                }
                case (byte)'b': { var state = Pop(); Build(Peek(), state); break; }               // BUILD
                case (byte)'p': memo[long.Parse(ReadLine())] = Peek(); break;                   // PUT
                case (byte)'q': memo[ReadByte("BINPUT index")] = Peek(); break;
                case (byte)'r': memo[BinaryPrimitives.ReadUInt32LittleEndian(ReadBytes(4))] = Peek(); break;
                case 0x94: memo[memo.Count] = Peek(); break;                                     // MEMOIZE
                case (byte)'g': Push(Memo(long.Parse(ReadLine()))); break;                       // GET
                case (byte)'h': Push(Memo(ReadByte("BINGET index"))); break;
                case (byte)'j': Push(Memo(BinaryPrimitives.ReadUInt32LittleEndian(ReadBytes(4)))); break;
                case (byte)'P': Push(PersistentLoad(ReadLine())); break;                         // PERSID
                case (byte)'Q': Push(PersistentLoad(Pop())); break;                              // BINPERSID
                default:
                    throw new InvalidDataException($"{source}: unsupported pickle opcode 0x{op:x2} ('{(char)op}')" +
                                                   (at >= 0 ? $" at byte {at}" : "") + " — only plain data, allow-listed globals and persistent ids are read");
            }
        }
    }

    private object? Resolve(string module, string name)
    {
        var full = $"{module}.{name}";
        if (!allowed.TryGetValue(full, out var construct)) throw new ForbiddenGlobalException(source, full, allowed.Keys);
        return new PickleGlobal(module, name, construct);
    }

    private object? PersistentLoad(object? pid) =>
        persistentLoad is null ? throw new InvalidDataException($"{source}: the pickle holds a persistent id, which this reader does not expect")
                               : persistentLoad(pid);

    private void Build(object? target, object? state)
    {
        // Only an OrderedDict's instance attributes (a state_dict's `_metadata`) reach here in checkpoints; keep them.
        if (target is PickleOrderedDict od && state is Dictionary<object, object?> attrs)
            foreach (var (k, v) in attrs) od.Attributes[As<string>(k, "attribute name")] = v;
        else
            throw new InvalidDataException($"{source}: BUILD (setting object state) on a {target?.GetType().Name ?? "None"} is not supported");
    }

    private void SetItems(object? target, List<object?> items)
    {
        var d = As<Dictionary<object, object?>>(target, "SETITEMS");
        if (items.Count % 2 != 0) throw new InvalidDataException($"{source}: SETITEMS with an odd number of items");
        for (var i = 0; i < items.Count; i += 2)
            d[items[i] ?? throw new InvalidDataException($"{source}: dict key None is not supported")] = items[i + 1];
    }

    private T As<T>(object? value, string what) => value is T t ? t
        : throw new InvalidDataException($"{source}: {what} expects a {typeof(T).Name}, got {value?.GetType().Name ?? "None"}");

    private object? Memo(long index) => memo.TryGetValue(index, out var v) ? v
        : throw new InvalidDataException($"{source}: pickle refers to memo entry {index}, which was never stored");

    private void Push(object? v) => stack.Add(v);

    private object? Peek() => stack.Count > 0 ? stack[^1] : throw new InvalidDataException($"{source}: malformed pickle (stack underflow)");

    private object? Pop()
    {
        var v = Peek();
        stack.RemoveAt(stack.Count - 1);
        return v;
    }

    private List<object?> PopMark()
    {
        if (marks.Count == 0) throw new InvalidDataException($"{source}: malformed pickle (no MARK)");
        var items = new List<object?>(stack);
        stack.Clear();
        stack.AddRange(marks.Pop());
        return items;
    }

    private static object Long(byte[] twosComplement) => Normalise(new BigInteger(twosComplement, isUnsigned: false, isBigEndian: false));

    private static object Normalise(BigInteger v) => v >= long.MinValue && v <= long.MaxValue ? (long)v : v;

    private int Length(int bytes)
    {
        var b = ReadBytes(bytes);
        var n = bytes == 4 ? BinaryPrimitives.ReadUInt32LittleEndian(b) : BinaryPrimitives.ReadUInt64LittleEndian(b);
        return n <= int.MaxValue ? (int)n : throw new InvalidDataException($"{source}: pickle item of {n} bytes is too large");
    }

    private byte ReadByte(string what)
    {
        var b = stream.ReadByte();
        return b >= 0 ? (byte)b : throw Truncated(what);
    }

    private byte[] ReadBytes(int n)
    {
        if (stream.CanSeek && n > stream.Length - stream.Position) throw Truncated($"{n} bytes ({stream.Length - stream.Position} left)");
        var buffer = new byte[n];
        var read = stream.ReadAtLeast(buffer, n, throwOnEndOfStream: false);
        return read == n ? buffer : throw Truncated($"{n} bytes (got {read})");
    }

    private string ReadLine()
    {
        var bytes = new List<byte>();
        for (var b = ReadByte("a text line"); b != (byte)'\n'; b = ReadByte("a text line")) bytes.Add(b);
        return Encoding.UTF8.GetString(bytes.ToArray());
    }

    private InvalidDataException Truncated(string what) =>
        new($"{source}: file is truncated: the pickle ended while reading {what}" + (stream.CanSeek ? $" at byte {stream.Position}" : ""));
}

/// <summary>collections.OrderedDict: a dict (insertion order kept) plus the instance attributes pickled with it.</summary>
public sealed class PickleOrderedDict : Dictionary<object, object?>
{
    public Dictionary<string, object?> Attributes { get; } = [];
}
