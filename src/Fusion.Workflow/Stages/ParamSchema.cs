using System.Collections.Concurrent;
using System.Globalization;
using System.Reflection;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace Fusion.Workflow.Stages;

/// <summary>
/// One param of a stage kind: its pipeline name, CLR type, default (canonical JSON), declared range (numbers only) and
/// whether its value names a file whose text it takes (<see cref="ParamFileAttribute"/>).
/// </summary>
public sealed record ParamInfo(string Name, Type Type, bool Nullable, string DefaultJson, ParamRangeAttribute? Range = null, bool File = false);

/// <summary>
/// The typed params of a stage kind, read by reflection from its params class. Converts pipeline values to canonical
/// JSON (the form fingerprints hash: numbers normalised by their declared type, enums in kebab-case) and binds them back.
/// </summary>
public sealed class ParamSchema
{
    private static readonly ConcurrentDictionary<Type, ParamSchema> Cache = new();

    public static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower, allowIntegerValues: false) },
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    };

    private ParamSchema(Type type, IReadOnlyDictionary<string, ParamInfo> byName)
    {
        ParamsType = type;
        ByName = byName;
    }

    public Type ParamsType { get; }
    public IReadOnlyDictionary<string, ParamInfo> ByName { get; }

    public static ParamSchema For<TParams>() where TParams : new() =>
        Cache.GetOrAdd(typeof(TParams), _ => Build(typeof(TParams), new TParams()!));

    private static ParamSchema Build(Type type, object defaults)
    {
        var nullability = new NullabilityInfoContext();
        var byName = new SortedDictionary<string, ParamInfo>(StringComparer.Ordinal);
        var defaultJson = JsonSerializer.SerializeToNode(defaults, type, Json)!.AsObject();
        foreach (var p in type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanRead && p.CanWrite))
        {
            var name = JsonNamingPolicy.SnakeCaseLower.ConvertName(p.Name);
            var underlying = System.Nullable.GetUnderlyingType(p.PropertyType);
            var nullable = underlying is not null || (!p.PropertyType.IsValueType && nullability.Create(p).WriteState == NullabilityState.Nullable);
            var clr = underlying ?? p.PropertyType;
            CheckSupported(type, p.Name, clr);
            var info = new ParamInfo(name, clr, nullable, Canonical(defaultJson[name]), p.GetCustomAttribute<ParamRangeAttribute>(), p.GetCustomAttribute<ParamFileAttribute>() is not null);
            if (info.Range is not null) CheckRangeDeclaration(type, p.Name, info);
            if (info.File && clr != typeof(string)) throw new NotSupportedException($"param {type.Name}.{p.Name} is a file param but has type {clr.Name}; file params are strings");
            byName[name] = info;
        }
        return new ParamSchema(type, byName);
    }

    /// <summary>A range belongs on a number (or a list of numbers) whose default lies in it: a kind's own defaults must load.</summary>
    private static void CheckRangeDeclaration(Type owner, string property, ParamInfo info)
    {
        var t = ElementType(info.Type) is { } e ? System.Nullable.GetUnderlyingType(e) ?? e : info.Type;
        if (!IsNumber(t)) throw new NotSupportedException($"param {owner.Name}.{property} has a declared range but type {t.Name}; ranges are for numbers");
        var node = JsonNode.Parse(info.DefaultJson);
        foreach (var v in node is JsonArray a ? a : [node])
            if (v is not null && !info.Range!.Contains(v.GetValue<double>()))
                throw new NotSupportedException($"param {owner.Name}.{property}: default {v.ToJsonString()} is outside its declared range ({info.Range})");
    }

    private static bool IsNumber(Type t) => t == typeof(int) || t == typeof(long) || t == typeof(float) || t == typeof(double);

    private static void CheckSupported(Type owner, string property, Type t)
    {
        if (ElementType(t) is { } element) t = System.Nullable.GetUnderlyingType(element) ?? element;
        if (!(t == typeof(bool) || t == typeof(int) || t == typeof(long) || t == typeof(float) || t == typeof(double) || t == typeof(string) || t.IsEnum))
            throw new NotSupportedException($"param {owner.Name}.{property} has type {t.Name}; stage params must be bool, int, long, float, double, string, enums or lists of them");
    }

    /// <summary>The element type when <paramref name="t"/> is an array or a list type, else null.</summary>
    public static Type? ElementType(Type t) =>
        t.IsArray ? t.GetElementType()
        : t.IsGenericType && t.GetGenericTypeDefinition() is var g && (g == typeof(List<>) || g == typeof(IReadOnlyList<>) || g == typeof(IList<>) || g == typeof(IEnumerable<>) || g == typeof(IReadOnlyCollection<>))
            ? t.GetGenericArguments()[0] : null;

    /// <summary>Every param at its default, as canonical JSON.</summary>
    public SortedDictionary<string, string> Defaults() =>
        new(ByName.ToDictionary(p => p.Key, p => p.Value.DefaultJson), StringComparer.Ordinal);

    /// <summary>Builds the params object from canonical JSON values.</summary>
    public T Bind<T>(IReadOnlyDictionary<string, string> canonical)
    {
        var obj = new JsonObject();
        foreach (var (k, v) in canonical) obj[k] = JsonNode.Parse(v);
        return obj.Deserialize<T>(Json)!;
    }

    /// <summary>Canonical JSON of one value (compact; numbers as .NET writes their declared type: shortest round trip).</summary>
    public static string Canonical(JsonNode? node) => node?.ToJsonString() ?? "null";

    /// <summary>
    /// Converts a pipeline value (a YAML scalar's text, or a list of them) to canonical JSON for <paramref name="param"/>,
    /// or throws <see cref="FormatException"/> saying what was expected.
    /// </summary>
    public static string Convert(ParamInfo param, object? value)
    {
        if (ElementType(param.Type) is { } element)
        {
            if (value is not IReadOnlyList<string?> items) throw new FormatException($"expected a list of {Describe(element)}, got {Show(value)}");
            var inner = System.Nullable.GetUnderlyingType(element) ?? element;
            var array = new JsonArray();
            foreach (var item in items) array.Add(Scalar(inner, item, element != inner || !element.IsValueType, param.Range));
            return Canonical(array);
        }
        if (value is IReadOnlyList<string?>) throw new FormatException($"expected {Describe(param.Type)}, got a list");
        return Canonical(Scalar(param.Type, (string?)value, param.Nullable, param.Range));
    }

    private static JsonNode? Scalar(Type t, string? text, bool nullable, ParamRangeAttribute? range)
    {
        T InRange<T>(T number) where T : IConvertible =>
            range is null || range.Contains(number.ToDouble(CultureInfo.InvariantCulture)) ? number : throw new FormatException($"must be {range}, got {text}");
        if (text is null or "~" or "null")
            return nullable ? null : throw new FormatException($"expected {Describe(t)}, got null");
        var inv = CultureInfo.InvariantCulture;
        if (t == typeof(string)) return JsonValue.Create(text);
        if (t == typeof(bool))
            return text.ToLowerInvariant() switch { "true" => JsonValue.Create(true), "false" => JsonValue.Create(false), _ => throw new FormatException($"expected true or false, got '{text}'") };
        if (t == typeof(int))
            return int.TryParse(text, NumberStyles.AllowLeadingSign, inv, out var i) ? JsonValue.Create(InRange(i)) : throw new FormatException($"expected an integer, got '{text}'");
        if (t == typeof(long))
            return long.TryParse(text, NumberStyles.AllowLeadingSign, inv, out var l) ? JsonValue.Create(InRange(l)) : throw new FormatException($"expected an integer, got '{text}'");
        if (t == typeof(double))
            return double.TryParse(text, NumberStyles.Float, inv, out var d) && double.IsFinite(d) ? JsonValue.Create(InRange(d)) : throw new FormatException($"expected a number, got '{text}'");
        if (t == typeof(float))
            return float.TryParse(text, NumberStyles.Float, inv, out var f) && float.IsFinite(f) ? JsonValue.Create(InRange(f)) : throw new FormatException($"expected a number, got '{text}'");
        if (t.IsEnum)
        {
            var names = Enum.GetNames(t);
            var match = names.FirstOrDefault(n => string.Equals(Kebab(n), text, StringComparison.OrdinalIgnoreCase) || string.Equals(n, text, StringComparison.OrdinalIgnoreCase));
            return match is not null ? JsonValue.Create(Kebab(match)) : throw new FormatException($"expected one of {string.Join(", ", names.Select(Kebab))}, got '{text}'");
        }
        throw new FormatException($"unsupported param type {t.Name}");
    }

    public static string Kebab(string name) => JsonNamingPolicy.KebabCaseLower.ConvertName(name);

    public static string Describe(Type t) =>
        t == typeof(bool) ? "true or false" : t == typeof(int) || t == typeof(long) ? "an integer" : t == typeof(double) || t == typeof(float) ? "a number"
        : t == typeof(string) ? "a string" : t.IsEnum ? "one of " + string.Join(", ", Enum.GetNames(t).Select(Kebab))
        : ElementType(t) is { } e ? "a list of " + Describe(e) : t.Name;

    private static string Show(object? v) => v switch
    {
        null => "null",
        string s => $"'{s}'",
        IReadOnlyList<string?> list => "[" + new StringBuilder().AppendJoin(", ", list) + "]",
        _ => v.ToString() ?? "",
    };
}
