using System.Runtime.InteropServices;

namespace Fusion.Artifacts.Tables;

/// <summary>Conversions between tensor payload bytes (little-endian, row-major) and float arrays.</summary>
public static class TensorPayload
{
    static TensorPayload()
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("tensor payloads are little-endian; this machine is not");
    }

    public static byte[] FromFloats(ReadOnlySpan<float> values) => MemoryMarshal.AsBytes(values).ToArray();

    public static float[] ToFloats(ReadOnlySpan<byte> payload)
    {
        if (payload.Length % 4 != 0) throw new ArgumentException($"a float32 payload of {payload.Length} bytes is not a multiple of 4");
        return MemoryMarshal.Cast<byte, float>(payload).ToArray();
    }

    /// <summary>Decodes one payload of <paramref name="dtype"/> into floats (numeric value; uint8 stays 0…255).</summary>
    public static void DecodeToFloat(TensorDType dtype, ReadOnlySpan<byte> payload, Span<float> destination)
    {
        var n = payload.Length / TensorSpec.ElementSizeOf(dtype);
        if (destination.Length < n) throw new ArgumentException($"destination holds {destination.Length} floats, payload has {n}");
        switch (dtype)
        {
            case TensorDType.Float32: MemoryMarshal.Cast<byte, float>(payload).CopyTo(destination); break;
            case TensorDType.Float16:
                var h = MemoryMarshal.Cast<byte, Half>(payload);
                for (var i = 0; i < n; i++) destination[i] = (float)h[i];
                break;
            case TensorDType.BFloat16:
                var b = MemoryMarshal.Cast<byte, ushort>(payload);
                for (var i = 0; i < n; i++) destination[i] = BitConverter.Int32BitsToSingle(b[i] << 16);
                break;
            case TensorDType.UInt8:
                for (var i = 0; i < n; i++) destination[i] = payload[i];
                break;
            case TensorDType.Int64:
                var l = MemoryMarshal.Cast<byte, long>(payload);
                for (var i = 0; i < n; i++) destination[i] = l[i];
                break;
            case TensorDType.Float64:
                var d = MemoryMarshal.Cast<byte, double>(payload);
                for (var i = 0; i < n; i++) destination[i] = (float)d[i];
                break;
            default: throw new ArgumentOutOfRangeException(nameof(dtype), dtype, null);
        }
    }
}
