using System.Globalization;

namespace Fusion.Artifacts.Tables;

/// <summary>Element type of a tensor payload; stored in file metadata by its lower-case name ("float32", …).</summary>
public enum TensorDType { Float32, Float16, BFloat16, UInt8, Int64, Float64 }

/// <summary>
/// What every payload of a tensor table holds: element type and shape (row-major, little-endian bytes). A payload is
/// exactly <see cref="ByteSize"/> bytes.
/// </summary>
public sealed record TensorSpec(TensorDType DType, IReadOnlyList<int> Shape)
{
    public static TensorSpec Float32(params int[] shape) => new(TensorDType.Float32, shape);
    public static TensorSpec UInt8(params int[] shape) => new(TensorDType.UInt8, shape);

    public long ElementCount => Shape.Aggregate(1L, (a, d) => a * d);
    public int ElementSize => ElementSizeOf(DType);
    public int ByteSize => checked((int)(ElementCount * ElementSize));

    public static int ElementSizeOf(TensorDType t) => t switch
    {
        TensorDType.Float32 => 4, TensorDType.Float16 or TensorDType.BFloat16 => 2, TensorDType.UInt8 => 1, TensorDType.Int64 or TensorDType.Float64 => 8,
        _ => throw new ArgumentOutOfRangeException(nameof(t), t, "unknown dtype"),
    };

    public static string NameOf(TensorDType t) => t.ToString().ToLowerInvariant();

    public static TensorDType ParseDType(string name) =>
        Enum.GetValues<TensorDType>().FirstOrDefault(t => NameOf(t) == name, (TensorDType)(-1)) is var t && (int)t >= 0
            ? t
            : throw new FormatException($"unknown tensor dtype '{name}' (known: {string.Join(", ", Enum.GetValues<TensorDType>().Select(NameOf))})");

    /// <summary>"77,768" (the metadata form); a scalar is "".</summary>
    public string ShapeText => string.Join(",", Shape.Select(d => d.ToString(CultureInfo.InvariantCulture)));

    public static IReadOnlyList<int> ParseShape(string text) =>
        text.Length == 0 ? [] : text.Split(',').Select(s =>
            int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var d) && d > 0
                ? d : throw new FormatException($"bad tensor shape '{text}': '{s}' is not a positive integer")).ToArray();

    public bool Equals(TensorSpec? other) => other is not null && DType == other.DType && Shape.SequenceEqual(other.Shape);
    public override int GetHashCode() => HashCode.Combine(DType, ShapeText);
    public override string ToString() => $"{NameOf(DType)}[{ShapeText}]";
}
