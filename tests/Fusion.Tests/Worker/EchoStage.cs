using Fusion.Workflow.Stages;

namespace Fusion.Tests.Worker;

public sealed class EchoParams
{
    public string Text { get; set; } = "";
    public int DelayMs { get; set; }

    /// <summary>Optional "NAME=VALUE UNIT": reported as the metric NAME in the manifest summary.</summary>
    public string Metric { get; set; } = "";
}

/// <summary>A tiny deterministic stage kind: out.txt = its text and the out.txt of every input, after a delay.</summary>
public sealed class EchoStage : StageKind<EchoParams>
{
    public override string Name => "echo";
    public override string CodeVersion => "1";
    public override IReadOnlyList<StageInput> Inputs => [new StageInput("from", Many: true, Optional: true)];
    public override IReadOnlyList<string> Outputs => ["out.txt"];
    public override IReadOnlySet<string>? EnvironmentDependencies => new HashSet<string>();

    public override async Task RunAsync(StageContext context, EchoParams parameters)
    {
        await Task.Delay(parameters.DelayMs, context.CancellationToken);
        var parts = new List<string> { $"{context.NodeId}:{parameters.Text}" };
        foreach (var input in context.Inputs.GetValueOrDefault("from") ?? [])
            parts.Add(await File.ReadAllTextAsync(await input.GetPathAsync("out.txt", context.CancellationToken), context.CancellationToken));
        await File.WriteAllTextAsync(context.OutputPath("out.txt"), string.Join(" <- ", parts), context.CancellationToken);
        if (parameters.Metric.Split('=', 2) is [var name, var value]) context.Summary[name] = value;
        context.Summary["text"] = parameters.Text;   // not a number: not a metric
    }

    public static StageRegistry Registry() => new StageRegistry().Add(new EchoStage());

    public const string Pipeline = """
        stages:
          data:
            kind: echo
            params: {text: data}
          train:
            kind: echo
            inputs: {from: data}
            params: {delay_ms: 3000}   # long enough that a worker stalled by a loaded machine still gets a node
            variants:
              a: {text: a}
              b: {text: b}
              c: {text: c}
              d: {text: d}
          report:
            kind: echo
            inputs: {from: "train[*]"}
            params: {text: report}
        """;
}
