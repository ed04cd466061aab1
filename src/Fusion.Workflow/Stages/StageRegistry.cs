using System.Reflection;
using Fusion.Workflow.Execution;

namespace Fusion.Workflow.Stages;

/// <summary>The stage kinds a pipeline may use, by name, and the compute runtime they run on.</summary>
public sealed class StageRegistry
{
    private readonly Dictionary<string, IStageKind> kinds = new(StringComparer.Ordinal);

    public IReadOnlyCollection<IStageKind> Kinds => kinds.Values;

    /// <summary>Where the engine places torch nodes' work (null: none; they run where they are started).</summary>
    public IComputeRuntime? Compute { get; private set; }

    /// <summary>Sets the compute runtime; a registry holds at most one kind of runtime.</summary>
    public StageRegistry UseCompute(IComputeRuntime compute)
    {
        if (Compute is not null && Compute.GetType() != compute.GetType())
            throw new InvalidOperationException($"two compute runtimes: {Compute.GetType().FullName} and {compute.GetType().FullName}");
        Compute = compute;
        return this;
    }

    public StageRegistry Add(IStageKind kind)
    {
        if (kinds.TryGetValue(kind.Name, out var existing) && existing.GetType() != kind.GetType())
            throw new InvalidOperationException($"stage kind '{kind.Name}' is defined twice: {existing.GetType().FullName} and {kind.GetType().FullName}");
        kinds[kind.Name] = kind;
        return this;
    }

    public bool TryGet(string name, out IStageKind kind) => kinds.TryGetValue(name, out kind!);

    public IStageKind Get(string name) =>
        kinds.TryGetValue(name, out var k) ? k : throw new KeyNotFoundException($"unknown stage kind '{name}' (known: {string.Join(", ", kinds.Keys.Order())})");

    /// <summary>
    /// Registers every public, non-abstract <see cref="IStageKind"/> with a parameterless constructor in
    /// <paramref name="assembly"/>, and the compute runtime the assembly declares (<see cref="ComputeRuntimeAttribute"/>).
    /// </summary>
    public StageRegistry AddAssembly(Assembly assembly)
    {
        Type[] types;
        try { types = assembly.GetExportedTypes(); }
        catch (ReflectionTypeLoadException e) { types = e.Types.OfType<Type>().Where(t => t.IsPublic).ToArray(); }
        foreach (var t in types.Where(t => !t.IsAbstract && !t.IsGenericTypeDefinition && typeof(IStageKind).IsAssignableFrom(t) && t.GetConstructor(Type.EmptyTypes) is not null))
            Add((IStageKind)Activator.CreateInstance(t)!);
        if (assembly.GetCustomAttribute<ComputeRuntimeAttribute>() is { } declared && Compute?.GetType() != declared.Runtime)
            UseCompute((IComputeRuntime)Activator.CreateInstance(declared.Runtime)!);
        return this;
    }

    /// <summary>Loads a plugin assembly (e.g. a test assembly defining stage kinds) and registers its stage kinds.</summary>
    public StageRegistry AddPlugin(string path)
    {
        var full = Path.GetFullPath(path);
        if (!File.Exists(full)) throw new FileNotFoundException($"plugin assembly not found: {full}", full);
        return AddAssembly(Assembly.LoadFrom(full));
    }
}
