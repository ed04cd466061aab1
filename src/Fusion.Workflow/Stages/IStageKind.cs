using System.Reflection;

namespace Fusion.Workflow.Stages;

/// <summary>One declared input of a stage kind; <see cref="Many"/> inputs take a list of upstream nodes.</summary>
public sealed record StageInput(string Name, bool Many = false, bool Optional = false);

/// <summary>
/// A stage kind as the engine sees it. Write stage kinds by deriving from <see cref="StageKind{TParams}"/>.
/// </summary>
public interface IStageKind
{
    /// <summary>The name pipelines use in <c>kind:</c> (e.g. "train").</summary>
    string Name { get; }

    /// <summary>Bump whenever the code changes what the stage produces; it is part of every fingerprint.</summary>
    string CodeVersion { get; }

    IReadOnlyList<StageInput> Inputs { get; }

    /// <summary>Files (or folders, ending in '/') the stage must leave in its output folder.</summary>
    IReadOnlyList<string> Outputs { get; }

    /// <summary>
    /// The environment facts that can change this stage's result (they enter its fingerprint); null = all of them.
    /// A download or a table aggregation that never touches torch returns an empty set.
    /// </summary>
    IReadOnlySet<string>? EnvironmentDependencies { get; }

    /// <summary>
    /// The NuGet packages whose code computes this stage's output bytes (<see cref="UsesPackagesAttribute"/> on the
    /// stage type): their versions, with their dependencies', enter its fingerprint.
    /// </summary>
    IReadOnlyList<string> Packages => GetType().GetCustomAttribute<UsesPackagesAttribute>()?.Ids ?? [];

    ParamSchema Params { get; }

    /// <summary>Runs the stage; <paramref name="canonicalParams"/> are the resolved params (name → canonical JSON).</summary>
    Task RunAsync(StageContext context, IReadOnlyDictionary<string, string> canonicalParams);
}

/// <summary>
/// Base class of stage kinds. <typeparamref name="TParams"/> is a class or record with settable (init) properties and
/// defaults; its properties are the stage's params, named in snake_case (LearningRate → learning_rate). Supported
/// types: bool, int, long, float, double, string, enums (written in kebab-case: EarlyConcat → early-concat), nullable
/// forms of these, and arrays / lists of them.
/// </summary>
public abstract class StageKind<TParams> : IStageKind where TParams : new()
{
    public abstract string Name { get; }
    public abstract string CodeVersion { get; }
    public virtual IReadOnlyList<StageInput> Inputs => [];
    public virtual IReadOnlyList<string> Outputs => [];
    public virtual IReadOnlySet<string>? EnvironmentDependencies => null;
    public ParamSchema Params => ParamSchema.For<TParams>();

    /// <summary>Computes the outputs into <see cref="StageContext.OutputDirectory"/>.</summary>
    public abstract Task RunAsync(StageContext context, TParams parameters);

    Task IStageKind.RunAsync(StageContext context, IReadOnlyDictionary<string, string> canonicalParams) =>
        RunAsync(context, Params.Bind<TParams>(canonicalParams));
}
